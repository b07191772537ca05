"""The plain values that cross federation's ports (federation/ports.py): what it knows of remote actors, and the
rows of its store. Frozen dataclasses of strings, numbers and mappings: no database type, no connection, no
node type (docs/ARCHITECTURE.md §2), so that any store implementation and any graph can hand them over.

Times in rows are Unix seconds from federation's clock; ``account`` is the name of the local account a row
belongs to (names are never reused, docs/ARCHITECTURE.md §8).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = [
    "PERSON_SOURCES",
    "ActorSource",
    "BlockChange",
    "CardVersion",
    "Changes",
    "DeliveryRow",
    "FollowRow",
    "HostRow",
    "InboxItem",
    "InboxRow",
    "OfferRow",
    "Outgoing",
    "RemoteActor",
    "StoredActor",
    "TombstoneRow",
]

#: How federation came to know an actor, which decides whether it may become a person in the owner's graph
#: (issue #12 §1: only actors the owner deals with enter it):
#: - "follower": the owner accepted its Follow; "following": the owner follows it (or asked to);
#: - "peer": a Kith exchange the owner is part of (a relationship confirmed or ended);
#: - "offer": the owner offers, or accepts, a relationship; "owner": an address the owner typed to deal with;
#: - "move": the target of a verified Move (the graph repoints the person who held the old actor, if any);
#: - "fetch": anything else: the signer of a request or a fetch, a key's owner, a pending follower, a blocked
#:   actor, an actor a card claims, an actor re-read after its Update. It never creates a person; it only
#:   refreshes the person who already holds the actor.
ActorSource = Literal["follower", "following", "peer", "offer", "move", "owner", "fetch"]
#: The sources that may create a person for an actor the graph does not know yet.
PERSON_SOURCES: frozenset[str] = frozenset({"follower", "following", "peer", "offer", "owner"})


@dataclass(frozen=True, kw_only=True, slots=True)
class CardVersion:
    """Which change of the owner's card (or of its disclosure) is the latest: ``seq`` grows by one with each,
    recorded in the same transaction as the change; ``updated`` is the card's ``updated``, strictly growing
    with ``seq`` (to the second), by which receivers drop an older card that arrives after a newer one."""

    seq: int
    updated: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class RemoteActor:
    """What we know about an actor from its (verified-origin) actor document."""

    id: str  # the actor URL; also its identity in the graph
    type: str  # Person, Organization, Application, Service, Group
    acct: str | None  # "user@host" after a successful WebFinger round trip, else None
    preferred_username: str | None
    name: str | None
    summary: str | None
    url: str | None  # the human-facing profile page
    icon: str | None
    inbox: str
    shared_inbox: str | None
    outbox: str | None
    followers: str | None
    following: str | None
    public_key_id: str
    public_key_pem: str
    also_known_as: tuple[str, ...] = ()
    moved_to: str | None = None
    is_kith: bool = False  # names the Kith protocol in FEP-844e ``implements``
    multikeys: tuple[tuple[str, str], ...] = ()  # (verification method id, publicKeyMultibase)
    fetched_at: datetime | None = None

    @property
    def host(self) -> str:
        return urlsplit(self.id).netloc.lower()


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredActor:
    """A cached actor document: the server's, shared by every account (it is the actor's public document)."""

    actor: RemoteActor
    doc: dict[str, Any]
    gone: bool
    fetched_at: float
    key_refetched_at: float | None


@dataclass(frozen=True, kw_only=True, slots=True)
class FollowRow:
    account: str
    follow_id: str
    direction: str  # 'in': they follow the account; 'out': the account follows them
    actor_id: str
    state: str  # FOLLOW_REQUEST (protocol/states.py)
    created_at: float
    updated_at: float

    @property
    def end_state(self) -> str:
        """Where an Undo, a Block or a Delete takes this follow (FOLLOW_REQUEST)."""
        return "cancelled" if self.state == "pending" else "ended"


@dataclass(frozen=True, kw_only=True, slots=True)
class TombstoneRow:
    """A deleted actor of this server (docs/ARCHITECTURE.md §4; specs/FEDERATION.md)."""

    account: str
    actor_id: str
    former_type: str
    activity_id: str  # the Delete sent for it
    deleted_at: float


@dataclass(frozen=True, kw_only=True, slots=True)
class OfferRow:
    account: str
    offer_id: str
    direction: str
    actor_id: str
    rel_type: str
    record: dict[str, Any]
    final: dict[str, Any] | None
    state: str  # RELATIONSHIP_OFFER
    created_at: float
    updated_at: float


@dataclass(frozen=True, kw_only=True, slots=True)
class InboxItem:
    """One verified activity to store for one local account (the shared inbox stores one per account it
    concerns). ``request``: a digest of the signed request that carried it (federation/store.py)."""

    account: str
    activity_id: str
    actor_id: str
    type: str
    body: str
    now: float
    request: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class InboxRow:
    seq: int
    account: str
    activity_id: str
    actor_id: str
    type: str
    body: str
    attempts: int
    host: str = ""  # the sender's host[:port], as the claim grouped it


@dataclass(frozen=True, kw_only=True, slots=True)
class DeliveryRow:
    id: int
    account: str  # whose outbox: the delivery is signed with that account's key
    outbox_seq: int
    activity_id: str
    body: str
    inbox: str
    host: str
    attempts: int
    created_at: float
    type: str = ""
    kind: str | None = None  # 'card' | 'profile': rendered again at send time
    actor_id: str | None = None  # the recipient of a personal delivery


@dataclass(frozen=True, kw_only=True, slots=True)
class Outgoing:
    """One activity to write to an account's outbox with its deliveries (FederationStore.enqueue_many)."""

    activity_id: str
    type: str
    body: str
    inboxes: Sequence[str]
    public: bool = False
    kind: str | None = None
    recipient: str | None = None  # the actor whose personal inbox ``inboxes`` is


@dataclass(frozen=True, kw_only=True, slots=True)
class BlockChange:
    """A block an account makes, and the follows it ends (each along FOLLOW_REQUEST): written in the
    transaction that queues what the block sends."""

    kind: str  # 'actor' | 'domain'
    value: str
    block_id: str | None
    follows_ended: tuple[tuple[str, str], ...] = ()  # (follow id, the state it ends in)


@dataclass(frozen=True, kw_only=True, slots=True)
class Changes:
    """State changes written in the same transaction as the activities that report them
    (FederationStore.enqueue_many): a kill leaves all of it or none."""

    settings: Mapping[str, Any] = field(default_factory=dict)
    #: withdraw the still-waiting card Updates to these recipients, and profile Updates to these inboxes
    supersede_cards: tuple[str, ...] = ()
    supersede_profiles: tuple[str, ...] = ()
    block: BlockChange | None = None

    def __bool__(self) -> bool:
        return bool(self.settings or self.supersede_cards or self.supersede_profiles or self.block)


@dataclass(frozen=True, kw_only=True, slots=True)
class HostRow:
    host: str
    failures: int
    first_failure_at: float | None
    open_until: float | None
    dead: bool
    scheme: str | None
