"""The organisation's activities on the wire (specs/ORGANISATIONS.md §Activities), and what the inbox keeps of
them (federation/triage.py asks here first).

Every one is private: addressed to its one recipient, delivered to their personal inbox, never public. Records
that carry their own proofs (a Membership, each SharedContact) keep their own ``@context``, as an embedded
Relationship does, since their proofs were made over the standalone document.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from federation import activities as act
from protocol.org_serialize import ORG_TYPES
from protocol.serialize import KITH_CONTEXT

__all__ = [
    "accept_membership",
    "add_shared",
    "answer_ask",
    "ask_introduction",
    "end_membership",
    "keep",
    "offer_membership",
    "remove_shared",
    "shares_deleted",
    "shares_id",
    "tell_info",
    "tell_introduction",
    "wants",
]

_EMBEDDED_TYPES = ORG_TYPES | {"Tombstone"}


def _kith(doc: dict[str, Any]) -> dict[str, Any]:
    doc["@context"] = list(KITH_CONTEXT)
    return doc


def offer_membership(offer_id: str, member: str, signed: Mapping[str, Any], org: str) -> dict[str, Any]:
    return _kith(act.offer_relationship(offer_id, member, dict(signed), to=org))


def accept_membership(
    activity_id: str, org: str, offer_id: str, member: str, final: Mapping[str, Any]
) -> dict[str, Any]:
    answered = {"id": offer_id, "type": "Offer", "actor": member}
    return _kith(act.accept(activity_id, org, answered, to=member, result=dict(final)))


def end_membership(activity_id: str, actor: str, ended: Mapping[str, Any], to: str) -> dict[str, Any]:
    return _kith(act.update(activity_id, actor, dict(ended), to=[to]))


def shares_id(org: str, member: str) -> str:
    """The id, on the organisation's server, of everything one member shared with it (deleted when they go)."""
    return f"{org}/org/shares/{hashlib.sha256(member.encode()).hexdigest()[:32]}"


def shares_deleted(activity_id: str, org: str, member: str, count: int, deleted: str) -> dict[str, Any]:
    """The organisation tells a former member it deleted what they shared."""
    tombstone = {
        "id": shares_id(org, member),
        "type": "Tombstone",
        "formerType": "SharedContact",
        "deleted": deleted,
        "totalItems": count,
    }
    return _kith(act.tombstone_deleted(activity_id, org, tombstone, to=[member]))


def tell_info(activity_id: str, org: str, info: Mapping[str, Any], member: str) -> dict[str, Any]:
    return _kith(act.update(activity_id, org, dict(info), to=[member]))


def add_shared(
    activity_id: str, member: str, records: Sequence[Mapping[str, Any]], org: str
) -> dict[str, Any]:
    return _kith(
        {
            "id": activity_id,
            "type": "Add",
            "actor": member,
            "object": [dict(r) for r in records],
            "target": org,
            "to": [org],
        }
    )


def remove_shared(
    activity_id: str, member: str, tombstones: Sequence[Mapping[str, Any]], org: str
) -> dict[str, Any]:
    return _kith(
        {
            "id": activity_id,
            "type": "Remove",
            "actor": member,
            "object": [dict(t) for t in tombstones],
            "target": org,
            "to": [org],
        }
    )


def ask_introduction(ask_id: str, org: str, intro: Mapping[str, Any], introducer: str) -> dict[str, Any]:
    return _kith(act.offer_relationship(ask_id, org, dict(intro), to=introducer))


def answer_ask(
    activity_id: str, introducer: str, ask_id: str, org: str, *, accepted: bool, note: str | None
) -> dict[str, Any]:
    answered = {"id": ask_id, "type": "Offer", "actor": org}
    reply = (act.accept if accepted else act.reject)(activity_id, introducer, answered, to=org)
    if note:
        reply["summary"] = note
    return _kith(reply)


def tell_introduction(activity_id: str, org: str, intro: Mapping[str, Any], requester: str) -> dict[str, Any]:
    return _kith(act.update(activity_id, org, dict(intro), to=[requester]))


# -- what the inbox keeps ---------------------------------------------------------------------------------


def _types(value: Any) -> set[str]:
    items = value if isinstance(value, list) else [value]
    return {
        str(item["type"]) for item in items if isinstance(item, dict) and isinstance(item.get("type"), str)
    }


def _ours(activity: Mapping[str, Any]) -> bool:
    kind, obj = activity.get("type"), activity.get("object")
    if kind == "Add":
        return bool(obj) and _types(obj) == {"SharedContact"}
    if kind == "Remove":
        return bool(obj) and _types(obj) == {"Tombstone"}
    if kind in ("Update", "Offer"):
        # a type that is not one string (a list, an object) is no record of ours; hashing it would raise
        return isinstance(obj, dict) and isinstance(obj.get("type"), str) and obj["type"] in ORG_TYPES
    if kind == "Delete":
        return (
            isinstance(obj, dict)
            and obj.get("type") == "Tombstone"
            and obj.get("formerType") == "SharedContact"
        )
    return False


def wants(activity: Mapping[str, Any]) -> bool | None:
    """Whether the inbox should keep an activity for the organisation's modules: True for theirs, False for an
    ``Add``/``Remove`` of anything else (nothing else in Kith takes them), None to let triage decide."""
    if _ours(activity):
        return True
    return False if activity.get("type") in ("Add", "Remove") else None


def keep(activity: dict[str, Any]) -> dict[str, Any] | None:
    """The organisation's activities are kept whole (within the inbox's 1 MiB and JSON limits): records carry
    proofs over every byte, and the directory, an introduction and a withdrawal are read field by field.
    None: not ours, triage cuts it as usual."""
    return activity if _ours(activity) else None
