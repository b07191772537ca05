"""Bluesky: the repository CAR export (follows and blocks) and the live follow lists (docs/SILOS.md §1, §2).

Rules kept:
- The CAR's root is the signed commit; its ``data`` is the MST whose keys are ``collection/rkey``. Only
  ``app.bsky.graph.follow`` (and ``app.bsky.graph.block``) records are decoded.
- A follow's subject is a DID (``kind="bluesky"``). The 2022 form ``subject: {did, declarationCid}`` is
  reported and skipped, as docs/SILOS.md advises. A subject that is not a valid DID (protocol.addresses) is
  reported and the record left out entirely: without its DID a follow says nothing about anyone.
- The record id is ``collection/rkey``: stable across exports of the same repository.
- Live: the owner's token is a PDS token. It is never sent to Bluesky's App View (it is not valid there, and
  sending it would hand the owner's credential to a server that has no use for it). A link is revoked only when
  a token that was sent is refused as expired or invalid (``ExpiredToken``, ``InvalidToken``: a PDS answers
  them with 400 or 401); any other 401 is an AuthProblem that says what to change, and the link stays.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path
from typing import IO, Any, ClassVar, Literal
from urllib.parse import urlsplit

import aiohttp

from bridges._car import CarReader, Link, read_varint
from bridges._files import Source
from bridges.base import (
    BlockDraft,
    Bridge,
    ContactDraft,
    ExportError,
    Follow,
    IdentityDraft,
    ImportItem,
    OwnerDraft,
    Skipped,
)
from bridges.live import (
    CAP,
    AuthProblem,
    Clock,
    Cursor,
    LiveError,
    Page,
    RateLimited,
    Revoked,
    get_json,
    paginate,
    utcnow,
)
from protocol.addresses import normalize
from protocol.errors import InvalidRecord

__all__ = [
    "APPVIEW_HOSTS",
    "PUBLIC_APPVIEW",
    "TOKEN_REFUSED",
    "BlueskyBridge",
    "is_appview",
    "sync_followers",
    "sync_following",
    "sync_follows",
]

FOLLOW = "app.bsky.graph.follow"
BLOCK = "app.bsky.graph.block"


def _did(value: Any) -> str | None:
    """``value`` when it is a DID Kith can key a person on (did:plc or did:web, protocol.addresses)."""
    if not isinstance(value, str) or not value.startswith("did:"):
        return None
    try:
        normalize(value, kind="bluesky")
    except InvalidRecord:
        return None
    return value


def _car_members(src: Source) -> list[str]:
    names = [n for n in src.names() if n.lower().endswith(".car")]
    return names or (src.names() if src.is_single_file else [])


def _looks_like_car(head: bytes) -> bool:
    try:
        length, pos = read_varint(head, 0)
    except ExportError:
        return False
    # The header is a small map {roots, version}: CBOR map of 2 (0xa2) with those keys.
    return 0 < length < 1024 and head[pos : pos + 1] == b"\xa2" and b"roots" in head[pos : pos + length]


class BlueskyBridge(Bridge):
    name: ClassVar[str] = "bluesky"
    scheme: ClassVar[str] = "bluesky"
    description: ClassVar[str] = "Bluesky repository export (repo.car)"

    @classmethod
    def detect(cls, path: Path) -> bool:
        with Source(path) as src:
            return any(_looks_like_car(src.head(n, 512)) for n in _car_members(src))

    def owner(self, path: Path) -> OwnerDraft | None:
        with Source(path) as src:
            for name in _car_members(src):
                with _seekable(src, name) as fh:
                    car = CarReader(fh)
                    did = _commit(car, src.display(name)).get("did")
                    if isinstance(did, str):
                        return OwnerDraft(identities=(IdentityDraft(address=did, kind="bluesky"),))
        return None

    def parse_export(self, path: Path) -> Iterator[ImportItem]:
        with Source(path) as src:
            names = _car_members(src)
            if not names:
                raise ExportError(f"{path} holds no .car repository file")
            for name in names:
                with _seekable(src, name) as fh:
                    yield from _records(CarReader(fh), src.display(name))


def _seekable(src: Source, name: str) -> IO[bytes]:
    """The member as a seekable file: a plain file as is, a ZIP member copied to a temporary file."""
    fh = src.open_binary(name)
    if not src.is_zip:
        return fh
    tmp = tempfile.TemporaryFile()  # noqa: SIM115 - returned to the caller's with-block
    with fh:
        shutil.copyfileobj(fh, tmp, 1 << 20)
    tmp.seek(0)
    return tmp


def _commit(car: CarReader, shown: str) -> dict[str, Any]:
    if not car.roots or car.roots[0] not in car:
        raise ExportError(f"{shown}: the CAR's root block (the repository commit) is missing")
    commit = car.get(car.roots[0])
    if not isinstance(commit, dict) or not isinstance(commit.get("data"), Link):
        raise ExportError(f"{shown}: the CAR's root is not a repository commit; is this a Bluesky repo.car?")
    return commit


def _records(car: CarReader, shown: str) -> Iterator[ImportItem]:
    commit = _commit(car, shown)
    for key, link in car.walk_mst(commit["data"]):
        collection = key.split("/", 1)[0]
        if collection not in (FOLLOW, BLOCK):
            continue
        if link not in car:
            yield Skipped(file=shown, line=None, reason=f"{key}: record block missing from the file")
            continue
        record = car.get(link)
        subject = record.get("subject") if isinstance(record, dict) else None
        if isinstance(subject, dict):
            yield Skipped(
                file=shown, line=None, reason=f"{key}: 2022-era follow record (subject object), ignored"
            )
            continue
        if not isinstance(subject, str) or not subject.startswith("did:"):
            yield Skipped(file=shown, line=None, reason=f"{key}: no subject DID")
            continue
        if _did(subject) is None:
            yield Skipped(
                file=shown, line=None, reason=f"{key}: {subject[:80]!r} is not a valid DID; left out"
            )
            continue
        identity = IdentityDraft(address=subject, kind="bluesky")
        if collection == BLOCK:
            yield BlockDraft(identity=identity, source_record_id=key)
        else:
            yield ContactDraft(source_record_id=key, identities=(identity,), follow="following")


# -- live API (docs/SILOS.md §2 "Bluesky XRPC") ----------------------------------------------------------------

PUBLIC_APPVIEW = "https://public.api.bsky.app"
#: Bluesky's App View hosts: they serve the graph without a token and cannot take a PDS's.
APPVIEW_HOSTS = frozenset({"public.api.bsky.app", "api.bsky.app"})
#: XRPC error codes with which a server refuses the token itself (expired, forged, for a taken-down account).
TOKEN_REFUSED = frozenset({"ExpiredToken", "InvalidToken", "AccountTakedown"})


def is_appview(base_url: str) -> bool:
    return (urlsplit(base_url).hostname or "").lower() in APPVIEW_HOSTS


async def _get(
    session: aiohttp.ClientSession, url: str, params: dict[str, str], token: str | None, now: Clock
) -> Any:
    """get_json with Bluesky's token rules (the module's docstring)."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    host = urlsplit(url).hostname
    try:
        data, _resp = await get_json(session, url, params=params, headers=headers, now=now)
    except Revoked as exc:
        if exc.error in TOKEN_REFUSED:
            raise
        raise AuthProblem(
            f"{host} did not take the token ({exc.error or 'no reason given'}): a Bluesky token is valid "
            "only at the PDS that issued it. Link the account with --base-url set to your PDS, or without a "
            "token to read the public App View; nothing was revoked",
            status=401,
            error=exc.error,
        ) from None
    except LiveError as exc:
        if token and exc.status == 400 and exc.error in TOKEN_REFUSED:  # how a PDS refuses an access token
            raise Revoked(
                f"{host} refused the token ({exc.error}); link the account again", status=400, error=exc.error
            ) from None
        raise
    return data


