"""The one interface between federation and the contact graph (docs/ARCHITECTURE.md §2).

Federation never touches the graph's tables. It tells the graph what it learned about remote actors and
asks it what the owner has chosen to disclose, through :class:`GraphPort`; ``node/federation_port.py``
implements it over the real graph, and tests may use an in-memory one. Every method is a coroutine so that an
implementation may use the database; none of them sends anything over the network (federation does that
itself, afterwards).

Values crossing the port are plain: actor ids are the actor document URLs, cards and relationship records are
the compacted JSON-LD objects exactly as signed (the graph keeps them verbatim as evidence), and
``RemoteActor`` is a frozen snapshot of an actor document taken when it was fetched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

__all__ = ["PERSON_SOURCES", "ActorSource", "CardVersion", "FediMessage", "GraphPort", "RemoteActor"]

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
    """What we know about a remote actor from its (verified-origin) actor document."""

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
        from urllib.parse import urlsplit

        return urlsplit(self.id).netloc.lower()


@dataclass(frozen=True, kw_only=True, slots=True)
class FediMessage:
    """A private message or mention between the owner and one actor (federation/messages.py): never its text,
    only where it is and what it answers, as mail capture keeps headers only (issue 16 §1)."""

    object_id: str  # the Note's id: one interaction per note, whichever way and however often it arrives
    actor_id: str  # the other side: the sender of an incoming note, the recipient of ours
    direction: Literal["in", "out"]
    url: str  # the note's page on its sender's origin (or its id)
    published: datetime | None  # as the note says (None: unreadable), checked by the graph against now
    in_reply_to: str | None  # the note it answers: a note of ours threads the reply into that conversation
    private: bool  # addressed to named actors only (Mastodon's "direct"); False for a mention in a post


class GraphPort(Protocol):
    """What federation tells the contact graph, and what it asks of it."""

    async def remote_actor_seen(self, actor: RemoteActor, *, source: ActorSource) -> str | None:
        """Record (or refresh) the identity ``actor.id`` with its fields; attach it to the right person
        (merge rules apply: e.g. an ``alsoKnownAs`` the graph already knows). Return the person's id, or None
        when no person holds the actor and ``source`` is not in PERSON_SOURCES (then nothing is written).
        Called for every remote actor federation learns of, including on ``Update`` of an actor."""
        ...

    async def actor_gone(self, actor_id: str) -> None:
        """A verified ``Delete`` of the actor: mark the identity gone (keep the person and the history)."""
        ...

    async def actor_moved(self, old_id: str, new_actor: RemoteActor) -> None:
        """A verified ``Move`` (the new actor lists ``old_id`` in ``alsoKnownAs``): repoint the identity of
        the person from ``old_id`` to ``new_actor`` (its acct and fields), keeping the old one as history."""
        ...

    async def card_received(self, actor_id: str, card: Mapping[str, Any]) -> None:
        """A Kith peer's owner sent their profile card (an ``Update`` signed by them, newer than the last one
        applied): update that person's identities and fields with provenance "peer". ``card`` holds only what
        the peer chose to disclose to us; fields absent from it were withdrawn. Its ``identities`` are only
        those whose actors confirmed them (federation checked: the claimed actor names the card's author in
        ``alsoKnownAs``, or the same key signs both); the others stay out of the graph. Ignored when no person
        holds ``actor_id``: a card from someone the owner does not deal with does not enter the graph."""
        ...

    async def relationship_confirmed(self, actor_id: str, record: Mapping[str, Any]) -> None:
        """A relationship with the owner of ``actor_id`` is confirmed: ``record`` carries both owners' proofs.
        Store it on the person (replacing an earlier record with the same ``id``)."""
        ...

    async def relationship_revoked(self, actor_id: str, record_id: str) -> None:
        """Either side revoked the relationship record ``record_id``: mark it revoked."""
        ...

    async def message_received(self, message: FediMessage) -> None:
        """A note that names the owner arrived from ``message.actor_id`` (or the owner sent one to it): log it as
        an interaction with the person who holds that actor, once per ``object_id``, in the conversation of
        the note it replies to when the graph knows that note. Ignored when no person holds the actor: a
        message from a stranger does not make them a person (issue #12 §1)."""
        ...

    async def card_for(self, actor_id: str) -> Mapping[str, Any] | None:
        """The owner's card as ``actor_id`` may see it (per-circle disclosure), or None when they may see
        nothing. The mapping is the card's fields in compacted JSON-LD form (without ``id``/``proof``;
        federation adds those and signs)."""
        ...

    async def peers_allowed_to_see_card(self) -> Sequence[str]:
        """Actor ids of the Kith peers whose circles may see some part of the owner's card. Like ``card_for``,
        it follows only actor identities recorded from the actors' own documents, never identities a card
        claimed."""
        ...

    async def card_version(self) -> CardVersion | None:
        """The latest change of the owner's card or its disclosure (None: no card yet)."""
        ...

    async def public_card(self) -> Mapping[str, Any] | None:
        """The card fields the owner discloses to the public, with the name (ProfileCard names, as
        ``card_for``): the owner's public profile, which their actor document shows. None: nothing public."""
        ...
