"""What federation needs from the server it runs in, declared as typed Protocols (docs/ARCHITECTURE.md §2).

Federation never imports node. It declares here what it needs, and node implements it and wires it in one place
(node/federation_wiring.py):

- :class:`FederationSettings`: federation's own options, built by node from its configuration;
- :class:`LocalActors`: the server's accounts (by name), their state and their keys, and the server's own key;
- :class:`GraphPort` (one per account, through :class:`GraphPorts`): what federation tells an account's contact
  graph and what it asks of it;
- :class:`FederationStore`: every row federation keeps. Each method that concerns one account names it
  (``account``, the account's name); the remote-actor cache and the hosts' health are the server's, shared.

Values crossing the ports are plain (federation/values.py): actor ids are the actor document URLs, cards and
relationship records are the compacted JSON-LD objects exactly as signed (the graph keeps them verbatim as
evidence), and ``RemoteActor`` is a frozen snapshot of an actor document taken when it was fetched. Every
method is a coroutine so that an implementation may use a database; none of them sends anything over the
network (federation does that itself, afterwards).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from federation.values import (
    PERSON_SOURCES,
    ActorSource,
    CardVersion,
    Changes,
    DeliveryRow,
    FollowRow,
    HostRow,
    InboxItem,
    InboxRow,
    OfferRow,
    Outgoing,
    RemoteActor,
    StoredActor,
    TombstoneRow,
)

__all__ = [
    "PERSON_SOURCES",
    "AccountState",
    "ActorSource",
    "CardVersion",
    "FederationSettings",
    "FederationStore",
    "FediMessage",
    "GraphPort",
    "GraphPorts",
    "LocalAccount",
    "LocalActors",
    "RemoteActor",
    "SigningKeys",
]

AccountState = Literal["active", "suspended", "removed", "purged"]


@dataclass(frozen=True, kw_only=True, slots=True)
class FederationSettings:
    """Federation's own options (node builds them from its configuration, node/federation_wiring.py)."""

    base_url: str  # the server's public origin, e.g. https://example.org (no trailing slash)
    server_name: str = ""  # NodeInfo's nodeName; empty: the host
    allow_http: bool = False  # plain-http federation (local testing only)
    allow_private_networks: tuple[str, ...] = ()  # CIDRs outbound fetches may reach although private
    fetch_timeout: float = 30.0
    auto_accept_follows: bool = True
    delivery_days: int = 3
    inbox_rate_per_host: float = 100.0
    inbox_burst_per_host: float = 400.0
    #: Other domains whose ``acct:`` addresses this server answers WebFinger for, each only for the accounts
    #: whose ``LocalAccount.alias`` names it (the Bluesky bridge's handle domain, issue #18)
    alias_domains: tuple[str, ...] = ()
    # deliveries in flight to one peer host, across every process (the claim gives a host to one worker at a
    # time: specs/POSTGRESQL.md §11); 1 is issue #14's rule
    per_host_requests: int = 1

    @property
    def host(self) -> str:
        return self.base_url.split("://", 1)[1]


@dataclass(frozen=True, kw_only=True, slots=True)
class LocalAccount:
    """One account of this server, as federation sees it: a local actor at ``/users/NAME``."""

    name: str
    actor_type: str  # Person | Organization
    display_name: str
    state: AccountState
    #: ``acct:USER@HOST``, the address the account goes by when it is not ``acct:NAME@DOMAIN``: a bridged
    #: Bluesky account's handle (issue #18). WebFinger names it as the subject, and USER is the actor's
    #: ``preferredUsername``, so that a server resolving the actor finds the same address both ways.
    alias: str = ""


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """An account actor's private keys: RSA signs its HTTP requests, Ed25519 its records' proofs."""

    rsa: rsa.RSAPrivateKey
    ed25519: ed25519.Ed25519PrivateKey


class LocalActors(Protocol):
    """The server's accounts. Read from the server's registry, cached a few seconds at most: an account added,
    suspended or removed beside a running server is seen within seconds, without a restart."""

    async def account(self, name: str) -> LocalAccount | None:
        """The account named ``name`` in any state, or None."""
        ...

    async def accounts(self, states: Sequence[AccountState]) -> Sequence[LocalAccount]:
        """The accounts in one of ``states``, in the order they were made."""
        ...

    async def keys(self, name: str) -> SigningKeys:
        """The account's private keys (an error saying what to do when they cannot be read)."""
        ...

    def server_key(self) -> rsa.RSAPrivateKey:
        """The key of the server's own ``Application`` actor, which signs fetches."""
        ...


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
    """What federation tells one account's contact graph, and what it asks of it ("the owner": that account)."""

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


class GraphPorts(Protocol):
    """The contact graph of each account."""

    def graph_for(self, account: str, *, walk: bool = False) -> AbstractAsyncContextManager[GraphPort]:
        """The account's graph for the length of one piece of work (processing an item, an owner's request,
        rendering a delivery). Removed accounts keep theirs until they are purged. ``walk``: the work is one
        step of a walk over every account (start-up, quiet moments): a graph opened for it is closed after it,
        so that the walk never holds every account's database (and its thread) open at once."""
        ...


