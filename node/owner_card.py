"""The owner's own profile card and what each circle may see of it (docs/ARCHITECTURE.md §1 "Disclosure").

Kept in the meta table as two JSON documents: the card's fields, and a disclosure map from field name to the
audiences allowed to see it: circle names, ``"*"`` (every Kith peer the owner is connected to) or ``"@public"``
(anyone: the owner's public profile, which their fediverse actor document shows; specs/PROTOCOL.md §4.2's
public collection). ``card_for_circles`` renders the share one peer gets, in the compacted JSON-LD field names
of a ``ProfileCard`` (protocol/serialize.py): name, summary, email (mailto: IRIs), phone (tel: IRIs), website,
organization, title, photo, identities. The name is always shared with anyone who may see anything.

Every change of the card or of its disclosure advances the card's version (``seq`` and ``updated``) in the
same transaction (issue #12 §2): federation sends what that version says, so a change saved just before a
crash is sent after the restart, and receivers drop a version older than one they hold.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from node.errors import BadInput
from node.graph import _text
from node.store import GraphStore
from protocol.addresses import normalize, normalize_email, normalize_tel, normalize_web
from protocol.errors import InvalidRecord
from protocol.records import ProfileCard

__all__ = [
    "CARD_FIELDS",
    "CARD_META_KEYS",
    "EVERYONE",
    "PUBLIC",
    "card_for_circles",
    "card_from_meta",
    "card_to_meta",
    "card_version",
    "circles_seeing_anything",
    "get_card",
    "get_disclosure",
    "public_fields",
    "set_card",
    "set_disclosure",
]

CARD_FIELDS = ("name", "summary", "email", "phone", "website", "organization", "title", "photo", "identities")
_LISTS = {"email", "phone", "website", "identities"}
EVERYONE = "*"
#: Anyone at all, followers on any fediverse server included: the owner's public profile. Not a plain word, so
#: that no circle's name can mean it by accident (a circle named "public" stays a circle).
PUBLIC = "@public"
_CARD_KEY = "owner_card"
_DISCLOSURE_KEY = "card_disclosure"
_VERSION_KEY = "owner_card_version"
_STAMP = "%Y-%m-%dT%H:%M:%SZ"


def _advance(now: datetime) -> Any:
    """The next version after the stored one: ``seq`` + 1, and ``updated`` now, or one second after the last
    one when changes come faster than the second the protocol's timestamps resolve (it must strictly grow)."""

    def advance(previous: str | None) -> str:
        old: dict[str, Any] = json.loads(previous) if previous else {"seq": 0, "updated": None}
        moment = now.astimezone(UTC).replace(microsecond=0)
        if old.get("updated"):
            last = datetime.strptime(old["updated"], _STAMP).replace(tzinfo=UTC)
            moment = max(moment, last + timedelta(seconds=1))
        return json.dumps({"seq": int(old.get("seq", 0)) + 1, "updated": moment.strftime(_STAMP)})

    return advance


#: The meta rows the card and its disclosure rules live in (an export carries them, a restore writes them).
CARD_META_KEYS = (_CARD_KEY, _DISCLOSURE_KEY)
#: Where a card stands while it is checked against the protocol's rules; never sent anywhere.
_CHECK_ORIGIN = "https://card.invalid"


def _clean_card(data: Mapping[str, Any]) -> dict[str, Any]:
    card: dict[str, Any] = {}
    for field, value in data.items():
        if field not in CARD_FIELDS:
            raise BadInput(f"unknown card field {field!r}; fields are {', '.join(CARD_FIELDS)}", field=field)
        if value in (None, "", []):
            continue
        if field in _LISTS:
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(v, str) for v in items) or len(items) > 20:
                raise BadInput(f"{field} must be a list of at most 20 addresses", field=field)
            for item in items:  # the API's text rule first: no control characters, no lone surrogates
                _text(item, field, limit=2048)
            try:
                if field == "email":
                    items = [normalize_email(v) for v in items]
                elif field == "phone":
                    items = [normalize_tel(v) for v in items]
                elif field == "website":
                    items = [normalize_web(v) for v in items]
                else:  # "@alice@host" is kept as acct:alice@host, the form peers and the protocol read
                    items = [normalize(v).uri for v in items]
            except ValueError as exc:
                raise BadInput(f"{field}: {exc}", field=field) from None
            card[field] = list(dict.fromkeys(items))  # two spellings of one address are one entry
        else:
            text = _text(value, field, limit=2000)
            if text is not None:
                card[field] = text
    _check_shareable(card)
    return card


def _check_shareable(card: Mapping[str, Any]) -> None:
    """Refuse, when it is entered, a card that could not be sent: publishing builds a protocol ProfileCard
    (protocol/records.py), and a value its rules refuse would make every later publish and disclosure fail."""
    try:
        ProfileCard(
            id=_CHECK_ORIGIN + "/card",
            owner=_CHECK_ORIGIN,
            name=card.get("name") or "-",
            summary=card.get("summary") or None,
            email=tuple(v.removeprefix("mailto:") for v in card.get("email", ())),
            phone=tuple(v.removeprefix("tel:") for v in card.get("phone", ())),
            website=tuple(card.get("website", ())),
            organization=card.get("organization") or None,
            title=card.get("title") or None,
            photo=card.get("photo") or None,
            identities=tuple(card.get("identities", ())),
        )
    except InvalidRecord as exc:
        hint = (
            " (write phone numbers with their country code, like +441234567890)"
            if exc.field == "phone"
            else ""
        )
        raise BadInput(f"{exc.field}: {exc.message}{hint}", field=exc.field) from None


