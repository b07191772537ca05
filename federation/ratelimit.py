"""Token buckets for the inbox, so that one noisy or hostile sender cannot crowd out the others.

Who pays for a request (docs/ARCHITECTURE.md §5): a request is charged to the address it comes from until its
signature is verified, and only then to the peer host whose key signed it. Charging the host a key id merely
names let anyone spend a victim server's allowance with forged requests and get its real traffic answered
503. A host's bucket is looked at (not charged) before verification, so that a host over its rate is still
refused before any work is done.
"""

from __future__ import annotations

import functools
import ipaddress
import math
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from federation.errors import RateLimited

__all__ = ["FetchSlots", "HostRateLimiter", "client_key"]


@functools.lru_cache(maxsize=4096)  # every inbox request asks, and the same few addresses keep asking
def client_key(remote: str | None) -> str:
    """The bucket a connecting address is charged to: an IPv4 address, or the /64 of an IPv6 one (one
    subscriber's share: its addresses cost nothing to change)."""
    if not remote:
        return "?"
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return remote
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class HostRateLimiter:
    """Buckets of ``burst`` tokens refilled at ``rate`` a second, one per key (a host or an address).
    A rate or burst of 0 turns the limit off."""

    def __init__(
        self, *, rate: float, burst: float, clock: Callable[[], float], max_hosts: int = 10_000
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.max_hosts = max_hosts
        self._buckets: dict[str, tuple[float, float]] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0 and self.burst > 0

    def _tokens(self, key: str, now: float) -> float:
        tokens, last = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - last) * self.rate)

    def _refuse(self, key: str, tokens: float) -> RateLimited:
        wait = max(1, math.ceil((1 - tokens) / self.rate))
        return RateLimited(
            f"{key} is sending faster than {self.rate:g} requests a second; retry after {wait} s",
            retry_after=wait,
        )

    def check(self, key: str) -> None:
        """Refuse (RateLimited) when ``key`` has no token left; charge nothing."""
        if not self.enabled or key not in self._buckets:
            return
        tokens = self._tokens(key, self.clock())
        if tokens < 1:
            raise self._refuse(key, tokens)

    def take(self, key: str) -> None:
        """Charge ``key`` one token, or refuse (RateLimited) when it has none left."""
        if not self.enabled:
            return
        now = self.clock()
        tokens = self._tokens(key, now)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            raise self._refuse(key, tokens)
        if len(self._buckets) >= self.max_hosts and key not in self._buckets:
            # forget the fullest tenth: a forgotten bucket starts full again, which changes least for them
            fullest = sorted(self._buckets, key=lambda k: self._tokens(k, now), reverse=True)
            for full in fullest[: self.max_hosts // 10 or 1]:
                del self._buckets[full]
        self._buckets[key] = (tokens - 1, now)

    def give_back(self, key: str) -> None:
        """Return the token a request took (it turned out to be someone else's to pay)."""
        if not self.enabled or key not in self._buckets:
            return
        now = self.clock()
        self._buckets[key] = (min(self.burst, self._tokens(key, now) + 1), now)


class FetchSlots:
    """Key fetches on behalf of requests not yet verified, at once: at most ``total`` in all and ``per_client``
    for one address. Each may wait up to the fetch timeout on a server the request names, so without a bound
    one sender naming keys on many hanging servers could hold every outbound connection the node has, and
    stall its deliveries and its inbox worker. Beyond the bound the request is answered 503 at once."""

    def __init__(self, *, total: int, per_client: int) -> None:
        self.total = total
        self.per_client = per_client
        self.by_client: Counter[str] = Counter()
        self.count = 0

    @contextmanager
    def slot(self, client: str) -> Iterator[None]:
        if self.count >= self.total or self.by_client[client] >= self.per_client:
            raise RateLimited(
                f"too many key fetches in flight ({'for ' + client if self.count < self.total else 'in all'}); "
                "retry in a moment",
                retry_after=1,
            )
        self.count += 1
        self.by_client[client] += 1
        try:
            yield
        finally:
            self.count -= 1
            self.by_client[client] -= 1
            if self.by_client[client] <= 0:
                del self.by_client[client]
