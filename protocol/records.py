"""Kith's records and the activities that carry them, as frozen, keyword-only, self-validating dataclasses.

Rules kept here:
- A record that exists is valid: each constructor checks its fields and raises InvalidRecord naming one.
- No JSON-LD names appear here; protocol/serialize.py is the one place that maps these to and from JSON.
- Privacy (docs/ARCHITECTURE.md §4): a relationship, an offer and a disclosed card are private; the activities carrying
  them refuse the public collection as an audience. A card shows a field only to the circles its disclosure
  rules name; with no rule, a field is private. The name is always shown.
- Pure: ids and times are given by the caller.

Spec: specs/PROTOCOL.md §Records and §Activities.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from protocol.errors import InvalidRecord
from protocol.proofs import DataIntegrityProof
from protocol.vocab import relationship_term

__all__ = [
    "ACTOR_KINDS",
    "CARD_FIELDS",
    "PUBLIC",
    "RELATIONSHIP_STATUSES",
    "Accept",
    "Acct",
    "Activity",
    "ActorKind",
    "ActorRef",
    "Block",
    "Delete",
    "FieldDisclosure",
    "Follow",
    "Move",
    "Offer",
    "ProfileCard",
    "Record",
    "Reject",
    "Relationship",
    "RelationshipStatus",
    "Undo",
    "Update",
    "same_origin",
]

#: The ActivityStreams public collection. Never an audience of anything private.
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"

ActorKind = Literal["Person", "Organization", "Application", "Service", "Group"]
ACTOR_KINDS: tuple[ActorKind, ...] = ("Person", "Organization", "Application", "Service", "Group")

RelationshipStatus = Literal["active", "ended"]
RELATIONSHIP_STATUSES: tuple[RelationshipStatus, ...] = ("active", "ended")

#: Card fields that disclosure rules govern (``name`` is always visible).
CARD_FIELDS = ("summary", "email", "phone", "website", "organization", "title", "photo", "identities")

_MAX_TEXT = 5_000
_MAX_SHORT = 300
_MAX_LIST = 50

_USER = re.compile(r"^[A-Za-z0-9_.~+\-]{1,128}$")
_HOST = re.compile(
    r"^(?=.{1,253}(:\d{1,5})?$)[a-z0-9]([a-z0-9\-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9\-]{0,61}[a-z0-9])?)*(:\d{1,5})?$"
)
_EMAIL = re.compile(r"^[^@\s<>]{1,64}@[^@\s<>]{1,253}\.[^@\s<>]{1,63}$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


# -- field checks --------------------------------------------------------------------------------------------


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


def _text(value: Any, name: str, *, limit: int = _MAX_SHORT, optional: bool = True) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidRecord(f"{name} must be non-blank text of at most {limit} characters", field=name)


def _iris(values: Any, name: str, *, schemes: tuple[str, ...] = ("https", "http")) -> None:
    if not isinstance(values, tuple):
        raise InvalidRecord(f"{name} must be a tuple", field=name)
    if len(values) > _MAX_LIST:
        raise InvalidRecord(f"{name} holds more than {_MAX_LIST} entries", field=name)
    if len(set(values)) != len(values):
        raise InvalidRecord(f"{name} lists an entry twice", field=name)
    for value in values:
        _iri(value, name, schemes=schemes)


def _aware(value: Any, name: str) -> None:
    if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
        raise InvalidRecord(f"{name} must be a timezone-aware datetime", field=name)


def _private_audience(to: tuple[str, ...], what: str) -> None:
    _iris(to, "to")
    if PUBLIC in to or "as:Public" in to or "Public" in to:
        raise InvalidRecord(f"{what} is private and is never addressed to the public collection", field="to")


def same_origin(a: str, b: str) -> bool:
    """Whether two http(s) IRIs share scheme, host and port."""
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.netloc.lower()) == (pb.scheme, pb.netloc.lower()) and bool(pa.netloc)


# -- actors ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Acct:
    """A WebFinger account address (RFC 7033 / RFC 7565): ``acct:user@host``."""

    user: str
    host: str

    def __post_init__(self) -> None:
        if not isinstance(self.user, str) or not _USER.match(self.user):
            raise InvalidRecord(f"account user part {self.user!r} is not valid", field="acct")
        if not isinstance(self.host, str) or not _HOST.match(self.host):
            raise InvalidRecord(f"account host {self.host!r} is not a lower-case host name", field="acct")

    @classmethod
    def parse(cls, text: str) -> Acct:
        """Read ``acct:user@host``, ``@user@host`` or ``user@host``; the host is lower-cased (IDNA)."""
        raw = text.strip()
        if raw.lower().startswith("acct:"):
            raw = raw[5:]
        raw = raw.removeprefix("@")
        user, sep, host = raw.rpartition("@")
        if not sep or not user or not host:
            raise InvalidRecord(
                f"{text!r} is not an account address; write it as acct:user@host", field="acct"
            )
        try:
            host = host.encode("idna").decode("ascii").lower() if not host.isascii() else host.lower()
        except UnicodeError as exc:
            raise InvalidRecord(f"account host {host!r} is not a valid domain", field="acct") from exc
        return cls(user=user, host=host)

    def __str__(self) -> str:
        return f"acct:{self.user}@{self.host}"


@dataclass(frozen=True, kw_only=True, slots=True)
class ActorRef:
    """Who an actor is, as far as records need: its id (an https IRI), kind, and optional account address."""

    id: str
    kind: ActorKind = "Person"
    acct: Acct | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        _iri(self.id, "id")
        if self.kind not in ACTOR_KINDS:
            raise InvalidRecord(f"actor kind must be one of {ACTOR_KINDS}", field="type")
        _text(self.name, "name")


# -- profile card ------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class FieldDisclosure:
    """One disclosure rule: which audiences (circle IRIs, or PUBLIC) may see one card field."""

    field: str
    visible_to: frozenset[str]

    def __post_init__(self) -> None:
        if self.field not in CARD_FIELDS:
            raise InvalidRecord(
                f"disclosure field {self.field!r} is not a card field; use one of {CARD_FIELDS}",
                field="field",
            )
        if not isinstance(self.visible_to, frozenset) or not self.visible_to:
            raise InvalidRecord("a disclosure rule names at least one audience", field="visibleTo")
        for audience in self.visible_to:
            _iri(audience, "visibleTo")


@dataclass(frozen=True, kw_only=True, slots=True)
class ProfileCard:
    """An owner's card. ``email`` holds bare addresses, ``phone`` E.164 numbers (``+441234567890``),
    ``identities`` IRIs of the owner on other networks (``acct:``, ``https:``, ``at:``, ``xmpp:``...)."""

    id: str
    owner: str
    name: str
    summary: str | None = None
    email: tuple[str, ...] = ()
    phone: tuple[str, ...] = ()
    website: tuple[str, ...] = ()
    organization: str | None = None
    title: str | None = None
    photo: str | None = None
    identities: tuple[str, ...] = ()
    updated: datetime | None = None
    disclosure: tuple[FieldDisclosure, ...] = ()

    def __post_init__(self) -> None:
        _iri(self.id, "id")
        _iri(self.owner, "attributedTo")
        if not same_origin(self.id, self.owner):
            raise InvalidRecord("a card lives on its owner's server (same origin as the owner)", field="id")
        _text(self.name, "name", optional=False)
        _text(self.summary, "summary", limit=_MAX_TEXT)
        _text(self.organization, "organization")
        _text(self.title, "title")
        for name, values, pattern, hint in (
            ("email", self.email, _EMAIL, "an e-mail address"),
            ("phone", self.phone, _E164, "an E.164 number such as +441234567890"),
        ):
            if not isinstance(values, tuple) or len(values) > _MAX_LIST or len(set(values)) != len(values):
                raise InvalidRecord(f"{name} must be a tuple of distinct values", field=name)
            for value in values:
                if not isinstance(value, str) or not pattern.match(value):
                    raise InvalidRecord(f"{name} entry {value!r} is not {hint}", field=name)
        _iris(self.website, "website")
        if self.photo is not None:
            _iri(self.photo, "photo")
        _iris(
            self.identities,
            "identities",
            schemes=("acct", "https", "http", "at", "xmpp", "mailto", "tel", "did"),
        )
        _aware(self.updated, "updated")
        if not isinstance(self.disclosure, tuple) or not all(
            isinstance(r, FieldDisclosure) for r in self.disclosure
        ):
            raise InvalidRecord("disclosure must be a tuple of FieldDisclosure", field="disclosure")
        fields = [rule.field for rule in self.disclosure]
        if len(set(fields)) != len(fields):
            raise InvalidRecord("each card field has at most one disclosure rule", field="disclosure")
        # One canonical order, so that equal cards compare equal and serialise identically.
        object.__setattr__(self, "disclosure", tuple(sorted(self.disclosure, key=lambda rule: rule.field)))

    def visible_fields(self, audiences: Iterable[str]) -> frozenset[str]:
        """The governed fields that any of ``audiences`` may see (PUBLIC rules apply to everyone)."""
        allowed = set(audiences) | {PUBLIC}
        return frozenset(rule.field for rule in self.disclosure if rule.visible_to & allowed)

    def render_for(self, audiences: Iterable[str]) -> ProfileCard:
        """The card as a peer in ``audiences`` may receive it: hidden fields emptied, rules removed."""
        visible = self.visible_fields(audiences)
        hidden: dict[str, Any] = {}
        for name in CARD_FIELDS:
            if name not in visible:
                hidden[name] = () if isinstance(getattr(self, name), tuple) else None
        return replace(self, disclosure=(), **hidden)


# -- relationship ------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Relationship:
    """A typed tie from ``subject`` to ``object``. ``relationship_type`` is a term IRI from protocol.vocab
    (a short name such as ``friend`` is accepted and stored as its IRI). A ``mutual`` relationship holds both
    ways and counts only once it carries a valid proof by each of its two owners (``proofs.verify_all`` with
    ``owners``); until then it is an offer. Negotiation state lives in states.RELATIONSHIP_OFFER, not here:
    ``status`` says only whether the tie is active or was ended."""

    id: str
    relationship_type: str
    subject: str
    object: str
    mutual: bool = False
    since: date | None = None
    how_we_met: str | None = None
    status: RelationshipStatus = "active"
    proofs: tuple[DataIntegrityProof, ...] = ()

    def __post_init__(self) -> None:
        _iri(self.id, "id")
        _iri(self.subject, "subject")
        _iri(self.object, "object")
        if self.subject == self.object:
            raise InvalidRecord("a relationship joins two different actors", field="object")
        if not same_origin(self.id, self.subject):
            raise InvalidRecord("a relationship's id is on its subject's server", field="id")
        term = relationship_term(self.relationship_type)
        object.__setattr__(self, "relationship_type", term.iri)  # normalise a short name to the IRI
        if not isinstance(self.mutual, bool):
            raise InvalidRecord("mutual must be true or false", field="mutual")
        if self.mutual and not term.mutual:
            raise InvalidRecord(
                f"{term.name!r} is directed; a mutual relationship needs a symmetric term such as 'friend' "
                "or 'colleague'",
                field="mutual",
            )
        if self.since is not None and (not isinstance(self.since, date) or isinstance(self.since, datetime)):
            raise InvalidRecord("since must be a date", field="since")
        _text(self.how_we_met, "howWeMet", limit=_MAX_TEXT)
        if self.status not in RELATIONSHIP_STATUSES:
            raise InvalidRecord(f"status must be one of {RELATIONSHIP_STATUSES}", field="status")
        if not isinstance(self.proofs, tuple) or not all(
            isinstance(p, DataIntegrityProof) for p in self.proofs
        ):
            raise InvalidRecord("proofs must be a tuple of DataIntegrityProof", field="proof")
        if len(self.proofs) > len(self.owners):
            raise InvalidRecord(f"a relationship carries at most {len(self.owners)} proofs", field="proof")

    @property
    def owners(self) -> tuple[str, ...]:
        """Whose proofs the record needs: both ends of a mutual relationship, else its subject."""
        return (self.subject, self.object) if self.mutual else (self.subject,)

    def unsigned(self) -> Relationship:
        return replace(self, proofs=())


# -- activities --------------------------------------------------------------------------------------------


def _activity_ids(activity_id: str, actor: str) -> None:
    _iri(activity_id, "id")
    _iri(actor, "actor")


@dataclass(frozen=True, kw_only=True, slots=True)
class Follow:
    """Follow as Mastodon expects it: a stable ``id`` (Undo and Accept cite it); ``object``: an actor id."""

    id: str
    actor: str
    object: str
    to: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _activity_ids(self.id, self.actor)
        _iri(self.object, "object")
        _iris(self.to, "to")
        if self.actor == self.object:
            raise InvalidRecord("an actor cannot follow itself", field="object")


@dataclass(frozen=True, kw_only=True, slots=True)
class Block:
    """Block of an actor (``object``), addressed to it as Mastodon addresses one."""

    id: str
    actor: str
    object: str
    to: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _activity_ids(self.id, self.actor)
        _iri(self.object, "object")
        _iris(self.to, "to")


@dataclass(frozen=True, kw_only=True, slots=True)
class Offer:
    """A relationship proposed to its other end (``target``), carrying the record signed by the offerer."""

    id: str
    actor: str
    object: Relationship
    target: str
    to: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _activity_ids(self.id, self.actor)
        _iri(self.target, "target")
        if not isinstance(self.object, Relationship):
            raise InvalidRecord("an Offer carries a Relationship", field="object")
        if self.object.subject != self.actor or self.object.object != self.target:
            raise InvalidRecord(
                "an Offer comes from the relationship's subject and goes to its object", field="target"
            )
        _private_audience(self.to, "an Offer")


@dataclass(frozen=True, kw_only=True, slots=True)
class Accept:
    """Accept of a Follow (Mastodon embeds the Follow) or of an Offer (``result``: the record both signed)."""

    id: str
    actor: str
    object: Follow | Offer | str
    result: Relationship | None = None
    to: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _activity_ids(self.id, self.actor)
        _reply_object(self.object, self.actor)
        if self.result is not None:
            if not isinstance(self.result, Relationship):
                raise InvalidRecord("an Accept's result is a Relationship", field="result")
            if isinstance(self.object, Follow):
                raise InvalidRecord("accepting a Follow produces no relationship record", field="result")
            if self.actor not in self.result.owners:
                raise InvalidRecord("only an owner of the relationship can accept it", field="result")
            _private_audience(self.to, "an Accept carrying a relationship")
        else:
            _iris(self.to, "to")


@dataclass(frozen=True, kw_only=True, slots=True)
class Reject:
    id: str
    actor: str
    object: Follow | Offer | str
    to: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _activity_ids(self.id, self.actor)
        _reply_object(self.object, self.actor)
        _private_audience(self.to, "a Reject")


def _reply_object(value: Any, actor: str) -> None:
    if isinstance(value, str):
        _iri(value, "object")
    elif isinstance(value, Follow):
        if value.object != actor:
            raise InvalidRecord("only the followed actor can answer a Follow", field="object")
    elif isinstance(value, Offer):
        if value.target != actor:
            raise InvalidRecord("only the offer's target can answer it", field="object")
    else:
        raise InvalidRecord("the object answered must be a Follow, an Offer or an id", field="object")


@dataclass(frozen=True, kw_only=True, slots=True)
class Undo:
    """Undo of the actor's own Follow, Block or Accept (Mastodon embeds the undone activity)."""

    id: str
    actor: str
    object: Follow | Block | Accept | str
    to: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _activity_ids(self.id, self.actor)
        if isinstance(self.object, str):
            _iri(self.object, "object")
        elif isinstance(self.object, Follow | Block | Accept):
            if self.object.actor != self.actor:
                raise InvalidRecord("an actor can only undo its own activities", field="object")
        else:
            raise InvalidRecord("Undo's object must be a Follow, Block, Accept or an id", field="object")
        _iris(self.to, "to")


