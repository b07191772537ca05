"""The mapping between protocol/org_records.py and compacted JSON-LD (specs/ORGANISATIONS.md), kept as
protocol/serialize.py keeps the other records': the only place that knows these records' JSON-LD names.

- Writing is exact: ``org_to_jsonld(org_from_jsonld(x)) == x`` for anything Kith wrote, so stored proofs
  still verify.
- Reading is tolerant of the usual compacted variations (a value or a one-element list, an object with an
  ``id`` for an IRI) and strict about meaning: anything that does not make a valid record raises
  MalformedInput naming the field (a record built from someone else's JSON is their fault).
- Pure; plain JSON in and out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from protocol.errors import InvalidRecord, MalformedInput
from protocol.jsonld import check_shape
from protocol.jsonld_values import node_id as _id
from protocol.jsonld_values import one as _one
from protocol.jsonld_values import text as _str
from protocol.org_records import (
    ContactPolicy,
    DirectoryEntry,
    Introduction,
    Membership,
    OrganizationInfo,
    SharedContact,
    SharedContactRemoval,
    SharedInteraction,
)
from protocol.proofs import DataIntegrityProof, proofs_of
from protocol.serialize import KITH_CONTEXT

__all__ = ["ORG_TYPES", "OrgRecord", "org_from_jsonld", "org_to_jsonld", "stamp"]

OrgRecord = Membership | SharedContact | SharedContactRemoval | Introduction | OrganizationInfo
#: The ``type`` of each organisation record on the wire.
ORG_TYPES = frozenset({"Membership", "SharedContact", "Introduction", "OrganizationInfo"})


def stamp(moment: datetime) -> str:
    """A dateTime as Kith writes it: UTC, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _proof(body: dict[str, Any], proofs: tuple[DataIntegrityProof, ...]) -> None:
    if proofs:
        items = [p.to_json() for p in proofs]
        body["proof"] = items[0] if len(items) == 1 else items


# -- writing ---------------------------------------------------------------------------------------------


def _membership(m: Membership) -> dict[str, Any]:
    body: dict[str, Any] = {"id": m.id, "type": "Membership", "member": m.member, "memberOf": m.organization}
    if m.since is not None:
        body["since"] = m.since.isoformat()
    body["status"] = m.status
    _proof(body, m.proofs)
    return body


def _shared(c: SharedContact) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": c.id,
        "type": "SharedContact",
        "attributedTo": c.member,
        "audience": c.organization,
        "sharingLevel": c.level,
        "version": c.version,
        "updated": stamp(c.updated),
        "name": c.name,
    }
    if c.organization_name is not None:
        body["organization"] = c.organization_name
    if c.identities:
        body["identities"] = list(c.identities)
    body["strengthBucket"] = c.strength_bucket
    if c.last_contact is not None:
        body["lastContact"] = c.last_contact.isoformat()
    if c.last_channel is not None:
        body["lastChannel"] = c.last_channel
    if c.strength is not None:
        body["strength"] = round(float(c.strength), 4)
    if c.explained is not None:
        body["strengthExplained"] = c.explained
    if c.interactions:
        body["interactions"] = [
            {
                "type": "InteractionSummary",
                "published": stamp(i.occurred),
                "channel": i.channel,
                "initiatedBy": i.initiated_by,
            }
            for i in c.interactions
        ]
    if c.notes:
        body["notes"] = list(c.notes)
    _proof(body, c.proofs)
    return body


def _removal(r: SharedContactRemoval) -> dict[str, Any]:
    return {
        "id": r.id,
        "type": "Tombstone",
        "formerType": "SharedContact",
        "version": r.version,
        "deleted": stamp(r.deleted),
    }


def _introduction(i: Introduction) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": i.id,
        "type": "Introduction",
        "attributedTo": i.organization,
        "requester": i.requester,
        "name": i.name,
        "introductionState": i.state,
    }
    for key, value in (("about", i.about), ("introducer", i.introducer), ("summary", i.summary)):
        if value is not None:
            body[key] = value
    if i.updated is not None:
        body["updated"] = stamp(i.updated)
    return body


