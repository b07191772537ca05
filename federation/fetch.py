"""The guarded HTTP client: every outbound request federation makes goes through it (docs/ARCHITECTURE.md §5).

Rules it keeps:
- The address actually connected to is checked. Host names go through :class:`GuardedResolver`, which aiohttp
  calls at connect time and whose (filtered) answer is what it connects to, so an answer that changes between
  look-ups (DNS rebinding) is checked on every connection; the DNS cache is off. IP literals never reach a
  resolver, so :meth:`GuardedClient.request` checks them itself before each hop. After connecting, the peer
  address of the socket is checked once more.
- Private, loopback, link-local, multicast, reserved and other non-global ranges are refused, including their
  IPv4-mapped, 6to4, Teredo and NAT64 forms; ``federation.allow_private_networks`` admits chosen ranges.
- Plain http only when ``federation.allow_http`` is set; no proxies from the environment.
- Timeouts: 5 s connect, ``fetch_timeout`` (30 s) total, so a peer dribbling bytes is cut off.
- Bodies are read while streaming and abandoned past 1 MiB; at most 3 redirects, each checked again; the
  content type is checked against what the caller accepts; a :class:`FetchBudget` bounds fetches per activity.
- A 429 or 503 says when to come back (``Retry-After``): :meth:`FetchResponse.retry_after` reads it, capped at
  ``RETRY_AFTER_MAX``, and :class:`FetchStatus` carries it to whoever schedules the retry (delivery, inbox).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from multidict import CIMultiDictProxy

from federation.errors import (
    FetchBlocked,
    FetchBudgetExceeded,
    FetchContentType,
    FetchError,
    FetchStatus,
    FetchTimeout,
    FetchTooLarge,
)
from protocol.errors import MalformedInput, SignatureError, TooLarge
from protocol.jsonld import MAX_DOCUMENT_BYTES, parse_json
from protocol.wire import parse_http_date

if TYPE_CHECKING:
    from federation.ports import FederationSettings

__all__ = [
    "ACCEPT_ACTIVITY",
    "ACTIVITY_TYPES",
    "JRD_TYPES",
    "RETRY_AFTER_MAX",
    "FetchBudget",
    "FetchPolicy",
    "FetchResponse",
    "GuardedClient",
    "GuardedResolver",
    "LocalOrigin",
    "Signer",
    "address_allowed",
    "retry_after",
]

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ACTIVITY_TYPES = ("application/activity+json", "application/ld+json", "application/json")
JRD_TYPES = ("application/jrd+json", "application/json")
ACCEPT_ACTIVITY = (
    'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
)

#: Adds signature headers to an outbound request: (method, url, headers so far, body) -> headers to add.
Signer = Callable[[str, str, Mapping[str, str], bytes | None], Mapping[str, str]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")

#: The longest a peer's Retry-After is honoured (seconds): beyond it the usual back-off decides, so that a peer
#: cannot park our deliveries past their dead-letter age with one header.
RETRY_AFTER_MAX = 6 * 3600.0
_RETRY_STATUSES = frozenset({429, 503})


def retry_after(status: int, headers: Mapping[str, str], now: float) -> float | None:
    """Seconds a 429/503 answer asks us to wait (``Retry-After``: delta-seconds or an HTTP date), at most
    RETRY_AFTER_MAX; None when the answer names no usable time. A date is measured against the answer's own
    ``Date`` when it has one, so that neither clock's error counts."""
    if status not in _RETRY_STATUSES:
        return None
    value = headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        seconds = float(int(value[:12]))
    else:
        try:
            when = parse_http_date(value)
        except (MalformedInput, SignatureError, ValueError):
            return None
        try:
            base = float(parse_http_date(headers.get("Date", "").strip()))
        except (MalformedInput, SignatureError, ValueError):
            base = now
        seconds = when - base
    return min(max(seconds, 0.0), RETRY_AFTER_MAX)


