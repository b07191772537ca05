"""What a member shares with an organisation, decided on the member's own node (specs/ORGANISATIONS.md
§Sharing). Consent first: nothing is shared until the member picks a level.

For each active person of the graph, the level is the person's own override, else the most restrictive
override among their circles, else the member's default for that organisation; then lowered to the
organisation's cap. It is ``none`` (never shared) for colleagues: the organisation itself, its members (by
their actors, as the directory names them) and anyone with an address on one of its domains. What each level
carries is protocol/org_records.py's ``SharedContact``; this module fills it from the graph:

- identities: the person's active addresses, except those only a peer's disclosed card gave (that peer
  disclosed them to the member, not to the member's organisation);
- strength: node/org_strength.py over all the person's interactions, as a bucket below level interactions;
- last contact, interactions (the latest ``MAX_INTERACTIONS``: date, channel, who started; never the text);
- notes: only those the member chose for this organisation.

``preview`` is the very records that would be sent, so that what the member is shown is what goes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

from node.org_strength import relationship_strength
from node.store.org import PersonInput, ShareInputs
from protocol.org_records import (
    IDENTITY_SCHEMES,
    MAX_IDENTITIES,
    MAX_INTERACTIONS,
    MAX_NOTE_TEXT,
    MAX_NOTES,
    OrganizationInfo,
    SharedContact,
    SharedInteraction,
)
from protocol.vocab import CHANNELS, level_at_most, level_rank

__all__ = [
    "Desired",
    "colleague_test",
    "desired_records",
    "effective_level",
    "record_fields",
    "record_id_for",
    "shared_contact",
    "summary",
]

_MAX_NAME = 500
_PEER_SOURCE = "peer"  # node/federation_port.py: what a Kith peer's disclosed card gave


@dataclass(frozen=True, slots=True)
class Desired:
    """What should be shared about one person now: its level, the record's fields, and their digest."""

    person_id: str
    level: str
    fields: dict[str, Any]
    digest: str


def record_id_for(member: str, org: str, person_id: str) -> str:
    """A person's record for one organisation: stable (updates replace it), on the member's origin, and not
    the graph's own id (which other records of the member's might name)."""
    token = hashlib.sha256(f"{org}\n{person_id}".encode()).hexdigest()[:32]
    return f"{member}/org-shares/{token}"


def _host_of(uri: str) -> str | None:
    if uri.startswith(("mailto:", "acct:")):
        return uri.rsplit("@", 1)[-1].lower()
    if uri.startswith(("https://", "http://")):
        return (urlsplit(uri).hostname or "").lower() or None
    return None


def colleague_test(org: str, info: OrganizationInfo | None) -> Any:
    """A test of whether a person is a colleague: the organisation, one of its members, or an address on one
    of its domains (or their subdomains)."""
    actors = {org}
    domains: tuple[str, ...] = ()
    if info is not None:
        actors.update(e.member for e in info.members)
        domains = tuple(d.lower() for d in info.domains)

    def is_colleague(person: PersonInput) -> bool:
        for uri, _, _ in person.identities:
            if uri in actors:
                return True
            host = _host_of(uri) if domains else None
            if host and any(host == d or host.endswith("." + d) for d in domains):
                return True
        return False

    return is_colleague


def effective_level(person: PersonInput, inputs: ShareInputs, cap: str) -> str:
    own = inputs.rules.get(("person", person.id.casefold()))
    if own is None:
        found = [
            inputs.rules[("circle", c.casefold())]
            for c in person.circles
            if ("circle", c.casefold()) in inputs.rules
        ]
        own = min(found, key=level_rank) if found else inputs.level
    return level_at_most(own, cap)


def _identities(person: PersonInput) -> list[str]:
    out: list[str] = []
    for uri, _, sources in person.identities:
        if sources == {_PEER_SOURCE} or len(uri) > 2048 or uri.split(":", 1)[0] not in IDENTITY_SCHEMES:
            continue
        if uri not in out:
            out.append(uri)
    return out[:MAX_IDENTITIES]


