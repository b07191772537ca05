"""One read at a time per key, shared by everyone who asks while it runs.

The short-lived caches of the request and delivery paths (an account's blocks, an actor's tombstone: 2 seconds,
specs/POSTGRESQL.md §11) expire for every concurrent caller at the same moment. Without this each of the dozens
of requests or deliveries in flight then made the same read, a round trip each on PostgreSQL: measured on the
inbox benchmark, more round trips than storing the activities. With it they wait for the one read under way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["SharedReads"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SharedReads(Generic[K, V]):
    def __init__(self) -> None:
        self._running: dict[K, asyncio.Future[V]] = {}

    async def read(self, key: K, fn: Callable[[], Awaitable[V]]) -> V:
        """``fn()``'s result: of the call for ``key`` under way if there is one, else of a new one. A caller
        cancelled while waiting does not cancel the read the others wait for; its failure reaches each of them,
        and the next caller reads again."""
        running = self._running.get(key)
        if running is None:
            running = asyncio.ensure_future(fn())
            self._running[key] = running
            running.add_done_callback(lambda done: self._done(key, done))
        return await asyncio.shield(running)

    def forget(self, key: K) -> None:
        """Whoever asks from now on gets a read that starts after this (what was written meanwhile is seen)."""
        self._running.pop(key, None)

    def _done(self, key: K, done: asyncio.Future[V]) -> None:
        if self._running.get(key) is done:
            del self._running[key]
        if not done.cancelled():
            done.exception()  # seen: a failure with every waiter gone is not reported as never retrieved
