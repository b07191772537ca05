"""The bridge operator's metrics and queue view (issue #18, "Operator surface"; node/cli_bridge.py) on both
storage engines, with the real AT Protocol devnet and two real Kith servers: a Bluesky account opts in, a Kith
account on another server follows its bridged actor, and ``status`` counts that follower and the deliveries
finished; the follower's server goes down, the profile changes, and the queue shows the Update waiting for that
host (and ``status`` the same number), while nothing of another account of the server is counted."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pytest

from federation import owner
from federation.values import Outgoing
from node.bridge_bluesky import BlueskyBridge, account_name
from node.cli_bridge import queue_view
from tests.bridges.atproto_net import Devnet, Pds
from tests.bridges.test_bridge_node import (
    avatar,
    bridge_settings,
    kith_server,
    opted_in,
    pds,  # noqa: F401  (fixture)
    settle,
)
from tests.federation.backends import backend  # noqa: F401  (every test here on SQLite and PostgreSQL)

pytestmark = pytest.mark.timeout(900)


async def test_status_counts_followers_and_deliveries_and_the_queue_shows_a_host_that_is_down(
    tmp_path: Path,
    pds: Pds,  # noqa: F811
    atproto_devnet: Devnet,
) -> None:
    bot = await pds.create_account("opsbot")
    alice, _ = await opted_in(pds, "opsalice", bot)
    async with (
        kith_server(tmp_path, "bridge", 0, **bridge_settings(atproto_devnet, bot)) as side,
        aiohttp.ClientSession() as http,
    ):
        bridge = BlueskyBridge(side.server, http, on_change=side.fed.card_changed)
        assert (await bridge.run_once()).bridged == 1
        name = account_name(alice.did)
        actor = f"{side.base}/users/{name}"
        status = await bridge.status()
        assert (status["actors"], status["opted_in"], status["follows"], status["waiting"]) == (1, 1, 0, 0)
        assert status["deliveries_per_second"] == {"last_minute": 0.0, "last_hour": 0.0}

        # the server's own account has a follower and deliveries of its own: none of it is the bridge's
        await side.server.federation.add_follow(
            side.ctx.name, follow_id="x", direction="in", actor_id="https://elsewhere.example/u/x",
            state="accepted", now=time.time(),
        )  # fmt: skip
        activity = Outgoing(activity_id=f"{side.base}/a/mine", type="Update", body="{}",
                            inboxes=["https://elsewhere.example/inbox"])  # fmt: skip
        await side.server.federation.enqueue_many(side.ctx.name, [activity], now=time.time())

        async with kith_server(tmp_path, "bob", 1) as bob:
            async with bob.fed.acting("bob") as me:
                await owner.follow(me, actor)
            await settle(side, bob)
            bob_host = bob.base.split("://")[1]
            delivered = sum(int(p["delivered"] or 0) for p in await side.server.federation.peer_status(name))
            assert delivered >= 1  # the Accept, at least
            status = await bridge.status()
            assert status["follows"] == 1 and status["waiting"] == 0
            assert status["deliveries_per_second"]["last_hour"] == round(delivered / 3600.0, 3)
            assert 0 < status["deliveries_per_second"]["last_minute"] <= round(delivered / 60.0, 3)
            view = await queue_view(side.server, now=time.time())
            assert view["hosts"] == [] and view["waiting"] == 0 and view["oldest_waiting_seconds"] is None

        # bob's server is gone; alice changes her profile: the Update to bob waits, and the queue says where
        await pds.set_profile(alice, displayName="Alice Again", avatar=await avatar(pds, alice))
        assert (await bridge.run_once()).updated == 1
        for _ in range(20):
            await side.fed.run_once()
            view = await queue_view(side.server, now=time.time())
            if view["waiting"] and not view["in_flight"]:
                break
        [host] = view["hosts"]
        assert host["host"] == bob_host and host["waiting"] >= 1 and host["in_flight"] == 0
        assert host["oldest_waiting_seconds"] is not None and host["oldest_waiting_seconds"] >= 0
        assert view["oldest_waiting_seconds"] == host["oldest_waiting_seconds"]
        assert view["open_circuits"] == [] and not host["circuit_open"]  # one failure does not open it
        assert (await bridge.status())["waiting"] == view["waiting"]
        assert (await bridge.status())["follows"] == 1
