"""GET, PUT and DELETE of one card (RFC 6352 §6.3, RFC 7232 conditional requests).

- GET serves vCard 3.0, or 4.0 when the Accept header asks for ``text/vcard; version=4.0``.
- PUT and DELETE honour ``If-Match`` (the card's ETag, or ``*``) and ``If-None-Match: *`` (create only): a
  condition that fails is answered 412 and changes nothing, so two devices editing one card cannot overwrite
  each other unseen.
- A PUT is read whole and checked before anything is written; what it says is written in one transaction
  (node/store/sqlite/dav.py), with provenance "carddav" and the app password that sent it. The card Kith stores
  differs from the one sent (Kith's own fields, its UID), so a PUT answers without an ETag: RFC 6352 §6.3.2.3
  has the client fetch the card again.
- A DELETE archives the person (node/store/sqlite/dav.py says why); from a circle's book the person leaves it.
"""

from __future__ import annotations

import re

from aiohttp import web

from node.dav_props import book_of
from node.dav_records import ALL_BOOK, GroupEdit, NewIds, PersonEdit
from node.dav_reports import DavPrecondition
from node.dav_target import DavRequest, etag
from node.dav_vcard import VCARD3, VCARD4, BadCard, card_text, group_card, parse_card, person_card
from node.dav_xml import CARDDAV, Prop
from node.errors import BadInput, NotFound
from node.graph import new_id

__all__ = ["PreconditionFailed", "delete_card", "get_card", "put_card"]

_VCARD_TYPES = ("text/vcard", "text/x-vcard", "text/directory", "application/octet-stream", "")


class PreconditionFailed(BadInput):
    status_hint = 412


def _matches(header: str, current: str | None) -> bool:
    """Whether an If-Match / If-None-Match list names the current ETag (``*``: any current card)."""
    if current is None:
        return False
    for item in header.split(","):
        tag = item.strip().removeprefix("W/")
        if tag == "*" or tag == current:
            return True
    return False


def _check_conditions(request: web.Request, current: str | None, seq: int) -> int | None:
    """Raise PreconditionFailed when a condition fails; else the seq the write must still find (None when the
    request had no condition)."""
    if_match = request.headers.get("If-Match")
    if if_match is not None and not _matches(if_match, current):
        raise PreconditionFailed(
            "the card changed since you last read it (If-Match): fetch it again, then save your change"
            if current
            else "there is no such card to change (If-Match)"
        )
    if_none = request.headers.get("If-None-Match")
    if if_none is not None and _matches(if_none, current):
        raise PreconditionFailed("a card with this name exists already (If-None-Match)")
    return seq if if_match is not None or if_none is not None else None


def _wants_v4(accept: str) -> bool:
    for item in accept.split(","):
        kind, *params = (x.strip().lower() for x in item.split(";"))
        if kind in ("text/vcard", "text/*", "*/*") and any(
            re.fullmatch(r'version="?4\.0"?', p) for p in params
        ):
            return True
    return False


async def get_card(req: DavRequest, request: web.Request) -> web.StreamResponse:
    book = await book_of(req, req.target.book or "")
    cards = await req.ctx.store.dav.cards(book.id, [req.target.card or ""])
    if not cards:
        raise NotFound(f"no card {req.target.card!r} in this address book")
    card = cards[0]
    version = VCARD4 if _wants_v4(request.headers.get("Accept", "")) else VCARD3
    text = card_text(card, version)
    headers = {"ETag": etag(card.seq), "Vary": "Accept"}
    if _matches(request.headers.get("If-None-Match", ""), etag(card.seq)):
        return web.Response(status=304, headers=headers)
    # For HEAD, aiohttp sends these headers (Content-Length included) and leaves the body out.
    resp = web.Response(body=text.encode("utf-8"), headers=headers)
    resp.content_type = "text/vcard"
    resp.charset = "utf-8"
    return resp


async def put_card(req: DavRequest, request: web.Request, body: bytes) -> web.Response:
    book = await book_of(req, req.target.book or "")
    name = req.target.card or ""
    store = req.ctx.store.dav
    ref = await store.lookup(book.id, name)
    current = etag(ref.seq) if ref is not None and ref.live else None
    expect = _check_conditions(request, current, ref.seq if ref is not None and ref.live else 0)
    kind = request.content_type.lower() if request.headers.get("Content-Type") else ""
    if kind not in _VCARD_TYPES:
        raise DavPrecondition(
            Prop(CARDDAV, "supported-address-data"), f"cards are text/vcard, not {kind[:60]}"
        )
    if len(body) > req.max_card_bytes:
        raise DavPrecondition(
            Prop(CARDDAV, "max-resource-size"), f"a card may be at most {req.max_card_bytes} bytes"
        )
    try:
        card = parse_card(body)
    except BadCard as exc:
        raise DavPrecondition(Prop(CARDDAV, "valid-address-data"), exc.message) from None
    now = req.ctx.graph.now()
    uid = ref.uid if ref is not None and ref.live else (card.uid or "urn:uuid:" + new_id("u")[2:])
    if current is None and card.uid:
        owner = await store.by_uid(card.uid)
        if owner is not None and owner.live and owner.href != name:
            raise DavPrecondition(
                Prop(CARDDAV, "no-uid-conflict"),
                f"a card with UID {card.uid[:80]!r} is already in this address book as {owner.href}",
            )
    if card.group:
        if book.id != ALL_BOOK:
            raise DavPrecondition(
                Prop(CARDDAV, "valid-address-data"),
                "groups are kept in the All people book; a circle's own book holds its people",
            )
        try:
            circle, members = group_card(card)
        except BadCard as exc:
            raise DavPrecondition(Prop(CARDDAV, "valid-address-data"), exc.message) from None
        _, created = await store.put_group(
            name,
            uid,
            GroupEdit(name=circle, members=members, edited_by=req.app_password, now=now),
            new_id("c"),
            expect=expect,
        )
    else:
        if ref is not None and ref.live and ref.circle_pk is not None:
            raise DavPrecondition(Prop(CARDDAV, "valid-address-data"), f"{name} is a group card (KIND:group)")
        try:
            parsed = person_card(card, req.ctx.graph)
        except BadCard as exc:
            raise DavPrecondition(Prop(CARDDAV, "valid-address-data"), exc.message) from None
        edit = PersonEdit(
            fields=parsed.fields,
            identities=parsed.identities,
            removable_kinds=parsed.removable_kinds,
            note=parsed.note,
            circles=parsed.circles,
            extra=parsed.extra,
            edited_by=req.app_password,
            now=now,
            ids=NewIds(
                person=new_id("p"),
                note=new_id("n"),
                circles=tuple(new_id("c") for _ in parsed.circles or ()),
            ),
        )
        _, created = await store.put_person(book.id, name, uid, edit, expect=expect)
    return web.Response(status=201 if created else 204)


async def delete_card(req: DavRequest, request: web.Request) -> web.Response:
    book = await book_of(req, req.target.book or "")
    name = req.target.card or ""
    ref = await req.ctx.store.dav.lookup(book.id, name)
    current = etag(ref.seq) if ref is not None and ref.live else None
    if current is None or ref is None:
        raise NotFound(f"no card {name!r} in this address book")
    expect = _check_conditions(request, current, ref.seq)
    if not await req.ctx.store.dav.remove(book.id, name, req.ctx.graph.now(), expect=expect):
        raise NotFound(f"no card {name!r} in this address book")
    return web.Response(status=204)