def _profile_draft(profile: Any, direction: Follow) -> ContactDraft | None:
    if not isinstance(profile, dict):
        return None
    did, handle = _did(profile.get("did")), profile.get("handle")
    if did is None:
        return None
    # Handles change and may be "handle.invalid"; the DID is the identity, the handle only its label.
    label = handle if isinstance(handle, str) and handle != "handle.invalid" else None
    name = profile.get("displayName")
    avatar = profile.get("avatar")
    return ContactDraft(
        source_record_id=f"{direction}:{did}",
        display_name=name if isinstance(name, str) and name.strip() else None,
        photo_url=avatar if isinstance(avatar, str) and avatar.startswith("https://") else None,
        identities=(IdentityDraft(address=did, kind="bluesky", label=label),),
        follow=direction,
    )


async def sync_follows(
    session: aiohttp.ClientSession,
    *,
    direction: Literal["following", "followers"],
    actor: str,
    base_url: str = PUBLIC_APPVIEW,
    token: str | None = None,
    cursor: Cursor | None = None,
    limit: int = 100,
    cap: int = CAP,
    now: Clock = utcnow,
) -> AsyncIterator[Page | RateLimited]:
    """Accounts ``actor`` (a handle or DID) follows, via ``app.bsky.graph.getFollows``; or its followers via
    ``getFollowers`` (followers are not in one's own repo). Cursor-paged. ``token`` is a PDS token: it is
    sent to ``base_url`` unless that is Bluesky's App View."""
    routes: dict[str, tuple[str, str, Follow]] = {
        "following": ("app.bsky.graph.getFollows", "follows", "following"),
        "followers": ("app.bsky.graph.getFollowers", "followers", "follower"),
    }
    method, key, follow = routes[direction]
    base = base_url.rstrip("/")
    url = f"{base}/xrpc/{method}"
    if is_appview(base):
        token = None

    async def fetch(page_cursor: str | None) -> tuple[list[ContactDraft], str | None]:
        params = {"actor": actor, "limit": str(min(max(limit, 1), 100))}
        if page_cursor:
            params["cursor"] = page_cursor
        data = await _get(session, url, params, token, now)
        if not isinstance(data, dict) or not isinstance(data.get(key), list):
            raise LiveError(f"{url}: expected {{{key}: [...]}}")
        drafts = [d for d in (_profile_draft(p, follow) for p in data[key]) if d is not None]
        nxt = data.get("cursor")
        # An empty page with a cursor would loop forever on a misbehaving server.
        return drafts, nxt if isinstance(nxt, str) and nxt and data[key] else None

    start: Cursor = {"silo": "bluesky", "direction": follow, "account": actor, "base": base}
    async for item in paginate(fetch, start=start, cursor=cursor, cap=cap):
        yield item


sync_following = partial(sync_follows, direction="following")
sync_followers = partial(sync_follows, direction="followers")
