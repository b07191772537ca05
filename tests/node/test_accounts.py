"""A server of many accounts: the `kith account` commands, choosing the account, the lifecycle (suspend, resume,
remove, purge), and names that are never reused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from node.config import load_config
from node.server import Server, read_token
from tests.conftest import FixedClock, run_cli


def ok(*argv: str | Path) -> str:
    result = run_cli(*argv)
    assert result.code == 0, result.err
    return result.out


def fails(*argv: str | Path) -> str:
    result = run_cli(*argv)
    assert result.code != 0, result.out
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    return lines[0]


def test_add_list_and_the_json_contract(data_dir: Path) -> None:
    d = ("--data", data_dir)
    added = json.loads(ok(*d, "account", "add", "acme", "--organization", "--display-name", "Acme", "--json"))
    assert added["name"] == "acme" and added["type"] == "Organization" and added["state"] == "active"
    assert added["actor"] == "http://kith.test/users/acme" and added["token"].startswith("kith_")
    assert read_token(data_dir, "acme") == added["token"]
    listed = json.loads(ok(*d, "account", "list", "--json"))
    assert [(a["name"], a["type"], a["state"]) for a in listed] == [
        ("alice", "Person", "active"),
        ("acme", "Organization", "active"),
    ]
    assert {"name", "actor", "type", "state"} <= set(listed[0])
    human = ok(*d, "account", "list")
    assert "alice" in human and "acme" in human and "Organization" in human


@pytest.mark.parametrize("name", ["Bad Name", "", "kith.node", "admin", "a" * 65, "x:y", "../etc"])
def test_bad_and_reserved_names_are_refused(data_dir: Path, name: str) -> None:
    line = fails("--data", data_dir, "account", "add", name)
    assert "name" in line
    assert not list((data_dir / "accounts").glob("*..*"))


def test_each_command_acts_for_the_account_it_is_told(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = ("--data", data_dir)
    ok(*d, "account", "add", "bob")
    line = fails(*d, "people", "list")
    assert "2 accounts (alice, bob)" in line and "--account" in line
    ok(*d, "--account", "alice", "people", "add", "Ada Lovelace", "--identity", "ada@example.org")
    ok(*d, "--account", "bob", "people", "add", "Ada Lovelace", "--identity", "ada@example.org")
    ok(*d, "--account", "bob", "people", "add", "Only Bob's", "--identity", "bobs@example.org")
    alice = json.loads(ok(*d, "--account", "alice", "people", "list", "--json"))
    bob = json.loads(ok(*d, "--account", "bob", "people", "list", "--json"))
    assert [p["display_name"] for p in alice["items"]] == ["Ada Lovelace"]
    assert sorted(p["display_name"] for p in bob["items"]) == ["Ada Lovelace", "Only Bob's"]
    assert not {p["id"] for p in alice["items"]} & {p["id"] for p in bob["items"]}
    monkeypatch.setenv("KITH_ACCOUNT", "bob")
    assert json.loads(ok(*d, "people", "list", "--json"))["total"] == 2
    monkeypatch.setenv("KITH_SERVER_DEFAULT_ACCOUNT", "alice")
    monkeypatch.delenv("KITH_ACCOUNT")
    assert json.loads(ok(*d, "people", "list", "--json"))["total"] == 1
    assert "no account named 'carol'" in fails(*d, "--account", "carol", "people", "list")
    tokens = {
        json.loads(ok(*d, "--account", n, "token", "show", "--json"))["token"] for n in ("alice", "bob")
    }
    assert len(tokens) == 2


def test_suspend_resume_remove_and_the_name_stays_reserved(data_dir: Path) -> None:
    d = ("--data", data_dir)
    ok(*d, "account", "add", "bob")
    assert "suspended bob" in ok(*d, "account", "suspend", "bob")
    assert "cannot happen in state 'suspended'" in fails(*d, "account", "suspend", "bob")
    assert "resumed bob" in ok(*d, "account", "resume", "bob")
    assert "--yes" in fails(*d, "account", "remove", "bob")
    out = json.loads(ok(*d, "account", "remove", "bob", "--yes", "--json"))
    assert out["state"] == "removed" and out["purge_after"] > out["removed_at"]
    assert "cannot happen" in fails(*d, "account", "resume", "bob")
    assert "taken" in fails(*d, "account", "add", "bob")
    assert "removed" in fails(*d, "--account", "bob", "people", "list")


async def test_purge_after_the_grace_period_keeps_only_the_name(data_dir: Path, clock: FixedClock) -> None:
    server = await Server.open(load_config(data_dir, env={}), clock=clock)
    try:
        row, _ = await server.add_account("bob")
        ctx = await server.context(row)
        await ctx.graph.create_person({"display_name": "Someone"})
        graph = data_dir / row.graph_file
        await server.transition("bob", "remove")
        assert await server.purge_due() == []  # the grace period has not passed
        assert graph.exists()
        clock.advance(days=server.config.accounts.purge_after_days + 1)
        (purged,) = await server.purge_due()
        assert purged.name == "bob" and purged.state == "purged"
        assert not graph.exists() and not (data_dir / "tokens" / "bob").exists()
        assert await server.accounts.keys(row.pk) == {}
        with pytest.raises(Exception, match="taken"):
            await server.add_account("bob")
    finally:
        await server.close()


async def test_the_pool_closes_idle_graphs_and_reopens_them(data_dir: Path) -> None:
    server = await Server.open(load_config(data_dir, env={}))
    try:
        for i in range(5):
            await server.add_account(f"user{i}")
        for i in range(5):
            ctx = await server.context(f"user{i}")
            await ctx.graph.create_person({"display_name": f"Friend of {i}"})
        assert server.open_graphs == 5
        assert await server.close_idle(older_than=0.0, keep=2) == 5
        assert server.open_graphs == 0
        ctx = await server.context("user3")
        page = await ctx.graph.list_people()
        assert [p.display_name for p in page.items] == ["Friend of 3"]
    finally:
        await server.close()


async def test_the_pool_never_closes_the_graph_federation_runs_on(tmp_path: Path) -> None:
    """Federation's loops hold their account's graph between requests: a quiet minute (the pool's idle
    sweep) must not close it under them (seen as "database is closed" on the peers page)."""
    from aiohttp.test_utils import TestClient, TestServer

    from node.app import build_app
    from tests.conftest import new_server_account

    ctx = await new_server_account(tmp_path / "node")
    app = build_app(ctx.server)
    try:
        async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as cli:
            headers = {"Authorization": f"Bearer {read_token(tmp_path / 'node', 'alice')}"}
            assert (await cli.get("/api/federation/peers", headers=headers)).status == 200
            await ctx.server.close_idle(older_than=0.0, keep=0)
            response = await cli.get("/api/federation/peers", headers=headers)
            assert response.status == 200, await response.text()
    finally:
        # the server is the test's (build_app does not own it): an open one keeps aiosqlite's worker threads,
        # which are not daemons, so pytest could never exit after this file run alone
        await ctx.server.close()


async def test_a_walk_over_every_account_leaves_no_graph_open(data_dir: Path) -> None:
    """The stay-in-touch loop visits every account each cycle: on a server of many accounts that must not leave
    each one's database and threads open (issue #13: 1,000 accounts, not 1,000 connections)."""
    from node.loop import StayInTouchLoop

    server = await Server.open(load_config(data_dir, env={}))
    try:
        for i in range(12):
            await server.add_account(f"user{i}")
        busy = await server.context("user3")  # one in use by something else stays open
        loop = StayInTouchLoop(server, smtp_password=None)
        done = await loop.run_once()
        assert len(done) == 13
        assert server.open_graphs == 1
        # the running loop leaves accounts with nothing to do alone for a while (node/loop.py QUIET_SECONDS)
        assert await loop.run_once(skip_quiet=True) == {}
        assert len(await loop.run_once()) == 13  # a test's (or an explicit) cycle still visits everyone
        assert not (await busy.graph.list_people()).items
    finally:
        await server.close()


async def test_requests_that_find_an_account_uncached_together_read_it_once(data_dir: Path) -> None:
    """Every request and delivery in flight misses the registry's 2-second cache at the same moment: they share
    one read of the account (each was a round trip on PostgreSQL), and a change this process makes is seen at
    once by whoever asks after it."""
    import asyncio

    server = await Server.open(load_config(data_dir, env={}))
    try:
        await server.add_account("bob")
        accounts, reads = server.accounts, 0
        find = accounts.find

        async def counted(name: str) -> object:
            nonlocal reads
            reads += 1
            return await find(name)

        accounts.find = counted  # type: ignore[method-assign]
        server._names.clear()  # the cache expired
        rows = await asyncio.gather(*(server.account_by_name("bob") for _ in range(30)))
        assert reads == 1 and all(r is not None and r.state == "active" for r in rows)
        await server.transition("bob", "suspend")
        row = await server.account_by_name("bob")
        assert row is not None and row.state == "suspended"
    finally:
        await server.close()
