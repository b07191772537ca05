"""Capture from a CalDAV calendar collection (RFC 4791): meetings become interactions through the same bridge
as calendar files (bridges/ical.py), so a meeting synced and the same meeting imported from a file are one.

Rules kept:
- One PROPFIND lists the collection's resources with their ETags; only resources that changed since the last
  sync, and those holding a recurring event (whose occurrences up to now grow by themselves), are fetched again,
  fifty at a time with a calendar-multiget REPORT.
- Each batch is imported in one transaction together with the ETags after it (sync_cursor), so a sync cut off
  half-way keeps what it imported and the next one fetches only the rest.
- Responses are bounded (``MAX_RESPONSE`` bytes) and parsed as XML without entities from outside; the HTTP
  session is passed in (tests use a loopback Radicale).
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp

from bridges.base import ImportItem, Skipped
from bridges.ical import calendar_items
from node.capture.imap import CaptureResult
from node.capture.links import CaldavLink, caldav_links, password_of
from node.errors import NotFound
from node.graph import Clock, utcnow
from node.importer import Importer
from node.store import GraphStore
from node.store.imports import ImportSession

__all__ = ["MAX_RESPONSE", "MULTIGET", "sync_caldav"]

MAX_RESPONSE = 64 << 20
MULTIGET = 50
_DAV = "{DAV:}"
_CAL = "{urn:ietf:params:xml:ns:caldav}"
_PROPFIND = (
    b'<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/><d:resourcetype/>'
    b"</d:prop></d:propfind>"
)


class _Stop(Exception):
    pass


async def _request(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    auth: str,
    body: bytes,
    depth: str,
    tls: ssl.SSLContext | bool = True,
) -> bytes:
    headers = {"Depth": depth, "Content-Type": "application/xml; charset=utf-8", "Authorization": auth}
    async with session.request(
        method, url, data=body, headers=headers, allow_redirects=False, ssl=tls
    ) as resp:
        if resp.status in (401, 403):
            raise _Stop(
                f"the calendar server refused the login ({resp.status}); check the password and link again"
            )
        if resp.status == 404:
            raise _Stop(f"there is no calendar at {url} (404); check --url")
        if resp.status != 207:
            raise _Stop(
                f"the calendar server answered {resp.status} to {method}; is {url} a CalDAV collection?"
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > MAX_RESPONSE:
                raise _Stop(f"the calendar server sent more than {MAX_RESPONSE >> 20} MiB in one answer")
            chunks.append(chunk)
        return b"".join(chunks)


def _multistatus(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    if b"<!DOCTYPE" in body[:4096] or b"<!ENTITY" in body:
        raise _Stop("the calendar server's answer declares XML entities; refusing to read it")
    try:
        root = ET.fromstring(body)  # noqa: S314 (no DTD or entities: refused above)
    except ET.ParseError as exc:
        raise _Stop(f"the calendar server's answer is not XML ({exc})") from None
    out = []
    for response in root.iter(f"{_DAV}response"):
        href = (response.findtext(f"{_DAV}href") or "").strip()
        props: dict[str, Any] = {}
        for propstat in response.iter(f"{_DAV}propstat"):
            if "200" not in (propstat.findtext(f"{_DAV}status") or ""):
                continue
            prop = propstat.find(f"{_DAV}prop")
            if prop is None:
                continue
            props["etag"] = (prop.findtext(f"{_DAV}getetag") or "").strip()
            kinds = prop.find(f"{_DAV}resourcetype")
            props["collection"] = kinds is not None and kinds.find(f"{_DAV}collection") is not None
            data = prop.find(f"{_CAL}calendar-data")
            if data is not None:
                props["data"] = data.text or ""
        if href:
            out.append((href, props))
    return out


def _multiget(hrefs: list[str]) -> bytes:
    from xml.sax.saxutils import escape

    items = "".join(f"<d:href>{escape(h)}</d:href>" for h in hrefs)
    return (
        '<?xml version="1.0" encoding="utf-8"?><c:calendar-multiget xmlns:d="DAV:" '
        'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop>'
        f"{items}</c:calendar-multiget>"
    ).encode()


async def sync_caldav(
    store: GraphStore,
    importer: Importer,
    *,
    session: aiohttp.ClientSession,
    passphrase: str | None,
    account: str | None = None,
    clock: Clock = utcnow,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[CaptureResult]:
    """Read what changed in every linked calendar of the account (or the one ``account`` names)."""
    links = await caldav_links(store, account)
    if not links:
        raise NotFound(
            "no calendar linked; link one with `kith link caldav --url URL --user USER --password-stdin`",
            field="source",
        )
    return [await _sync_one(store, importer, session, link, passphrase, clock, progress) for link in links]


async def _sync_one(
    store: GraphStore,
    importer: Importer,
    session: aiohttp.ClientSession,
    link: CaldavLink,
    passphrase: str | None,
    clock: Clock,
    progress: Callable[[str, int, int], None] | None,
) -> CaptureResult:
    result = CaptureResult(source="caldav", account=link.account, status="complete")
    password = await password_of(store, "caldav", link.account, passphrase)
    # Basic authentication (RFC 7617), UTF-8; over https, or to this machine only (node/capture/links.py).
    auth = "Basic " + base64.b64encode(f"{link.user}:{password}".encode()).decode("ascii")
    cursor = await store.links.cursor("caldav", link.account, link.url) or {}
    etags: dict[str, str] = dict(cursor.get("etags") or {})
    recurring: set[str] = set(cursor.get("recurring") or [])
    base = urlsplit(link.url)
    tls: ssl.SSLContext | bool = ssl.create_default_context(cafile=link.ca_file) if link.ca_file else True
    try:
        listing = _multistatus(await _request(session, "PROPFIND", link.url, auth, _PROPFIND, "1", tls))
        current: dict[str, str] = {}
        for href, props in listing:
            target = urljoin(link.url, href)
            if urlsplit(target).netloc != base.netloc or props.get("collection") or not props.get("etag"):
                continue  # the collection itself, sub-collections, and anything on another host
            current[href] = props["etag"]
        wanted = [h for h, tag in sorted(current.items()) if etags.get(h) != tag or h in recurring]
        gone = set(etags) - set(current)
        for href in gone:
            etags.pop(href, None)
            recurring.discard(href)
        if progress is not None:
            progress(link.url, 0, len(wanted))
        now = clock()
        for i in range(0, len(wanted), MULTIGET):
            part = wanted[i : i + MULTIGET]
            found = _multistatus(await _request(session, "REPORT", link.url, auth, _multiget(part), "1", tls))
            items: list[ImportItem] = []
            for href, props in found:
                text = props.get("data")
                if not isinstance(text, str) or href not in current:
                    continue
                items.extend(await asyncio.to_thread(_items, text, link, now, href))
                etags[href] = current[href]
                if "RRULE" in text.upper():
                    recurring.add(href)
                else:
                    recurring.discard(href)
                result.messages += 1
            state = {"etags": dict(etags), "recurring": sorted(recurring)}
            summary = await importer.import_items(
                "ical", items, name=f"caldav {link.account}", then=_keep(link, state)
            )
            result.interactions_added += summary.interactions_added
            result.people_proposed += summary.people_created
            if progress is not None:
                progress(link.url, min(i + MULTIGET, len(wanted)), len(wanted))
        if not wanted and gone:
            await store.links.set_cursor(
                "caldav",
                link.account,
                link.url,
                {"etags": etags, "recurring": sorted(recurring)},
                clock(),
            )
    except _Stop as exc:
        result.status = "failed" if result.messages == 0 else "interrupted"
        result.message = f"{exc}; run `kith sync caldav` again once it is fixed"
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        result.status = "interrupted"
        result.message = (
            f"the calendar server could not be read ({type(exc).__name__}: {exc}); everything read before "
            "was kept: run `kith sync caldav` again to resume"
        )
    moment = clock()
    if result.status == "complete":
        result.message = (
            f"read {result.messages:,} changed calendar entries; {result.interactions_added:,} meetings added, "
            f"{result.people_proposed:,} people added from attendees"
        )
        await store.links.update("caldav", link.account, moment, last_sync_at=moment, last_error=None)
    else:
        await store.links.update("caldav", link.account, moment, last_error=result.message[:500])
    return result


def _items(text: str, link: CaldavLink, now: datetime, href: str) -> list[ImportItem]:
    out: list[ImportItem] = []
    for item in calendar_items(text, owner=[a[7:] for a in link.owner], now=now, name=href[-120:]):
        if isinstance(item, Skipped) or len(out) < 100_000:
            out.append(item)
    return out


def _keep(link: CaldavLink, state: dict[str, Any]) -> Callable[[ImportSession], Any]:
    async def then(session: ImportSession) -> None:
        await session.save_cursor(source="caldav", account=link.account, direction=link.url, cursor=state)

    return then
