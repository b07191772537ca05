"""Cards as a CardDAV client sees them: a person (or a circle as a group card) written as vCard 3.0 or 4.0, and a
card a client PUT read back into the graph's terms (RFC 6350, RFC 2426, RFC 6352 §5.1).

Rules kept:
- A PUT holds exactly one vCard, read by the same line reader as the vCard importer (bridges/_vcard_syntax.py):
  bounded lines and properties, quoted-printable, any line ending. Anything else is refused whole
  (:class:`BadCard`), before anything is written.
- Exact fields: what the card has is what the person has (a field missing from the card is cleared), checked by
  the owner API's own rules (node/graph.py). Three exceptions keep what a phone cannot see: CATEGORIES absent
  leaves the circles alone (iOS Contacts has no categories and drops them), identities proven by their owner
  (signed, two-way) are never detached, and social profiles are detached only by a card that has some.
- Nothing a client wrote is lost: properties Kith has no field for (ADR, IMPP, RELATED, X-..., a photo over
  bridges.vcard.PHOTO_LIMIT) are kept as written and sent back on the card; so are the lines an identity, N or
  ORG came from, with their Apple group labels (``item1.X-ABLabel``), as long as the graph still holds what
  they say. An address that belongs to another person stays on the card only, so the owner merges the two in
  Kith rather than one phone edit moving an identity between people.
- Written cards: version 3.0 unless 4.0 is asked for; CRLF, folded at 75 octets; labels that are no vCard TYPE
  become Apple group labels (kithN groups, apart from a client's itemN).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bridges._util import classify_url
from bridges._vcard_syntax import Prop, escape, fold, logical_lines, parse_prop, split_unescaped, unescape
from bridges.vcard import PHOTO_LIMIT, parse_vcard_birthday
from node.dav_records import CardIdentity, CardRow
from node.errors import BadInput
from node.graph import MAX_TEXT, Graph, _circle_name, _date, _photo_url, _text
from node.store.people import IdentityInput
from protocol.errors import InvalidRecord

__all__ = [
    "MAX_PROPS",
    "SOURCE",
    "VCARD3",
    "VCARD4",
    "BadCard",
    "ParsedCard",
    "PersonCard",
    "card_text",
    "group_card",
    "kept_addresses",
    "parse_card",
    "person_card",
    "texts",
]

VCARD3 = "3.0"
VCARD4 = "4.0"
#: The provenance of what a CardDAV client wrote (identities' provenance rows, the person page's line).
SOURCE = "carddav"
MAX_PROPS = 5000
_MAX_LINE = 4 << 20
_ABLABEL = "X-ABLABEL"
_IDENTITY_PROPS = ("EMAIL", "TEL", "URL", "X-SOCIALPROFILE", "X-SOCIAL-PROFILE")
#: Read into the graph (the rest is kept as written).
_MODELLED = frozenset(
    {"VERSION", "PRODID", "REV", "UID", "FN", "N", "NICKNAME", "ORG", "TITLE", "BDAY", "NOTE", "CATEGORIES"}
    | set(_IDENTITY_PROPS)
)
_GENERIC_TYPES = {"internet", "pref", "voice", "x400", "uri", "text", "other"}
_TYPE_LABELS = {"work", "home", "cell", "fax", "pager", "video", "main", "iphone", "textphone"}
_SOCIAL_WORD = {
    "x": "twitter",
    "linkedin": "linkedin",
    "bluesky": "bluesky",
    "acct": "mastodon",
    "url": "profile",
}
_WORD_KIND = {"twitter": "x", "x": "x", "linkedin": "linkedin", "bluesky": "bluesky", "bsky": "bluesky"}
_APPLE_LABEL = re.compile(r"^_\$!<(.*)>!\$_$")
_DATA_PHOTO = re.compile(r"^data:(image/[a-z0-9.+-]+);base64,([A-Za-z0-9+/=]+)$", re.I)


class BadCard(BadInput):
    """The body is no vCard this service can store; the message says why (RFC 6352 valid-address-data)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ParsedCard:
    version: str
    uid: str | None
    group: bool  # KIND:group (or Apple's X-ADDRESSBOOKSERVER-KIND)
    props: tuple[Prop, ...]
    lines: tuple[str, ...] = ()  # each property's content line as the client wrote it (unfolded)


