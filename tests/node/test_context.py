"""node.context: the owner token (stored as a digest, re-read after its TTL) and the token file."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.config import load_config
from node.context import NodeContext, TokenCheck, new_token, read_token, write_token


async def test_token_digest_only_and_rotation(ctx: NodeContext, data_dir: Path) -> None:
    token = read_token(data_dir)
    assert await ctx.tokens.check(token)
    assert not await ctx.tokens.check(token + "x") and not await ctx.tokens.check("")
    stored = await ctx.store.misc.meta_get("owner_token_sha256")
    assert stored is not None and token not in stored and len(stored) == 64
    # Another process rotates: a checker re-reads the digest only once its TTL has passed.
    other = TokenCheck(ctx.store, ttl=0.0)
    fresh = new_token()
    await TokenCheck(ctx.store).set(fresh)
    assert await other.check(fresh) and not await other.check(token)


def test_token_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="kith token rotate"):
        read_token(tmp_path)
    path = write_token(tmp_path, "kith_abc")
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_token(tmp_path) == "kith_abc"
    assert new_token() != new_token() and len(new_token()) > 40


async def test_context_opens_with_keys(data_dir: Path) -> None:
    ctx = await NodeContext.open(load_config(data_dir, env={}))
    try:
        assert ctx.keys is not None
        assert ctx.config.node.username == "alice" and ctx.config.node.domain == "kith.test"
    finally:
        await ctx.close()
