"""The organisation's records (specs/ORGANISATIONS.md), frozen, keyword-only and self-validating like
protocol/records.py's: a record that exists is valid.

- ``Membership``: a person is a member of an organisation. One record, proposed and signed by the member and
  countersigned by the organisation when its admins accept; either side ends it (``status`` ended, signed by
  the side that ends it). Roles are the organisation's decision and live on its node, not in the record.
- ``SharedContact``: what one member shares about one person of their graph with one organisation, at one
  sharing level (protocol/vocab.py ``SHARING_LEVELS``). A record carries exactly the fields its level allows
  and no more: a field above the level makes the record invalid, so that neither side can build (or accept)
  a record that says more than the member consented to. ``version`` orders the member's changes.
- ``SharedContactRemoval``: the member withdrew a record (a ``Tombstone`` with the version of the change).
- ``Introduction``: the organisation asks a member to introduce another member to someone, or tells the
  one who asked how it went. The introducer is named only once they accepted.

Pure: ids and times are given by the caller. No JSON-LD names here: protocol/org_serialize.py maps them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from protocol.errors import InvalidRecord
from protocol.proofs import DataIntegrityProof
from protocol.records import same_origin
from protocol.vocab import CHANNELS, ORG_ROLES, SHARING_LEVELS, STRENGTH_BUCKETS, level_rank

__all__ = [
    "IDENTITY_SCHEMES",
    "INITIATORS",
    "INTRODUCTION_STATES",
    "MAX_DIRECTORY",
    "MAX_IDENTITIES",
    "MAX_INTERACTIONS",
    "MAX_NOTES",
    "MAX_NOTE_TEXT",
    "MAX_POLICIES",
    "ContactPolicy",
    "DirectoryEntry",
    "Introduction",
    "Membership",
    "MembershipStatus",
    "OrganizationInfo",
    "SharedContact",
    "SharedContactRemoval",
    "SharedInteraction",
]

MembershipStatus = Literal["active", "ended"]
#: Who started an interaction, from the member's side.
INITIATORS = ("member", "them", "unknown")
#: Where an introduction stands, as the organisation tells it.
INTRODUCTION_STATES = ("asked", "accepted", "declined", "cancelled", "expired")
#: The schemes a shared identity may have: what node/graph.py's addresses normalise to.
IDENTITY_SCHEMES = ("acct", "https", "http", "mailto", "tel", "at", "xmpp", "did")
MAX_IDENTITIES = 50
MAX_INTERACTIONS = 50  # the most recent; older ones count in the strength only
MAX_NOTES = 20
MAX_NOTE_TEXT = 2_000
MAX_DIRECTORY = 5_000  # members an organisation's directory lists
MAX_POLICIES = 2_000  # contact policies it tells its members
_MAX_NAME = 500
_MAX_TEXT = 2_000
_MAX_VERSION = 2**53  # JSON numbers stay exact below this


def _iri(value: Any, name: str, *, schemes: tuple[str, ...] = ("https", "http")) -> None:
    if not isinstance(value, str) or not value or len(value) > 2048 or any(c.isspace() for c in value):
        raise InvalidRecord(f"{name} must be an IRI without spaces, up to 2048 characters", field=name)
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        raise InvalidRecord(
            f"{name} must be an IRI with scheme {' or '.join(schemes)}: {value!r}", field=name
        )
    if parts.scheme in ("https", "http") and not parts.netloc:
        raise InvalidRecord(f"{name} must name a host: {value!r}", field=name)


def _text(value: Any, name: str, *, limit: int, optional: bool = True) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidRecord(f"{name} must be non-blank text of at most {limit} characters", field=name)


def _aware(value: Any, name: str) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidRecord(f"{name} must be a timezone-aware datetime", field=name)


def _plain_date(value: Any, name: str) -> None:
    if value is not None and (not isinstance(value, date) or isinstance(value, datetime)):
        raise InvalidRecord(f"{name} must be a date", field=name)


def _proofs(value: Any, most: int) -> None:
    if not isinstance(value, tuple) or not all(isinstance(p, DataIntegrityProof) for p in value):
        raise InvalidRecord("proofs must be a tuple of DataIntegrityProof", field="proof")
    if len(value) > most:
        raise InvalidRecord(
            f"this record carries at most {most} proof{'s' if most > 1 else ''}", field="proof"
        )


def _version(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < _MAX_VERSION:
        raise InvalidRecord(f"version must be a whole number from 1 to {_MAX_VERSION - 1}", field="version")


# -- membership ------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Membership:
    """``member`` is a member of ``organization``. Counts only with a valid proof by each of the two
    (``proofs.verify_all`` with both owners); with the member's proof alone it is a request to join."""

    id: str
    member: str
    organization: str
    since: date | None = None
    status: MembershipStatus = "active"
    proofs: tuple[DataIntegrityProof, ...] = ()

    def __post_init__(self) -> None:
        _iri(self.id, "id")
        _iri(self.member, "member")
        _iri(self.organization, "memberOf")
        if self.member == self.organization:
            raise InvalidRecord("an actor cannot be a member of itself", field="memberOf")
        if not same_origin(self.id, self.member):
            raise InvalidRecord("a membership's id is on its member's server", field="id")
        _plain_date(self.since, "since")
        if self.status not in ("active", "ended"):
            raise InvalidRecord("status must be active or ended", field="status")
        _proofs(self.proofs, 2)

    @property
    def owners(self) -> tuple[str, str]:
        return (self.member, self.organization)


