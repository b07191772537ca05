"""A node killed with SIGKILL at random moments during a fan-out, then restarted: nothing lost, and nothing a
peer would see twice (peers de-duplicate by activity id; re-sends are bounded by what was in flight)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
from collections import Counter
from pathlib import Path

from aiohttp import web

from federation import owner
from federation.service import Federation
from tests.federation.backends import backend  # noqa: F401  (each test on SQLite and on PostgreSQL)

from .helpers import serve
from .nodes import FakeClock, settle, start_node

ROOT = Path(__file__).resolve().parents[2]
N = 300
KILLS = 3


async def test_sigkill_during_fan_out(tmp_path: Path) -> None:
    received: Counter[str] = Counter()
    activity_ids: set[str] = set()

    async def inbox(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        activity_ids.add(body["id"])
        await asyncio.sleep(0.005)  # a peer that takes a moment, so that kills land mid-fan-out
        received[request.match_info["n"]] += 1
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/inbox/{n}", inbox)
    root = ROOT
    env = {**os.environ, "PYTHONPATH": str(root)}
    rng = random.Random(7)
    kills_at: list[int] = []
    async with serve(app) as base:
        for attempt in range(KILLS + 1):
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.federation._fanout_child",
                str(tmp_path / "s"),
                base,
                str(N),
                cwd=root,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            if attempt < KILLS:
                target = len(received) + rng.randint(10, N // (KILLS + 1))
                for _ in range(12000):  # up to 60 s on a loaded machine
                    if len(received) >= target or child.returncode is not None:
                        break
                    await asyncio.sleep(0.005)
                kills_at.append(len(received))
                child.send_signal(signal.SIGKILL)
                await child.wait()
                assert child.returncode == -signal.SIGKILL
            else:
                out, err = await asyncio.wait_for(child.communicate(), timeout=90)
                assert child.returncode == 0, err.decode()[-2000:]
                assert b"done" in out
    # the kills happened during the fan-out, not before or after it
    assert all(0 < k < N for k in kills_at), kills_at
    assert len(activity_ids) == 1  # one activity, enqueued once across all restarts
    assert set(received) == {str(i) for i in range(N)}  # nothing lost
    resent = sum(c - 1 for c in received.values())
    # only deliveries in flight at a kill can go out again (at most one claimed batch each time)
    assert resent <= KILLS * 32


async def test_inbox_items_claimed_by_a_killed_worker_are_processed_after_restart(tmp_path: Path) -> None:
    clock = FakeClock()
    async with (
        start_node(tmp_path, "alice", clock, index=0) as a,
        start_node(tmp_path, "bob", clock, index=1) as b,
    ):
        await owner.follow(a.fed, b.acct)
        await a.fed.delivery.run_once()  # the Follow is in bob's inbox, stored and answered 202
        # a worker takes it... and dies before finishing
        claimed = await b.runtime.store.claim_inbox(clock(), worker=b.runtime.worker)
        assert [r.type for r in claimed] == ["Follow"]
        assert await b.fed.process_inbox_once() == 0  # locked: nobody else takes it meanwhile
        restarted = Federation(b.runtime.ctx, b.runtime.client)  # the same worker, started again
        await restarted.start()
        assert await restarted.process_inbox_once() == 1
        await restarted.delivery.run_once()  # its Accept goes out
        await settle(a)
        assert [f["actor"] for f in await owner.following(a.fed)] == [b.actor]
        assert (await owner.following(a.fed))[0]["state"] == "accepted"
