"""Only a refused token the owner gave revokes a link (issue 12 §4, docs/SILOS.md §2).

Loopback servers answer like a Bluesky PDS, a Bluesky App View and a Mastodon instance: a 401 to a request made
without a token, or to a PDS token sent to an App View, must say what is wrong and keep the link; a PDS that
refuses the owner's token as expired or invalid (with 400 or 401) revokes it. Syncs run into a real node
database through node/sync.py, and once through the owner API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from node.app import build_app
from node.context import AccountContext
from node.errors import BadInput
from node.importer import Importer
from node.sync import Syncer
from tests.bridges.conftest import Serve
from tests.bridges.helpers import plc
from tests.conftest import new_server_account
from tests.node.import_helpers import Node, backend, node_on_each_engine

__all__ = ["backend", "node_on_each_engine"]  # fixtures, imported by name


@pytest.fixture
def node(node_on_each_engine: Node) -> Node:
    return node_on_each_engine


ACTOR = "sam.example.com"


def _follows(n: int = 3) -> dict[str, Any]:
    return {"follows": [{"did": plc(f"f{i}"), "handle": f"f{i}.example.com"} for i in range(n)]}


class Bluesky:
    """One XRPC route, getFollows, answering as the chosen kind of server does."""

    def __init__(self, kind: str) -> None:
        self.kind = kind  # "appview", "private-appview" (wants auth) or "pds"
        self.refusal = (400, "ExpiredToken")  # how the PDS refuses a token it did not accept
        self.seen: list[str | None] = []

    async def follows(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization")
        self.seen.append(auth)
        if self.kind in ("appview", "private-appview"):
            if auth is not None:  # an App View verifies service JWTs: a PDS access token is none
                return web.json_response(
                    {"error": "BadJwtSignature", "message": "jwt signature does not match jwt issuer"},
                    status=401,
                )
            if self.kind == "private-appview":
                return web.json_response(
                    {"error": "AuthMissing", "message": "Authentication Required"}, status=401
                )
            return web.json_response(_follows())
        if auth is None:
            return web.json_response(
                {"error": "AuthMissing", "message": "Authentication Required"}, status=401
            )
        if auth != "Bearer good":
            status, code = self.refusal
            return web.json_response({"error": code, "message": "Token could not be verified"}, status=status)
        return web.json_response(_follows())


async def _bluesky(serve: Serve, kind: str) -> tuple[Bluesky, str]:
    fake = Bluesky(kind)
    app = web.Application()
    app.router.add_get("/xrpc/app.bsky.graph.getFollows", fake.follows)
    return fake, await serve(app)


def _syncer(node: Node) -> Syncer:
    return Syncer(node.store, Importer(node.store), passphrase=None)


async def _status(syncer: Syncer, source: str) -> tuple[str, str | None]:
    (link,) = await syncer.links(source)
    return link.status, link.last_error


async def test_a_401_to_a_request_without_a_token_keeps_the_link(node: Node, serve: Serve) -> None:
    fake, base = await _bluesky(serve, "private-appview")
    syncer = _syncer(node)
    await syncer.link(source="bluesky", account=ACTOR, base_url=base, credentials={})
    async with aiohttp.ClientSession() as http:
        with pytest.raises(BadInput, match="made without a token") as refused:
            await syncer.sync("bluesky", session=http)
        assert "nothing was revoked" in refused.value.message
        status, error = await _status(syncer, "bluesky")
        assert status == "active" and error is not None and "AuthMissing" in error
        fake.kind = "appview"  # the server answers again: the link was never lost
        done = await syncer.sync("bluesky", session=http)
    assert done.status == "complete" and done.people_created == 3
    assert fake.seen == [None, None]


async def test_a_pds_token_refused_by_an_app_view_keeps_the_link(node: Node, serve: Serve) -> None:
    fake, base = await _bluesky(serve, "appview")  # an App View on a host of its own, not Bluesky's
    syncer = _syncer(node)
    await syncer.link(source="bluesky", account=ACTOR, base_url=base, credentials={"token": "good"})
    async with aiohttp.ClientSession() as http:
        with pytest.raises(BadInput, match="did not take the token") as refused:
            await syncer.sync("bluesky", session=http)
    assert "valid only at the PDS" in refused.value.message and "--base-url" in refused.value.message
    assert (await _status(syncer, "bluesky"))[0] == "active"
    assert fake.seen == ["Bearer good"]


@pytest.mark.parametrize("refusal", [(400, "ExpiredToken"), (401, "InvalidToken"), (401, "ExpiredToken")])
async def test_a_token_the_pds_refuses_revokes_the_link(
    node: Node, serve: Serve, refusal: tuple[int, str]
) -> None:
    fake, base = await _bluesky(serve, "pds")
    fake.refusal = refusal
    syncer = _syncer(node)
    await syncer.link(source="bluesky", account=ACTOR, base_url=base, credentials={"token": "stale"})
    async with aiohttp.ClientSession() as http:
        result = await syncer.sync("bluesky", session=http)
    assert result.status == "revoked" and "link the account again" in result.message
    assert refusal[1] in result.message
    assert (await _status(syncer, "bluesky"))[0] == "revoked"


async def test_the_pds_answers_its_own_token(node: Node, serve: Serve) -> None:
    fake, base = await _bluesky(serve, "pds")
    syncer = _syncer(node)
    await syncer.link(source="bluesky", account=ACTOR, base_url=base, credentials={"token": "good"})
    async with aiohttp.ClientSession() as http:
        result = await syncer.sync("bluesky", session=http)
    assert result.status == "complete" and result.people_created == 3
    assert fake.seen == ["Bearer good"]


@pytest.mark.parametrize("base", [None, "https://public.api.bsky.app", "https://api.bsky.app/"])
async def test_a_bluesky_token_is_never_linked_to_the_app_view(node: Node, base: str | None) -> None:
    syncer = _syncer(node)
    with pytest.raises(BadInput, match="valid only at your PDS"):
        await syncer.link(source="bluesky", account=ACTOR, base_url=base, credentials={"token": "secret"})
    assert await syncer.links("bluesky") == []
    await syncer.link(source="bluesky", account=ACTOR, base_url=base, credentials={})  # without: fine


class Mastodon:
    def __init__(self) -> None:
        self.seen: list[str | None] = []

    async def lookup(self, request: web.Request) -> web.Response:
        return await self.following(request)

    async def following(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization")
        self.seen.append(auth)
        if auth is None:  # an instance that serves its API to signed-in users only
            return web.json_response({"error": "This method requires an authenticated user"}, status=401)
        return web.json_response({"error": "The access token was revoked"}, status=401)


@pytest.mark.parametrize("account", ["7", "sam@mastodon.example"])  # by id, and looked up by address first
async def test_mastodon_without_a_token_keeps_the_link_and_a_refused_one_revokes(
    node: Node, serve: Serve, account: str
) -> None:
    fake = Mastodon()
    app = web.Application()
    app.router.add_get("/api/v1/accounts/lookup", fake.lookup)
    app.router.add_get("/api/v1/accounts/{id}/following", fake.following)
    base = await serve(app)
    syncer = _syncer(node)
    await syncer.link(source="mastodon", account=account, base_url=base, credentials={})
    async with aiohttp.ClientSession() as http:
        with pytest.raises(BadInput, match="requires an authenticated user"):
            await syncer.sync("mastodon", session=http)
        assert (await _status(syncer, "mastodon"))[0] == "active"
        await syncer.link(source="mastodon", account=account, base_url=base, credentials={"token": "old"})
        result = await syncer.sync("mastodon", session=http)
    assert result.status == "revoked" and "The access token was revoked" in result.message
    assert (await _status(syncer, "mastodon"))[0] == "revoked"
    assert fake.seen == [None, "Bearer old"]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], AccountContext]]:
    ctx = await new_server_account(tmp_path / "node", token="kith_test_token")
    async with TestClient(TestServer(build_app(ctx.server, extensions=[]), host="127.0.0.1", port=0)) as cli:
        yield cli, ctx
    await ctx.close()


async def test_the_owner_api_says_what_is_wrong_and_keeps_the_link(
    api: tuple[TestClient[Any, Any], AccountContext], serve: Serve
) -> None:
    cli, ctx = api
    _fake, base = await _bluesky(serve, "private-appview")
    syncer = Syncer(ctx.store, Importer(ctx.store), passphrase=None)
    await syncer.link(source="bluesky", account=ACTOR, base_url=base, credentials={})
    resp = await cli.post("/api/sync/bluesky", json={}, headers={"Authorization": "Bearer kith_test_token"})
    assert resp.status == 400
    body = await resp.json()
    assert "made without a token" in body["error"]["message"]
    assert (await _status(syncer, "bluesky"))[0] == "active"


async def test_a_servers_error_text_is_shown_without_control_characters(node: Node, serve: Serve) -> None:
    """The silo writes the error body: escape sequences in it would drive the owner's terminal."""

    async def refuse(request: web.Request) -> web.Response:
        body = {
            "error": "InvalidToken",
            "message": "\x1b]0;owned\x07Token \x1b[2Jcould not be verified" * 50,
        }
        return web.json_response(body, status=401)

    app = web.Application()
    app.router.add_get("/xrpc/app.bsky.graph.getFollows", refuse)
    base = await serve(app)
    syncer = _syncer(node)
    await syncer.link(source="bluesky", account=ACTOR, base_url=base, credentials={"token": "t"})
    async with aiohttp.ClientSession() as http:
        result = await syncer.sync("bluesky", session=http)
    assert result.status == "revoked"
    assert "Token [2Jcould not be verified" in result.message  # the escape characters are gone
    assert not any(not ch.isprintable() for ch in result.message)
    assert len(result.message) < 400