@dataclass(frozen=True, kw_only=True, slots=True)
class Update:
    """Update of the actor's card (to Kith peers allowed to see it), of a relationship the actor ends
    (``status`` ended, signed by the actor), or of the actor document itself (``object`` a mapping: the actor
    as federation/ renders it, passed through untouched)."""

    id: str
    actor: str
    object: ProfileCard | Relationship | Mapping[str, Any]
    to: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _activity_ids(self.id, self.actor)
        if isinstance(self.object, Relationship):
            if self.actor not in (self.object.subject, self.object.object) or self.object.status != "ended":
                raise InvalidRecord("a relationship Update is one of its ends ending it", field="object")
            _private_audience(self.to, "a relationship")
        elif isinstance(self.object, ProfileCard):
            if self.object.owner != self.actor:
                raise InvalidRecord("an actor can only update its own card", field="object")
            if self.object.disclosure:
                raise InvalidRecord("render the card for its audience before sending it", field="disclosure")
            _private_audience(self.to, "a disclosed card")
        elif isinstance(self.object, Mapping):
            if self.object.get("id") != self.actor or self.object.get("type") not in ACTOR_KINDS:
                raise InvalidRecord("an actor Update carries the actor's own document", field="object")
            _iris(self.to, "to")
        else:
            raise InvalidRecord(
                "Update's object must be a ProfileCard, a Relationship or the actor document", field="object"
            )


@dataclass(frozen=True, kw_only=True, slots=True)
class Delete:
    """Delete of one of the actor's objects, or of the actor itself (``object == actor``)."""

    id: str
    actor: str
    object: str
    to: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _activity_ids(self.id, self.actor)
        _iri(self.object, "object")
        if not same_origin(self.object, self.actor):
            raise InvalidRecord("an actor can only delete objects on its own server", field="object")
        _iris(self.to, "to")


@dataclass(frozen=True, kw_only=True, slots=True)
class Move:
    """Move of an account (Mastodon): ``object`` is the old actor (= ``actor``), ``target`` the new one, which
    must list the old one in ``alsoKnownAs`` -- a check for whoever fetches the target."""

    id: str
    actor: str
    object: str
    target: str
    to: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _activity_ids(self.id, self.actor)
        _iri(self.object, "object")
        _iri(self.target, "target")
        if self.object != self.actor:
            raise InvalidRecord("an actor can only move itself", field="object")
        if self.target == self.actor:
            raise InvalidRecord("a Move needs a different target", field="target")
        _iris(self.to, "to")


Activity = Follow | Accept | Reject | Undo | Block | Update | Delete | Move | Offer
Record = ProfileCard | Relationship | Activity
