"""What every live fetcher shares: pages, resumable cursors, rate limits, revoked tokens (docs/SILOS.md §2).

Rules kept:
- The ``aiohttp.ClientSession`` is passed in and the base URL is a parameter (docs/ARCHITECTURE.md §3.9): tests point
  the fetchers at loopback servers, the node at the real silo.
- A fetcher is an async generator of ``Page`` (drafts plus the cursor to resume *after* that page). It ends
  with a ``RateLimited`` when the silo says stop (429 with any of the three reset encodings or
  ``Retry-After``; 503 on X): the pages already yielded are kept, ``partial`` repeats them for callers that
  only look at the end, and its ``cursor`` resumes at the page that was refused, so nothing is fetched twice
  or lost.
- Only a refused token the owner gave revokes a link (docs/SILOS.md §2): a 401 to a request that carried the
  owner's token raises ``Revoked`` (a silo module may narrow that further: bridges/bluesky.py), and the node
  marks the link revoked. A 401 to a request made without a token raises ``AuthProblem``: the server wants a
  token, nothing was revoked, and the link stays. Error bodies are read (a little of them) so that messages
  name the silo's own error code.
- A cursor is a plain JSON-able dict the node persists; a cursor for another silo, direction or account is
  refused rather than silently followed.
- Graphs are capped at ``CAP`` accounts per sync (granary's limit); a capped page says so.
- Responses are read up to ``MAX_BODY`` bytes; pagination links must stay on the base URL's origin, so a
  hostile server cannot steer our token to another host. Lone surrogates in a JSON body are replaced
  (bridges/_clean.py): no later step could store them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bridges._clean import has_surrogate_escape, scrub
from bridges.base import ContactDraft

__all__ = [
    "CAP",
    "DEFAULT_WAIT",
    "MAX_BODY",
    "MAX_ERROR_BODY",
    "AuthProblem",
    "Clock",
    "Cursor",
    "LiveError",
    "Page",
    "RateLimited",
    "Revoked",
    "get_json",
    "paginate",
    "rate_limit_reset",
    "read_body",
    "same_origin",
    "utcnow",
]

CAP = 10_000
MAX_BODY = 8 << 20
MAX_ERROR_BODY = 16 << 10  # of an error answer, for its error code and message
DEFAULT_WAIT = timedelta(minutes=15)  # the X and Mastodon windows; used when a 429 names no reset time

Cursor = dict[str, Any]
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class LiveError(Exception):
    """The silo answered with something we cannot use (an unexpected status, a malformed body)."""

    def __init__(self, message: str, *, status: int | None = None, error: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = error  # the silo's own error code from the body ("ExpiredToken", "invalid_grant")


class Revoked(LiveError):
    """The silo refused the token the owner gave: it is gone or was never good. Stop and mark the link
    revoked."""


class AuthProblem(LiveError):
    """The silo wants authorisation it did not get, but no token of the owner's was refused: the request
    carried none, or carried one to a server that is not where it is valid. The link stays; the message says
    what to change."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Page:
    drafts: tuple[ContactDraft, ...]
    cursor: Cursor | None  # resume after this page; None when the list is complete (or capped)
    capped: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class RateLimited:
    partial: tuple[ContactDraft, ...]  # everything fetched in this run before the silo said stop
    resume_at: datetime
    cursor: Cursor  # resumes at the refused page


class _Limited(Exception):
    def __init__(self, resume_at: datetime) -> None:
        super().__init__("rate limited")
        self.resume_at = resume_at


def _seconds_or_epoch(value: str, now: datetime) -> datetime | None:
    try:
        number = float(value.strip())
    except ValueError:
        return None
    # draft-polli says delta seconds; X and some Bluesky servers send epoch seconds (no delta is 30 years).
    if number > 1e9:
        return datetime.fromtimestamp(number, UTC)
    return now + timedelta(seconds=max(number, 0))


def rate_limit_reset(headers: Mapping[str, str], now: datetime) -> datetime:
    """When a 429 says to come back: Retry-After, then X, Mastodon and draft-polli reset headers."""
    lower = {k.lower(): v for k, v in headers.items()}
    retry = lower.get("retry-after")
    if retry:
        got = _seconds_or_epoch(retry, now)
        if got is None:
            try:
                got = parsedate_to_datetime(retry)
            except (TypeError, ValueError):
                got = None
        if got is not None:
            return got if got.tzinfo else got.replace(tzinfo=UTC)
    for name in ("x-rate-limit-reset", "ratelimit-reset"):
        if name in lower and (got := _seconds_or_epoch(lower[name], now)) is not None:
            return got
    if "x-ratelimit-reset" in lower:  # Mastodon: an ISO-8601 timestamp
        try:
            got = datetime.fromisoformat(lower["x-ratelimit-reset"].strip().replace("Z", "+00:00"))
            return got if got.tzinfo else got.replace(tzinfo=UTC)
        except ValueError:
            pass
    if "ratelimit" in lower:  # draft-polli structured form: limit=100, remaining=0, reset=50
        for part in lower["ratelimit"].replace(";", ",").split(","):
            key, _, val = part.strip().partition("=")
            if key == "reset" and (got := _seconds_or_epoch(val, now)) is not None:
                return got
    return now + DEFAULT_WAIT


