"""The owner surface: the /api/federation routes driven by the `kith` federation subcommands over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from federation import FEDERATION
from node import api_federation, cli_federation
from node.api import auth_middleware
from node.config import write_config
from node.errors import NodeError
from node.federation_access import ACCESS, RunningFederation
from node.server import write_token
from protocol.errors import KithError
from tests.federation.backends import backend  # noqa: F401  (each test on SQLite and on PostgreSQL)

from .nodes import FakeClock, Node, settle, start_node


def _cli(data: Path, *argv: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli_federation.main(["--data", str(data), *argv]) == 0
    return out.getvalue()


async def _prepare(node: Node) -> Path:
    """Write the node's data folder as `kith serve` would (its port), and its account's token file: the CLI
    reads both to reach the owner API as that account."""
    config = node.ctx.config
    port = int(node.base.rsplit(":", 1)[1])
    write_config(replace(config, server=replace(config.server, port=port)))
    write_token(config.data_dir, node.name, node.name)  # tests/federation/nodes.py: the token is the name
    return config.data_dir


async def test_cli_follow_connect_accept_over_the_owner_api(tmp_path: Path) -> None:
    clock = FakeClock()

    @web.middleware
    async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
        # stands in for node/api.py's one error edge: status from the error's hint
        try:
            return await handler(request)
        except (KithError, NodeError) as exc:
            return web.json_response({"message": exc.message}, status=exc.status_hint)

    def extra(app: web.Application) -> None:
        # the owner API as node/app.py mounts it: the token names the account, routes act for it
        app.middlewares.append(errors)
        app.middlewares.append(auth_middleware)
        app[ACCESS] = RunningFederation(lambda: app.get(FEDERATION))
        app.router.add_routes(api_federation.routes())

    async with (
        start_node(tmp_path, "alice", clock, index=0, setup_app=extra) as a,
        start_node(tmp_path, "bob", clock, index=1, setup_app=extra) as b,
    ):
        da, db_ = await _prepare(a), await _prepare(b)
        loop = asyncio.get_running_loop()

        async def cli(data: Path, *argv: str) -> str:
            return await loop.run_in_executor(None, lambda: _cli(data, *argv))

        followed = json.loads(await cli(da, "follow", f"acct:{b.acct}", "--json"))
        assert followed["actor"] == b.actor and followed["state"] == "pending"
        await settle(a, b)
        assert json.loads(await cli(db_, "followers", "--json"))[0]["actor"] == a.actor
        assert "accepted" in await cli(da, "following")

        await cli(da, "connect", b.acct, "--as", "friend", "--how-we-met", "school")
        await settle(a, b)
        pending = json.loads(await cli(db_, "requests", "--json"))
        assert [(r["kind"], r["type"]) for r in pending] == [("relationship", "friend")]
        await cli(db_, "accept", pending[0]["id"])
        await settle(a, b)
        assert len(a.graph.relationships) == 1 and a.graph.relationships == b.graph.relationships

        peers = json.loads(await cli(da, "peers", "--json"))
        assert peers[0]["status"] == "ok" and peers[0]["delivered"] == 2  # Follow, Offer
        await cli(da, "unfollow", b.acct)
        await settle(a, b)
        assert json.loads(await cli(db_, "followers", "--json")) == []
        await cli(da, "block", b.acct)
        await cli(da, "unblock", b.actor)
        # errors come back with the status the node's error edge gives them, and a message
        with pytest.raises(SystemExit, match=r"^kith: you do not follow.* \(the node answered 404\)$"):
            await cli(da, "unfollow", b.acct)

        # moving: the new account names the old one first, then the old one announces the move
        with pytest.raises(SystemExit, match="must list"):
            await cli(da, "move", b.acct)
        assert json.loads(await cli(db_, "alias", a.actor, "--json")) == {"also_known_as": [a.actor]}
        moved = json.loads(await cli(da, "move", b.acct, "--json"))
        assert moved["moved_to"] == b.actor