def _embedded_v4(ip: _IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_allowed(address: str | _IPAddress, allow: tuple[_IPNetwork, ...] = ()) -> bool:
    """True when ``address`` is a global unicast address, or inside an explicitly allowed range."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    candidates = [ip]
    inner = _embedded_v4(ip)
    if inner is not None:
        candidates.append(inner)
    # the allow-list may name the literal or the embedded IPv4 form; the block applies if any form is special
    if any(c.version == n.version and c in n for c in candidates for n in allow):
        return True
    return all(c.is_global and not c.is_multicast for c in candidates)


@dataclass(frozen=True, kw_only=True, slots=True)
class FetchPolicy:
    allow_networks: tuple[_IPNetwork, ...] = ()
    allow_http: bool = False
    connect_timeout: float = 5.0
    total_timeout: float = 30.0
    max_bytes: int = MAX_DOCUMENT_BYTES
    max_redirects: int = 3
    user_agent: str = "Kith/0.1 (+https://w3id.org/kith)"

    @classmethod
    def from_settings(cls, settings: FederationSettings) -> FetchPolicy:
        return cls(
            allow_networks=tuple(
                ipaddress.ip_network(c, strict=False) for c in settings.allow_private_networks
            ),
            allow_http=bool(settings.allow_http),
            total_timeout=float(settings.fetch_timeout),
        )


@dataclass(slots=True)
class FetchBudget:
    """How many more fetches one piece of work (e.g. processing one activity) may cause."""

    remaining: int = 10

    def take(self, url: str) -> None:
        if self.remaining <= 0:
            raise FetchBudgetExceeded(f"fetch budget exhausted before fetching {url}")
        self.remaining -= 1


class GuardedResolver(AbstractResolver):
    """Resolves through ``base`` and keeps only the addresses the policy allows."""

    def __init__(self, policy: FetchPolicy, base: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._base = base if base is not None else aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._base.resolve(host, port, family)
        allowed = [a for a in answers if address_allowed(a["host"], self._policy.allow_networks)]
        if not allowed:
            refused = ", ".join(sorted({a["host"] for a in answers})) or "nothing"
            raise FetchBlocked(f"{host} resolves to {refused}, which federation may not connect to")
        return allowed

    async def close(self) -> None:
        await self._base.close()


@dataclass(frozen=True, kw_only=True, slots=True)
class FetchResponse:
    status: int
    url: str  # the final URL, after redirects
    headers: CIMultiDictProxy[str]
    body: bytes
    content_type: str = ""

    def retry_after(self, now: float) -> float | None:
        """See :func:`retry_after`."""
        return retry_after(self.status, self.headers, now)

    def json_object(self) -> dict[str, Any]:
        try:
            return parse_json(self.body)
        except (MalformedInput, TooLarge) as exc:
            raise FetchError(f"{self.url} answered with unusable JSON: {exc.message}") from None


class LocalOrigin(Protocol):
    """This server's own origin, served without the network (federation/local.py)."""

    def owns(self, url: str) -> bool: ...

    def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> Awaitable[FetchResponse]: ...


class GuardedClient:
    """One aiohttp session behind the guards. Create inside a running loop; ``await close()`` when done.

    ``local``: requests for this server's own origin go to it, not to the network (the federation runtime
    sets it, federation/local.py): the guards are for other servers; the checks of what is asked are the
    routes' own, the same either way."""

    def __init__(self, policy: FetchPolicy, *, resolver: AbstractResolver | None = None) -> None:
        self.policy = policy
        self._resolver = GuardedResolver(policy, resolver)
        # 16 per host: the most federation.per_host_requests lets deliveries have in flight to one peer
        connector = aiohttp.TCPConnector(
            resolver=self._resolver, use_dns_cache=False, limit=200, limit_per_host=16, ttl_dns_cache=None
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            trust_env=False,  # never route through a proxy named in the environment
            timeout=aiohttp.ClientTimeout(
                total=policy.total_timeout,
                sock_connect=policy.connect_timeout,
                connect=policy.connect_timeout,
            ),
            auto_decompress=True,
            headers={"User-Agent": policy.user_agent},
        )
        self.requests_made = 0
        self.local: LocalOrigin | None = None

    async def close(self) -> None:
        await self._session.close()

    def check_url(self, url: str) -> None:
        """Refuse schemes and literal addresses before any connection is attempted."""
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise FetchBlocked(f"{url!r} is not an http(s) URL")
        if parts.scheme == "http" and not self.policy.allow_http:
            raise FetchBlocked(
                f"{url} uses plain http; federation only speaks https (see federation.allow_http)"
            )
        if parts.username or parts.password:
            raise FetchBlocked(f"{url} carries credentials in the URL")
        host = parts.hostname
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            local = host.lower() == "localhost" or host.lower().endswith(".localhost")
            if local and not any(ipaddress.ip_address("127.0.0.1") in n for n in self.policy.allow_networks):
                raise FetchBlocked(f"{url} names localhost") from None
            return
        if not address_allowed(literal, self.policy.allow_networks):
            raise FetchBlocked(f"{url} points at {literal}, which federation may not connect to")

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        accept_types: tuple[str, ...] | None = None,
        budget: FetchBudget | None = None,
        signer: Signer | None = None,
        follow_redirects: bool = True,
    ) -> FetchResponse:
        """Send one request (following up to 3 redirects for GET) and read the answer within the limits.

        Any status is returned; content type is only checked on 2xx answers."""
        redirects = 0
        current = url
        while True:
            if self.local is not None and self.local.owns(current):
                return await self._local(
                    self.local, method, current, headers, body, accept_types, budget, signer
                )
            self.check_url(current)
            if budget is not None:
                budget.take(current)
            hdrs: dict[str, str] = dict(headers or {})
            if signer is not None:
                hdrs.update(signer(method, current, hdrs, body))
            self.requests_made += 1
            try:
                resp = await self._one(method, current, hdrs, body)
            except FetchError:
                raise
            except TimeoutError:
                raise FetchTimeout(f"{current} did not answer within the time limit") from None
            except aiohttp.ClientConnectorError as exc:
                cause = exc.__cause__ or exc.os_error
                if isinstance(cause, FetchBlocked):
                    raise cause from None
                raise FetchError(f"could not connect to {current}: {exc}") from None
            except aiohttp.ClientError as exc:
                raise FetchError(f"request to {current} failed: {exc}") from None
            if resp.status in (301, 302, 303, 307, 308) and follow_redirects and method == "GET":
                location = resp.headers.get("Location")
                if not location:
                    raise FetchError(f"{current} redirected without a Location")
                redirects += 1
                if redirects > self.policy.max_redirects:
                    raise FetchBlocked(f"{url} redirected more than {self.policy.max_redirects} times")
                current = urljoin(current, location)
                continue
            if accept_types is not None and 200 <= resp.status < 300:
                media = resp.content_type.split(";")[0].strip().lower()
                if media not in accept_types:
                    raise FetchContentType(
                        f"{current} answered {media or 'no content type'}, not one of "
                        f"{', '.join(accept_types)}"
                    )
            return resp

    async def _local(
        self,
        local: LocalOrigin,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        body: bytes | None,
        accept_types: tuple[str, ...] | None,
        budget: FetchBudget | None,
        signer: Signer | None,
    ) -> FetchResponse:
        """A request for our own origin, answered in-process (signed and budgeted like any other)."""
        if budget is not None:
            budget.take(url)
        hdrs: dict[str, str] = dict(headers or {})
        if signer is not None:
            hdrs.update(signer(method, url, hdrs, body))
        self.requests_made += 1
        resp = await local.request(method, url, hdrs, body)
        if accept_types is not None and 200 <= resp.status < 300:
            media = resp.content_type.split(";")[0].strip().lower()
            if media not in accept_types:
                raise FetchContentType(f"{url} answered {media or 'no content type'}")
        return resp

    async def _one(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> FetchResponse:
        async with self._session.request(
            method, url, headers=headers, data=body, allow_redirects=False
        ) as resp:
            transport = resp.connection.transport if resp.connection else None
            peer = transport.get_extra_info("peername") if transport else None
            if peer and not address_allowed(peer[0], self.policy.allow_networks):
                raise FetchBlocked(f"{url} connected to {peer[0]}, which federation may not connect to")
            declared = resp.content_length
            if declared is not None and declared > self.policy.max_bytes:
                raise FetchTooLarge(
                    f"{url} announced {declared} bytes, over the {self.policy.max_bytes} limit"
                )
            chunks: list[bytes] = []
            size = 0
            async for chunk in resp.content.iter_chunked(65536):
                size += len(chunk)
                if size > self.policy.max_bytes:
                    raise FetchTooLarge(f"{url} sent more than {self.policy.max_bytes} bytes")
                chunks.append(chunk)
            return FetchResponse(
                status=resp.status,
                url=url,
                headers=resp.headers,
                body=b"".join(chunks),
                content_type=resp.headers.get("Content-Type", ""),
            )

    async def get_json(
        self,
        url: str,
        *,
        accept: str = ACCEPT_ACTIVITY,
        accept_types: tuple[str, ...] = ACTIVITY_TYPES,
        budget: FetchBudget | None = None,
        signer: Signer | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """GET a JSON object; return (final URL, object). Non-2xx raises FetchStatus."""
        resp = await self.request(
            "GET", url, headers={"Accept": accept}, accept_types=accept_types, budget=budget, signer=signer
        )
        if not 200 <= resp.status < 300:
            wait = resp.retry_after(time.time())
            raise FetchStatus(
                f"{resp.url} answered {resp.status}"
                + (f"; it asks to retry in {wait:.0f} s" if wait else ""),
                status=resp.status,
                retry_after=wait,
            )
        return resp.url, resp.json_object()
