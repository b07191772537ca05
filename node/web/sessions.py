"""Owner login for the web UI: passwords, server-side sessions and CSRF tokens.

Rules kept here:
- The password is stored only as an scrypt hash (with its salt and cost) in the meta table.
- A session id is 256 random bits, sent only in an HttpOnly, SameSite=Lax cookie (Secure when the node is
  served over TLS); the server keeps only its SHA-256, in memory and in the meta table, so that a restart does
  not log the owner out and a copy of the database does not hold live session ids.
- The CSRF token of a form is an HMAC of the session id under a key kept in meta: bound to the session, and
  useless to anyone who cannot already read the cookie. Before login, a separate random cookie is matched
  against the login form (double submit).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from node.errors import BadInput
from node.store import GraphStore

__all__ = [
    "LOGIN_CSRF_COOKIE",
    "MAX_PASSWORD",
    "MIN_PASSWORD",
    "SESSION_COOKIE",
    "SESSION_SECONDS",
    "LoginLimiter",
    "Sessions",
    "check_password",
    "clear_password",
    "has_password",
    "hash_password",
    "set_password",
    "verify_password",
]

SESSION_COOKIE = "kith_session"
LOGIN_CSRF_COOKIE = "kith_login_csrf"
SESSION_SECONDS = 14 * 86400
MIN_PASSWORD = 10
MAX_PASSWORD = 1024

_PASSWORD_META = "web_password_scrypt"
_SESSIONS_META = "web_sessions"
_KEY_META = "web_secret_key"
# scrypt cost: 2**15 × 8 × 128 bytes = 32 MiB and ~60 ms here; a guess costs an attacker the same.
_N, _R, _P = 2**15, 8, 1


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=32)


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$hash``: the cost travels with the hash so that it can be raised later."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise BadInput(f"the password must be at least {MIN_PASSWORD} characters long", field="password")
    if len(password) > MAX_PASSWORD:
        raise BadInput(f"the password must be at most {MAX_PASSWORD} characters long", field="password")
    salt = secrets.token_bytes(16)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(_scrypt(password, salt, _N, _R, _P))}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = _scrypt(password[:MAX_PASSWORD], _unb64(salt), int(n), int(r), int(p))
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(got, _unb64(digest))


async def set_password(store: GraphStore, password: str) -> None:
    hashed = await asyncio.get_running_loop().run_in_executor(None, hash_password, password)
    await store.misc.meta_set(_PASSWORD_META, hashed)


async def clear_password(store: GraphStore) -> None:
    await store.misc.meta_set(_PASSWORD_META, "")


async def has_password(store: GraphStore) -> bool:
    return bool(await store.misc.meta_get(_PASSWORD_META))


async def check_password(store: GraphStore, password: str) -> bool:
    stored = await store.misc.meta_get(_PASSWORD_META)
    if not stored or not password:
        return False
    # scrypt takes tens of milliseconds: off the event loop, so that other requests keep flowing.
    return await asyncio.get_running_loop().run_in_executor(None, verify_password, password, stored)


def _sid_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


@dataclass
class Sessions:
    """Live sessions by the SHA-256 of their id. The meta table is the truth (so that `kith password set` run
    beside a live node ends its sessions); memory holds a copy re-read every ``ttl`` seconds."""

    store: GraphStore
    ttl: float = 2.0
    key: bytes = b""
    live: dict[str, float] = field(default_factory=dict)  # sid hash → expiry (epoch seconds)
    flashes: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    read_at: float = -1e9

    async def load(self) -> None:
        key = await self.store.misc.meta_get(_KEY_META)
        if not key:
            key = _b64(secrets.token_bytes(32))
            await self.store.misc.meta_set(_KEY_META, key)
        self.key = _unb64(key)
        await self._read()

    async def _read(self) -> dict[str, float]:
        raw = await self.store.misc.meta_get(_SESSIONS_META)
        now = time.time()
        try:
            stored = json.loads(raw) if raw else {}
        except ValueError:
            stored = {}
        if not isinstance(stored, dict):
            stored = {}
        self.live = {
            str(h): float(exp) for h, exp in stored.items() if isinstance(exp, int | float) and exp > now
        }
        self.read_at = time.monotonic()
        return self.live

    async def refresh(self) -> None:
        if time.monotonic() - self.read_at > self.ttl:
            await self._read()

    async def _change(self, add: dict[str, float], drop: Callable[[str], bool]) -> None:
        live = await self._read()
        live = {h: exp for h, exp in live.items() if not drop(h)}
        live.update(add)
        await self.store.misc.meta_set(_SESSIONS_META, json.dumps(live, sort_keys=True))
        self.live = live

    async def create(self) -> str:
        sid = secrets.token_urlsafe(32)
        await self._change({_sid_hash(sid): time.time() + SESSION_SECONDS}, lambda h: False)
        return sid

    def valid(self, sid: str | None) -> bool:
        if not sid or len(sid) > 100:
            return False
        exp = self.live.get(_sid_hash(sid))
        return exp is not None and exp > time.time()

    async def end(self, sid: str | None) -> None:
        if sid:
            gone = _sid_hash(sid)
            self.flashes.pop(gone, None)
            await self._change({}, lambda h: h == gone)

    async def end_all_but(self, sid: str | None) -> int:
        keep = _sid_hash(sid) if sid else None
        ended = len([h for h in await self._read() if h != keep])
        self.flashes = {h: f for h, f in self.flashes.items() if h == keep}
        await self._change({}, lambda h: h != keep)
        return ended

    def csrf(self, sid: str) -> str:
        return hmac.new(self.key, b"csrf:" + sid.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, sid: str, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(self.csrf(sid), str(presented))

    # Flash messages live in memory only: they are shown on the next page and are worthless after a restart.
    def flash(self, sid: str, kind: str, message: str) -> None:
        queue = self.flashes.setdefault(_sid_hash(sid), [])
        queue.append((kind, message))
        del queue[:-5]

    def take_flashes(self, sid: str) -> list[tuple[str, str]]:
        return self.flashes.pop(_sid_hash(sid), [])


@dataclass
class LoginLimiter:
    """Failed sign-ins, limited two ways over ``window`` seconds: ``limit`` per client, and ``total`` across the
    whole node, so that spreading guesses over many addresses is no faster. An IPv6 client counts as its /64
    (one host is usually handed the whole prefix). Once the node-wide budget is spent, passwords are not checked
    until it recovers, but the owner token still signs in: it cannot be guessed, and the owner must not be
    locked out by someone else's guessing. A client over its own limit waits for everything."""

    limit: int = 10
    total: int = 50
    window: float = 300.0
    failures: dict[str, deque[float]] = field(default_factory=dict)
    everyone: deque[float] = field(default_factory=deque)  # failed password checks, node-wide

    @staticmethod
    def client(remote: str | None) -> str:
        """The key a request's failures are counted under."""
        if not remote:
            return "?"
        try:
            address = ipaddress.ip_address(remote)
        except ValueError:
            return remote
        if isinstance(address, ipaddress.IPv6Address):
            if address.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is that IPv4 client
                return str(address.ipv4_mapped)
            return str(ipaddress.ip_network(f"{address}/64", strict=False))
        return str(address)

    def _wait(self, times: deque[float] | None, limit: int) -> float:
        if not times:
            return 0.0
        now = time.monotonic()
        while times and times[0] < now - self.window:
            times.popleft()
        if len(times) < limit:
            return 0.0
        return times[0] + self.window - now

    def blocked(self, client: str) -> float:
        """Seconds this client must wait before anything it sends is checked, or 0."""
        return self._wait(self.failures.get(client), self.limit)

    def passwords_blocked(self) -> float:
        """Seconds until passwords are checked again after too many failures node-wide, or 0."""
        return self._wait(self.everyone, self.total)

    def failed(self, client: str, *, password_checked: bool = True) -> None:
        now = time.monotonic()
        if len(self.failures) > 10_000:  # an address sweep must not grow memory without bound
            for key in [
                k for k, times in self.failures.items() if not times or times[-1] < now - self.window
            ]:
                del self.failures[key]
            if len(self.failures) > 10_000:
                self.failures.clear()  # the node-wide budget still holds passwords back
        self.failures.setdefault(client, deque()).append(now)
        if password_checked:
            self.everyone.append(now)
            while len(self.everyone) > self.total:
                self.everyone.popleft()

    def succeeded(self, client: str) -> None:
        self.failures.pop(client, None)