@dataclass(frozen=True, kw_only=True, slots=True)
class PersonCard:
    """What a person card says in the graph's terms (node.dav_records.PersonEdit without the ids and clock)."""

    fields: Mapping[str, Any]
    identities: tuple[tuple[IdentityInput, tuple[str, ...]], ...]
    removable_kinds: frozenset[str]
    note: str
    circles: tuple[str, ...] | None
    extra: Mapping[str, Any] = field(default_factory=dict)


# -- reading ---------------------------------------------------------------------------------------------------
def _decode(body: bytes) -> str:
    """The body as text: UTF-8 (RFC 6350 §3.1), or UTF-16/32 with a byte-order mark as the importer reads files
    (bridges/_files.py); anything else is refused, since reading it in a guessed encoding would store names wrong
    with no one told."""
    for mark, encoding in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if body.startswith(mark):
            return body.decode(encoding, "replace")
    if b"\x00" in body:
        raise BadCard(
            "the card contains NUL bytes: it is UTF-16 or UTF-32 without its byte-order mark; send UTF-8"
        )
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadCard(f"the card is not UTF-8 text (byte {exc.start}); vCards are sent as UTF-8") from None


def parse_card(body: bytes) -> ParsedCard:
    """The one vCard in ``body``, or BadCard saying what is wrong with it."""
    text = _decode(body)
    props: list[Prop] | None = None
    found: list[Prop] | None = None
    raw: list[str] = []
    for _, line in logical_lines(io.StringIO(text, newline=""), _MAX_LINE):
        upper = line.strip().upper() if len(line) < 64 else ""
        if upper == "BEGIN:VCARD":
            if props is not None or found is not None:
                raise BadCard("a CardDAV resource holds exactly one vCard (RFC 6352 §5.1); this one has more")
            props = []
            continue
        if upper == "END:VCARD":
            if props is None:
                raise BadCard("END:VCARD without BEGIN:VCARD")
            found, props = props, None
            continue
        if props is None:
            if line.strip() and found is None:
                raise BadCard("the body must start with BEGIN:VCARD")
            if line.strip():
                raise BadCard("text after END:VCARD; a CardDAV resource holds exactly one vCard")
            continue
        if len(line) > _MAX_LINE:
            raise BadCard(f"a property longer than {_MAX_LINE} characters")
        if len(props) >= MAX_PROPS:
            raise BadCard(f"more than {MAX_PROPS} properties")
        prop = parse_prop(line)
        if prop is not None:
            props.append(prop)
            raw.append(line)
    if props is not None:
        raise BadCard("the card has no END:VCARD")
    if found is None:
        raise BadCard("the body holds no vCard (BEGIN:VCARD ... END:VCARD)")
    version = next((_value(p) for p in found if p.name == "VERSION"), "")
    if version not in (VCARD3, VCARD4):
        raise BadCard(f"vCard version {version[:10]!r} is not served here; send VERSION:3.0 or VERSION:4.0")
    uid = next((_value(p) for p in found if p.name == "UID" and _value(p)), None)
    if uid is not None and (len(uid) > 500 or any(c in uid for c in "\r\n\x00")):
        raise BadCard("the UID must be at most 500 characters on one line")
    kind = next(
        (_value(p).lower() for p in found if p.name in ("KIND", "X-ADDRESSBOOKSERVER-KIND")), "individual"
    )
    return ParsedCard(version=version, uid=uid, group=kind == "group", props=tuple(found), lines=tuple(raw))


def _value(prop: Prop) -> str:
    return unescape(prop.value).replace("\r\n", "\n").strip()


def _rewritten(prop: Prop) -> str:
    """The property as one unfolded content line again (quoted-printable already decoded, so its parameters go)."""
    params = []
    for name, values in prop.params.items():
        if name in ("ENCODING", "CHARSET") and any(v.upper() == "QUOTED-PRINTABLE" for v in values):
            continue
        if name == "CHARSET":
            continue
        shown = ",".join(f'"{v}"' if any(c in v for c in ";:,") else v for v in values if '"' not in v)
        params.append(f"{name}={shown}")
    head = (f"{prop.group}." if prop.group else "") + prop.name + "".join(f";{p}" for p in params)
    value = prop.value.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")
    return f"{head}:{value}"


