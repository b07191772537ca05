"""Running a queue's rows side by side, so that no single peer holds up the others (docs/ARCHITECTURE.md §3.3).

Both reconciliation loops (deliveries, inbox items) used to claim a batch and wait for all of it: one peer that
hung for the fetch timeout held every other row of the batch, and every row due meanwhile, for that long. A
:class:`Pump` runs each row in a task of its own instead, and a row that finishes hands its slot to the next
one at once. Limits:

- ``total`` rows running at once;
- ``per_host`` rows running at once for any one peer host, so that a slow or hanging host fills its own few
  slots and no more;
- one row at a time per *lane* (``lane(row)``; by default every row is its own lane): an inbox item waits for
  its actor's earlier one, so that one sender's activities are handled in the order they were claimed.

A row holds its slots until ``run(row, release)`` calls ``release()`` or returns: a delivery releases them once
its peer has answered, so that its outcome is written to the database while the next request already runs
(the commit's fsync would otherwise sit inside the host's few slots). Its lane stays busy until it returns.

Claims are group-committed writes (an fsync each), so a pump does not claim per row: it claims up to
``backlog`` rows per host and ``held`` in all, keeps them in memory until a slot is free, and claims again
when work is added (``wake``), when a host whose last claim was cut short runs low, or every ``idle``
seconds. The claim is told what the pump holds (:class:`Busy`) and leaves it alone, so a row is never taken
twice however long it waits or runs. The rows stay in the database throughout: the pump holds only what it
is working on, and a restart releases the locks of whatever it held (docs/ARCHITECTURE.md §3.3).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["Busy", "Pump"]

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Busy:
    """What a pump holds (waiting or running): row ids, and how many rows per host. A claim skips the ids and
    takes at most ``backlog - hosts[host]`` more rows of each host."""

    ids: frozenset[Hashable] = frozenset()
    hosts: dict[str, int] = field(default_factory=dict)
    backlog: int = 1


class Pump(Generic[R]):
    def __init__(
        self,
        *,
        name: str,
        claim: Callable[[int, Busy], Awaitable[Sequence[R]]],
        run: Callable[[R, Callable[[], None]], Awaitable[None]],
        ident: Callable[[R], Hashable],
        host: Callable[[R], str],
        lane: Callable[[R], Hashable] | None = None,
        total: int,
        per_host: int,
        backlog: int | None = None,
        held: int | None = None,
        log: logging.Logger,
    ) -> None:
        if total < 1 or per_host < 1:
            raise ValueError("a pump needs at least one slot in all and one per host")
        self.name = name
        self.total = total
        self.per_host = per_host
        self.backlog = max(backlog or per_host * 16, per_host)
        self.max_held = max(held or total * 16, total)
        self._claim = claim
        self._run = run
        self._ident = ident
        self._host = host
        self._lane = lane or ident
        self._log = log
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids: set[Hashable] = set()
        self._held: Counter[str] = Counter()  # rows held per host, waiting or running
        self._waiting: dict[str, dict[Hashable, deque[R]]] = {}  # host -> lane -> rows not yet started
        self._lanes_busy: dict[str, set[Hashable]] = {}  # host -> lanes with a row started and not finished
        self._slots: Counter[str] = Counter()  # host -> rows holding one of its slots (started, not released)
        self._active = 0  # rows holding one of the ``total`` slots
        self._more: set[str] = set()  # hosts whose last claim stopped at the backlog: more may be due
        self._cut_short = False  # the last claim stopped at the room it had: more may be due
        self._want_claim = True
        self.wake = asyncio.Event()  # set by whoever adds work, and when the pump wants to claim again
        self._changed = asyncio.Event()  # set whenever a row finishes (drain waits on it)

    @property
    def in_flight(self) -> int:
        """Rows holding a slot (started, and not yet done with their peer)."""
        return self._active

    @property
    def held(self) -> int:
        return len(self._ids)

    def busy(self) -> Busy:
        return Busy(ids=frozenset(self._ids), hosts=dict(self._held), backlog=self.backlog)

    # ---- claiming ----------------------------------------------------------------------------------

    async def fill(self, limit: int | None = None) -> int:
        """Claim due rows for the room the pump has (at most ``limit``), and start what the slots allow; how
        many rows were claimed."""
        self._want_claim = False
        room = self.max_held - len(self._ids)
        if limit is not None:
            room = min(room, limit)
        claimed = 0
        if room > 0:
            busy = self.busy()
            rows = await self._claim(room, busy)
            claimed = len(rows)
            self._cut_short = claimed >= room
            taken = Counter(self._host(r) for r in rows)
            for row in rows:
                self._hold(row)
            # a host that got all the claim would give it may have more rows due (measured against what it held
            # when the claim began: rows may have finished meanwhile)
            self._more.update(h for h, n in taken.items() if n >= self.backlog - busy.hosts.get(h, 0))
        else:
            self._cut_short = True
        self._start_ready()
        return claimed

    def _hold(self, row: R) -> None:
        host = self._host(row)
        self._ids.add(self._ident(row))
        self._held[host] += 1
        self._waiting.setdefault(host, {}).setdefault(self._lane(row), deque()).append(row)

    # ---- running -----------------------------------------------------------------------------------

    def _next_lane(self, host: str) -> Hashable | None:
        busy = self._lanes_busy.get(host, ())
        for lane in self._waiting.get(host, {}):
            if lane not in busy:
                return lane
        return None

    def _start_ready(self) -> None:
        for host in list(self._waiting):
            while self._active < self.total and self._slots[host] < self.per_host:
                lane = self._next_lane(host)
                if lane is None:
                    break
                self._start(host, lane)
            if self._active >= self.total:
                return

    def _start(self, host: str, lane: Hashable) -> None:
        lanes = self._waiting[host]
        queue = lanes[lane]
        row = queue.popleft()
        if not queue:
            del lanes[lane]
            if not lanes:
                del self._waiting[host]
        self._lanes_busy.setdefault(host, set()).add(lane)
        self._slots[host] += 1
        self._active += 1
        released = False

        def release() -> None:
            """The row is done with its peer: its slots go to the next rows (its lane stays busy)."""
            nonlocal released
            if released:
                return
            released = True
            self._slots[host] -= 1
            if self._slots[host] <= 0:
                del self._slots[host]
            self._active -= 1
            if (nxt := self._next_lane(host)) is not None:
                self._start(host, nxt)  # the host's next row takes the slot this one left
            else:
                self._start_ready()

        task = asyncio.create_task(self._guarded(row, release), name=f"{self.name} {self._ident(row)}")
        self._tasks.add(task)
        task.add_done_callback(lambda _: self._finished(task, row, host, lane, release))

    def _finished(
        self, task: asyncio.Task[None], row: R, host: str, lane: Hashable, release: Callable[[], None]
    ) -> None:
        self._tasks.discard(task)
        self._ids.discard(self._ident(row))
        self._held[host] -= 1
        if self._held[host] <= 0:
            del self._held[host]
        busy = self._lanes_busy.get(host)
        if busy is not None:
            busy.discard(lane)
            if not busy:
                del self._lanes_busy[host]
        if host in self._more and self._held[host] <= self.backlog // 2:
            self._more.discard(host)
            self._want_claim = True
        if self._cut_short and len(self._ids) <= self.max_held // 2:
            self._cut_short = False
            self._want_claim = True
        release()  # if run() did not: the slots go to the next rows
        self._start_ready()  # and a lane freed now may start its next row in a slot freed earlier
        self._changed.set()
        if self._want_claim:
            self.wake.set()

    async def _guarded(self, row: R, release: Callable[[], None]) -> None:
        try:
            await self._run(row, release)
        except Exception:  # run() records its own failures; this is the last guard, never a stuck slot
            self._log.exception("%s: %s failed", self.name, self._ident(row))

    # ---- driving -----------------------------------------------------------------------------------

    async def drain(self, limit: int) -> int:
        """Claim and run until nothing due is left (or ``limit`` rows were claimed) and nothing is held; how
        many rows were claimed. One step of a loop, for tests and benchmarks."""
        claimed = await self.fill(limit)
        while True:
            if self._want_claim and claimed < limit:  # rows that finished while a claim ran may ask again
                claimed += await self.fill(limit - claimed)
                continue
            if not self._ids:
                return claimed
            self._changed.clear()
            await self._changed.wait()

    async def forever(self, idle: float, quiet: Callable[[], Awaitable[None]] | None = None) -> None:
        """Keep the slots full: claim when work is added (``wake``), when the pump runs low, and at least every
        ``idle`` seconds (rows waiting for their retry time become due without anyone saying so). ``quiet``
        runs when a claim finds nothing and nothing is held. Cancelling this cancels the rows in flight;
        their locks are released at the next start."""
        try:
            while True:
                self.wake.clear()
                try:
                    claimed = await self.fill()
                    if claimed == 0 and not self._ids and quiet is not None:
                        await quiet()
                except Exception:  # one broken claim must not stop the loop for good; logged loudly
                    self._log.exception("%s: claiming failed", self.name)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=idle)
        finally:
            await self.cancel()

    async def cancel(self) -> None:
        """Stop every row in flight and forget what is held (its locks are released at the next start)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._waiting.clear()
        self._ids.clear()
        self._held.clear()
        self._lanes_busy.clear()
        self._slots.clear()
        self._active = 0