def _day(now: datetime) -> datetime:
    """Strength decays by the day: computed at the day's start, so that records do not change hour by hour."""
    return datetime(now.year, now.month, now.day, tzinfo=UTC)


def _fields(person: PersonInput, level: str, now: datetime) -> dict[str, Any] | None:
    name = (person.name or "").strip()[:_MAX_NAME]
    if not name or name == "(no name)":
        return None
    rank = level_rank(level)
    strength = relationship_strength(person.interactions, _day(now))
    fields: dict[str, Any] = {
        "name": name,
        "organization_name": (person.organization or "").strip()[:_MAX_NAME] or None,
        "identities": _identities(person),
        "strength_bucket": strength.bucket,
    }
    valid = [i for i in person.interactions if i[1] in CHANNELS and _parse(i[0]) is not None]
    if rank >= level_rank("last-contact") and valid:
        last = max(valid, key=lambda i: i[0])
        moment = _parse(last[0])
        assert moment is not None
        fields["last_contact"] = moment.date().isoformat()
        fields["last_channel"] = last[1]
    if rank >= level_rank("interactions"):
        fields["strength"] = strength.score
        fields["explained"] = strength.explained
        fields["interactions"] = [
            (i[0], i[1], {"owner": "member"}.get(i[2], i[2] if i[2] in ("them", "unknown") else "unknown"))
            for i in sorted(valid, key=lambda i: i[0])[-MAX_INTERACTIONS:]
        ]
    if rank >= level_rank("notes"):
        fields["notes"] = [body[:MAX_NOTE_TEXT] for _, body in person.notes if body.strip()][-MAX_NOTES:]
    return fields


def _parse(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def desired_records(
    inputs: ShareInputs, *, org: str, info: OrganizationInfo | None, now: datetime
) -> dict[str, Desired]:
    """What should be shared with ``org`` now, by person id (people at level none are absent)."""
    cap = info.cap if info is not None else "none"
    is_colleague = colleague_test(org, info)
    out: dict[str, Desired] = {}
    for person in inputs.people:
        level = effective_level(person, inputs, cap)
        if level == "none" or is_colleague(person):
            continue
        fields = _fields(person, level, now)
        if fields is None:
            continue
        digest = hashlib.sha256(json.dumps([level, fields], sort_keys=True).encode()).hexdigest()
        out[person.id] = Desired(person_id=person.id, level=level, fields=fields, digest=digest)
    return out


def record_fields(desired: Desired) -> dict[str, Any]:
    """The keyword arguments of the ``SharedContact`` for ``desired``, beside its id, member, organisation,
    version and time (federation/org_share.py adds those when it signs and sends)."""
    f = desired.fields
    return {
        "level": desired.level,
        "name": f["name"],
        "organization_name": f.get("organization_name"),
        "identities": tuple(f.get("identities", ())),
        "strength_bucket": f["strength_bucket"],
        "last_contact": date.fromisoformat(f["last_contact"]) if f.get("last_contact") else None,
        "last_channel": f.get("last_channel"),
        "strength": f.get("strength"),
        "explained": f.get("explained"),
        "interactions": tuple(
            SharedInteraction(occurred=moment, channel=c, initiated_by=b)
            for o, c, b in f.get("interactions", ())
            if (moment := _parse(o)) is not None
        ),
        "notes": tuple(f.get("notes", ())),
    }


def shared_contact(
    desired: Desired, *, member: str, org: str, version: int, updated: datetime
) -> SharedContact:
    """The record as it would be signed and sent (the preview shows exactly this)."""
    return SharedContact(
        id=record_id_for(member, org, desired.person_id),
        member=member,
        organization=org,
        version=version,
        updated=updated,
        **record_fields(desired),
    )


def summary(desired: Iterable[Desired]) -> dict[str, int]:
    """How many people are shared at each level."""
    counts: dict[str, int] = {}
    for d in desired:
        counts[d.level] = counts.get(d.level, 0) + 1
    return counts
