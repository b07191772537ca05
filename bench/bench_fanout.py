"""Fan-out: one profile-card Update delivered to 1,000 peer inboxes on loopback.

The peers are 1,000 actors (each with its own personal inbox) on one loopback server that answers 202; the
Kith node discloses its card to all of them. Measured: total time from ``publish_card`` (outbox and delivery
rows written) until every inbox has answered, and the share of that time spent signing (RSA, per request).
Last lines: one JSON object per metric.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web

from bench._fed_node import kith_node, plain_server, smoke
from federation import RemoteActor, cards

PEERS = int(sys.argv[1]) if len(sys.argv) > 1 else 10 if smoke() else 1000


async def main() -> None:
    received: set[str] = set()

    async def inbox(request: web.Request) -> web.Response:
        await request.read()
        received.add(request.match_info["n"])
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/users/{n}/inbox", inbox)
    async with plain_server(app) as peer_base, kith_node() as node:
        fed, graph = node.runtime, node.graph
        now = time.time()
        for n in range(PEERS):
            actor_id = f"{peer_base}/users/{n}"
            actor = RemoteActor(
                id=actor_id,
                type="Person",
                acct=None,
                preferred_username=str(n),
                name=None,
                summary=None,
                url=None,
                icon=None,
                inbox=actor_id + "/inbox",
                shared_inbox=peer_base + "/inbox",
                outbox=None,
                followers=None,
                following=None,
                public_key_id=actor_id + "#main-key",
                public_key_pem="-",
                is_kith=True,
            )
            await fed.store.save_actor(actor, {"id": actor_id}, now)
            graph.disclosed[actor_id] = {"name": "Alice", "email": ["mailto:alice@example.org"]}
        fed.delivery.sign_seconds = 0.0
        t0 = time.perf_counter()
        count = await cards.publish_card(node.me)
        t_enqueued = time.perf_counter() - t0
        while len(received) < PEERS:
            if await fed.delivery.run_once(limit=1000) == 0:
                await asyncio.sleep(0.01)
        total = time.perf_counter() - t0
        signing = fed.delivery.sign_seconds
        assert count == PEERS
    print(
        f"{PEERS} personal inboxes: {total:.2f} s in all ({t_enqueued * 1000:.0f} ms to write the outbox), "
        f"{signing:.2f} s signing ({PEERS / total:.0f} deliveries/s)"
    )
    print(
        json.dumps(
            {"metric": "fanout_1000_total_seconds", "value": round(total, 3), "unit": "s", "target": None}
        )
    )
    print(
        json.dumps(
            {
                "metric": "fanout_signing_share",
                "value": round(signing / total, 3),
                "unit": "ratio",
                "target": None,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
