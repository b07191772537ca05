"""How long and how many: the limits `kith serve` puts on connections, so that slow or numerous clients cannot
take the node down (a thousand connections sending a byte a second used to exhaust its file descriptors).

aiohttp leaves connections open for an hour by default and has no limits of its own on header or body time
or on connections per client. What this module adds around it:

- **Idle and header time**: ``server.idle_seconds`` is aiohttp's keep-alive timeout. Its timer starts when a
  connection opens and again after each response, and closes a connection that has not sent a whole request
  by then, so it bounds a slow request head as well as an idle connection.
- **Body time** (:func:`body_pace_middleware`): after a grace period a request body must keep arriving at an
  average of ``body_min_rate`` bytes a second, else the request is answered 408 and the connection closed.
- **Connections** (:class:`LimitedSite`): at most ``server.connections_per_address`` open connections per
  client address (an IPv6 address counts by its /64) and at most :func:`connection_budget` in all, below the
  process's file descriptor limit; a connection beyond either is answered 503 and closed at once.
"""

from __future__ import annotations

import asyncio
import ipaddress
import resource
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from node.config import Config
from node.errors import NodeError

__all__ = [
    "BODY_GRACE_SECONDS",
    "BODY_MIN_RATE",
    "ConnectionGate",
    "LimitedSite",
    "ServerLimits",
    "SlowRequest",
    "body_pace_middleware",
    "client_key",
    "connection_budget",
]

BODY_GRACE_SECONDS = 10.0
BODY_MIN_RATE = 1024  # bytes a second, on average once the grace is over: a 10 kbit/s link keeps up
_RESERVED_FDS = 256  # kept for the database, outbound requests (up to 200) and files the node opens itself

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def client_key(remote: str | None) -> str:
    """The key a client's connections are counted under: its IPv4 address, or the /64 of an IPv6 one (one
    subscriber's share; its addresses cost nothing to change). The same rule as the inbox's rate limits."""
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


def connection_budget(reserve: int = _RESERVED_FDS) -> int:
    """Connections the process can hold open besides everything else it needs descriptors for."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 65_536
    return max(64, soft - reserve)


@dataclass(frozen=True, kw_only=True, slots=True)
class ServerLimits:
    idle_seconds: float
    connections_per_address: int
    connections_total: int
    body_grace: float = BODY_GRACE_SECONDS
    body_min_rate: float = BODY_MIN_RATE

    @classmethod
    def from_config(cls, config: Config) -> ServerLimits:
        return cls(  # a limit of 0 would mean no header timeout, or no connections at all: 1 at least
            idle_seconds=float(max(1, config.server.idle_seconds)),
            connections_per_address=max(1, config.server.connections_per_address),
            connections_total=connection_budget(),
        )

    def runner_kwargs(self) -> dict[str, Any]:
        """What the AppRunner passes to aiohttp's request handler."""
        return {"keepalive_timeout": self.idle_seconds}


# ---- body time ---------------------------------------------------------------------------------------


class SlowRequest(NodeError):
    """The client sends its request body too slowly (408); the connection is closed after the answer."""

    status_hint = 408


class _BodyPace:
    """Watches one request's body arrive; once it falls behind the minimum rate, the next read raises."""

    def __init__(self, request: web.Request, limits: ServerLimits) -> None:
        self.request = request
        self.limits = limits
        self.loop = asyncio.get_running_loop()
        self.started = self.loop.time()
        self.fired = False
        self._timer: asyncio.TimerHandle | None = self.loop.call_later(limits.body_grace, self._check)

    def _check(self) -> None:
        self._timer = None
        content = self.request.content
        if content.is_eof():
            return
        elapsed = self.loop.time() - self.started
        if content.total_bytes < (elapsed - self.limits.body_grace) * self.limits.body_min_rate:
            self.fired = True
            content.set_exception(
                SlowRequest(
                    f"the request body arrived slower than {self.limits.body_min_rate:g} bytes a second; "
                    "send it in one go, or in smaller parts"
                )
            )
            return
        self._timer = self.loop.call_later(1.0, self._check)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def body_pace_middleware(limits: ServerLimits) -> Any:
    """A middleware bounding how slowly a request body may arrive (outermost, so that it sees every answer)."""

    @web.middleware
    async def body_pace(request: web.Request, handler: _Handler) -> web.StreamResponse:
        if not request.body_exists or request.content.is_eof():
            return await handler(request)  # the whole body came with the head: nothing to watch
        pace = _BodyPace(request, limits)
        try:
            response = await handler(request)  # the error middleware inside answers SlowRequest with its 408
        except SlowRequest as exc:
            response = web.json_response({"error": {"status": 408, "message": exc.message}}, status=408)
        finally:
            pace.stop()
        if pace.fired:
            # what is left of the body is never read: close the connection after this answer (without
            # waiting for the rest, which aiohttp would otherwise read for its lingering time)
            response.force_close()
            request.content.feed_eof()
        return response

    return body_pace


# ---- connections -------------------------------------------------------------------------------------


class ConnectionGate:
    """Open connections, per client and in all."""

    def __init__(self, *, per_address: int, total: int) -> None:
        self.per_address = per_address
        self.total = total
        self.open: Counter[str] = Counter()
        self.count = 0
        self.refused = 0

    def admit(self, key: str) -> str | None:
        """Count a new connection in; or say why it is refused (and count nothing)."""
        if self.count >= self.total:
            self.refused += 1
            return "the server has all the connections it can hold; try again in a few seconds"
        if self.open[key] >= self.per_address:
            self.refused += 1
            return f"too many open connections from {key}; close some, or reuse them"
        self.open[key] += 1
        self.count += 1
        return None

    def release(self, key: str) -> None:
        self.count -= 1
        self.open[key] -= 1
        if self.open[key] <= 0:
            del self.open[key]


def _refusal(message: str) -> bytes:
    body = (message + "\n").encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nRetry-After: 5\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class _Gated(asyncio.Protocol):
    """Stands in front of aiohttp's protocol for one connection: counts it in (or refuses it) and passes every
    event on unchanged."""

    def __init__(self, inner: Callable[[], asyncio.Protocol], gate: ConnectionGate) -> None:
        self._factory = inner
        self._gate = gate
        self._inner: asyncio.Protocol | None = None
        self._key: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        key = client_key(peer[0] if isinstance(peer, tuple) and peer else None)
        refusal = self._gate.admit(key)
        if refusal is not None:
            assert isinstance(transport, asyncio.Transport)
            transport.write(_refusal(refusal))
            transport.close()
            return
        self._key = key
        self._inner = self._factory()
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._key is not None:
            self._gate.release(self._key)
            self._key = None
        if self._inner is not None:
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()


class LimitedSite(web.BaseSite):
    """aiohttp's TCP site with the connection gate in front of every connection."""

    def __init__(
        self, runner: web.BaseRunner, host: str, port: int, *, limits: ServerLimits, backlog: int = 128
    ) -> None:
        super().__init__(runner, backlog=backlog)
        self._host = host
        self._port = port
        self.gate = ConnectionGate(per_address=limits.connections_per_address, total=limits.connections_total)

    @property
    def name(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        gate = self.gate
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Gated(server, gate),
            self._host,
            self._port,
            backlog=self._backlog,
        )