def _field(value: str | None, name: str, limit: int = 500) -> str | None:
    try:
        return _text(value, name, limit=limit)
    except BadInput as exc:
        raise BadCard(f"{name}: {exc.message}", field=name) from None


def group_card(card: ParsedCard) -> tuple[str, tuple[str, ...]]:
    """(the circle's name, its members' UIDs) of a group card."""
    name = next((_value(p) for p in card.props if p.name == "FN" and _value(p)), None)
    try:
        circle = _circle_name(name)
    except BadInput as exc:
        raise BadCard(f"a group card needs a name (FN): {exc.message}", field="FN") from None
    members = []
    for p in card.props:
        if p.name in ("MEMBER", "X-ADDRESSBOOKSERVER-MEMBER"):
            value = p.value.strip()
            members.append(value[len("urn:uuid:") :] if value.lower().startswith("urn:uuid:") else value)
    return circle, tuple(members)


def person_card(card: ParsedCard, graph: Graph) -> PersonCard:
    """What a person card says, checked by the graph's rules (BadCard for a value the API would refuse)."""
    written = {id(p): line for p, line in zip(card.props, card.lines, strict=False)}

    def _raw(p: Prop) -> str:
        """The line as the client wrote it (names in its own case: Apple's X-ABLabel), unless it had to be
        decoded (quoted-printable, which spans lines)."""
        line = written.get(id(p))
        if (
            line is None
            or "\n" in line
            or "\r" in line
            or "QUOTED-PRINTABLE" in line.upper().split(":", 1)[0]
        ):
            return _rewritten(p)
        return line

    groups: dict[str, list[Prop]] = {}
    for p in card.props:
        if p.group:
            groups.setdefault(p.group, []).append(p)

    def label_lines(p: Prop) -> list[str]:
        return [_raw(q) for q in groups.get(p.group, ()) if q.name == _ABLABEL] if p.group else []

    def label_of(p: Prop) -> str | None:
        for q in groups.get(p.group, ()) if p.group else ():
            if q.name == _ABLABEL and _value(q):
                m = _APPLE_LABEL.match(_value(q))
                return (m.group(1) if m else _value(q)).lower()[:200]
        if p.name not in ("EMAIL", "TEL", "URL"):
            return None  # a social profile's TYPE names its service, not a label
        return next((t for t in p.types() if t not in _GENERIC_TYPES), None)

    fields: dict[str, Any] = dict.fromkeys(
        (
            "display_name",
            "given_name",
            "family_name",
            "nickname",
            "organization",
            "title",
            "birthday",
            "photo_url",
        )
    )
    shadow: dict[str, list[str]] = {}
    lines: list[str] = []
    identities: list[tuple[IdentityInput, tuple[str, ...]]] = []
    notes: list[str] = []
    circles: list[str] | None = None
    social_seen = False
    unmodelled_groups = {p.group for p in card.props if p.group and p.name not in _MODELLED | {_ABLABEL}}
    for p in card.props:
        name = p.name
        if name == "FN" and fields["display_name"] is None:
            fields["display_name"] = _field(_value(p), "display_name")
        elif name == "N" and fields["family_name"] is None and fields["given_name"] is None:
            parts = [unescape(x).strip() for x in split_unescaped(p.value, ";")] + ["", ""]
            fields["family_name"] = _field(parts[0], "family_name")
            fields["given_name"] = _field(parts[1], "given_name")
            shadow["N"] = [_raw(p)]
        elif name == "NICKNAME" and fields["nickname"] is None:
            fields["nickname"] = _field(unescape(split_unescaped(p.value, ",")[0]), "nickname")
        elif name == "ORG" and fields["organization"] is None:
            fields["organization"] = _field(unescape(split_unescaped(p.value, ";")[0]), "organization")
            shadow["ORG"] = [_raw(p)]
        elif name == "TITLE" and fields["title"] is None:
            fields["title"] = _field(_value(p), "title")
        elif name == "BDAY" and fields["birthday"] is None:
            fields["birthday"] = _birthday(p)
        elif name in _IDENTITY_PROPS:
            if name != "EMAIL" and name != "TEL" and name != "URL":
                social_seen = True
            raw = (_raw(p), *label_lines(p))
            ident = _identity(p, graph, label_of(p))
            if ident is None:
                lines.extend(raw)  # not an address Kith can hold: kept on the card as written
            else:
                identities.append((ident, raw))
                shadow["id:" + ident.uri] = list(raw)
        elif name == "NOTE" and _value(p):
            notes.append(_value(p))
        elif name == "CATEGORIES":
            circles = circles or []
            for c in split_unescaped(p.value, ","):
                word = unescape(c).strip()
                if word:
                    try:
                        circles.append(_circle_name(word))
                    except BadInput as exc:
                        raise BadCard(f"CATEGORIES: {exc.message}", field="CATEGORIES") from None
        elif name == "PHOTO" and fields["photo_url"] is None:
            url = _photo(p)
            if url is None:
                lines.append(_raw(p))  # too large, or a form Kith does not store: the phone keeps it
            else:
                fields["photo_url"] = url
        elif name == _ABLABEL:
            if p.group in unmodelled_groups:
                lines.append(_raw(p))
        elif name not in _MODELLED:
            lines.append(_raw(p))
    if not fields["display_name"]:
        names: list[str] = [x for x in (fields.get("given_name"), fields.get("family_name")) if x]
        fields["display_name"] = (
            " ".join(names) or fields.get("nickname") or fields.get("organization") or None
        )
    if not fields["display_name"] and identities:
        fields["display_name"] = identities[0][0].display
    if not fields["display_name"]:
        raise BadCard("a card needs a name (FN or N), an organisation or an address", field="FN")
    note = "\n\n".join(notes)
    if len(note) > MAX_TEXT:
        raise BadCard(f"NOTE is longer than {MAX_TEXT} characters", field="NOTE")
    _field(note, "NOTE", MAX_TEXT)
    removable = {"email", "tel", "web"} | (
        {"x", "linkedin", "bluesky", "acct", "url", "did"} if social_seen else set()
    )
    return PersonCard(
        fields=fields,
        identities=tuple(identities),
        removable_kinds=frozenset(removable),
        note=note,
        circles=None if circles is None else tuple(dict.fromkeys(circles)),
        extra={"lines": lines, "shadow": shadow},
    )


