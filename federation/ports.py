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

__all__ = ["ActorSource", "GraphPort", "RemoteActor"]

#: How federation came to know an actor: it followed us, we followed it, a Kith peer exchange, a relationship
#: offer, a Move target, an address the owner typed, or a plain fetch (e.g. the author of an embedded object).
ActorSource = Literal["follower", "following", "peer", "offer", "move", "owner", "fetch"]


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


class GraphPort(Protocol):
    """What federation tells the contact graph, and what it asks of it."""

    async def remote_actor_seen(self, actor: RemoteActor, *, source: ActorSource) -> str:
        """Record (or refresh) the identity ``actor.id`` with its fields; attach it to the right person
        (merge rules apply: e.g. an ``alsoKnownAs`` the graph already knows). Return the person's id. Called
        for every remote actor federation learns of, including on ``Update`` of an actor."""
        ...

    async def actor_gone(self, actor_id: str) -> None:
        """A verified ``Delete`` of the actor: mark the identity gone (keep the person and the history)."""
        ...

    async def actor_moved(self, old_id: str, new_actor: RemoteActor) -> None:
        """A verified ``Move`` (the new actor lists ``old_id`` in ``alsoKnownAs``): repoint the identity of
        the person from ``old_id`` to ``new_actor`` (its acct and fields), keeping the old one as history."""
        ...

    async def card_received(self, actor_id: str, card: Mapping[str, Any]) -> None:
        """A Kith peer's owner sent their profile card (an ``Update`` signed by them): update that person's
        identities and fields with provenance "peer" and verification "signed by owner". ``card`` holds only
        what the peer chose to disclose to us; fields absent from it were withdrawn."""
        ...

    async def relationship_confirmed(self, actor_id: str, record: Mapping[str, Any]) -> None:
        """A relationship with the owner of ``actor_id`` is confirmed: ``record`` carries both owners' proofs.
        Store it on the person (replacing an earlier record with the same ``id``)."""
        ...

    async def relationship_revoked(self, actor_id: str, record_id: str) -> None:
        """Either side revoked the relationship record ``record_id``: mark it revoked."""
        ...

    async def card_for(self, actor_id: str) -> Mapping[str, Any] | None:
        """The owner's card as ``actor_id`` may see it (per-circle disclosure), or None when they may see
        nothing. The mapping is the card's fields in compacted JSON-LD form (without ``id``/``proof``;
        federation adds those and signs)."""
        ...

    async def peers_allowed_to_see_card(self) -> Sequence[str]:
        """Actor ids of the Kith peers whose circles may see some part of the owner's card."""
        ...
