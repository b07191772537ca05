"""The pump that runs both queues side by side: its limits, its lanes and its claims, on a scripted queue."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from federation.pump import Busy, Pump


@dataclass(frozen=True)
class Row:
    id: int
    host: str
    lane: str


class Queue:
    """The database's part, scripted: due rows, claimed oldest first within the limits a claim is given."""

    def __init__(self, rows: list[Row]) -> None:
        self.due = {r.id: r for r in rows}
        self.claims = 0
        self.claimed_twice: list[int] = []
        self.held: set[int] = set()

    async def claim(self, room: int, busy: Busy) -> list[Row]:
        self.claims += 1
        await asyncio.sleep(0)
        taken: list[Row] = []
        per_host = Counter(busy.hosts)
        for row in sorted(self.due.values(), key=lambda r: r.id):
            if len(taken) >= room:
                break
            if row.id in busy.ids or per_host[row.host] >= busy.backlog:
                continue
            if row.id in self.held:
                self.claimed_twice.append(row.id)
            per_host[row.host] += 1
            taken.append(row)
            self.held.add(row.id)
        return taken


class Worker:
    """Runs rows, noting how many held a slot at once per host and in all, and each lane's order. With
    ``release_early`` a row gives its slots back halfway (as a delivery does once its peer answered)."""

    def __init__(
        self, queue: Queue, rng: random.Random, fail_every: int = 0, release_early: bool = False
    ) -> None:
        self.queue = queue
        self.rng = rng
        self.fail_every = fail_every
        self.release_early = release_early
        self.running: Counter[str] = Counter()
        self.lanes: set[str] = set()
        self.most = Counter[str]()
        self.most_total = 0
        self.order: dict[str, list[int]] = {}
        self.lane_overlap = False

    async def run(self, row: Row, release: Callable[[], None]) -> None:
        if row.lane in self.lanes:
            self.lane_overlap = True
        self.lanes.add(row.lane)
        self.running[row.host] += 1
        self.most[row.host] = max(self.most[row.host], self.running[row.host])
        self.most_total = max(self.most_total, sum(self.running.values()))
        self.order.setdefault(row.lane, []).append(row.id)
        holding = True
        try:
            for _ in range(self.rng.randrange(4)):
                await asyncio.sleep(0)
            if self.release_early:
                self.running[row.host] -= 1
                holding = False
                release()
                for _ in range(self.rng.randrange(4)):  # what a delivery writes after its answer
                    await asyncio.sleep(0)
            if self.fail_every and row.id % self.fail_every == 0:
                raise RuntimeError(f"row {row.id} breaks")
        finally:
            if holding:
                self.running[row.host] -= 1
            self.lanes.discard(row.lane)
            del self.queue.due[row.id]
            self.queue.held.discard(row.id)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("fail_every", [0, 7])
@pytest.mark.parametrize("release_early", [False, True])
async def test_limits_lanes_and_batched_claims(seed: int, fail_every: int, release_early: bool) -> None:
    rng = random.Random(seed)
    rows = []
    for i in range(400):
        host = rng.choice(
            ["big.example", "big.example", "big.example", "b.example", "c.example", "d.example"]
        )
        rows.append(Row(id=i, host=host, lane=f"{host}/actor{rng.randrange(6)}"))
    queue = Queue(rows)
    worker = Worker(queue, rng, fail_every, release_early)
    pump: Pump[Row] = Pump(
        name="test",
        claim=queue.claim,
        run=worker.run,
        ident=lambda r: r.id,
        host=lambda r: r.host,
        lane=lambda r: r.lane,
        total=5,
        per_host=2,
        backlog=8,
        held=24,
        log=logging.getLogger("test"),
    )
    assert await pump.drain(10_000) == 400
    assert queue.due == {} and pump.held == 0 and pump.in_flight == 0  # every row ran, failing ones too
    assert sum(len(ids) for ids in worker.order.values()) == 400  # once each
    assert not queue.claimed_twice  # nothing held was claimed again
    assert max(worker.most.values()) <= 2 and worker.most_total <= 5  # the limits held
    assert worker.most["big.example"] == 2  # and the busiest host did use its slots
    assert not worker.lane_overlap  # one row at a time per lane...
    for lane, ids in worker.order.items():
        assert ids == sorted(ids), lane  # ...in the order they were claimed
    assert queue.claims < 400 // 4  # claimed in batches, not row by row


async def test_a_hanging_host_keeps_only_its_own_slots() -> None:
    release = asyncio.Event()
    progress = asyncio.Condition()
    done: list[int] = []
    hanging = 0

    async def run(row: Row, done_with_peer: Callable[[], None]) -> None:
        nonlocal hanging
        if row.host == "slow.example":
            hanging += 1
            async with progress:
                progress.notify_all()
            await release.wait()
            hanging -= 1
        done.append(row.id)
        del queue.due[row.id]
        queue.held.discard(row.id)
        async with progress:
            progress.notify_all()

    rows = [Row(id=i, host="slow.example", lane=str(i)) for i in range(20)]
    queue = Queue(rows)
    pump: Pump[Row] = Pump(
        name="test",
        claim=queue.claim,
        run=run,
        ident=lambda r: r.id,
        host=lambda r: r.host,
        total=4,
        per_host=2,
        log=logging.getLogger("test"),
    )
    forever = asyncio.create_task(pump.forever(idle=3600))
    try:
        async with progress:
            await progress.wait_for(lambda: hanging == 2)
        for i in range(100, 130):  # work for other hosts, added while the slow host hangs
            queue.due[i] = Row(id=i, host=f"h{i % 3}.example", lane=str(i))
            pump.wake.set()
            async with progress:
                await progress.wait_for(lambda i=i: i in done)
        assert hanging == 2 and not any(i < 100 for i in done)  # two slots, never more, for the slow host
        release.set()
        async with progress:
            await progress.wait_for(lambda: len(done) == 50)
    finally:
        forever.cancel()
        with pytest.raises(asyncio.CancelledError):
            await forever
    assert sorted(done) == [*range(20), *range(100, 130)]