def _birthday(p: Prop) -> str | None:
    raw = _value(p)
    if not raw:
        return None
    omit = p.param("X-APPLE-OMIT-YEAR")
    if omit and raw.startswith(omit):  # Apple: BDAY;X-APPLE-OMIT-YEAR=1604:1604-04-12
        raw = "--" + raw[len(omit) :].lstrip("-").replace("-", "")
    day = parse_vcard_birthday(raw)
    if day is None:
        raise BadCard(f"BDAY {raw[:40]!r} is not a date (1990-04-01, 19900401 or --0401)", field="BDAY")
    from bridges.base import YEAR_UNKNOWN

    text = f"--{day:%m-%d}" if day.year == YEAR_UNKNOWN else day.isoformat()
    try:
        return _date(text, "birthday")
    except BadInput as exc:
        raise BadCard(f"BDAY: {exc.message}", field="BDAY") from None


def _photo(p: Prop) -> str | None:
    value = p.value.strip()
    enc = (p.param("ENCODING") or "").lower()
    if enc in ("b", "base64"):
        media = next((t for t in p.types() if t), "jpeg")
        mime = media if "/" in media else f"image/{media}"
        payload = "".join(value.split())
    elif value.lower().startswith("data:"):
        m = _DATA_PHOTO.match("".join(value.split()))
        if m is None:
            return None
        mime, payload = m.group(1).lower(), m.group(2)
    elif value.lower().startswith(("https://", "http://")):
        try:
            return _photo_url(value)
        except BadInput:
            return None
    else:
        return None
    if len(payload) * 3 // 4 > PHOTO_LIMIT or not re.fullmatch(r"image/[a-z0-9.+-]+", mime):
        return None
    try:
        base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return None
    return f"data:{mime};base64,{payload}"