# -- what members share ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class SharedInteraction:
    """One interaction's metadata: when, on which channel, who started it. Never its text."""

    occurred: datetime
    channel: str
    initiated_by: str

    def __post_init__(self) -> None:
        _aware(self.occurred, "published")
        if self.channel not in CHANNELS:
            raise InvalidRecord(f"channel must be one of {', '.join(CHANNELS)}", field="channel")
        if self.initiated_by not in INITIATORS:
            raise InvalidRecord(f"initiatedBy must be one of {', '.join(INITIATORS)}", field="initiatedBy")


_BUCKETS = tuple(name for name, _ in STRENGTH_BUCKETS)


@dataclass(frozen=True, kw_only=True, slots=True)
class SharedContact:
    """One person of ``member``'s graph, as shared with ``organization`` at ``level``."""

    id: str
    member: str
    organization: str
    level: str
    version: int
    updated: datetime
    name: str
    organization_name: str | None = None
    identities: tuple[str, ...] = ()
    strength_bucket: str = "weak"
    # from "last-contact" on
    last_contact: date | None = None
    last_channel: str | None = None
    # from "interactions" on
    strength: float | None = None
    explained: str | None = None
    interactions: tuple[SharedInteraction, ...] = ()
    # "notes" only
    notes: tuple[str, ...] = ()
    proofs: tuple[DataIntegrityProof, ...] = ()

    def __post_init__(self) -> None:
        _iri(self.id, "id")
        _iri(self.member, "attributedTo")
        _iri(self.organization, "audience")
        if not same_origin(self.id, self.member):
            raise InvalidRecord("a shared record's id is on its member's server", field="id")
        if self.level not in SHARING_LEVELS or self.level == "none":
            raise InvalidRecord(
                f"sharingLevel must be one of {', '.join(SHARING_LEVELS[1:])} (nothing is sent at none)",
                field="sharingLevel",
            )
        _version(self.version)
        _aware(self.updated, "updated")
        _text(self.name, "name", limit=_MAX_NAME, optional=False)
        _text(self.organization_name, "organization", limit=_MAX_NAME)
        self._identities()
        if self.strength_bucket not in _BUCKETS:
            raise InvalidRecord(
                f"strengthBucket must be one of {', '.join(_BUCKETS)}", field="strengthBucket"
            )
        rank = level_rank(self.level)
        self._beyond(rank, 2, ("last_contact", "lastContact"), ("last_channel", "lastChannel"))
        self._beyond(
            rank,
            3,
            ("strength", "strength"),
            ("explained", "strengthExplained"),
            ("interactions", "interactions"),
        )
        self._beyond(rank, 4, ("notes", "notes"))
        _plain_date(self.last_contact, "lastContact")
        if self.last_channel is not None and self.last_channel not in CHANNELS:
            raise InvalidRecord(f"lastChannel must be one of {', '.join(CHANNELS)}", field="lastChannel")
        if self.strength is not None:
            if isinstance(self.strength, bool) or not isinstance(self.strength, int | float):
                raise InvalidRecord("strength must be a number from 0 to 1", field="strength")
            if not math.isfinite(self.strength) or not 0.0 <= self.strength <= 1.0:
                raise InvalidRecord("strength must be a number from 0 to 1", field="strength")
        _text(self.explained, "strengthExplained", limit=_MAX_TEXT)
        if not isinstance(self.interactions, tuple) or len(self.interactions) > MAX_INTERACTIONS:
            raise InvalidRecord(f"at most {MAX_INTERACTIONS} interactions are shared", field="interactions")
        if not all(isinstance(i, SharedInteraction) for i in self.interactions):
            raise InvalidRecord("interactions must be SharedInteraction values", field="interactions")
        if not isinstance(self.notes, tuple) or len(self.notes) > MAX_NOTES:
            raise InvalidRecord(f"at most {MAX_NOTES} notes are shared", field="notes")
        for note in self.notes:
            _text(note, "notes", limit=MAX_NOTE_TEXT, optional=False)
        _proofs(self.proofs, 1)

    def _identities(self) -> None:
        values = self.identities
        if not isinstance(values, tuple) or len(values) > MAX_IDENTITIES or len(set(values)) != len(values):
            raise InvalidRecord(
                f"identities must be at most {MAX_IDENTITIES} distinct addresses", field="identities"
            )
        for value in values:
            _iri(value, "identities", schemes=IDENTITY_SCHEMES)

    def _beyond(self, rank: int, needs: int, *fields: tuple[str, str]) -> None:
        """Refuse a field its level does not share: a record never says more than the member chose."""
        if rank >= needs:
            return
        for attr, wire in fields:
            value = getattr(self, attr)
            if value is not None and value != ():
                raise InvalidRecord(
                    f"a record shared at level {self.level} carries no {wire} (it needs level "
                    f"{SHARING_LEVELS[needs]})",
                    field=wire,
                )

    def unsigned(self) -> SharedContact:
        return replace(self, proofs=())


