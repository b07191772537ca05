"""Issue #18's bridge benchmark: a bridged actor with 10,000 followers on 500 hosts updates its profile.

The bridged actor is what node/bridge_bluesky.py makes: an account of the server named after its DID, its card
public. Its followers are 20 on each of 500 hosts (127.0.N.M on loopback, one sink server answering 202); half
the hosts have a shared inbox, so the profile Update goes to 250 shared inboxes and 5,000 personal ones.
Measured: the time from the Update's publication (outbox and delivery rows written) until every inbox has
answered, as deliveries per second, beside the RSA-2048 signing rate of the same key measured in the same run
(every delivery is signed once). Goal (#18): deliveries per second >= 0.5 x signatures per second.

    .venv/bin/python bench/bench_bridge.py [FOLLOWERS] [HOSTS]

Last lines: one JSON object per metric.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web

import federation
from federation import FEDERATION, RemoteActor
from federation.signing import sign
from node.api import SERVER
from node.config import Config, FederationConfig, NodeConfig, ServerConfig
from node.federation_wiring import federation_context
from node.keys import KeyRing, save_node_key
from node.owner_card import PUBLIC, set_card, set_disclosure
from node.server import Server

# KITH_BENCH_SMOKE=1 (tests/test_benchmarks.py): the smallest sizes, only to show it runs; figures meaningless
SMOKE = os.environ.get("KITH_BENCH_SMOKE") == "1"
FOLLOWERS = int(sys.argv[1]) if len(sys.argv) > 1 else (40 if SMOKE else 10_000)
HOSTS = int(sys.argv[2]) if len(sys.argv) > 2 else (4 if SMOKE else 500)
NAME = "did.plc.benchbenchbenchbenchbenc"


def _host(n: int, port: int) -> str:
    return f"127.0.{n // 250}.{n % 250 + 1}:{port}"


def rsa_signs_per_second(keys: KeyRing, seconds: float = 1.0) -> float:
    """Signatures a second of the delivery's own kind (cavage, RSA-2048) with the account's key."""
    key = keys.actor.rsa
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        sign(
            "cavage",
            method="POST",
            url="http://127.0.0.7:1/users/1/inbox",
            headers={"Content-Type": "application/activity+json"},
            body=b"{}",
            key_id="http://127.0.0.1/users/x#main-key",
            private_key=key,
            now=time.time(),
        )
        done += 1
    return done / (time.perf_counter() - t0)


async def main() -> None:
    received = 0

    async def inbox(request: web.Request) -> web.Response:
        nonlocal received
        await request.read()
        received += 1
        return web.Response(status=202)

    sink = web.Application()
    sink.router.add_post("/inbox", inbox)
    sink.router.add_post("/users/{n}/inbox", inbox)
    sink_sock = socket.socket()
    sink_sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sink_sock.bind(("0.0.0.0", 0))  # every 127.0.N.M reaches it: 500 hosts on one machine
    sink_port = sink_sock.getsockname()[1]
    sink_runner = web.AppRunner(sink, access_log=None)
    await sink_runner.setup()
    await web.SockSite(sink_runner, sink_sock, backlog=4096).start()

    with tempfile.TemporaryDirectory() as tmp:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = Config(
            data_dir=Path(tmp),
            node=NodeConfig(
                username="operator",
                domain=f"127.0.0.1:{port}",
                display_name="",
                actor_type="Person",
                https=False,
            ),
            server=ServerConfig(host="127.0.0.1", port=port, max_body_bytes=1 << 20),
            federation=FederationConfig(
                allow_private_networks=("127.0.0.0/8",),
                allow_http=True,
                auto_accept_follows=True,
                delivery_days=3,
                fetch_timeout=30,
            ),
        )
        keys = KeyRing.generate()
        save_node_key(config.data_dir, keys.node_rsa, None)
        server = await Server.open(config)
        await server.add_account(NAME, display_name="Bridged")
        async with server.borrow(NAME) as ctx:
            await set_card(ctx.store, {"name": "Bridged", "identities": ["did:plc:benchbenchbenchbenchbenc"]})
            await set_disclosure(ctx.store, {"name": [PUBLIC], "identities": [PUBLIC]})
        app = web.Application()
        app[SERVER] = server
        federation.setup(app, federation_context(server, run_workers=False))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        try:
            runtime = app[FEDERATION]
            async with runtime.acting(NAME) as fed:
                now = time.time()
                per_host = max(1, FOLLOWERS // HOSTS)

                async def follower(i: int) -> None:
                    h = i % HOSTS
                    base = f"http://{_host(h, sink_port)}"
                    actor_id = f"{base}/users/{i}"
                    actor = RemoteActor(
                        id=actor_id,
                        type="Person",
                        acct=None,
                        preferred_username=str(i),
                        name=None,
                        summary=None,
                        url=None,
                        icon=None,
                        inbox=actor_id + "/inbox",
                        shared_inbox=base + "/inbox" if h % 2 == 0 else None,
                        outbox=None,
                        followers=None,
                        following=None,
                        public_key_id=actor_id + "#main-key",
                        public_key_pem="-",
                    )
                    await fed.store.save_actor(actor, {"id": actor_id}, now)
                    await fed.store.add_follow(
                        follow_id=actor_id + "/follow",
                        direction="in",
                        actor_id=actor_id,
                        state="accepted",
                        now=now,
                    )

                t_setup = time.perf_counter()
                total_followers = per_host * HOSTS
                for start in range(0, total_followers, 500):  # side by side: the store commits them in groups
                    await asyncio.gather(
                        *(follower(i) for i in range(start, min(start + 500, total_followers)))
                    )
                t_setup = time.perf_counter() - t_setup
                signs = rsa_signs_per_second(await server.keyring(await server.resolve(NAME)))

                # the Bluesky profile changed: the bridge saved the new card (node/bridge_bluesky.py)
                async with server.borrow(NAME) as ctx:
                    await set_card(
                        ctx.store,
                        {"name": "Bridged, renamed", "identities": ["did:plc:benchbenchbenchbenchbenc"]},
                    )
                t0 = time.perf_counter()
                inboxes = await runtime.publish_pending(NAME)
                t_enqueued = time.perf_counter() - t0
                expected = HOSTS // 2 + (HOSTS - HOSTS // 2) * per_host
                while received < expected:
                    if await fed.delivery.run_once(limit=2000) == 0:
                        await asyncio.sleep(0.01)
                total = time.perf_counter() - t0
        finally:
            await runner.cleanup()
            await server.close()
            await sink_runner.cleanup()
    rate = received / total
    print(
        f"{total_followers} followers on {HOSTS} hosts ({t_setup:.1f} s to store them): the profile Update "
        f"reached {received} inboxes ({inboxes} Kith peers among them) in {total:.2f} s "
        f"({t_enqueued * 1000:.0f} ms to write the outbox): {rate:.0f} deliveries/s; RSA signing alone "
        f"{signs:.0f}/s; ratio {rate / signs:.2f} (goal >= 0.5)"
    )
    for metric, value, unit, target in (
        ("bridge_update_total_seconds", round(total, 3), "s", None),
        ("bridge_update_deliveries_per_second", round(rate, 1), "1/s", None),
        ("bridge_rsa_signs_per_second", round(signs, 1), "1/s", None),
        ("bridge_update_share_of_signing_limit", round(rate / signs, 3), "ratio", 0.5),
    ):
        print(json.dumps({"metric": metric, "value": value, "unit": unit, "target": target}))


if __name__ == "__main__":
    asyncio.run(main())