def _identity(p: Prop, graph: Graph, label: str | None) -> IdentityInput | None:
    value = _value(p)
    if not value:
        return None
    kind: str | None
    if p.name == "EMAIL":
        kind, value = "email", value.removeprefix("mailto:")
    elif p.name == "TEL":
        kind = "tel"
    elif p.name == "URL":
        kind = classify_url(value)
    else:
        word = next(iter(p.types()), "")
        user = p.param("X-USER") or ""
        if word == "mastodon" and user.lstrip("@").count("@") == 1:
            kind, value = "acct", user.lstrip("@")
        elif word == "mastodon":
            kind = "acct" if value.startswith("acct:") else "url"
        elif word in _WORD_KIND:
            kind = _WORD_KIND[word]
        else:
            kind = (
                None if value.startswith(("acct:", "at://", "did:")) else classify_url(value, default="url")
            )
    try:
        return graph.identity_input(value, kind=kind, label=label, source=SOURCE)
    except (BadInput, InvalidRecord):
        return None


# -- writing ---------------------------------------------------------------------------------------------------
def card_text(card: CardRow, version: str = VCARD3) -> str:
    """The card as vCard ``version`` (3.0 or 4.0), CRLF line ends, folded."""
    lines = _group_lines(card, version) if card.group is not None else _person_lines(card, version)
    out: list[str] = []
    seen: set[str] = set()
    for line in lines:
        if line in seen and not line.startswith(("BEGIN:", "END:")):
            continue  # a label line two kept identities share is written once
        seen.add(line)
        out.append(fold(line))
    return "".join(x + "\r\n" for x in out)


def _head(card: CardRow, version: str) -> list[str]:
    return ["BEGIN:VCARD", f"VERSION:{version}", "PRODID:-//Kith//Kith CardDAV//EN", f"UID:{_safe(card.uid)}"]


def _safe(value: str) -> str:
    """A value written as it is stored (a URI, a UID): one line, whatever is in it."""
    return re.sub(r"[\r\n\x00]", "", value)


def _group_lines(card: CardRow, version: str) -> Iterator[str]:
    yield from _head(card, version)
    yield f"FN:{escape(card.group or '')}"
    if version == VCARD4:
        yield "KIND:group"
        yield from (f"MEMBER:{_member(uid)}" for uid in card.members)
    else:
        yield f"N:{escape(card.group or '')};;;;"
        yield "X-ADDRESSBOOKSERVER-KIND:group"
        yield from (f"X-ADDRESSBOOKSERVER-MEMBER:{_member(uid)}" for uid in card.members)
    yield "END:VCARD"


def _member(uid: str) -> str:
    return _safe(uid) if ":" in uid else f"urn:uuid:{_safe(uid)}"


def _person_lines(card: CardRow, version: str) -> Iterator[str]:
    f = card.fields
    shadow: Mapping[str, Sequence[str]] = card.extra.get("shadow") or {}
    yield from _head(card, version)
    given, family = f.get("given_name") or "", f.get("family_name") or ""
    fn = f.get("display_name") or " ".join(x for x in (given, family) if x) or "Unnamed"
    yield f"FN:{escape(fn)}"
    kept_n = _kept(
        shadow.get("N"), lambda p: [unescape(x).strip() for x in split_unescaped(p.value, ";")][:2]
    )
    if kept_n == [family, given] or (
        kept_n is not None and kept_n[:1] == [family] and len(kept_n) == 1 and not given
    ):
        yield from shadow["N"]
    elif given or family or version == VCARD3:  # 3.0 requires N
        yield f"N:{escape(family)};{escape(given)};;;"
    if f.get("nickname"):
        yield f"NICKNAME:{escape(f['nickname'])}"
    if f.get("organization"):
        kept_org = _kept(shadow.get("ORG"), lambda p: unescape(split_unescaped(p.value, ";")[0]).strip())
        yield from shadow["ORG"] if kept_org == f["organization"] else [f"ORG:{escape(f['organization'])}"]
    if f.get("title"):
        yield f"TITLE:{escape(f['title'])}"
    if f.get("birthday"):
        yield _bday(str(f["birthday"]), version)
    if f.get("photo_url"):
        yield _photo_line(str(f["photo_url"]), version)
    groups = iter(range(1, 100_000))
    for ident in card.identities:
        kept = shadow.get("id:" + ident.uri)
        if kept:
            yield from kept
        else:
            yield from _identity_lines(ident, version, groups)
    if card.notes:
        yield f"NOTE:{escape(chr(10) + chr(10)).join(escape(n) for n in card.notes)}"
    if card.circles:
        yield "CATEGORIES:" + ",".join(escape(c) for c in card.circles)
    yield from (line for line in card.extra.get("lines") or () if isinstance(line, str))
    yield "END:VCARD"


