"""Owner API tokens: one per account, checked against the server's registry, rotated beside a live server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from node.context import AccountContext
from node.server import new_token, read_token, token_digest, write_token


async def test_the_init_token_opens_its_account_and_nothing_else(ctx: AccountContext, data_dir: Path) -> None:
    token = read_token(data_dir, "alice")
    assert await ctx.server.check_token(ctx.account, token)
    assert (await ctx.server.account_for_token(token)) == ctx.account
    for wrong in (token + "x", "", token[:-1], token.upper()):
        assert not await ctx.server.check_token(ctx.account, wrong)


async def test_rotation_takes_effect_within_the_cache_time(ctx: AccountContext, data_dir: Path) -> None:
    old = read_token(data_dir, "alice")
    fresh = new_token()
    await ctx.set_token(fresh)
    assert read_token(data_dir, "alice") == fresh
    assert await ctx.server.check_token(ctx.account, fresh)
    assert not await ctx.server.check_token(ctx.account, old)


async def test_a_second_server_process_sees_a_rotation_within_two_seconds(
    ctx: AccountContext, data_dir: Path
) -> None:
    """`kith token rotate` runs in another process: the running server re-reads the registry."""
    other = await AccountContext.open(ctx.config, load_keys=False)
    try:
        old = read_token(data_dir, "alice")
        assert await ctx.server.check_token(ctx.account, old)
        await other.set_token(new_token())
        await asyncio.sleep(2.2)
        assert not await ctx.server.check_token(ctx.account, old)
    finally:
        await other.close()


def test_token_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="token rotate"):
        read_token(tmp_path, "bob")
    path = write_token(tmp_path, "bob", "kith_abc")
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_token(tmp_path, "bob") == "kith_abc"
    assert new_token() != new_token() and len(new_token()) > 40
    assert token_digest("a") != token_digest("b")
