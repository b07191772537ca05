"""The one mapping between protocol.records and compacted JSON-LD (docs/ARCHITECTURE.md §3.6).

Rules kept here:
- This is the only module that knows JSON-LD names (``howWeMet``, ``attributedTo``...). Kith records use the
  contexts ``[activitystreams, data-integrity/v2, kith/v1]``; activities Mastodon must understand (Follow,
  Block, Undo, Delete, Move, actor Update, Accept/Reject of a Follow) use the ActivityStreams context alone.
- Writing is exact: ``to_jsonld(from_jsonld(x)) == x`` for anything Kith wrote, so stored proofs still verify.
  Verify proofs on the JSON as received (protocol.proofs), before reading it into records.
- Reading is tolerant of the usual compacted variations -- a string or an object with an ``id``, a value or a
  one-element list, ``@id``/``@type`` for ``id``/``type``, several types -- and strict about meaning: anything
  that does not make a valid record raises MalformedInput (the peer's fault) naming the field.
- Pure; plain JSON in and out. Spec: specs/PROTOCOL.md §Records, §Activities; schemas: specs/schemas/.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from protocol.errors import InvalidRecord, MalformedInput
from protocol.jsonld import ACTIVITYSTREAMS, DATA_INTEGRITY_V2, KITH_V1, check_shape
from protocol.jsonld_values import node_id as _id
from protocol.jsonld_values import one as _one
from protocol.jsonld_values import text as _str
from protocol.proofs import DataIntegrityProof, proofs_of
from protocol.records import (
    ACTOR_KINDS,
    PUBLIC,
    Accept,
    Activity,
    Block,
    Delete,
    FieldDisclosure,
    Follow,
    Move,
    Offer,
    ProfileCard,
    Record,
    Reject,
    Relationship,
    Undo,
    Update,
)

__all__ = [
    "KITH_CONTEXT",
    "MASTODON_CONTEXT",
    "context_for",
    "from_jsonld",
    "to_jsonld",
]

#: Contexts of Kith records and of activities that carry them.
KITH_CONTEXT: tuple[str, ...] = (ACTIVITYSTREAMS, DATA_INTEGRITY_V2, KITH_V1)
#: Context of activities any ActivityPub server must understand.
MASTODON_CONTEXT = ACTIVITYSTREAMS

_CARD_TEXT = (("summary", "summary"), ("organization", "organization"), ("title", "title"))


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def context_for(record: Record) -> str | list[str]:
    """The ``@context`` a record is written with."""
    kith = (
        isinstance(record, ProfileCard | Relationship | Offer)
        or (
            isinstance(record, Accept | Reject)
            and (isinstance(record.object, Offer) or getattr(record, "result", None) is not None)
        )
        or (isinstance(record, Update) and isinstance(record.object, ProfileCard))
    )
    return list(KITH_CONTEXT) if kith else MASTODON_CONTEXT


# -- writing -----------------------------------------------------------------------------------------------


def to_jsonld(record: Record, *, with_context: bool = True) -> dict[str, Any]:
    """Compacted JSON-LD of ``record``; ``with_context=False`` for an object embedded in another."""
    writer = _WRITERS.get(type(record))
    if writer is None:
        raise TypeError(f"not a Kith record: {type(record).__name__}")
    body = writer(record)
    if not with_context:
        return body
    return {"@context": context_for(record), **body}


def _relationship(rel: Relationship) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": rel.id,
        "type": "Relationship",
        "subject": rel.subject,
        "relationship": rel.relationship_type,
        "object": rel.object,
        "mutual": rel.mutual,
    }
    if rel.since is not None:
        body["since"] = rel.since.isoformat()
    if rel.how_we_met is not None:
        body["howWeMet"] = rel.how_we_met
    body["status"] = rel.status
    if rel.proofs:
        proofs = [p.to_json() for p in rel.proofs]
        body["proof"] = proofs[0] if len(proofs) == 1 else proofs
    return body


def _signed_relationship(rel: Relationship) -> dict[str, Any]:
    # Embedded relationships keep their own @context: their proofs were made over the standalone document.
    return to_jsonld(rel)


def _card(card: ProfileCard) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": card.id,
        "type": "ProfileCard",
        "attributedTo": card.owner,
        "name": card.name,
    }
    for attr, key in _CARD_TEXT[:1]:
        if getattr(card, attr) is not None:
            body[key] = getattr(card, attr)
    if card.email:
        body["email"] = ["mailto:" + address for address in card.email]
    if card.phone:
        body["phone"] = ["tel:" + number for number in card.phone]
    if card.website:
        body["website"] = list(card.website)
    for attr, key in _CARD_TEXT[1:]:
        if getattr(card, attr) is not None:
            body[key] = getattr(card, attr)
    if card.photo is not None:
        body["photo"] = card.photo
    if card.identities:
        body["identities"] = list(card.identities)
    if card.updated is not None:
        body["updated"] = _timestamp(card.updated)
    if card.disclosure:
        body["disclosure"] = [
            {"type": "FieldDisclosure", "field": rule.field, "visibleTo": sorted(rule.visible_to)}
            for rule in card.disclosure
        ]
    return body


def _activity(kind: str, record: Any, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": record.id, "type": kind, "actor": record.actor, **fields}
    if getattr(record, "to", ()):
        body["to"] = list(record.to)
    return body


def _update_body(value: Any) -> dict[str, Any]:
    if isinstance(value, Relationship):
        return _signed_relationship(value)
    return _card(value) if isinstance(value, ProfileCard) else dict(value)


def _embedded(value: Any) -> Any:
    return value if isinstance(value, str) else to_jsonld(value, with_context=False)


_WRITERS: dict[type, Callable[[Any], dict[str, Any]]] = {
    Relationship: _relationship,
    ProfileCard: _card,
    Follow: lambda r: _activity("Follow", r, object=r.object),
    Block: lambda r: _activity("Block", r, object=r.object),
    Offer: lambda r: _activity("Offer", r, object=_signed_relationship(r.object), target=r.target),
    Accept: lambda r: _activity(
        "Accept",
        r,
        object=_embedded(r.object),
        **({"result": _signed_relationship(r.result)} if r.result is not None else {}),
    ),
    Reject: lambda r: _activity("Reject", r, object=_embedded(r.object)),
    Undo: lambda r: _activity("Undo", r, object=_embedded(r.object)),
    Update: lambda r: _activity("Update", r, object=_update_body(r.object)),
    Delete: lambda r: _activity("Delete", r, object=r.object),
    Move: lambda r: _activity("Move", r, object=r.object, target=r.target),
}


# -- reading -----------------------------------------------------------------------------------------------


def _get(data: Mapping[str, Any], key: str) -> Any:
    if key in data:
        return data[key]
    if key in ("id", "type"):
        return data.get("@" + key)
    return None


# Compaction writes the public collection as a compact IRI or a bare term; all mean the one IRI.
_PUBLIC_ALIASES = {"as:Public": PUBLIC, "Public": PUBLIC}


def _ids(value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    ids = (str(_id(item, key)) for item in items)
    return tuple(_PUBLIC_ALIASES.get(item, item) for item in ids)


def _types(data: Mapping[str, Any]) -> list[str]:
    value = _get(data, "type")
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, str)]


def _date(value: Any, key: str) -> date | None:
    text = _str(value, key)
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise MalformedInput(f"{key} {text!r} is not a date (YYYY-MM-DD)", field=key) from exc


def _datetime(value: Any, key: str) -> datetime | None:
    text = _str(value, key)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedInput(f"{key} {text!r} is not a dateTime", field=key) from exc
    if moment.tzinfo is None:
        raise MalformedInput(f"{key} {text!r} has no time zone", field=key)
    return moment


def _bool(value: Any, key: str) -> bool:
    value = _one(value, key)
    if isinstance(value, Mapping):
        value = value.get("@value")
    if value is None:
        return False
    if not isinstance(value, bool):
        raise MalformedInput(f"{key} must be true or false", field=key)
    return value


def _strip(values: tuple[str, ...], prefix: str) -> tuple[str, ...]:
    return tuple(v[len(prefix) :] if v.lower().startswith(prefix) else v for v in values)


def _read_relationship(data: Mapping[str, Any]) -> Relationship:
    return Relationship(
        id=str(_id(_get(data, "id"), "id")),
        relationship_type=str(_id(data.get("relationship"), "relationship")),
        subject=str(_id(data.get("subject"), "subject")),
        object=str(_id(data.get("object"), "object")),
        mutual=_bool(data.get("mutual"), "mutual"),
        since=_date(data.get("since"), "since"),
        how_we_met=_str(data.get("howWeMet"), "howWeMet"),
        status=_str(data.get("status"), "status") or "active",  # type: ignore[arg-type]
        proofs=tuple(DataIntegrityProof.from_json(p) for p in proofs_of(data)),
    )


def _read_card(data: Mapping[str, Any]) -> ProfileCard:
    disclosure = []
    rules = data.get("disclosure")
    for rule in rules if isinstance(rules, list) else [rules] if rules is not None else []:
        if not isinstance(rule, Mapping):
            raise MalformedInput("each disclosure rule must be an object", field="disclosure")
        disclosure.append(
            FieldDisclosure(
                field=str(_str(rule.get("field"), "field")),
                visible_to=frozenset(_ids(rule.get("visibleTo"), "visibleTo")),
            )
        )
    return ProfileCard(
        id=str(_id(_get(data, "id"), "id")),
        owner=str(_id(data.get("attributedTo"), "attributedTo")),
        name=str(_str(data.get("name"), "name")),
        summary=_str(data.get("summary"), "summary"),
        email=_strip(_ids(data.get("email"), "email"), "mailto:"),
        phone=_strip(_ids(data.get("phone"), "phone"), "tel:"),
        website=_ids(data.get("website"), "website"),
        organization=_str(data.get("organization"), "organization"),
        title=_str(data.get("title"), "title"),
        photo=_id(data.get("photo"), "photo", required=False),
        identities=_ids(data.get("identities"), "identities"),
        updated=_datetime(data.get("updated"), "updated"),
        disclosure=tuple(disclosure),
    )


def _reply_target(value: Any) -> Follow | Offer | str:
    value = _one(value, "object")
    if isinstance(value, Mapping) and {"Follow", "Offer"} & set(_types(value)):
        parsed = _read(value)
        assert isinstance(parsed, Follow | Offer)
        return parsed
    return str(_id(value, "object"))


def _undo_target(value: Any) -> Follow | Block | Accept | str:
    value = _one(value, "object")
    if isinstance(value, Mapping) and {"Follow", "Block", "Accept"} & set(_types(value)):
        parsed = _read(value)
        assert isinstance(parsed, Follow | Block | Accept)
        return parsed
    return str(_id(value, "object"))


def _update_object(value: Any) -> ProfileCard | Relationship | Mapping[str, Any]:
    value = _one(value, "object")
    if not isinstance(value, Mapping):
        raise MalformedInput("an Update must embed the object it updates", field="object")
    if "Relationship" in _types(value):
        return _read_relationship(value)
    if "ProfileCard" in _types(value):
        return _read_card(value)
    if set(_types(value)) & set(ACTOR_KINDS):
        return dict(value)
    raise MalformedInput(
        "Kith understands Update of a ProfileCard, a Relationship or an actor", field="object"
    )


def _relationship_value(value: Any, key: str) -> Relationship:
    value = _one(value, key)
    if not isinstance(value, Mapping) or "Relationship" not in _types(value):
        raise MalformedInput(f"{key} must be an embedded Relationship", field=key)
    return _read_relationship(value)


def _read_activity(kind: str, data: Mapping[str, Any]) -> Activity:
    common: dict[str, Any] = {
        "id": str(_id(_get(data, "id"), "id")),
        "actor": str(_id(data.get("actor"), "actor")),
    }
    to = _ids(data.get("to"), "to")
    obj = data.get("object")
    if kind == "Follow":
        return Follow(**common, object=str(_id(obj, "object")), to=to)
    if kind == "Block":
        return Block(**common, object=str(_id(obj, "object")), to=to)
    if kind == "Offer":
        return Offer(
            **common,
            object=_relationship_value(obj, "object"),
            target=str(_id(data.get("target"), "target")),
            to=to,
        )
    if kind == "Accept":
        result = data.get("result")
        return Accept(
            **common,
            object=_reply_target(obj),
            result=None if result is None else _relationship_value(result, "result"),
            to=to,
        )
    if kind == "Reject":
        return Reject(**common, object=_reply_target(obj), to=to)
    if kind == "Undo":
        return Undo(**common, object=_undo_target(obj), to=to)
    if kind == "Update":
        return Update(**common, object=_update_object(obj), to=to)
    if kind == "Delete":
        return Delete(**common, object=str(_id(obj, "object")), to=to)
    return Move(
        **common, object=str(_id(obj, "object")), target=str(_id(data.get("target"), "target")), to=to
    )


_ACTIVITY_TYPES = ("Follow", "Accept", "Reject", "Undo", "Block", "Update", "Delete", "Move", "Offer")


def _read(data: Mapping[str, Any]) -> Record:
    if not isinstance(data, Mapping):
        raise MalformedInput("a record must be a JSON object")
    types = _types(data)
    if "Relationship" in types:
        return _read_relationship(data)
    if "ProfileCard" in types:
        return _read_card(data)
    for kind in _ACTIVITY_TYPES:
        if kind in types:
            return _read_activity(kind, data)
    raise MalformedInput(f"Kith does not handle objects of type {types or 'none'}", field="type")


def from_jsonld(data: Mapping[str, Any]) -> Record:
    """Read a record or activity from compacted JSON-LD; MalformedInput (naming the field) if invalid."""
    check_shape(data)
    try:
        return _read(data)
    except InvalidRecord as exc:
        # A record we cannot build from someone else's JSON is their fault, not ours.
        raise MalformedInput(exc.message, field=exc.field) from exc
