"""Building the activities we send. Pure: ids and times are passed in.

Those any ActivityPub server must understand (Follow, Block, Undo, Delete, Move, Accept/Reject of a Follow) are
built from the typed records of protocol/records.py through protocol/serialize.py, so that what we send is what
the records allow (issue #13 "Contracts"). Those carrying a record signed here (an offer, its acceptance, a card
or record Update, the organisation's) carry it exactly as signed, since its proofs cover its bytes.

What Mastodon expects is the bar: every activity has an id on our origin, ``actor`` is our owner's actor, and
an Accept/Reject/Undo embeds the activity it answers (Mastodon matches on the embedded object's id). Kith-only
records (relationship, profile card) are addressed to one person, never to the public collection.
"""

from __future__ import annotations

from typing import Any

from federation.urls import AS_CONTEXT
from protocol.records import Accept, Block, Delete, Follow, Move, Reject, Undo
from protocol.serialize import to_jsonld

__all__ = [
    "accept",
    "block",
    "delete",
    "follow",
    "move",
    "offer_relationship",
    "reject",
    "tombstone_deleted",
    "undo",
    "update",
]


def _base(activity_id: str, kind: str, actor: str, obj: Any, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@context": AS_CONTEXT,
        "id": activity_id,
        "type": kind,
        "actor": actor,
        "object": obj,
    }
    doc.update({k: v for k, v in extra.items() if v is not None})
    return doc


def follow(activity_id: str, actor: str, target: str) -> dict[str, Any]:
    return to_jsonld(Follow(id=activity_id, actor=actor, object=target))


def _answer(
    kind: type[Accept] | type[Reject],
    activity_id: str,
    actor: str,
    answered: Follow | dict[str, Any],
    to: str,
) -> dict[str, Any] | None:
    """An answer to a Follow, from its record (None: another activity, built as a document below)."""
    if not isinstance(answered, Follow):
        return None
    return to_jsonld(kind(id=activity_id, actor=actor, object=answered, to=(to,)))


def accept(
    activity_id: str, actor: str, answered: Follow | dict[str, Any], *, to: str, result: Any = None
) -> dict[str, Any]:
    """Accept of a Follow (from its record), or of an offer carrying back the record both signed (``result``,
    kept exactly as signed: its proofs cover its bytes; an organisation's Membership has no record here)."""
    typed = _answer(Accept, activity_id, actor, answered, to) if result is None else None
    return typed or _base(activity_id, "Accept", actor, answered, to=[to], result=result)


def reject(activity_id: str, actor: str, answered: Follow | dict[str, Any], *, to: str) -> dict[str, Any]:
    return _answer(Reject, activity_id, actor, answered, to) or _base(
        activity_id, "Reject", actor, answered, to=[to]
    )


def undo(activity_id: str, actor: str, undone: Follow | Block, *, to: str | None = None) -> dict[str, Any]:
    return to_jsonld(Undo(id=activity_id, actor=actor, object=undone, to=(to,) if to else ()))


def block(activity_id: str, actor: str, target: str) -> dict[str, Any]:
    return to_jsonld(Block(id=activity_id, actor=actor, object=target, to=(target,)))


def delete(activity_id: str, actor: str, obj: str, *, to: list[str]) -> dict[str, Any]:
    return to_jsonld(Delete(id=activity_id, actor=actor, object=obj, to=tuple(to)))


def update(activity_id: str, actor: str, obj: dict[str, Any], *, to: list[str]) -> dict[str, Any]:
    """Update of a document as signed or rendered here (the actor, a signed card or record, an organisation's
    record): the object goes out exactly as given."""
    return _base(activity_id, "Update", actor, obj, to=to)


def move(activity_id: str, actor: str, target: str, followers: str) -> dict[str, Any]:
    return to_jsonld(Move(id=activity_id, actor=actor, object=actor, target=target, to=(followers,)))


def offer_relationship(activity_id: str, actor: str, record: dict[str, Any], *, to: str) -> dict[str, Any]:
    """Offer of a record signed here (kept exactly as signed), a Relationship or an organisation's."""
    return _base(activity_id, "Offer", actor, record, to=[to], target=to)


def tombstone_deleted(
    activity_id: str, actor: str, tombstone: dict[str, Any], *, to: list[str]
) -> dict[str, Any]:
    """Delete carrying a Tombstone of what an organisation deleted (specs/ORGANISATIONS.md)."""
    return _base(activity_id, "Delete", actor, tombstone, to=to)