def _policy(p: ContactPolicy) -> dict[str, Any]:
    body: dict[str, Any] = {"id": p.id, "type": "ContactPolicy", "name": p.name}
    if p.company is not None:
        body["organization"] = p.company
    if p.identities:
        body["identities"] = list(p.identities)
    if p.owner is not None:
        body["relationshipOwner"] = p.owner
    if p.do_not_contact is not None:
        body["doNotContact"] = p.do_not_contact
    if p.cool_down_days is not None:
        body["coolDownDays"] = p.cool_down_days
    if p.last_contact is not None:
        body["lastContact"] = p.last_contact.isoformat()
    if p.updated is not None:
        body["updated"] = stamp(p.updated)
    return body


def _info(i: OrganizationInfo) -> dict[str, Any]:
    return {
        "id": i.id,
        "type": "OrganizationInfo",
        "attributedTo": i.organization,
        "updated": stamp(i.updated),
        "sharingCap": i.cap,
        "domains": list(i.domains),
        "members": [
            {"type": "OrganizationMember", "member": e.member, "role": e.role, "sharingLevel": e.level}
            for e in i.members
        ],
        "policies": [_policy(p) for p in i.policies],
    }


_WRITERS: dict[type, Callable[[Any], dict[str, Any]]] = {
    Membership: _membership,
    SharedContact: _shared,
    SharedContactRemoval: _removal,
    Introduction: _introduction,
    OrganizationInfo: _info,
}


def org_to_jsonld(record: OrgRecord, *, with_context: bool = True) -> dict[str, Any]:
    """Compacted JSON-LD of an organisation record; ``with_context=False`` for one embedded in another (a
    removal always travels embedded)."""
    body = _WRITERS[type(record)](record)
    if not with_context or isinstance(record, SharedContactRemoval):
        return body
    return {"@context": list(KITH_CONTEXT), **body}


# -- reading ---------------------------------------------------------------------------------------------


def _ids(value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    return tuple(str(_id(item, key)) for item in items)


def _texts(value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    return tuple(str(_str(item, key, required=True)) for item in items)


def _int(value: Any, key: str) -> int | None:
    value = _one(value, key)
    if isinstance(value, Mapping):
        value = value.get("@value")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedInput(f"{key} must be a whole number", field=key)
    return value


def _number(value: Any, key: str) -> float | None:
    value = _one(value, key)
    if isinstance(value, Mapping):
        value = value.get("@value")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedInput(f"{key} must be a number", field=key)
    return float(value)


def _date(value: Any, key: str) -> date | None:
    text = _str(value, key)
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise MalformedInput(f"{key} {text[:40]!r} is not a date (YYYY-MM-DD)", field=key) from None


def _when(value: Any, key: str, *, required: bool = True) -> datetime | None:
    text = _str(value, key, required=required)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedInput(f"{key} {text[:40]!r} is not a dateTime", field=key) from None
    if moment.tzinfo is None:
        raise MalformedInput(f"{key} {text[:40]!r} has no time zone", field=key)
    return moment


def _proofs(data: Mapping[str, Any]) -> tuple[DataIntegrityProof, ...]:
    return tuple(DataIntegrityProof.from_json(p) for p in proofs_of(data))


def _objects(value: Any, key: str) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, Mapping) for item in items):
        raise MalformedInput(f"{key} must hold objects", field=key)
    return items


def _read_membership(d: Mapping[str, Any]) -> Membership:
    status = _str(d.get("status"), "status") or "active"
    if status not in ("active", "ended"):
        raise MalformedInput("status must be active or ended", field="status")
    return Membership(
        id=str(_id(d.get("id"), "id")),
        member=str(_id(d.get("member"), "member")),
        organization=str(_id(d.get("memberOf"), "memberOf")),
        since=_date(d.get("since"), "since"),
        status="ended" if status == "ended" else "active",
        proofs=_proofs(d),
    )


def _read_shared(d: Mapping[str, Any]) -> SharedContact:
    interactions = tuple(
        SharedInteraction(
            occurred=_when(i.get("published"), "published"),  # type: ignore[arg-type]
            channel=str(_str(i.get("channel"), "channel", required=True)),
            initiated_by=str(_str(i.get("initiatedBy"), "initiatedBy", required=True)),
        )
        for i in _objects(d.get("interactions"), "interactions")
    )
    return SharedContact(
        id=str(_id(d.get("id"), "id")),
        member=str(_id(d.get("attributedTo"), "attributedTo")),
        organization=str(_id(d.get("audience"), "audience")),
        level=str(_str(d.get("sharingLevel"), "sharingLevel", required=True)),
        version=_int(d.get("version"), "version") or 0,
        updated=_when(d.get("updated"), "updated"),  # type: ignore[arg-type]
        name=str(_str(d.get("name"), "name", required=True)),
        organization_name=_str(d.get("organization"), "organization"),
        identities=_ids(d.get("identities"), "identities"),
        strength_bucket=_str(d.get("strengthBucket"), "strengthBucket") or "weak",
        last_contact=_date(d.get("lastContact"), "lastContact"),
        last_channel=_str(d.get("lastChannel"), "lastChannel"),
        strength=_number(d.get("strength"), "strength"),
        explained=_str(d.get("strengthExplained"), "strengthExplained"),
        interactions=interactions,
        notes=_texts(d.get("notes"), "notes"),
        proofs=_proofs(d),
    )