@dataclass(frozen=True, kw_only=True, slots=True)
class SharedContactRemoval:
    """The member no longer shares the record ``id`` (a Tombstone); ``version`` orders it among the member's
    changes, so that a late copy of an older record does not come back."""

    id: str
    version: int
    deleted: datetime

    def __post_init__(self) -> None:
        _iri(self.id, "id")
        _version(self.version)
        _aware(self.deleted, "deleted")


# -- introductions ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Introduction:
    """An introduction as the organisation tells it. To an introducer (state ``asked``): who asks
    (``requester``) and which of the introducer's own shared records it is about (``about``). To the one who
    asked: where it stands, the introducer only once they accepted, and never ``about`` (its origin would
    name the introducer)."""

    id: str
    organization: str
    requester: str
    name: str
    state: str = "asked"
    about: str | None = None
    introducer: str | None = None
    summary: str | None = None
    updated: datetime | None = None

    def __post_init__(self) -> None:
        _iri(self.id, "id")
        _iri(self.organization, "attributedTo")
        _iri(self.requester, "requester")
        if not same_origin(self.id, self.organization):
            raise InvalidRecord("an introduction's id is on its organisation's server", field="id")
        _text(self.name, "name", limit=_MAX_NAME, optional=False)
        if self.state not in INTRODUCTION_STATES:
            raise InvalidRecord(f"state must be one of {', '.join(INTRODUCTION_STATES)}", field="state")
        if self.about is not None:
            _iri(self.about, "about")
        if self.introducer is not None:
            _iri(self.introducer, "introducer")
            if self.state != "accepted":
                raise InvalidRecord("an introducer is named only once they accepted", field="introducer")
        if self.about is not None and self.state != "asked":
            raise InvalidRecord("only the ask names the record it is about", field="about")
        _text(self.summary, "summary", limit=_MAX_TEXT)
        if self.updated is not None:
            _aware(self.updated, "updated")