def _kept(lines: Sequence[str] | None, read: Any) -> Any:
    if not lines:
        return None
    prop = parse_prop(lines[0])
    return None if prop is None else read(prop)


def _bday(value: str, version: str) -> str:
    if value.startswith("--"):
        month_day = value[2:].replace("-", "")
        if version == VCARD4:
            return f"BDAY:--{month_day}"
        return f"BDAY;X-APPLE-OMIT-YEAR=1604:1604-{month_day[:2]}-{month_day[2:]}"
    return f"BDAY:{value}" if version == VCARD3 else f"BDAY:{value.replace('-', '')}"


def _photo_line(url: str, version: str) -> str:
    m = _DATA_PHOTO.match(url)
    if m is None:
        return f"PHOTO;VALUE=uri:{_safe(url)}" if version == VCARD3 else f"PHOTO:{_safe(url)}"
    if version == VCARD4:
        return f"PHOTO:{_safe(url)}"
    media = m.group(1).split("/", 1)[1].upper()
    return f"PHOTO;ENCODING=b;TYPE={media}:{m.group(2)}"


def _identity_lines(ident: CardIdentity, version: str, groups: Iterator[int]) -> Iterator[str]:
    label = (ident.label or "").strip()
    params, group = "", ""
    if label.lower() in _TYPE_LABELS:
        params = f";TYPE={label.upper() if version == VCARD3 else label.lower()}"
    elif label and label != ident.display and ident.kind in ("email", "tel", "web"):
        group = f"kith{next(groups)}."
    if ident.kind == "email":
        kind = ";TYPE=INTERNET" if version == VCARD3 else ""
        yield f"{group}EMAIL{kind}{params}:{escape(ident.display)}"
    elif ident.kind == "tel":
        if version == VCARD4:
            yield f"{group}TEL;VALUE=uri{params}:{_safe(ident.uri)}"
        else:
            yield f"{group}TEL{params}:{escape(ident.display)}"
    elif ident.kind == "web":
        yield f"{group}URL{params}:{_safe(ident.uri)}"
    else:
        word = _SOCIAL_WORD.get(ident.kind, ident.kind)
        user = f";X-USER={ident.display.lstrip('@')}" if ident.kind == "acct" else ""
        yield f"X-SOCIALPROFILE;TYPE={word}{user}:{_safe(ident.uri)}"
    if group:
        yield f"{group}X-ABLabel:{escape(label)}"


def kept_addresses(extra: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, one-line address) of the ADR properties a phone's card holds (kept with the card, shown on the
    person page): the label from Apple's group label or the TYPE, the parts joined by commas."""
    lines = [x for x in extra.get("lines") or () if isinstance(x, str)]
    props = [p for p in (parse_prop(x) for x in lines) if p is not None]
    labels = {p.group: _value(p) for p in props if p.name == _ABLABEL and p.group}
    out = []
    for p in props:
        if p.name != "ADR":
            continue
        parts = [unescape(x).strip() for x in split_unescaped(p.value, ";")]
        text = ", ".join(x for x in parts if x)
        raw = labels.get(p.group, "") or next((t for t in p.types() if t not in _GENERIC_TYPES), "")
        m = _APPLE_LABEL.match(raw)
        if text:
            out.append(((m.group(1) if m else raw).lower(), text))
    return out


def texts(cards: Iterable[CardRow], version: str) -> dict[str, str]:
    """Each card's text by href."""
    return {c.href: card_text(c, version) for c in cards}
