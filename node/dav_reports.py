"""The REPORTs of an address book: addressbook-multiget and addressbook-query (RFC 6352 §8.6-8.7) and
sync-collection (RFC 6578 §3).

A sync-collection with a token reads only the change log's rows newer than the token (one range scan of its seq
index) and renders only the cards that changed: an incremental sync costs what changed, not the book's size.
Cards are rendered on a worker thread once there are more than a few, so a large report does not hold up the
event loop.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from bridges._vcard_syntax import parse_prop, unescape
from node.dav_props import Resource, book_of, cards_xml, resource_props
from node.dav_records import CardRow
from node.dav_target import DavRequest, card_href, card_name_of, read_token, sync_token
from node.dav_vcard import VCARD3, VCARD4, card_text
from node.dav_xml import CARDDAV, DAV, Prop, PropStat, Response, local, multistatus, parse_xml, prop_xml
from node.errors import BadInput

__all__ = ["DavPrecondition", "report"]

_ADDRESS_DATA = Prop(CARDDAV, "address-data")
_ON_LOOP = 32  # cards rendered on the event loop; more go to a thread
_MAX_HREFS = 10_000


class DavPrecondition(BadInput):
    """A precondition of RFC 6352 or RFC 6578 failed: answered 403 with a DAV:error naming it."""

    status_hint = 403

    def __init__(self, condition: Prop, message: str) -> None:
        super().__init__(message)
        self.condition = condition


@dataclass(frozen=True, slots=True)
class _Wanted:
    props: list[Prop] | None  # None: allprop
    version: str | None  # address-data asked for, in this vCard version


def _wanted(prop_el: Element | None) -> _Wanted:
    if prop_el is None or local(prop_el.tag) == (DAV, "allprop"):
        return _Wanted(None, None)
    props, version = [], None
    for el in prop_el:
        prop = Prop.of(el)
        if prop == _ADDRESS_DATA:
            version = _version(el)
            continue
        props.append(prop)
    return _Wanted(props, version)


def _version(el: Element) -> str:
    kind = (el.get("content-type") or "text/vcard").strip().lower()
    version = (el.get("version") or VCARD3).strip()
    if kind != "text/vcard" or version not in (VCARD3, VCARD4):
        raise DavPrecondition(
            Prop(CARDDAV, "supported-address-data"),
            f"address data is served as text/vcard version 3.0 or 4.0, not {kind[:40]} {version[:10]}",
        )
    return version


async def _render(cards: Sequence[CardRow], version: str) -> dict[str, str]:
    def run() -> dict[str, str]:
        return {c.href: card_text(c, version) for c in cards}

    return await asyncio.to_thread(run) if len(cards) > _ON_LOOP else run()


async def _card_responses(
    req: DavRequest,
    book_href: str,
    cards: Sequence[CardRow],
    wanted: _Wanted,
    hrefs: dict[str, str] | None = None,
) -> list[Response]:
    texts = await _render(cards, wanted.version) if wanted.version else {}
    out = []
    for card in cards:
        href = (hrefs or {}).get(card.href) or card_href(book_href, card.href)
        propstats = resource_props(req, Resource("card", href, seq=card.seq), wanted.props)
        if wanted.version:
            data = prop_xml(_ADDRESS_DATA, text=texts[card.href])
            if propstats and propstats[0].status == 200:
                propstats[0] = PropStat(200, [*propstats[0].props, data])
            else:
                propstats.insert(0, PropStat(200, [data]))
        out.append(Response(href, propstats))
    return out


async def report(req: DavRequest, body: bytes) -> bytes:
    root = parse_xml(
        body, [(CARDDAV, "addressbook-multiget"), (CARDDAV, "addressbook-query"), (DAV, "sync-collection")]
    )
    if req.target.kind != "book":
        raise DavPrecondition(Prop(DAV, "supported-report"), "REPORTs are answered on an address book only")
    book = await book_of(req, req.target.book or "")
    book_href = req.book_href(book.id)
    kind = local(root.tag)
    if kind == (CARDDAV, "addressbook-multiget"):
        return await _multiget(req, book.id, book_href, root)
    if kind == (CARDDAV, "addressbook-query"):
        return await _query(req, book.id, book_href, root)
    return await _sync(req, book.id, book_href, root)


def _prop_el(root: Element) -> Element | None:
    for el in root:
        if local(el.tag) in ((DAV, "prop"), (DAV, "allprop")):
            return el
    return None


async def _multiget(req: DavRequest, book: str, book_href: str, root: Element) -> bytes:
    wanted = _wanted(_prop_el(root))
    asked = [el.text or "" for el in root if local(el.tag) == (DAV, "href")]
    if len(asked) > _MAX_HREFS:
        raise BadInput(f"at most {_MAX_HREFS} hrefs in one multiget; ask in batches")
    names: dict[str, str] = {}  # card name -> the href as the client wrote it
    missing: list[str] = []
    for href in asked:
        name = card_name_of(href, book_href)
        if name is None:
            missing.append(href)
        else:
            names.setdefault(name, href.strip())
    cards = await req.ctx.store.dav.cards(book, list(names))
    found = {c.href for c in cards}
    missing.extend(href for name, href in names.items() if name not in found)
    responses = await _card_responses(req, book_href, cards, wanted, names)
    responses.extend(Response(href, status=404) for href in missing)
    return multistatus(responses)


async def _sync(req: DavRequest, book: str, book_href: str, root: Element) -> bytes:
    token_el = next((el for el in root if local(el.tag) == (DAV, "sync-token")), None)
    level = next((el.text or "" for el in root if local(el.tag) == (DAV, "sync-level")), "1").strip()
    if level not in ("1", "infinite"):
        raise BadInput("sync-level must be 1 or infinite")
    limit = _limit(root)
    since = read_token(None if token_el is None else token_el.text, req.epoch, req.seq)
    if since is None:
        raise DavPrecondition(
            Prop(DAV, "valid-sync-token"),
            "this sync token is not valid here (the address book was restored or replaced): sync afresh",
        )
    wanted = _wanted(_prop_el(root))
    if since == 0:  # an initial sync: every card in the book, and no removals
        rows = sorted(((seq, name, True) for name, seq in await req.ctx.store.dav.listing(book)))
    else:
        rows = [(seq, name, live) for name, seq, live in await req.ctx.store.dav.changes(book, since)]
    rows = [r for r in rows if r[0] <= req.seq]  # changes made while this report runs go in the next one
    truncated = limit is not None and len(rows) > limit
    if truncated and limit is not None:
        # Cards one statement changed share a seq: the page ends on a whole seq, or the next token would skip
        # the rest of them.
        cut = limit
        while 0 < cut < len(rows) and rows[cut][0] == rows[cut - 1][0]:
            cut -= 1
        if cut == 0:
            cut = limit
            while cut < len(rows) and rows[cut][0] == rows[cut - 1][0]:
                cut += 1
        truncated = cut < len(rows)
        rows = rows[:cut]
    last = rows[-1][0] if truncated and rows else req.seq
    live = [name for _, name, is_live in rows if is_live]
    if wanted.version is None:  # hrefs and ETags only (a phone's first question): no card is read
        written = await cards_xml(req, book_href, [(n, s) for s, n, is_live in rows if is_live], wanted.props)
        responses = [Response(card_href(book_href, n), status=404) for _, n, is_live in rows if not is_live]
    else:
        cards = {c.href: c for c in await req.ctx.store.dav.cards(book, live)}
        # A card that changed again after the counter was read is reported with what it holds now; its next
        # change is in the next report either way.
        responses = await _card_responses(req, book_href, [cards[n] for n in live if n in cards], wanted)
        responses.extend(
            Response(card_href(book_href, name), status=404)
            for _, name, is_live in rows
            if not is_live or name not in cards
        )
        written = []
    if truncated:
        responses.append(Response(book_href, status=507))
    return multistatus(responses, sync_token=sync_token(req.epoch, last), written=written)


def _limit(root: Element) -> int | None:
    for el in root:
        if local(el.tag) in ((DAV, "limit"), (CARDDAV, "limit")):
            for n in el:
                if local(n.tag)[1] == "nresults":
                    try:
                        value = int((n.text or "").strip())
                    except ValueError:
                        raise BadInput("nresults must be a whole number") from None
                    if value < 1:
                        raise BadInput("nresults must be at least 1")
                    return value
    return None


# -- addressbook-query --------------------------------------------------------------------------------------
def _collate(collation: str, text: str) -> str:
    if collation == "i;octet":
        return text
    if collation == "i;ascii-casemap":
        return text.translate(_ASCII_LOWER)
    return text.casefold()


_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}
_COLLATIONS = ("i;unicode-casemap", "i;ascii-casemap", "i;octet")
_MATCH: dict[str, Callable[[str, str], bool]] = {
    "equals": lambda v, t: v == t,
    "contains": lambda v, t: t in v,
    "starts-with": lambda v, t: v.startswith(t),
    "ends-with": lambda v, t: v.endswith(t),
}


def _text_match(el: Element) -> Callable[[str], bool]:
    collation = el.get("collation", "i;unicode-casemap")
    if collation not in _COLLATIONS:
        raise DavPrecondition(
            Prop(CARDDAV, "supported-collation"), f"collation {collation[:40]!r} is not supported"
        )
    match = _MATCH.get(el.get("match-type", "contains"))
    if match is None:
        raise BadInput("match-type must be equals, contains, starts-with or ends-with")
    wanted = _collate(collation, el.text or "")
    negate = el.get("negate-condition", "no") == "yes"
    return lambda value: match(_collate(collation, value), wanted) != negate


def _prop_filter(el: Element) -> Callable[[dict[str, list[tuple[str, dict[str, list[str]]]]]], bool]:
    name = (el.get("name") or "").upper()
    if not name:
        raise BadInput("a prop-filter needs a name")
    test = all if el.get("test", "anyof") == "allof" else any
    children = list(el)
    if any(local(c.tag) == (CARDDAV, "is-not-defined") for c in children):
        return lambda props: name not in props
    text_tests = [_text_match(c) for c in children if local(c.tag) == (CARDDAV, "text-match")]
    param_tests = [_param_filter(c) for c in children if local(c.tag) == (CARDDAV, "param-filter")]
    tests = [*text_tests, *param_tests]

    def check(props: dict[str, list[tuple[str, dict[str, list[str]]]]]) -> bool:
        values = props.get(name)
        if not values:
            return False
        if not tests:
            return True
        return any(
            test([t(v) for t in text_tests] + [p(params) for p in param_tests]) for v, params in values
        )

    return check


def _param_filter(el: Element) -> Callable[[dict[str, list[str]]], bool]:
    name = (el.get("name") or "").upper()
    children = list(el)
    if any(local(c.tag) == (CARDDAV, "is-not-defined") for c in children):
        return lambda params: name not in params
    matches = [_text_match(c) for c in children if local(c.tag) == (CARDDAV, "text-match")]
    return lambda params: name in params and all(any(m(v) for v in params[name]) for m in matches)


def _compile_filter(root: Element) -> Callable[[str], bool]:
    flt = next((el for el in root if local(el.tag) == (CARDDAV, "filter")), None)
    if flt is None or not list(flt):
        return lambda text: True
    test = all if flt.get("test", "anyof") == "allof" else any
    filters = [_prop_filter(el) for el in flt if local(el.tag) == (CARDDAV, "prop-filter")]

    def check(text: str) -> bool:
        props: dict[str, list[tuple[str, dict[str, list[str]]]]] = {}
        for line in re.sub(r"\r\n[ \t]", "", text).split("\r\n"):
            p = parse_prop(line)
            if p is not None:
                props.setdefault(p.name, []).append((unescape(p.value), p.params))
        return test(f(props) for f in filters)

    return check


async def _query(req: DavRequest, book: str, book_href: str, root: Element) -> bytes:
    wanted = _wanted(_prop_el(root))
    check = _compile_filter(root)
    limit = _limit(root)
    names = [name for name, _ in await req.ctx.store.dav.listing(book)]
    matched: list[CardRow] = []
    for start in range(0, len(names), 500):
        chunk = await req.ctx.store.dav.cards(book, names[start : start + 500])

        def run(chunk: list[CardRow] = chunk) -> list[CardRow]:
            return [c for c in chunk if check(card_text(c, VCARD3))]

        matched.extend(await asyncio.to_thread(run))
        if limit is not None and len(matched) >= limit:
            break
    truncated = limit is not None and len(matched) > limit
    matched = matched[:limit] if limit is not None else matched
    responses = await _card_responses(req, book_href, matched, wanted)
    if truncated:
        responses.append(Response(book_href, status=507))
    return multistatus(responses)