# -- what the organisation tells its members -----------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class DirectoryEntry:
    """One member in the organisation's directory: who, in which role, sharing at which level."""

    member: str
    role: str
    level: str

    def __post_init__(self) -> None:
        _iri(self.member, "member")
        if self.role not in ORG_ROLES:
            raise InvalidRecord(f"role must be one of {', '.join(ORG_ROLES)}", field="role")
        level_rank(self.level)


@dataclass(frozen=True, kw_only=True, slots=True)
class ContactPolicy:
    """How the organisation's members approach one person (``identities``) or one company
    (``company``): whose relationship it is, not at all (with the reason), or not until a cool-down after the
    last time a member was in touch has passed."""

    id: str
    name: str
    company: str | None = None
    identities: tuple[str, ...] = ()
    owner: str | None = None
    do_not_contact: str | None = None
    cool_down_days: int | None = None
    last_contact: date | None = None
    updated: datetime | None = None

    def __post_init__(self) -> None:
        _iri(self.id, "id")
        _text(self.name, "name", limit=_MAX_NAME, optional=False)
        _text(self.company, "organization", limit=_MAX_NAME)
        if (self.company is None) == (not self.identities):
            raise InvalidRecord(
                "a policy is about one person (identities) or one company", field="identities"
            )
        if not isinstance(self.identities, tuple) or len(self.identities) > MAX_IDENTITIES:
            raise InvalidRecord(f"identities must be at most {MAX_IDENTITIES} addresses", field="identities")
        for value in self.identities:
            _iri(value, "identities", schemes=IDENTITY_SCHEMES)
        if self.owner is not None:
            _iri(self.owner, "relationshipOwner")
        _text(self.do_not_contact, "doNotContact", limit=_MAX_TEXT)
        if self.cool_down_days is not None and (
            isinstance(self.cool_down_days, bool)
            or not isinstance(self.cool_down_days, int)
            or not 1 <= self.cool_down_days <= 3650
        ):
            raise InvalidRecord(
                "coolDownDays must be a whole number of days from 1 to 3650", field="coolDownDays"
            )
        _plain_date(self.last_contact, "lastContact")
        if self.updated is not None:
            _aware(self.updated, "updated")


@dataclass(frozen=True, kw_only=True, slots=True)
class OrganizationInfo:
    """What an organisation tells each member (an ``Update`` to their personal inbox whenever it changes):
    its directory, the highest level it takes (``cap``), the domains whose addresses are colleagues, and its
    contact policies. ``updated`` orders them: an older one arriving late is dropped."""

    id: str
    organization: str
    updated: datetime
    cap: str
    domains: tuple[str, ...] = ()
    members: tuple[DirectoryEntry, ...] = ()
    policies: tuple[ContactPolicy, ...] = ()

    def __post_init__(self) -> None:
        _iri(self.id, "id")
        _iri(self.organization, "attributedTo")
        if not same_origin(self.id, self.organization):
            raise InvalidRecord("the organisation's info lives on its own server", field="id")
        _aware(self.updated, "updated")
        level_rank(self.cap)
        if not isinstance(self.domains, tuple) or len(self.domains) > 100:
            raise InvalidRecord("domains must be at most 100 host names", field="domains")
        for domain in self.domains:
            if (
                not isinstance(domain, str)
                or not domain
                or len(domain) > 253
                or "/" in domain
                or "@" in domain
            ):
                raise InvalidRecord(f"{domain!r} is not a domain name", field="domains")
        if not isinstance(self.members, tuple) or len(self.members) > MAX_DIRECTORY:
            raise InvalidRecord(f"a directory lists at most {MAX_DIRECTORY} members", field="members")
        if not isinstance(self.policies, tuple) or len(self.policies) > MAX_POLICIES:
            raise InvalidRecord(f"at most {MAX_POLICIES} policies are told", field="policies")