def _read_removal(d: Mapping[str, Any]) -> SharedContactRemoval:
    if _str(d.get("formerType"), "formerType") != "SharedContact":
        raise MalformedInput("a withdrawal is a Tombstone of a SharedContact", field="formerType")
    return SharedContactRemoval(
        id=str(_id(d.get("id"), "id")),
        version=_int(d.get("version"), "version") or 0,
        deleted=_when(d.get("deleted"), "deleted"),  # type: ignore[arg-type]
    )


def _read_introduction(d: Mapping[str, Any]) -> Introduction:
    return Introduction(
        id=str(_id(d.get("id"), "id")),
        organization=str(_id(d.get("attributedTo"), "attributedTo")),
        requester=str(_id(d.get("requester"), "requester")),
        name=str(_str(d.get("name"), "name", required=True)),
        state=_str(d.get("introductionState"), "introductionState") or "asked",
        about=_id(d.get("about"), "about", required=False),
        introducer=_id(d.get("introducer"), "introducer", required=False),
        summary=_str(d.get("summary"), "summary"),
        updated=_when(d.get("updated"), "updated", required=False),
    )


def _read_policy(d: Mapping[str, Any]) -> ContactPolicy:
    return ContactPolicy(
        id=str(_id(d.get("id"), "id")),
        name=str(_str(d.get("name"), "name", required=True)),
        company=_str(d.get("organization"), "organization"),
        identities=_ids(d.get("identities"), "identities"),
        owner=_id(d.get("relationshipOwner"), "relationshipOwner", required=False),
        do_not_contact=_str(d.get("doNotContact"), "doNotContact"),
        cool_down_days=_int(d.get("coolDownDays"), "coolDownDays"),
        last_contact=_date(d.get("lastContact"), "lastContact"),
        updated=_when(d.get("updated"), "updated", required=False),
    )


def _read_info(d: Mapping[str, Any]) -> OrganizationInfo:
    return OrganizationInfo(
        id=str(_id(d.get("id"), "id")),
        organization=str(_id(d.get("attributedTo"), "attributedTo")),
        updated=_when(d.get("updated"), "updated"),  # type: ignore[arg-type]
        cap=str(_str(d.get("sharingCap"), "sharingCap", required=True)),
        domains=_texts(d.get("domains"), "domains"),
        members=tuple(
            DirectoryEntry(
                member=str(_id(e.get("member"), "member")),
                role=str(_str(e.get("role"), "role", required=True)),
                level=str(_str(e.get("sharingLevel"), "sharingLevel", required=True)),
            )
            for e in _objects(d.get("members"), "members")
        ),
        policies=tuple(_read_policy(p) for p in _objects(d.get("policies"), "policies")),
    )


_READERS: dict[str, Callable[[Mapping[str, Any]], OrgRecord]] = {
    "Membership": _read_membership,
    "SharedContact": _read_shared,
    "Tombstone": _read_removal,
    "Introduction": _read_introduction,
    "OrganizationInfo": _read_info,
}


def org_from_jsonld(data: Any) -> OrgRecord:
    """Read an organisation record from compacted JSON-LD; MalformedInput (naming the field) if invalid."""
    if not isinstance(data, Mapping):
        raise MalformedInput("a record must be a JSON object")
    check_shape(data)
    kind = data.get("type", data.get("@type"))
    reader = _READERS.get(kind) if isinstance(kind, str) else None
    if reader is None:
        raise MalformedInput(f"not an organisation record: type {str(kind)[:60]!r}", field="type")
    try:
        return reader(data)
    except MalformedInput:
        raise
    except InvalidRecord as exc:
        raise MalformedInput(exc.message, field=exc.field) from exc
    except (TypeError, AttributeError) as exc:  # a value of a shape no reader expects
        raise MalformedInput(f"invalid {kind}: {exc}", field="type") from None
