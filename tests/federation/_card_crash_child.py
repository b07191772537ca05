"""Child process for test_card_crash.py: the real node (owner API, graph, federation) on its port; the owner
saves a card through ``PUT /api/card``, and the process stops dead right after the card is saved, before its
Update is queued: the parent kills it with SIGKILL when it prints SAVED.

Usage: python -m tests.federation._card_crash_child DATA_DIR PORT NAME
       python -m tests.federation._card_crash_child DATA_DIR PORT --loop ROUND
The second form runs the node as `kith serve` does (its loops deliver in the background) and changes the card
as fast as it can, printing ``ACK <name>`` once each change is answered; the parent kills it at any moment.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import aiohttp
from aiohttp import web

import federation
from node import api
from node.api_federation import routes as federation_api_routes
from node.app import build_app
from node.federation_access import ACCESS, RunningFederation
from node.federation_wiring import federation_context
from node.server import new_token

from .nodes import keyring, make_config, open_or_make_account


async def main(data: Path, port: int, name: str) -> None:
    config = make_config(data, port, "alice")
    ctx = await open_or_make_account(config, "alice", keyring(0))
    token = new_token()
    await ctx.set_token(token)

    def wire(app: web.Application, _server: object) -> None:
        # node/federation_wiring.py's setup, with no background loop: nothing but the request acts here
        federation.setup(app, federation_context(ctx.server, run_workers=False))
        app[ACCESS] = RunningFederation(lambda: app.get(federation.FEDERATION))
        app.router.add_routes(federation_api_routes())

    app = build_app(ctx.server, extensions=[wire])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()

    async def crash_here(request: web.Request) -> int:  # between the card saved and its Update queued
        print("SAVED", flush=True)
        await asyncio.sleep(3600)
        return 0

    api._publish_card = crash_here  # type: ignore[assignment]
    card = {"name": name, "email": ["alice@example.org"]}
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:
        await http.put(f"http://127.0.0.1:{port}/api/card", json=card, headers=headers)


async def loop(data: Path, port: int, round_no: int) -> None:
    from node.federation_wiring import setup_federation

    ctx = await open_or_make_account(make_config(data, port, "alice"), "alice", keyring(0))
    token = new_token()
    await ctx.set_token(token)
    runner = web.AppRunner(build_app(ctx.server, extensions=[setup_federation]), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("READY", flush=True)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:
        for k in range(1_000_000):
            name = f"Alice r{round_no} k{k}"
            card = {"name": name, "email": ["alice@example.org"]}
            async with http.put(f"http://127.0.0.1:{port}/api/card", json=card, headers=headers) as r:
                assert r.status == 200, await r.text()
            print(f"ACK {name}", flush=True)


if __name__ == "__main__":
    if sys.argv[3] == "--loop":
        asyncio.run(loop(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[4])))
    else:
        asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]))