async def get_card(store: GraphStore) -> dict[str, Any]:
    raw = await store.misc.meta_get(_CARD_KEY)
    card: dict[str, Any] = json.loads(raw) if raw else {}
    return card


async def set_card(
    store: GraphStore, data: Mapping[str, Any], *, now: datetime | None = None
) -> dict[str, Any]:
    card = _clean_card(data)
    if not card.get("name"):
        raise BadInput("the card needs a name", field="name")
    await store.misc.meta_change(
        {_CARD_KEY: json.dumps(card, sort_keys=True)},
        record=_VERSION_KEY,
        advance=_advance(now or datetime.now(UTC)),
    )
    return card


async def card_version(store: GraphStore) -> tuple[int, datetime] | None:
    """The latest change of the card or its disclosure: (seq, updated); None before the first."""
    raw = await store.misc.meta_get(_VERSION_KEY)
    if not raw:
        return None
    version = json.loads(raw)
    return int(version["seq"]), datetime.strptime(version["updated"], _STAMP).replace(tzinfo=UTC)


async def get_disclosure(store: GraphStore) -> dict[str, list[str]]:
    raw = await store.misc.meta_get(_DISCLOSURE_KEY)
    rules: dict[str, list[str]] = json.loads(raw) if raw else {}
    return rules


async def set_disclosure(
    store: GraphStore, rules: Mapping[str, Iterable[str]], *, now: datetime | None = None
) -> dict[str, list[str]]:
    clean = _clean_disclosure(rules)
    await store.misc.meta_change(
        {_DISCLOSURE_KEY: json.dumps(clean, sort_keys=True)},
        record=_VERSION_KEY,
        advance=_advance(now or datetime.now(UTC)),
    )
    return clean


def _clean_disclosure(rules: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    clean: dict[str, list[str]] = {}
    for field, circles in rules.items():
        if field not in CARD_FIELDS:
            raise BadInput(f"unknown card field {field!r}; fields are {', '.join(CARD_FIELDS)}", field=field)
        names = sorted({str(c).strip() for c in circles if str(c).strip()})
        if names:
            clean[field] = names
    return clean


def card_to_meta(card: Any, disclosure: Any) -> dict[str, str]:
    """The meta rows (CARD_META_KEYS) holding ``card`` and its ``disclosure`` rules, checked by the rules set_card
    and set_disclosure apply; for a restore, which writes them in its own transaction. No card, no rules: no rows."""
    if not isinstance(card, dict) or not isinstance(disclosure, dict):
        raise BadInput("card and disclosure must be JSON objects", field="card")
    for field, circles in disclosure.items():
        if not isinstance(circles, list) or not all(isinstance(c, str) for c in circles):
            raise BadInput(f"disclosure of {field!r} must list circle names", field="disclosure")
    rows: dict[str, str] = {}
    if card:
        clean = _clean_card(card)
        if not clean.get("name"):
            raise BadInput("the card needs a name", field="name")
        rows[_CARD_KEY] = json.dumps(clean, sort_keys=True)
    rules = _clean_disclosure(disclosure)
    if rules:
        rows[_DISCLOSURE_KEY] = json.dumps(rules, sort_keys=True)
    return rows


def card_from_meta(rows: Mapping[str, str | None]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The card and its disclosure rules from their meta rows (as read by an export); absent rows are empty."""
    card, rules = rows.get(_CARD_KEY), rows.get(_DISCLOSURE_KEY)
    return (json.loads(card) if card else {}), (json.loads(rules) if rules else {})


def card_for_circles(
    card: Mapping[str, Any], disclosure: Mapping[str, Iterable[str]], circles: Iterable[str]
) -> dict[str, Any] | None:
    """The part of ``card`` a peer in ``circles`` may see, as ProfileCard fields; None when nothing."""
    mine = {c.lower() for c in circles}
    out: dict[str, Any] = {}
    for field, allowed in disclosure.items():
        allowed_set = {a.lower() for a in allowed}
        if field in card and (EVERYONE in allowed_set or PUBLIC in allowed_set or mine & allowed_set):
            value = card[field]
            if field == "email":
                value = [v if v.startswith("mailto:") else "mailto:" + v for v in value]
            elif field == "phone":
                value = [v if v.startswith("tel:") else "tel:" + v for v in value]
            out[field] = value
    if not out:
        return None
    out["name"] = card.get("name", "")
    return out


def public_fields(card: Mapping[str, Any], disclosure: Mapping[str, Iterable[str]]) -> dict[str, Any] | None:
    """The part of ``card`` disclosed to the public (with the name, as with any share); None when nothing."""
    public = {f: rules for f, rules in disclosure.items() if PUBLIC in {r.lower() for r in rules}}
    return card_for_circles(card, public, ()) if public else None


def circles_seeing_anything(disclosure: Mapping[str, Iterable[str]]) -> set[str]:
    """The audiences that see some field: circle names, EVERYONE, PUBLIC (both of which mean every peer)."""
    return {c for circles in disclosure.values() for c in circles}
