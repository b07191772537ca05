"""Building the activities we send. Pure: ids and times are passed in.

What Mastodon expects is the bar: every activity has an id on our origin, ``actor`` is our owner's actor, and
an Accept/Reject/Undo embeds the activity it answers (Mastodon matches on the embedded object's id). Kith-only
records (relationship, profile card) are addressed to one person, never to the public collection.
"""

from __future__ import annotations

from typing import Any

from federation.urls import AS_CONTEXT

__all__ = [
    "accept",
    "block",
    "delete",
    "follow",
    "move",
    "offer_relationship",
    "reject",
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
    return _base(activity_id, "Follow", actor, target)


def accept(
    activity_id: str, actor: str, answered: dict[str, Any], *, to: str, result: Any = None
) -> dict[str, Any]:
    return _base(activity_id, "Accept", actor, answered, to=[to], result=result)


def reject(activity_id: str, actor: str, answered: dict[str, Any], *, to: str) -> dict[str, Any]:
    return _base(activity_id, "Reject", actor, answered, to=[to])


def undo(activity_id: str, actor: str, undone: dict[str, Any], *, to: str | None = None) -> dict[str, Any]:
    return _base(activity_id, "Undo", actor, undone, to=[to] if to else None)


def block(activity_id: str, actor: str, target: str) -> dict[str, Any]:
    return _base(activity_id, "Block", actor, target, to=[target])


def delete(activity_id: str, actor: str, obj: str, *, to: list[str]) -> dict[str, Any]:
    return _base(activity_id, "Delete", actor, obj, to=to)


def update(activity_id: str, actor: str, obj: dict[str, Any], *, to: list[str]) -> dict[str, Any]:
    return _base(activity_id, "Update", actor, obj, to=to)


def move(activity_id: str, actor: str, target: str, followers: str) -> dict[str, Any]:
    return _base(activity_id, "Move", actor, actor, target=target, to=[followers])


def offer_relationship(activity_id: str, actor: str, record: dict[str, Any], *, to: str) -> dict[str, Any]:
    return _base(activity_id, "Offer", actor, record, to=[to], target=to)
