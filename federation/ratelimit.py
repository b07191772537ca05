"""Per-peer-host token buckets for the inbox: a host sending faster than ``rate`` per second (after a burst of
``burst``) is answered 503 with Retry-After, so one noisy or hostile server cannot crowd out the others."""

from __future__ import annotations

import math
from collections.abc import Callable

from federation.errors import RateLimited

__all__ = ["HostRateLimiter"]


class HostRateLimiter:
    def __init__(
        self, *, rate: float, burst: float, clock: Callable[[], float], max_hosts: int = 10_000
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.max_hosts = max_hosts
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, host: str) -> None:
        now = self.clock()
        tokens, last = self._buckets.get(host, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[host] = (tokens, now)
            wait = max(1, math.ceil((1 - tokens) / self.rate))
            raise RateLimited(
                f"{host} is sending faster than {self.rate:g} requests a second", retry_after=wait
            )
        if len(self._buckets) >= self.max_hosts and host not in self._buckets:
            # forget the fullest buckets first: they are the hosts that have been quiet longest
            for key in [k for k, (t, _) in self._buckets.items() if t >= self.burst][
                : self.max_hosts // 10 or 1
            ]:
                del self._buckets[key]
        self._buckets[host] = (tokens - 1, now)
