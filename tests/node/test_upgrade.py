"""A data folder made by the one-owner code (tests/fixtures/legacy-v5, written by that code) upgrades in place to
a server of one account with nothing lost: people, identities, merges, relationships (the record signed by both
nodes), interactions, notes, circles, follows, the card and its disclosure, the token, the password, the link."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from node.app import build_app
from node.config import load_config
from node.context import AccountContext
from node.server import read_token
from node.store.sqlite.driver import sqlite
from node.store.sqlite.store import SERVER_FILE
from node.web import setup_web
from tests.conftest import run_cli

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "legacy-v5"
TOKEN = "kith_7_L6UVAKylgdG86LYHICX_R98qWTA_pliD29v0ZtbaU"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def old_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "old"
    shutil.copytree(FIXTURE / "data", folder)
    os.chmod(folder / "keys", 0o700)
    for key in (folder / "keys").iterdir():
        os.chmod(key, 0o600)
    return folder


#: The federation rows the fixture's graph database holds (tests/fixtures/legacy-v5), by table.
FEDERATION_ROWS = {
    "fed_actors": 1,
    "fed_follows": 2,
    "fed_offers": 1,
    "fed_inbox": 3,
    "fed_outbox": 7,
    "fed_deliveries": 7,
    "fed_hosts": 1,
    "fed_blocks": 1,
}
SHARED_TABLES = {"fed_actors", "fed_hosts"}  # the server's, not an account's


def _rows(doc: dict[str, Any], table: str) -> list[dict[str, Any]]:
    t = doc["tables"].get(table, {"columns": [], "rows": []})
    return [dict(zip(t["columns"], row, strict=True)) for row in t["rows"]]


async def test_the_old_folder_becomes_a_server_of_one_account(old_folder: Path) -> None:
    before = json.loads((FIXTURE / "export-before.json").read_text())
    ctx = await AccountContext.open(load_config(old_folder, env={}), load_keys=True)
    try:
        assert (old_folder / SERVER_FILE).exists()
        assert ctx.account.name == "alice" and ctx.account.display_name == "Alice Liddell"
        assert ctx.account.type == "Person" and ctx.account.graph_file == "kith.sqlite3"
        after = await ctx.graph.export_json()
        for table in before["tables"]:
            kept = _rows(after, table)
            for row in _rows(before, table):
                assert any(row.items() <= have.items() for have in kept), (table, row)
        # The record signed by both nodes is byte for byte what it was.
        (signed,) = [r for r in _rows(after, "relationship") if r["record_json"]]
        assert len(json.loads(signed["record_json"])["proof"]) == 2
        # The keys are the ones the old folder had (peers verify the actor by them).
        pem = (FIXTURE / "data" / "keys" / "owner-ed25519.pem").read_text()
        assert (await ctx.server.accounts.keys(ctx.account.pk))["ed25519"] == pem
        assert ctx.keys is not None
        # Federation's rows moved into the server database with their account (docs/ARCHITECTURE.md §8), every
        # one of them; the graph keeps no copy. Then the card and its disclosure, the link.
        conn = sqlite.connect(old_folder / SERVER_FILE)
        try:
            for table, count in FEDERATION_ROWS.items():
                where = "" if table in SHARED_TABLES else " WHERE account = 'alice'"
                assert conn.execute(f"SELECT count(*) FROM {table}{where}").fetchone()[0] == count, table
            accepted = "SELECT count(*) FROM fed_follows WHERE account = 'alice' AND state = 'accepted'"
            assert conn.execute(accepted).fetchone()[0] == 2
        finally:
            conn.close()
        conn = sqlite.connect(old_folder / "kith.sqlite3")
        try:
            # federation's tables, and the ones set aside before the move (``_`` escaped: LIKE reads it as any
            # character, and fedi_message is the graph's own)
            left = (
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND (name LIKE 'fed\\_%' ESCAPE '\\' OR name LIKE 'moved\\_fed\\_%' ESCAPE '\\')"
            )
            assert conn.execute(left).fetchall() == []
            assert conn.execute("SELECT account FROM bridge_link").fetchone()[0] == "ada@mastodon.example"
        finally:
            conn.close()
        from node.owner_card import get_card, get_disclosure

        card = await get_card(ctx.store)
        assert card["name"] == "Alice Liddell" and card["organization"] == "Wonderland Ltd"
        assert (await get_disclosure(ctx.store))["email"] == ["peers"]
    finally:
        await ctx.close()
    assert read_token(old_folder, "alice") == TOKEN
    assert not (old_folder / "token").exists()


async def test_the_old_token_and_password_still_sign_in(old_folder: Path) -> None:
    ctx = await AccountContext.open(load_config(old_folder, env={}), load_keys=False)
    runner = web.AppRunner(build_app(ctx.server, extensions=[setup_web]), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    base = f"http://{host}:{port}"
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(base + "/api/people", headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
                assert resp.status == 200
                assert {p["display_name"] for p in (await resp.json())["items"]} >= {
                    "Ada Lovelace",
                    "Charles Babbage",
                    "Grace Hopper",
                }
            async with http.get(base + "/login") as resp:
                csrf = re.search(r'name="login_csrf" value="([^"]+)"', await resp.text())
            assert csrf
            async with http.post(
                base + "/login", data={"login_csrf": csrf.group(1), "secret": PASSWORD}
            ) as resp:
                assert resp.status == 200 and resp.url.path == "/"
    finally:
        await runner.cleanup()
        await ctx.close()


def test_the_cli_upgrades_on_first_use_and_a_kill_part_way_leaves_the_old_folder(old_folder: Path) -> None:
    # A server database half-made by a killed upgrade is thrown away and made again.
    (old_folder / (SERVER_FILE + ".partial")).write_bytes(b"half")
    result = run_cli("--data", old_folder, "account", "list", "--json")
    assert result.code == 0, result.err
    (account,) = json.loads(result.out)
    assert account["name"] == "alice" and account["state"] == "active"
    assert not (old_folder / (SERVER_FILE + ".partial")).exists()
    people = run_cli("--data", old_folder, "people", "list", "--json")
    assert people.code == 0 and json.loads(people.out)["total"] == 4


def test_encrypted_old_keys_need_the_passphrase_to_upgrade(
    old_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from node.keys import KeyError_
    from protocol.keys import load_private_key_pem, private_key_to_pem

    for name in ("owner-rsa.pem", "owner-ed25519.pem"):
        path = old_folder / "keys" / name
        path.write_text(private_key_to_pem(load_private_key_pem(path.read_bytes(), None), "pass phrase"))
    monkeypatch.delenv("KITH_PASSPHRASE", raising=False)
    refused = run_cli("--data", old_folder, "people", "list")
    assert refused.code == 1 and "KITH_PASSPHRASE" in refused.err
    assert not (old_folder / SERVER_FILE).exists()  # nothing half-done
    monkeypatch.setenv("KITH_PASSPHRASE", "pass phrase")
    assert run_cli("--data", old_folder, "people", "list").code == 0
    assert KeyError_  # the error type the CLI turns into that one line


async def test_federation_rows_move_once_whatever_step_a_kill_interrupts(old_folder: Path) -> None:
    """The move copies in one transaction of the server database, then drops the old tables. A kill between
    the two (the copy committed, the old tables still in the graph) copies nothing twice on the next open;
    a kill before the copy committed leaves the server database without any of them, and the next open copies
    them all."""
    from node.store.sqlite.db import GRAPH_MIGRATIONS, SERVER_MIGRATIONS, Database
    from node.store.sqlite.federation_rows import move_graph_federation

    path = old_folder / "kith.sqlite3"
    await (await Database.open(path, schema=GRAPH_MIGRATIONS)).close()  # migration 0012 sets them aside
    before_drop = old_folder / "before-drop.sqlite3"
    shutil.copy(path, before_drop)
    server = await Database.open(old_folder / "moved.sqlite3", schema=SERVER_MIGRATIONS)

    async def counts() -> dict[str, int]:
        async def run(conn: Any) -> dict[str, int]:
            out = {}
            for table in FEDERATION_ROWS:
                async with conn.execute(f"SELECT count(*) FROM {table}") as cur:
                    out[table] = (await cur.fetchone())[0]
            return out

        return dict(await server.read(run))

    async def move() -> int:
        graph = await Database.open(path, schema=GRAPH_MIGRATIONS)
        try:
            return await move_graph_federation(graph, server, "alice")
        finally:
            await graph.close()

    try:
        await server.write(
            lambda conn: conn.execute(
                "INSERT INTO account (name, type, display_name, graph_file, state, created_at, updated_at) "
                "VALUES ('alice', 'Person', 'Alice', 'kith.sqlite3', 'active', 'x', 'x')"
            )
        )
        assert await move() == sum(FEDERATION_ROWS.values())
        assert await counts() == FEDERATION_ROWS
        shutil.copy(before_drop, path)  # killed after the copy, before the drop: the old tables are there
        assert await move() == 0
        assert await counts() == FEDERATION_ROWS
        assert await move() == 0  # dropped this time: nothing left to move
    finally:
        await server.close()
