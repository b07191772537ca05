"""Child process for the SIGKILL test: a node that fans one activity out to N inboxes and delivers it.

Run as ``python -m tests.federation._fanout_child DATA PEER_BASE N``. The activity is enqueued only when the
outbox is empty, so a restarted child resumes what the killed one left instead of starting over. The node is a
server of one account (``sender``), made by the first run and opened again by the next ones."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from federation.fetch import FetchPolicy, GuardedClient
from federation.service import Federation
from node.federation_wiring import federation_context, federation_settings

from .memgraph import FixedGraphs, MemoryGraph
from .nodes import keyring, make_config, open_or_make_account


async def main(data: Path, peer: str, n: int) -> None:
    config = make_config(data, 1, "sender")
    ctx = await open_or_make_account(config, "sender", keyring(0))
    fctx = federation_context(ctx.server, graphs=FixedGraphs({"sender": MemoryGraph()}), run_workers=False)
    fed = Federation(fctx, GuardedClient(FetchPolicy.from_settings(federation_settings(config))))
    await fed.start()
    async with fed.acting("sender") as me:
        if not (await me.store.public_outbox())[0] and not await me.store.delivery_counts():
            activity = {
                "@context": "https://www.w3.org/ns/activitystreams",
                "id": me.new_id(),
                "type": "Update",
                "actor": me.urls.owner,
                "object": me.urls.owner,
            }
            await me.send(activity, [f"{peer}/inbox/{i}" for i in range(n)])
            print("enqueued", flush=True)
        while (await me.store.delivery_counts()).get("queued"):
            await fed.delivery.run_once(limit=32)
    print("done", flush=True)
    await fed.close()
    await ctx.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
