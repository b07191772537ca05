"""vCard 2.1/3.0/4.0 files (Apple/iCloud, Google, CardDAV dumps) in, vCard 4.0 out (docs/SILOS.md §1, RFC 6350).

Rules kept:
- Apple's grouped properties (``item1.EMAIL`` with ``item1.X-ABLabel``) are read like ungrouped ones; the
  label of the group becomes the identity's label (``_$!<Mobile>!$_`` → ``mobile``).
- Social profiles (``X-SOCIALPROFILE``, ``X-SOCIAL-PROFILE``) map their ``type`` to an identity kind; ``URL``
  values on a silo's host get that silo's kind, the rest are websites; ``IMPP`` handles become notes.
- Inline photos are kept as a ``data:`` URL only under PHOTO_LIMIT bytes; larger ones are reported and
  dropped.
- Birthdays without a year (``--0412``, Apple's ``1604-04-12``) are stored in YEAR_UNKNOWN.
- The record id is the UID, else a hash of the card's content, so re-importing the same file changes nothing.
- ``RELATED`` (RFC 6350 §6.6.6) and Apple's ``X-ABRELATEDNAMES`` become RelatedDraft: one per TYPE, the value a
  URI unless ``VALUE=text`` (Apple's related names are always text). A URI that is another card's UID names
  that card's record. The importer links the related person, or keeps the words as a note saying why not.
- Written cards carry the graph's person-to-person relationships as ``RELATED;TYPE=...:urn:kith:<id>``, the
  other card's UID, with Kith's terms outside RFC 6350's list as ``x-kith-<term>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

from bridges._files import Source
from bridges._related import KITH_TYPE_PREFIX, VCARD_RELATED_TYPES, related_term
from bridges._util import classify_url, parse_date
from bridges._vcard_syntax import (
    Prop,
    escape,
    fold,
    logical_lines,
    parse_prop,
    split_unescaped,
    unescape,
)
from bridges.base import (
    YEAR_UNKNOWN,
    Bridge,
    ContactDraft,
    IdentityDraft,
    ImportItem,
    RelatedDraft,
    Skipped,
)

__all__ = ["PHOTO_LIMIT", "VCardBridge", "parse_vcard_birthday", "write_vcards"]

PHOTO_LIMIT = 48 * 1024  # bytes of image kept inline; a contact photo thumbnail is 5-30 KB
_MAX_LINE = 16 << 20  # one unfolded property; above this the card is refused (a 12 MB base64 photo fits)
_MAX_PROPS = 5000
_GENERIC_TYPES = {"internet", "pref", "voice", "x400", "uri", "text"}
_SOCIAL_KINDS = {
    "twitter": "x",
    "x": "x",
    "linkedin": "linkedin",
    "bluesky": "bluesky",
    "bsky": "bluesky",
    "facebook": "url",
    "instagram": "url",
}
_ABLABEL = re.compile(r"^_\$!<(.*)>!\$_$")
_RECORD = "vcard:"  # a card's record id is this and its UID


def parse_vcard_birthday(text: str) -> date | None:
    text = text.strip().split("T", 1)[0]
    if text.startswith("--"):
        digits = text[2:].replace("-", "")
        return parse_date(f"{YEAR_UNKNOWN}{digits}", ("%Y%m%d",)) if len(digits) == 4 else None
    return parse_date(text, ("%Y-%m-%d", "%Y%m%d"))


class VCardBridge(Bridge):
    name: ClassVar[str] = "vcard"
    scheme: ClassVar[str] = "email"
    description: ClassVar[str] = "vCard file (.vcf) from Apple, Google, Outlook or any CardDAV server"

    @classmethod
    def detect(cls, path: Path) -> bool:
        with Source(path) as src:
            for name in src.names():
                if name.lower().endswith((".vcf", ".vcard")) or src.is_single_file:
                    head = src.head_text(name, 1024).lstrip(" \r\n\t").upper()
                    if head.startswith("BEGIN:VCARD"):
                        return True
        return False

    def parse_export(self, path: Path) -> Iterator[ImportItem]:
        with Source(path) as src:
            names = [n for n in src.names() if n.lower().endswith((".vcf", ".vcard"))]
            for name in names or (src.names() if src.is_single_file else []):
                yield from _cards(src, name)


def _cards(src: Source, name: str) -> Iterator[ImportItem]:
    shown = src.display(name)
    fh, warning = src.open_text(name)
    if warning is not None:
        yield warning
    props: list[Prop] | None = None
    start = 0
    digest = hashlib.sha256()
    broken: str | None = None
    with fh:
        for line_no, line in logical_lines(fh, _MAX_LINE):
            # BEGIN/END lines are short: a long line is never copied twice just to learn it is not one.
            upper = line.strip().upper() if len(line) < 64 else ""
            if upper == "BEGIN:VCARD":
                if props is not None:
                    yield Skipped(file=shown, line=start, reason="a card without END:VCARD")
                props, start, digest, broken = [], line_no, hashlib.sha256(), None
                continue
            if props is None:
                continue  # text between cards
            if upper == "END:VCARD":
                if broken:
                    yield Skipped(file=shown, line=start, reason=broken)
                else:
                    yield from _card(shown, start, props, digest.hexdigest()[:24])
                props = None
                continue
            if len(line) > _MAX_LINE:
                broken = f"a property longer than {_MAX_LINE} characters"
                continue
            if len(props) >= _MAX_PROPS:
                broken = f"more than {_MAX_PROPS} properties"
                continue
            digest.update(line.encode("utf-8", "replace") + b"\n")
            prop = parse_prop(line)
            if prop is not None:
                props.append(prop)
    if props is not None:
        yield Skipped(file=shown, line=start, reason="the file ends inside a card (no END:VCARD)")


def _text(prop: Prop) -> str:
    return unescape(prop.value).replace("\r\n", "\n").strip()


def _parts(prop: Prop) -> list[str]:
    return [unescape(p).strip() for p in split_unescaped(prop.value, ";")]


def _label(prop: Prop, labels: Mapping[str, str]) -> str | None:
    if prop.group and prop.group in labels:
        return labels[prop.group]
    for t in prop.types():
        if t not in _GENERIC_TYPES:
            return t
    return None


def _social(prop: Prop, labels: Mapping[str, str]) -> IdentityDraft | None:
    value = _text(prop)
    service = next(iter(prop.types()), "")
    user = prop.param("X-USER")
    if not value.lower().startswith(("http://", "https://")):
        # Apple writes x-apple:<user> for services without a profile URL; the handle is in x-user.
        if user and service in ("twitter", "x"):
            value = f"https://x.com/{user}"
        elif user:
            value = user
        if not value:
            return None
    if service == "mastodon":
        # Apple keeps the full handle in x-user; a handle (user@host) outranks a profile URL as an address.
        if user and user.lstrip("@").count("@") == 1:
            return IdentityDraft(address=user, kind="acct", label=labels.get(prop.group))
        kind = "acct" if "@" in value and not value.startswith("http") else "url"
    else:
        kind = _SOCIAL_KINDS.get(service) or classify_url(value, default="url")
    return IdentityDraft(address=value, kind=kind, label=labels.get(prop.group) or user)


def _related(prop: Prop, labels: Mapping[str, str]) -> list[RelatedDraft]:
    """RELATED (a URI unless VALUE=text) or Apple's X-ABRELATEDNAMES (a name, its word in the group's label)."""
    text = prop.name == "X-ABRELATEDNAMES" or (prop.param("VALUE") or "").lower() == "text"
    value = _text(prop) if text else prop.value.strip()  # a URI is not a text value: nothing to unescape
    words = [labels[prop.group]] if prop.group in labels else [t for t in prop.types() if t != "pref"]
    out = []
    for word in words or ["related"]:
        if word == "me":  # RFC 6350: the value is this card's own entity, not someone related
            continue
        out.append(
            RelatedDraft(
                value=value,
                type=related_term(word),
                label=word.removeprefix(KITH_TYPE_PREFIX),
                text=text,
                record=None if text else _RECORD + value,
            )
        )
    return out


def _photo(prop: Prop, shown: str, line: int) -> tuple[str | None, Skipped | None]:
    value = prop.value.strip()
    enc = (prop.param("ENCODING") or "").lower()
    if enc in ("b", "base64"):
        media = (prop.types() or ["jpeg"])[0]
        mime = media if "/" in media else f"image/{media}"
        payload = "".join(value.split())
    elif value.lower().startswith("data:"):
        header, _, payload = value.partition(",")
        mime = header[5:].split(";")[0] or "image/jpeg"
        if ";base64" not in header.lower():
            return None, Skipped(file=shown, line=line, reason="a photo data URL that is not base64; dropped")
    elif value.lower().startswith(("https://", "http://")):
        return value, None
    else:
        return None, None
    size = len(payload) * 3 // 4
    if size > PHOTO_LIMIT:
        note = f"photo of {size // 1024} KB left out (limit {PHOTO_LIMIT // 1024} KB)"
        return None, Skipped(file=shown, line=line, reason=note, severity="warning")
    try:
        base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return None, Skipped(file=shown, line=line, reason="a photo that is not valid base64; dropped")
    return f"data:{mime};base64,{payload}", None


def _card(shown: str, line: int, props: list[Prop], digest: str) -> Iterator[ImportItem]:
    labels: dict[str, str] = {}
    for p in props:
        if p.name == "X-ABLABEL" and p.group:
            raw = _text(p)
            m = _ABLABEL.match(raw)
            labels[p.group] = (m.group(1) if m else raw).lower()
    kind = next((_text(p).lower() for p in props if p.name in ("KIND", "X-ADDRESSBOOKSERVER-KIND")), "")
    if kind == "group":
        yield Skipped(file=shown, line=line, reason="a contact group, not a person")
        return
    fields: dict[str, Any] = {}
    ids: list[IdentityDraft] = []
    notes: list[str] = []
    circles: list[str] = []
    related: list[RelatedDraft] = []
    for p in props:
        n = p.name
        if n == "FN":
            fields.setdefault("display_name", _text(p))
        elif n == "N":
            parts = [*_parts(p), "", ""]
            fields.setdefault("family_name", parts[0])
            fields.setdefault("given_name", parts[1])
        elif n == "NICKNAME":
            fields.setdefault("nickname", unescape(split_unescaped(p.value, ",")[0]).strip())
        elif n == "ORG":
            fields.setdefault("organization", _parts(p)[0])
        elif n == "TITLE":
            fields.setdefault("title", _text(p))
        elif n == "BDAY":
            fields.setdefault("birthday", parse_vcard_birthday(_text(p)))
        elif n == "UID":
            fields.setdefault("uid", _text(p))
        elif n in ("EMAIL", "TEL", "URL") and _text(p):
            value = _text(p).removeprefix("mailto:").removeprefix("tel:")
            kind = {"EMAIL": "email", "TEL": "tel"}.get(n) or classify_url(value)
            ids.append(IdentityDraft(address=value, kind=kind, label=_label(p, labels)))
        elif n == "IMPP" and ":" in _text(p):
            # xmpp:, skype:, sip: are no identity kind we resolve on; keep them where the owner can see them.
            scheme, _, handle = _text(p).partition(":")
            notes.append(f"{scheme.lower()}: {handle}")
        elif n in ("X-SOCIALPROFILE", "X-SOCIAL-PROFILE"):
            social = _social(p, labels)
            if social is not None:
                ids.append(social)
        elif n in ("RELATED", "X-ABRELATEDNAMES") and _text(p):
            related.extend(_related(p, labels))
        elif n == "NOTE" and _text(p):
            notes.append(_text(p))
        elif n == "CATEGORIES":
            circles.extend(c for c in (unescape(x).strip() for x in split_unescaped(p.value, ",")) if c)
        elif n == "PHOTO" and "photo_url" not in fields:
            url, report = _photo(p, shown, line)
            if report is not None:
                yield report
            if url:
                fields["photo_url"] = url
    display = fields.get("display_name") or " ".join(
        x for x in (fields.get("given_name"), fields.get("family_name")) if x
    )
    if not display and not ids and not fields.get("organization"):
        yield Skipped(file=shown, line=line, reason="a card with no name, e-mail address, phone or URL")
        return
    uid = fields.get("uid")
    yield ContactDraft(
        source_record_id=_RECORD + (uid or digest),
        display_name=display or fields.get("organization") or None,
        given_name=fields.get("given_name") or None,
        family_name=fields.get("family_name") or None,
        nickname=fields.get("nickname") or None,
        organization=fields.get("organization") or None,
        title=fields.get("title") or None,
        birthday=fields.get("birthday"),
        photo_url=fields.get("photo_url"),
        identities=tuple(ids),
        circles=tuple(dict.fromkeys(circles)),
        notes=tuple(notes),
        related=tuple(related),
    )


# -- writer -------------------------------------------------------------------------------------------------

_TYPE_LABELS = {"work", "home", "cell", "voice", "fax", "text", "pager", "video", "main", "textphone"}
_SOCIAL_TYPES = {"x": "twitter", "linkedin": "linkedin", "bluesky": "bluesky", "acct": "mastodon"}


def _bday(d: date) -> str:
    return f"--{d:%m%d}" if d.year == YEAR_UNKNOWN else f"{d:%Y%m%d}"


def _identity_lines(identities: Iterable[Mapping[str, Any]], items: Iterator[int]) -> Iterator[str]:
    for ident in identities:
        uri = str(ident.get("uri", "")).strip()
        if not uri:
            continue
        kind = ident.get("kind")
        label = str(ident.get("label") or "").strip()
        params, group = "", ""
        if label.lower() in _TYPE_LABELS:
            params = f";TYPE={label.lower()}"
        elif label:
            group = f"item{next(items)}."
        if kind == "email":
            line = f"{group}EMAIL{params}:{escape(uri.removeprefix('mailto:'))}"
        elif kind == "tel":
            number = uri if uri.startswith("tel:") else "tel:" + uri.replace(" ", "")
            line = f"{group}TEL;VALUE=uri{params}:{number}"
        elif kind == "web":
            line = f"{group}URL{params}:{uri}"
        else:
            service = _SOCIAL_TYPES.get(str(kind), "")
            typed = f";TYPE={service}" if service else params
            line = f"{group}X-SOCIALPROFILE{typed}:{uri}"
        yield line
        if group:
            yield f"{group}X-ABLabel:{escape(label)}"


def _related_lines(related: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    for rel in related:
        uri, kind = str(rel.get("uri") or "").strip(), str(rel.get("type") or "").strip().lower()
        if not uri or not kind or any(c in uri for c in "\r\n"):
            continue
        word = kind if kind in VCARD_RELATED_TYPES else KITH_TYPE_PREFIX + kind
        yield f"RELATED;TYPE={word}:{uri}"


def write_vcards(people: Iterable[Mapping[str, Any]]) -> str:
    """vCard 4.0 (RFC 6350) for each person dict: display_name, given_name, family_name, nickname,
    organization, title, birthday (date), photo_url, identities [{uri, kind, label}], notes [...],
    circles [...], related [{type, uri}] (the one at ``uri`` is this person's ``type``), and an optional uid.
    CRLF line ends, folded at 75 octets."""
    out: list[str] = []
    for person in people:
        given, family = person.get("given_name") or "", person.get("family_name") or ""
        fn = person.get("display_name") or " ".join(x for x in (given, family) if x) or "Unnamed"
        lines = ["BEGIN:VCARD", "VERSION:4.0", "PRODID:-//Kith//Kith 0.1//EN"]
        if person.get("uid"):
            lines.append(f"UID:{person['uid']}")
        lines.append(f"FN:{escape(fn)}")
        if given or family:
            lines.append(f"N:{escape(family)};{escape(given)};;;")
        for key, prop in (("nickname", "NICKNAME"), ("organization", "ORG"), ("title", "TITLE")):
            if person.get(key):
                lines.append(f"{prop}:{escape(str(person[key]))}")
        if isinstance(person.get("birthday"), date):
            lines.append(f"BDAY:{_bday(person['birthday'])}")
        if person.get("photo_url"):
            lines.append(f"PHOTO:{person['photo_url']}")
        lines.extend(_identity_lines(person.get("identities") or (), iter(range(1, 10_000))))
        lines.extend(_related_lines(person.get("related") or ()))
        for note in person.get("notes") or ():
            lines.append(f"NOTE:{escape(str(note))}")
        if person.get("circles"):
            lines.append("CATEGORIES:" + ",".join(escape(str(c)) for c in person["circles"]))
        lines.append("END:VCARD")
        out.extend(fold(x) for x in lines)
    return "".join(x + "\r\n" for x in out)