class FederationStore(Protocol):
    """Every row federation keeps (the SQLite implementation is node/store/sqlite/federation.py).

    Writes are durable when they return. Queue claims take rows atomically, so that two workers never take the
    same row, and stamp them with the claiming ``worker``. Bulk state changes are only those
    ``federation.store.BULK_TRANSITIONS`` declares; row-by-row ones are checked against protocol/states.py."""

    # ---- remote actors: the server's cache, shared by every account ------------------------------------
    async def save_actor(self, actor: RemoteActor, doc: Mapping[str, Any], now: float) -> None: ...
    async def actor(self, actor_id: str) -> StoredActor | None: ...
    async def actor_by_key(self, key_id: str) -> StoredActor | None: ...
    async def actor_by_acct(self, acct: str) -> StoredActor | None: ...
    async def actors(self, actor_ids: Sequence[str]) -> dict[str, StoredActor]: ...
    async def kith_actors_on(self, host: str) -> list[RemoteActor]: ...
    async def actor_for_inbox(self, inbox: str) -> str | None:
        """The actor whose personal inbox this is, if one on the inbox's own origin names it."""
        ...

    async def note_key_refetch(self, actor_id: str, now: float) -> None: ...
    async def mark_gone(self, actor_id: str) -> None: ...
    async def set_moved(self, actor_id: str, target: str) -> None: ...

    # ---- which accounts an activity concerns -------------------------------------------------------------
    async def accounts_dealing_with(self, actor_id: str) -> set[str]:
        """Accounts with a live follow either way, a pending or confirmed relationship offer, or a card
        received from ``actor_id``."""
        ...

    async def owners_of(self, actor_id: str, ids: Sequence[str]) -> set[str]:
        """Accounts that hold one of ``ids`` as something exchanged with ``actor_id``: an activity of theirs
        delivered to it (to its inbox, or to a shared inbox of its server without a named recipient), a follow,
        offer, block or relationship record. An id another actor cites concerns no one."""
        ...

    # ---- follows -----------------------------------------------------------------------------------------
    async def add_follow(
        self, account: str, *, follow_id: str, direction: str, actor_id: str, state: str, now: float
    ) -> bool: ...
    async def follow(self, account: str, follow_id: str) -> FollowRow | None: ...
    async def live_follow(self, account: str, direction: str, actor_id: str) -> FollowRow | None: ...
    async def live_follow_actors(self, account: str) -> list[str]: ...
    async def follows(self, account: str, direction: str, states: Sequence[str]) -> list[FollowRow]: ...
    async def set_follow_state(self, account: str, follow_id: str, state: str, now: float) -> None: ...

    # ---- relationship offers -----------------------------------------------------------------------------
    async def add_offer(
        self,
        account: str,
        *,
        offer_id: str,
        direction: str,
        actor_id: str,
        rel_type: str,
        record: Mapping[str, Any],
        now: float,
    ) -> bool: ...
    async def offer(self, account: str, offer_id: str) -> OfferRow | None: ...
    async def offers(self, account: str, states: Sequence[str]) -> list[OfferRow]: ...
    async def offer_by_record(self, account: str, record_id: str) -> OfferRow | None: ...
    async def accounts_holding_record(self, record_id: str) -> list[str]:
        """Accounts holding a relationship record with this id (both ends, when two accounts of this server
        are related)."""
        ...

    async def set_offer_state(
        self, account: str, offer_id: str, state: str, now: float, final: Mapping[str, Any] | None = None
    ) -> None: ...
    async def expire_offers(self, created_before: float, now: float) -> int:
        """Every account's offers still unanswered that were made before ``created_before`` expire."""
        ...

    # ---- inbox ---------------------------------------------------------------------------------------------
    async def store_inbox_many(self, items: Sequence[InboxItem]) -> list[bool]:
        """Store verified activities in one write; for each, whether it was stored (False: a duplicate for
        that account)."""
        ...

    async def claim_inbox(
        self,
        now: float,
        *,
        worker: str,
        limit: int = 64,
        lock_seconds: float = 120,
        per_host: int | None = None,
        busy_hosts: Mapping[str, int] | None = None,
        busy_seqs: Iterable[int] = (),
    ) -> list[InboxRow]:
        """Due items of active accounts (a suspended account's wait), oldest first."""
        ...

    async def finish_inbox(
        self,
        seq: int,
        *,
        state: str,
        now: float,
        error: str | None = None,
        retry_at: float | None = None,
        worker: str | None = None,
    ) -> bool:
        """Record a processed item's outcome, only while it is ``worker``'s claim (state ``processing``, locked
        by ``worker``; by anyone when None). False, nothing written, when the claim was lost: its lock expired
        and the item went back to the queue or to another worker, whose outcome is the one."""
        ...

    async def forget_body(self, account: str, activity_id: str) -> None:
        """Keep the account's processed item for dedupe only: its body goes (an organisation's shared records,
        federation/org_share.py, must not outlive their withdrawal in the inbox's days of history)."""
        ...

    async def inbox_count(self, state: str | None = None, *, account: str | None = None) -> int: ...

    # ---- outbox and deliveries -----------------------------------------------------------------------------
    async def enqueue_many(
        self, account: str, items: Sequence[Outgoing], *, now: float, changes: Changes | None = None
    ) -> list[int]:
        """The activities, their deliveries and ``changes``, in ONE transaction; the outbox seqs."""
        ...

    async def in_outbox(self, account: str, activity_id: str) -> bool: ...
    async def public_outbox(self, account: str, limit: int = 20) -> tuple[int, list[dict[str, Any]]]: ...
    async def claim_deliveries(
        self,
        now: float,
        *,
        worker: str,
        limit: int = 256,
        lock_seconds: float = 120,
        per_host: int | None = None,
        busy_hosts: Mapping[str, int] | None = None,
        busy_ids: Iterable[int] = (),
    ) -> list[DeliveryRow]:
        """Due deliveries of accounts that are active or removed (a removed account's Delete still goes; a
        suspended account's wait) whose host's circuit is closed."""
        ...

    async def release_deliveries(self, ids: Sequence[int]) -> None: ...
    async def finish_delivery(
        self,
        delivery_id: int,
        *,
        state: str,
        now: float,
        status: int | None,
        error: str | None = None,
        retry_at: float | None = None,
        worker: str | None = None,
    ) -> bool:
        """Record an attempt's outcome, only while the row is ``worker``'s claim (as finish_inbox)."""
        ...

    async def delivery_counts(self, account: str | None = None) -> dict[str, int]: ...
    async def deliveries_to(self, inbox: str) -> list[dict[str, Any]]: ...
    async def peer_status(self, account: str) -> list[dict[str, Any]]: ...
    async def prune(self, before: float, *, limit: int = 1000) -> tuple[int, int]: ...

    # ---- hosts: breaker, dead letters, signature scheme (the server's) ---------------------------------------
    async def host(self, host: str) -> HostRow | None: ...
    async def hosts_for_claim(self, hosts: Sequence[str]) -> tuple[dict[str, HostRow], set[str]]:
        """For the hosts of a claimed batch, in one read: the rows of those known (breaker, scheme), and those
        on which a Kith actor is known (what the delivery loop asks of each host it sends to)."""
        ...

    async def host_succeeded(self, host: str, now: float, scheme: str | None) -> None: ...
    async def host_failed(self, host: str, now: float, *, open_for: float, dead_after: float) -> bool: ...
    async def host_probe_at(self, host: str, when: float) -> None: ...
    async def dead_hosts_due(self, now: float) -> list[str]: ...
    async def requeue_probe(self, host: str, now: float) -> None: ...

    # ---- workers and their locks -----------------------------------------------------------------------------
    async def register_worker(self, worker: str, now: float, *, stale_after: float) -> int:
        """A worker starts: release the locks its previous run held (it died holding them) and those of
        workers not heard from for ``stale_after`` seconds; how many rows were released."""
        ...

    async def heartbeat(self, worker: str, now: float, *, stale_after: float) -> int:
        """The worker is alive; locks of workers silent for ``stale_after`` seconds are released."""
        ...

    async def retire_worker(self, worker: str) -> None:
        """The worker stops cleanly: what it holds goes back to the queues."""
        ...

    # ---- blocks, both ways -----------------------------------------------------------------------------------
    async def block_set(self, account: str) -> frozenset[tuple[str, str]]: ...
    async def blocks(self, account: str) -> list[dict[str, Any]]: ...
    async def add_block(
        self, account: str, kind: str, value: str, now: float, block_id: str | None = None
    ) -> None: ...
    async def remove_block(self, account: str, kind: str, value: str) -> str | None: ...
    async def blocked_by(self, account: str) -> set[str]: ...
    async def add_blocked_by(self, account: str, actor_id: str, block_id: str, now: float) -> None: ...
    async def remove_blocked_by(self, account: str, actor_id: str) -> None: ...
    async def block_by_id(self, account: str, actor_id: str) -> str | None: ...

    # ---- our deleted actors --------------------------------------------------------------------------------
    async def add_tombstone(
        self, account: str, actor_id: str, *, former_type: str, activity_id: str, now: float
    ) -> TombstoneRow: ...
    async def tombstone(self, actor_id: str) -> TombstoneRow | None: ...

    # ---- an account actor's settings (aliases, movedTo, what was last published) ----------------------------
    async def setting(self, account: str, key: str, default: Any = None) -> Any: ...
    async def set_setting(self, account: str, key: str, value: Any) -> None: ...

    # ---- cards received from Kith peers ----------------------------------------------------------------------
    async def card_received_version(self, account: str, actor_id: str) -> str | None: ...
    async def card_applied(
        self,
        account: str,
        actor_id: str,
        *,
        updated: str,
        activity_id: str | None,
        unverified: Sequence[str],
        now: float,
    ) -> None: ...
    async def unverified_claims(self, account: str, actor_id: str) -> list[str]: ...
