"""Reading a received activity into the typed records of protocol/records.py: the one parse step between the
inbox's checks (federation/inbox.py) and the handlers (federation/process.py), issue #13 "Contracts".

The intake parses every activity it stores, so that one it cannot read is refused at once (400, naming the
field) instead of being stored and failing later; the inbox worker parses the stored document again, with the
same function, and dispatches on the record's type. Rules (docs/ARCHITECTURE.md §5):

- The activity's own ``type`` (one string: the intake normalised it) picks the record.
- What another server embeds is not trusted as sent: an ``Accept`` or ``Reject`` names what it answers by its
  id, which the handlers look up in our own store (our Follow, our Offer, an organisation's ask). An ``Undo``'s
  object is the actor's own activity: it is read as the Follow, Block or Accept it is when it came whole, and
  by its id otherwise (an id, a type the records do not hold, or a copy the intake cut down to id and type).
- The audience (``to``) is not read: the intake already routed the activity by it (federation/audience.py) and
  no handler acts on it. Refusing an audience written differently would refuse Mastodon's activities for
  nothing.
- Nothing a handler needs is dropped: what a record cannot hold is kept beside it, explicitly, in
  :attr:`Received.raw` -- the embedded signed records (Relationship, ProfileCard), whose proofs are verified
  over the JSON as received (protocol/proofs.py), and an Accept's ``result`` that is an organisation's
  Membership. The organisation's activities and a direct message's ``Create`` of a ``Note``, for which
  protocol/records.py has no record, are :class:`Wire` activities read by their own modules
  (federation/org*.py with protocol/org_serialize.py, federation/messages.py).

Anything that does not make a valid record raises MalformedInput naming the field (the peer's fault: the
worker rejects it, the intake answers 400).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from federation import org_wire
from protocol.errors import InvalidRecord, MalformedInput
from protocol.jsonld_values import node_id, one
from protocol.records import (
    ACTOR_KINDS,
    Accept,
    Activity,
    Block,
    Delete,
    Follow,
    Move,
    Offer,
    ProfileCard,
    Reject,
    Relationship,
    Undo,
    Update,
)
from protocol.serialize import from_jsonld

__all__ = ["Received", "Wire", "parse"]


@dataclass(frozen=True, slots=True)
class Wire:
    """An activity Kith acts on that protocol/records.py has no record for: the organisation's (read by
    federation/org*.py) and a direct message's ``Create`` of a ``Note`` (federation/messages.py)."""

    type: str
    object_type: str | None


@dataclass(frozen=True, slots=True)
class Received:
    """A received activity as its typed record, with the document it was read from kept beside it (see the
    module's rules for what handlers read there)."""

    record: Activity | Wire
    raw: dict[str, Any]

    @property
    def actor(self) -> str:
        record = self.record
        if isinstance(record, Wire):
            return str(node_id(self.raw.get("actor"), "actor"))
        return record.actor

    @property
    def key(self) -> tuple[str, str | None]:
        """What federation/process.py's HANDLERS table is keyed on: the record's type and, where the type
        alone does not say what to do, its object's kind."""
        record = self.record
        if isinstance(record, Wire):
            return record.type, record.object_type
        if isinstance(record, Update):
            inner = record.object
            return "Update", type(inner).__name__ if isinstance(inner, ProfileCard | Relationship) else None
        return type(record).__name__, None


def _types(value: Any) -> set[str]:
    kind = value.get("type", value.get("@type")) if isinstance(value, Mapping) else None
    items = kind if isinstance(kind, list) else [kind]
    return {item for item in items if isinstance(item, str)}


def _id(value: Any, key: str) -> str:
    return str(node_id(value, key))


def _record(value: Any, key: str, expected: type[Any]) -> Any:
    """An embedded record read whole (its own mapping in protocol/serialize.py)."""
    value = one(value, key)
    if not isinstance(value, Mapping):
        raise MalformedInput(f"{key} must be an embedded {expected.__name__}", field=key)
    try:
        record = from_jsonld(value)
    except MalformedInput as exc:
        raise MalformedInput(f"{key}: {exc.message}", field=exc.field or key) from None
    if not isinstance(record, expected):
        raise MalformedInput(f"{key} must be a {expected.__name__}", field=key)
    return record


