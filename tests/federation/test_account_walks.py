"""Federation's walks over every account of a server (issue #13 "Speed and size"): the start-up and quiet-moment
sweeps (saved cards, removals, organisations) visit every account, and must not leave every account's graph
open behind them -- each one a database, its descriptors and a thread: a server of 1,000 accounts held 900
threads and 2,000 descriptors, and its requests waited behind them (bench/bench_accounts.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

import federation
from federation import FEDERATION
from node.app import build_app
from node.federation_wiring import federation_context
from tests.conftest import new_server_account

# on both storage engines: new_server_account's server is on the one the `engine` fixture names
# (tests/support/engines.py; the `backend` fixture of the other federation modules points their own helpers)
pytestmark = pytest.mark.usefixtures("engine")

ACCOUNTS = 12


async def test_the_walks_over_every_account_leave_no_graph_open_behind_them(tmp_path: Path) -> None:
    ctx = await new_server_account(tmp_path / "server", "alice")
    server = ctx.server
    try:
        for n in range(ACCOUNTS):
            await server.add_account(f"user{n:02d}")

        def wire(app: web.Application, _server: object) -> None:
            federation.setup(app, federation_context(server, run_workers=False))

        runner = web.AppRunner(build_app(server, extensions=[wire]), access_log=None)
        await runner.setup()  # federation's start: its housekeeping walks every account
        try:
            fed = runner.app[FEDERATION]
            open_before = server.open_graphs
            assert open_before <= 1  # alice's, which this test holds
            await fed._housekeeping()  # what a start does: cards, removals, organisations, every account
            await fed._publish_due(everyone=True)
            await server.transition("user03", "remove")
            await fed._announce_removals()
            assert server.open_graphs == open_before
            # a graph held open by work under way stays open: the walk closes only what it opened itself
            async with server.borrow("user05"):
                await fed._publish_due(everyone=True)
                assert server.open_graphs == open_before + 1
        finally:
            await runner.cleanup()
    finally:
        await ctx.close()
