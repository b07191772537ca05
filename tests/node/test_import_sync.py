"""Live syncs into a real node database, against loopback servers that answer like Mastodon, Bluesky and X:
pages, the cursor kept after each page, 429 with resume, 401 marking the link revoked, sealed tokens."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from node.errors import Conflict
from node.importer import Importer
from node.link_secrets import SecretError, open_secret
from node.store.sqlite.driver import sqlite
from node.sync import Syncer
from tests.bridges.conftest import Serve, serve
from tests.node.import_helpers import Node, backend, node_on_each_engine

__all__ = ["backend", "node_on_each_engine", "serve"]  # fixtures, imported by name


@pytest.fixture
def node(node_on_each_engine: Node) -> Node:
    return node_on_each_engine


ROOT = Path(__file__).resolve().parent.parent.parent
NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class Mastodon:
    """/api/v1/accounts/:id/following, 40 a page along Link headers; 429 or 401 on chosen pages."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.limited: set[int] = set()
        self.revoke_at: int | None = None
        self.served: list[int] = []

    async def following(self, request: web.Request) -> web.Response:
        start = int(request.query.get("max_id", "0"))
        if request.headers.get("Authorization") != "Bearer tok" or start == self.revoke_at:
            return web.json_response({"error": "The access token is invalid"}, status=401)
        if start in self.limited:
            self.limited.discard(start)
            reset = (NOW + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
            return web.json_response(
                {"error": "Too many requests"}, status=429, headers={"X-RateLimit-Reset": reset}
            )
        self.served.append(start)
        end = min(start + 40, self.total)
        page = [
            {
                "id": str(i),
                "acct": f"u{i}@remote.example",
                "display_name": f"User {i}",
                "uri": f"https://remote.example/users/u{i}",
            }
            for i in range(start, end)
        ]
        headers = {}
        if end < self.total:
            headers["Link"] = f'<http://{request.host}{request.path}?limit=40&max_id={end}>; rel="next"'
        return web.json_response(page, headers=headers)


async def _mastodon(serve: Serve, total: int) -> tuple[Mastodon, str]:
    fake = Mastodon(total)
    app = web.Application()
    app.router.add_get("/api/v1/accounts/{id}/following", fake.following)
    return fake, await serve(app)


async def test_mastodon_pages_rate_limit_resume_and_revoke(node: Node, serve: Serve) -> None:
    fake, base = await _mastodon(serve, 130)
    clock = Clock()
    syncer = Syncer(node.store, Importer(node.store, clock=clock), passphrase=None, clock=clock)
    info = await syncer.link(source="mastodon", account="7", base_url=base, credentials={"token": "tok"})
    assert not info.encrypted and info.status == "active"
    fake.limited.add(80)
    async with aiohttp.ClientSession() as http:
        first = await syncer.sync("mastodon", session=http)
        assert (first.status, first.pages, first.fetched, first.people_created) == ("rate-limited", 2, 80, 80)
        assert first.resume_at == "2026-11-22T04:05:00Z"
        assert await node.count("person") == 80
        # Before the reset nothing is asked of the server.
        waiting = await syncer.sync("mastodon", session=http)
        assert waiting.status == "waiting" and fake.served == [0, 40]
        clock.now = NOW + timedelta(minutes=6)
        done = await syncer.sync("mastodon", session=http)
        assert (done.status, done.pages, done.fetched) == ("complete", 2, 50)
        assert fake.served == [0, 40, 80, 120]  # resumed at the refused page: nothing fetched twice
        assert await node.count("person") == 130
        # The list is complete, so the next sync starts over, and changes nothing.
        again = await syncer.sync("mastodon", session=http)
        assert again.people_created == 0 and again.fetched == 130
        assert (await node.person_of("acct:u5@remote.example"))[2] == "User 5"
        # 401 part-way: the link is revoked and stops.
        fake.revoke_at = 40
        revoked = await syncer.sync("mastodon", session=http)
        assert revoked.status == "revoked" and "link the account again" in revoked.message
        (link,) = await syncer.links("mastodon")
        assert link.status == "revoked"
        with pytest.raises(Conflict, match="was revoked"):
            await syncer.sync("mastodon", session=http)
        # Linking again makes it active; the cursor kept from the revoked run resumes after page one.
        await syncer.link(source="mastodon", account="7", base_url=base, credentials={"token": "tok"})
        fake.revoke_at = None
        resumed = await syncer.sync("mastodon", session=http)
        assert resumed.status == "complete" and resumed.fetched == 90


async def test_page_and_cursor_are_kept_together(node: Node, serve: Serve) -> None:
    """The cursor is saved in the page's own transaction: after each page the database holds exactly the people
    of the pages before the cursor."""
    fake, base = await _mastodon(serve, 100)
    fake.limited.add(40)
    syncer = Syncer(node.store, Importer(node.store), passphrase=None)
    await syncer.link(source="mastodon", account="7", base_url=base, credentials={"token": "tok"})
    async with aiohttp.ClientSession() as http:
        await syncer.sync("mastodon", session=http)
    cursor = await node.store.links.cursor("mastodon", "7", "following")
    assert cursor is not None and cursor["fetched"] == 40 == await node.count("person")
    assert cursor["next"].endswith("max_id=40")


class X:
    def __init__(self) -> None:
        self.access = {"a1"}
        self.refresh = {"r1"}
        self.issued = 1

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") not in self.refresh:
            return web.json_response({"error": "invalid_grant"}, status=400)
        self.refresh.discard(str(form["refresh_token"]))
        self.issued += 1
        self.access.add(f"a{self.issued}")
        self.refresh.add(f"r{self.issued}")
        return web.json_response(
            {
                "token_type": "bearer",
                "expires_in": 7200,
                "access_token": f"a{self.issued}",
                "refresh_token": f"r{self.issued}",
                "scope": "",
            }
        )

    async def following(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization", "").removeprefix("Bearer ") not in self.access:
            return web.json_response({"title": "Unauthorized"}, status=401)
        token = int(request.query.get("pagination_token", "0"))
        users = [
            {"id": str(2000 + i), "name": f"Name {i}", "username": f"h{i}"}
            for i in range(token, min(token + 3, 5))
        ]
        meta: dict[str, Any] = {"result_count": len(users)}
        if token + 3 < 5:
            meta["next_token"] = str(token + 3)
        return web.json_response({"data": users, "meta": meta})


async def test_x_sync_names_archive_ids_and_stores_refreshed_tokens_sealed(
    node: Node, serve: Serve, tmp_path: Any
) -> None:
    from bridges.x import XBridge
    from tests.node.import_helpers import write_x_archive

    fake = X()
    app = web.Application()
    app.router.add_post("/2/oauth2/token", fake.token)
    app.router.add_get("/2/users/{id}/following", fake.following)
    base = await serve(app)
    clock = Clock()
    importer = Importer(node.store, clock=clock)
    # The archive knew only ids; the sync names them on the same people.
    await importer.run(XBridge(), write_x_archive(tmp_path / "x", following=["2000", "2001"]))
    syncer = Syncer(node.store, importer, passphrase="correct horse", clock=clock)
    creds = {
        "access_token": "a1",
        "refresh_token": "r1",
        "expires_at": (NOW - timedelta(minutes=1)).isoformat(),  # expired: refreshed before the first call
        "client_id": "kith-client",
        "token_url": f"{base}/2/oauth2/token",
    }
    info = await syncer.link(source="x", account="9000", base_url=base, credentials=creds)
    assert info.encrypted
    async with aiohttp.ClientSession() as http:
        res = await syncer.sync("x", session=http)
    assert (res.status, res.fetched, res.people_created) == ("complete", 5, 3)
    assert (await node.person_of("https://x.com/i/user/2001"))[2] == "Name 1"  # the placeholder name replaced
    (row,) = await node.store.links.get("x", "9000")
    # Sealed means the prefix and base64url only: no JSON (quotes, braces) and so no plaintext token.
    assert re.fullmatch(r"enc:v1:[A-Za-z0-9_-]+=*", row.secret)
    stored = open_secret(row.secret, passphrase="correct horse", source="x", account="9000")
    assert (stored["access_token"], stored["refresh_token"]) == ("a2", "r2")
    with pytest.raises(SecretError, match="wrong KITH_PASSPHRASE"):
        open_secret(row.secret, passphrase="wrong", source="x", account="9000")
    with pytest.raises(SecretError, match="set KITH_PASSPHRASE"):
        open_secret(row.secret, passphrase=None, source="x", account="9000")
    with pytest.raises(SecretError):  # a sealed token cannot be moved to another link
        open_secret(row.secret, passphrase="correct horse", source="x", account="9001")


async def test_bluesky_cursor_pages(node: Node, serve: Serve) -> None:
    async def follows(request: web.Request) -> web.Response:
        assert request.query["actor"] == "me.bsky.social"
        start = int(request.query.get("cursor", "0"))
        items = [
            {"did": f"did:plc:{'a' * 23}{'bcdef'[i]}", "handle": f"p{i}.bsky.social", "displayName": f"P {i}"}
            for i in range(start, min(start + 2, 5))
        ]
        body: dict[str, Any] = {"follows": items}
        if start + 2 < 5:
            body["cursor"] = str(start + 2)
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/xrpc/app.bsky.graph.getFollows", follows)
    base = await serve(app)
    syncer = Syncer(node.store, Importer(node.store), passphrase=None)
    await syncer.link(source="bluesky", account="me.bsky.social", base_url=base, credentials={})
    async with aiohttp.ClientSession() as http:
        res = await syncer.sync("bluesky", session=http)
    assert (res.status, res.pages, res.people_created) == ("complete", 3, 5)
    assert (await node.person_of(f"did:plc:{'a' * 23}e"))[2] == "P 3"
    assert await node.store.links.cursor("bluesky", "me.bsky.social", "following") is None


async def _kith(
    data: Any, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    root = ROOT
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "node", "--data", str(data), *args,
        cwd=root, env={**os.environ, "PYTHONPATH": str(root), **(env or {})},
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate(stdin.encode())
    return proc.returncode or 0, out.decode(), err.decode()


async def test_cli_link_and_sync(serve: Serve, tmp_path: Any) -> None:
    _fake, base = await _mastodon(serve, 90)
    data = tmp_path / "node"
    assert (await _kith(data, "init", "--username", "me"))[0] == 0
    env = {"KITH_PASSPHRASE": "pass phrase"}
    code, out, err = await _kith(data, "link", "mastodon", "--account", "7", "--base-url", base, "--token", "-",
                                 stdin="tok\n", env=env)  # fmt: skip
    assert code == 0 and "Linked mastodon account 7" in out and "unencrypted" not in err
    secret = (
        sqlite.connect(data / "accounts" / "me.sqlite3")
        .execute("SELECT secret FROM bridge_link")
        .fetchone()[0]
    )
    assert re.fullmatch(r"enc:v1:[A-Za-z0-9_-]+=*", secret)  # base64url only: no plaintext JSON
    code, out, err = await _kith(data, "sync", "mastodon", "--json", env={})
    assert code == 1 and "set KITH_PASSPHRASE" in err  # sealed: the passphrase is needed
    code, out, err = await _kith(data, "sync", "mastodon", "--json", env=env)
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["status"], doc["fetched"], doc["people_created"]) == ("complete", 90, 90)
    assert "3 pages, 90 accounts" in err
    code, out, _err = await _kith(data, "link", "mastodon")
    assert "mastodon 7 at " in out and "active" in out
    code, out, err = await _kith(data, "link", "x", "--account", "1", "--token", "t")
    assert code == 1 and "needs an access token and the app's client id" in err


async def test_cli_sync_says_it_resumes_an_interrupted_sync_and_shows_its_pace(
    serve: Serve, tmp_path: Any
) -> None:
    fake, base = await _mastodon(serve, 90)
    fake.limited = {40}  # the second page is refused once: the first sync stops after one page
    data = tmp_path / "node"
    assert (await _kith(data, "init", "--username", "me"))[0] == 0
    code, _out, err = await _kith(data, "link", "mastodon", "--account", "7", "--base-url", base, "--token", "-",
                                  stdin="tok\n", env={})  # fmt: skip
    assert code == 0, err
    code, out, err = await _kith(data, "sync", "mastodon", "--json", env={})
    assert code == 0 and json.loads(out)["status"] == "rate-limited", (out, err)
    assert "resuming" not in err  # nothing to resume the first time
    code, out, err = await _kith(data, "sync", "mastodon", "--json", env={})
    assert code == 0 and json.loads(out)["status"] == "complete", (out, err)
    assert "mastodon following: resuming the last sync after the last page it kept" in err
    assert re.search(r"2 pages, 50 accounts in \d+ s \([\d,]+/s\)", err), err
