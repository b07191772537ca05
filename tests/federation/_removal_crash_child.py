"""Child process for test_removal_crash.py: the server of the parent's data folder, which removes the account
"alice" and stops dead at one step of it, for the parent to kill with SIGKILL:

- ``state``: right after the account's state change to ``removed`` is committed, before anything is queued
  (the Delete of its actor is queued by federation's housekeeping, which has not run);
- ``queue``: inside that housekeeping, after the actor's tombstone is written and before its Delete is queued.

It prints STOPPED where it stops. Usage: python -m tests.federation._removal_crash_child DATA_DIR PORT STEP
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

import federation
from federation.service import AccountFederation
from node.app import build_app
from node.federation_wiring import federation_context

from .nodes import keyring, make_config, open_or_make_account


async def main(data: Path, port: int, step: str) -> None:
    ctx = await open_or_make_account(make_config(data, port, "alice"), "alice", keyring(0))
    await ctx.server.transition("alice", "remove")
    if step == "state":
        print("STOPPED", flush=True)
        await asyncio.sleep(3600)

    async def stop_here(self: AccountFederation, activity: dict[str, Any], *args: Any, **kw: Any) -> int:
        assert await self.store.tombstone(self.urls.owner) is not None  # written, its Delete not queued
        print("STOPPED", flush=True)
        await asyncio.sleep(3600)
        return 0

    AccountFederation.send = stop_here  # type: ignore[method-assign]

    def wire(app: web.Application, _server: object) -> None:
        # no background loop: the start-up housekeeping runs in the start itself, and stops in stop_here
        federation.setup(app, federation_context(ctx.server, run_workers=False))

    runner = web.AppRunner(build_app(ctx.server, extensions=[wire]), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]))