def same_origin(url: str, base_url: str) -> bool:
    a, b = urlsplit(url), urlsplit(base_url)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


async def read_body(resp: aiohttp.ClientResponse, limit: int = MAX_BODY) -> bytes:
    """The whole body, refusing more than ``limit`` bytes (whatever Content-Length claims)."""
    chunks: list[bytes] = []
    total = 0
    async for chunk in resp.content.iter_chunked(1 << 16):
        total += len(chunk)
        if total > limit:
            raise LiveError(f"{resp.url}: response larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _error_detail(resp: aiohttp.ClientResponse) -> tuple[str | None, str]:
    """The error code and a short message from an error answer's JSON body, when it has them."""
    chunks: list[bytes] = []
    total = 0
    try:
        async for chunk in resp.content.iter_chunked(4096):
            chunks.append(chunk)
            total += len(chunk)
            if total >= MAX_ERROR_BODY:  # a longer answer is no error code: it is not read further
                return None, ""
        data = json.loads(b"".join(chunks))
    except (ValueError, RecursionError, aiohttp.ClientError):
        return None, ""
    if not isinstance(data, dict):
        return None, ""
    code = _printable(data.get("error"), 100)
    message = data.get("message") or data.get("error_description") or data.get("detail") or data.get("title")
    text = " ".join(x for x in (code, _printable(message, 200)) if x)
    return code, (f": {text}" if text else "")


def _printable(value: Any, limit: int) -> str | None:
    """A silo's words, safe to show: its text is the silo's to choose, so no control characters (a terminal
    would obey them) and no more than ``limit`` characters."""
    if not isinstance(value, str):
        return None
    return "".join(ch for ch in value[:limit] if ch.isprintable()) or None


async def get_json(
    session: aiohttp.ClientSession,
    url: str,
    *,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    now: Clock = utcnow,
    limit_statuses: tuple[int, ...] = (429,),
    max_body: int = MAX_BODY,
) -> tuple[Any, aiohttp.ClientResponse]:
    """GET and decode JSON (at most ``max_body`` bytes); raises Revoked on a 401 to the owner's token,
    AuthProblem on a 401 to a request without one, _Limited on a rate limit, LiveError otherwise."""
    host = urlsplit(url).hostname
    with_token = any(k.lower() == "authorization" for k in (headers or {}))
    async with session.get(url, params=params, headers=headers, allow_redirects=False) as resp:
        if resp.status == 401:
            code, detail = await _error_detail(resp)
            if with_token:
                raise Revoked(
                    f"{host} refused the token (401{detail}); link the account again", status=401, error=code
                )
            raise AuthProblem(
                f"{host} answered 401 to a request made without a token{detail}: it wants one. Link the "
                "account again with a token for this server, or point the link at a server that answers "
                "without one; nothing was revoked",
                status=401,
                error=code,
            )
        if resp.status in limit_statuses:
            raise _Limited(rate_limit_reset(resp.headers, now()))
        if resp.status != 200:
            code, detail = await _error_detail(resp)
            raise LiveError(
                f"{host} answered {resp.status} for {url}{detail}", status=resp.status, error=code
            )
        body = await read_body(resp, max_body)
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise LiveError(f"{url}: the response is not JSON that can be read") from exc
        return (scrub(data) if has_surrogate_escape(body) else data), resp


PageFetch = Callable[[Any], Awaitable[tuple[list[ContactDraft], Any]]]


async def paginate(
    fetch: PageFetch, *, start: Cursor, cursor: Cursor | None, cap: int = CAP
) -> AsyncIterator[Page | RateLimited]:
    """Drive ``fetch(state) -> (drafts, next_state)`` from ``cursor`` (or ``start``) to the end, the cap or a
    rate limit. ``start`` names the list (silo, direction, account); a cursor for another list is refused."""
    if cursor is not None:
        mismatch = [k for k in start if k not in ("next", "fetched") and cursor.get(k) != start[k]]
        if mismatch:
            raise LiveError(f"this cursor belongs to another sync ({', '.join(mismatch)} differ); start over")
        current = dict(cursor)
    else:
        current = {**start, "next": None, "fetched": 0}
    fetched_now: list[ContactDraft] = []
    while True:
        try:
            drafts, nxt = await fetch(current["next"])
        except _Limited as limited:
            yield RateLimited(partial=tuple(fetched_now), resume_at=limited.resume_at, cursor=current)
            return
        room = cap - int(current["fetched"])
        capped = len(drafts) >= room and (nxt is not None or len(drafts) > room)
        drafts = drafts[: max(room, 0)]
        fetched_now.extend(drafts)
        current = {**current, "next": nxt, "fetched": int(current["fetched"]) + len(drafts)}
        done = nxt is None or capped
        yield Page(drafts=tuple(drafts), cursor=None if done else current, capped=capped)
        if done:
            return
