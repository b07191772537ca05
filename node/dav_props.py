"""PROPFIND and the properties of the CardDAV service's resources (RFC 4918 §9.1, RFC 5397, RFC 6352 §6-7,
RFC 6578 §4, the calendarserver.org getctag that iOS and older DAVx5 read).

A PROPFIND of a book lists its cards from the change log alone (href and change counter): no card is read or
rendered, so listing 10,000 cards costs one indexed query.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from bridges.vcard import PHOTO_LIMIT
from node.dav_records import ALL_BOOK, Book
from node.dav_target import DAV_ROOT, DavRequest, card_href, depth, etag
from node.dav_xml import (
    CARDDAV,
    CS,
    DAV,
    Prop,
    PropStat,
    Response,
    local,
    multistatus,
    parse_xml,
    prop_xml,
    response_xml,
)
from node.errors import BadInput, NotFound

__all__ = [
    "CONTENT_TYPE",
    "GETTERS",
    "Getter",
    "Resource",
    "book_of",
    "card_props",
    "cards_xml",
    "propfind",
    "resource_props",
]

CONTENT_TYPE = "text/vcard; charset=utf-8"
_REPORTS = ((CARDDAV, "addressbook-multiget"), (CARDDAV, "addressbook-query"), (DAV, "sync-collection"))


@dataclass(frozen=True, slots=True)
class Resource:
    kind: str  # root, principal, home, book, card
    href: str
    book: Book | None = None
    seq: int = 0


def _href(href: str) -> str:
    return f"<d:href>{escape(href)}</d:href>"


def _privileges(names: Iterable[str]) -> str:
    return "".join(f"<d:privilege><d:{n}/></d:privilege>" for n in names)


_READ = ("read", "read-current-user-privilege-set")
_WRITE = (*_READ, "write", "write-content", "bind", "unbind")

Getter = Callable[[DavRequest, Resource], str | None]


def _resourcetype(req: DavRequest, r: Resource) -> str | None:
    inner = {
        "root": "<d:collection/>",
        "principal": "<d:collection/><d:principal/>",
        "home": "<d:collection/>",
        "book": "<d:collection/><card:addressbook/>",
        "card": "",
    }[r.kind]
    return prop_xml(Prop(DAV, "resourcetype"), inner)


def _displayname(req: DavRequest, r: Resource) -> str | None:
    name = {
        "root": "Kith",
        "principal": req.ctx.account.display_name or req.ctx.name,
        "home": "Address books",
        "book": r.book.name if r.book else "",
    }.get(r.kind)
    return None if name is None else prop_xml(Prop(DAV, "displayname"), text=name)


def _only(*kinds: str) -> Callable[[Getter], Getter]:
    def wrap(fn: Getter) -> Getter:
        def getter(req: DavRequest, r: Resource) -> str | None:
            return fn(req, r) if r.kind in kinds else None

        return getter

    return wrap


_ALL = ("root", "principal", "home", "book", "card")

GETTERS: dict[Prop, Getter] = {
    Prop(DAV, "resourcetype"): _resourcetype,
    Prop(DAV, "displayname"): _displayname,
    Prop(DAV, "current-user-principal"): lambda req, r: prop_xml(
        Prop(DAV, "current-user-principal"), _href(req.principal)
    ),
    Prop(DAV, "principal-URL"): _only("principal")(
        lambda req, r: prop_xml(Prop(DAV, "principal-URL"), _href(req.principal))
    ),
    Prop(DAV, "principal-collection-set"): lambda req, r: prop_xml(
        Prop(DAV, "principal-collection-set"), _href(f"{DAV_ROOT}principals/")
    ),
    Prop(DAV, "owner"): _only("home", "book", "card")(
        lambda req, r: prop_xml(Prop(DAV, "owner"), _href(req.principal))
    ),
    Prop(CARDDAV, "addressbook-home-set"): _only("root", "principal")(
        lambda req, r: prop_xml(Prop(CARDDAV, "addressbook-home-set"), _href(req.home))
    ),
    Prop(DAV, "current-user-privilege-set"): lambda req, r: prop_xml(
        Prop(DAV, "current-user-privilege-set"), _privileges(_WRITE if r.kind in ("book", "card") else _READ)
    ),
    Prop(DAV, "supported-report-set"): lambda req, r: prop_xml(
        Prop(DAV, "supported-report-set"),
        "".join(
            f"<d:supported-report><d:report>{prop_xml(Prop(ns, name))}</d:report></d:supported-report>"
            for ns, name in (_REPORTS if r.kind == "book" else ())
        ),
    ),
    Prop(DAV, "sync-token"): _only("book")(lambda req, r: prop_xml(Prop(DAV, "sync-token"), text=req.token)),
    Prop(CS, "getctag"): _only("book")(lambda req, r: prop_xml(Prop(CS, "getctag"), text=req.token)),
    Prop(CARDDAV, "supported-address-data"): _only("book")(
        lambda req, r: prop_xml(
            Prop(CARDDAV, "supported-address-data"),
            '<card:address-data-type content-type="text/vcard" version="3.0"/>'
            '<card:address-data-type content-type="text/vcard" version="4.0"/>',
        )
    ),
    Prop(CARDDAV, "max-resource-size"): _only("book")(
        lambda req, r: prop_xml(Prop(CARDDAV, "max-resource-size"), text=str(req.max_card_bytes))
    ),
    # Apple's: iOS scales a contact photo to this before it sends it, so the photo fits the graph.
    Prop(CARDDAV, "max-image-size"): _only("book")(
        lambda req, r: prop_xml(Prop(CARDDAV, "max-image-size"), text=str(PHOTO_LIMIT))
    ),
    Prop(CARDDAV, "addressbook-description"): _only("book")(
        lambda req, r: prop_xml(
            Prop(CARDDAV, "addressbook-description"),
            text="Everyone in your Kith contact graph"
            if r.book is None or r.book.id == ALL_BOOK
            else f"The circle {r.book.name} in your Kith contact graph",
        )
    ),
    Prop(DAV, "getetag"): _only("card")(lambda req, r: prop_xml(Prop(DAV, "getetag"), text=etag(r.seq))),
    Prop(DAV, "getcontenttype"): _only("card")(
        lambda req, r: prop_xml(Prop(DAV, "getcontenttype"), text=CONTENT_TYPE)
    ),
}
#: What allprop answers with (RFC 4918 §14.2: the live properties this server defines for the resource).
_ALLPROP = (
    Prop(DAV, "resourcetype"),
    Prop(DAV, "displayname"),
    Prop(DAV, "getetag"),
    Prop(DAV, "getcontenttype"),
    Prop(DAV, "sync-token"),
    Prop(CS, "getctag"),
)


def resource_props(
    req: DavRequest, r: Resource, requested: Sequence[Prop] | None, names_only: bool = False
) -> list[PropStat]:
    """The propstats of ``r`` for ``requested`` (None: allprop)."""
    found: list[str] = []
    missing: list[str] = []
    wanted = _ALLPROP if requested is None else requested
    for prop in wanted:
        getter = GETTERS.get(prop)
        value = getter(req, r) if getter is not None else None
        if value is None:
            if requested is not None:
                missing.append(prop_xml(prop))
        else:
            found.append(prop_xml(prop) if names_only else value)
    out = []
    if found:
        out.append(PropStat(200, found))
    if missing:
        out.append(PropStat(404, missing))
    return out


def card_props(req: DavRequest, r: Resource, requested: Sequence[Prop] | None) -> list[PropStat]:
    return resource_props(req, r, requested)


async def book_of(req: DavRequest, book_id: str) -> Book:
    for book in await req.ctx.store.dav.books():
        if book.id == book_id:
            return book
    raise NotFound(f"no address book {book_id!r} here; see {req.home}")


def _requested(root: Element | None) -> tuple[list[Prop] | None, bool]:
    """(the properties a propfind names, None for allprop; whether it asks for names only)."""
    if root is None:
        return None, False
    children = list(root)
    if len(children) != 1:
        raise BadInput("a propfind holds one of prop, allprop or propname")
    kind = local(children[0].tag)
    if kind == (DAV, "allprop"):
        return None, False
    if kind == (DAV, "propname"):
        return list(GETTERS), True
    if kind == (DAV, "prop"):
        return [Prop.of(el) for el in children[0]], False
    raise BadInput(f"a propfind holds prop, allprop or propname, not {kind[1][:60]!r}")


async def propfind(req: DavRequest, body: bytes, depth_header: str | None) -> bytes:
    """The multistatus answer to a PROPFIND of the request's target."""
    root = parse_xml(body, [(DAV, "propfind")]) if body.strip() else None
    requested, names_only = _requested(root)
    level = depth(depth_header)
    t = req.target
    resources: list[Resource] = []
    if t.kind == "root":
        resources.append(Resource("root", DAV_ROOT))
        if level != "0":
            resources.append(Resource("principal", req.principal))
            resources.append(Resource("home", req.home))
    elif t.kind == "principal":
        resources.append(Resource("principal", req.principal))
    elif t.kind == "home":
        resources.append(Resource("home", req.home))
        if level != "0":
            resources.extend(
                Resource("book", req.book_href(b.id), book=b) for b in await req.ctx.store.dav.books()
            )
    elif t.kind == "book":
        book = await book_of(req, t.book or "")
        href = req.book_href(book.id)
        resources.append(Resource("book", href, book=book))
        if level != "0":
            cards = await req.ctx.store.dav.listing(book.id)
            return multistatus(
                (Response(r.href, resource_props(req, r, requested, names_only)) for r in resources),
                written=await cards_xml(req, href, cards, requested, names_only),
            )
    else:
        book = await book_of(req, t.book or "")
        ref = await req.ctx.store.dav.lookup(book.id, t.card or "")
        if ref is None or not ref.live:
            raise NotFound(f"no card {t.card!r} in this address book")
        resources.append(Resource("card", card_href(req.book_href(book.id), ref.href), seq=ref.seq))
    return multistatus(Response(r.href, resource_props(req, r, requested, names_only)) for r in resources)


_IN_THREAD = 1000  # cards written on the event loop; a longer listing is written on a worker thread


async def cards_xml(
    req: DavRequest,
    book_href: str,
    cards: Sequence[tuple[str, int]],
    requested: Sequence[Prop] | None,
    names_only: bool = False,
) -> list[str]:
    """The response elements of ``cards`` ((name, seq) pairs) without their data: every card answers the same
    properties, so the propstats are worked out once (from a sample card) and only the href and ETag change from
    card to card. 10,000 cards are written in a few milliseconds, off the event loop."""
    sample = resource_props(req, Resource("card", book_href, seq=0), requested, names_only)
    marker = etag(0)

    def write() -> list[str]:
        tail = response_xml("", sample).split("</d:href>", 1)[1]
        before, after = tail.split(marker, 1) if marker in tail else (tail, None)
        out = []
        for name, seq in cards:
            href = escape(card_href(book_href, name))
            body = before if after is None else f"{before}{etag(seq)}{after}"
            out.append(f"<d:response><d:href>{href}</d:href>{body}")
        return out

    return await asyncio.to_thread(write) if len(cards) > _IN_THREAD else write()