def _undone(value: Any, actor: str) -> Follow | Block | Accept | str:
    """An Undo's object: the actor's own Follow, Block or Accept when it came whole enough to be one, else its
    id -- what the intake kept of it, an activity Kith holds no record of (an Offer, a Like), or a copy that is
    not a valid activity of this actor's. The copy is never trusted as sent: the handler looks the id up in our
    store, so reading it by id loses nothing and lets the handler decide (ignoring what is not theirs)."""
    value = one(value, "object")
    kinds = _types(value) & {"Follow", "Block", "Accept"}
    if isinstance(value, Mapping) and len(kinds) == 1 and value.get("actor") is not None:
        (kind,) = kinds
        classes: dict[str, type[Follow | Block | Accept]] = {
            "Follow": Follow,
            "Block": Block,
            "Accept": Accept,
        }
        cls = classes[kind]
        try:
            record = cls(
                id=_id(value, "object"),
                actor=_id(value.get("actor"), "actor"),
                object=_id(value.get("object"), "object"),
            )
        except (MalformedInput, InvalidRecord):
            record = None
        if record is not None and record.actor == actor:
            return record
    return _id(value, "object")


def _update_object(value: Any, actor: str) -> ProfileCard | Relationship | Mapping[str, Any]:
    value = one(value, "object")
    if isinstance(value, str) and value == actor:
        # the actor named by its id: what the handler does is the same (re-read it from its origin)
        return {"id": actor, "type": "Person"}
    if not isinstance(value, Mapping):
        raise MalformedInput("an Update must embed the object it updates", field="object")
    types = _types(value)
    if "Relationship" in types:
        return _record(value, "object", Relationship)  # type: ignore[no-any-return]
    if "ProfileCard" in types:
        return _record(value, "object", ProfileCard)  # type: ignore[no-any-return]
    kinds = types & set(ACTOR_KINDS)
    if kinds:
        # the actor's own document: only its id is used (the handler re-reads it from its origin), so its
        # type is read as the one actor kind it names
        return {**value, "id": _id(value, "object"), "type": sorted(kinds)[0]}
    raise MalformedInput(
        "Kith understands Update of a ProfileCard, a Relationship or an actor", field="object"
    )


def _read(kind: str, doc: Mapping[str, Any]) -> Activity:
    actor = _id(doc.get("actor"), "actor")
    common: dict[str, Any] = {"id": _id(doc.get("id", doc.get("@id")), "id"), "actor": actor}
    obj = doc.get("object")
    if kind == "Follow":
        return Follow(**common, object=_id(obj, "object"))
    if kind == "Block":
        return Block(**common, object=_id(obj, "object"))
    if kind == "Offer":
        return Offer(
            **common, object=_record(obj, "object", Relationship), target=_id(doc.get("target"), "target")
        )
    if kind in ("Accept", "Reject"):
        answered = _id(obj, "object")  # by id: we look it up in our own store
        if kind == "Reject":
            return Reject(**common, object=answered)
        result = doc.get("result")
        # a Relationship is read as its record; another result (an organisation's Membership) stays in raw
        typed = (
            _record(result, "result", Relationship)
            if "Relationship" in _types(one(result, "result"))
            else None
        )
        return Accept(**common, object=answered, result=typed)
    if kind == "Undo":
        return Undo(**common, object=_undone(obj, actor))
    if kind == "Update":
        return Update(**common, object=_update_object(obj, actor))
    if kind == "Delete":
        return Delete(**common, object=_id(obj, "object"))
    if kind == "Move":
        return Move(**common, object=_id(obj, "object"), target=_id(doc.get("target"), "target"))
    raise MalformedInput(f"Kith does not act on a {kind}", field="type")


def parse(doc: dict[str, Any]) -> Received:
    """The typed record of a checked activity (normalised by the intake), or MalformedInput naming the field."""
    if not isinstance(doc, Mapping):
        raise MalformedInput("an activity must be a JSON object")
    kind = doc.get("type")
    if not isinstance(kind, str):
        raise MalformedInput("an activity needs one type", field="type")
    obj = doc.get("object")
    # an object's type, or the one type of every object it lists (an Add of several SharedContacts)
    object_types = sorted(set().union(*map(_types, obj)) if isinstance(obj, list) else _types(obj))
    object_type = object_types[0] if len(object_types) == 1 else None
    if org_wire.wants(doc):
        return Received(Wire(type=kind, object_type=object_type), doc)
    if kind == "Create":
        if object_type != "Note":
            raise MalformedInput("Kith acts only on the Create of a Note (a direct message)", field="object")
        node_id(doc.get("actor"), "actor")
        return Received(Wire(type=kind, object_type=object_type), doc)
    try:
        return Received(_read(kind, doc), doc)
    except InvalidRecord as exc:  # a record we cannot build from someone else's JSON is their fault
        raise MalformedInput(exc.message, field=exc.field) from None
