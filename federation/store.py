"""The federation store's contract beyond its method signatures (federation/ports.py's FederationStore), and the
store as one account sees it.

- ``BULK_TRANSITIONS``: the state changes a store implementation may make in bulk SQL, where no row-by-row check
  runs (claims, lock releases, dead-lettering, superseding, expiry). Each is checked against the lifecycles of
  protocol/states.py when this module loads; an implementation checks its own list against this one when it
  loads (node/store/sqlite/federation.py), so no transition happens in SQL that the tables do not declare.
- :func:`reused_id`: when an activity id already stored is a new request reusing it (the rule every
  implementation keeps, issue 19).
- :class:`AccountStore`: the store bound to one account. Everything federation does as an account goes through
  it, so that no code acting for one account can name another's rows. It keeps that account's blocks in memory
  for a short while (``BLOCK_CACHE_SECONDS``): every inbox request asks about them, and they change rarely.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from federation.ports import FederationStore
from federation.shared_reads import SharedReads
from federation.values import (
    Changes,
    DeliveryRow,
    FollowRow,
    HostRow,
    InboxRow,
    OfferRow,
    Outgoing,
    RemoteActor,
    StoredActor,
    TombstoneRow,
)
from protocol import cavage, rfc9421
from protocol.states import DELIVERY, FOLLOW_REQUEST, INBOX_ITEM, RELATIONSHIP_OFFER, Lifecycle

__all__ = [
    "BLOCK_CACHE_SECONDS",
    "BULK_TRANSITIONS",
    "REPLAY_WINDOW",
    "AccountStore",
    "BlockCache",
    "DeliveryRow",
    "FederationStore",
    "FollowRow",
    "HostRow",
    "InboxRow",
    "OfferRow",
    "Outgoing",
    "StoredActor",
    "TombstoneRow",
    "domains_of",
    "host_of",
    "reused_id",
]

#: (lifecycle, source, target) for every change a store makes in bulk, checked once here when the module loads.
BULK_TRANSITIONS: tuple[tuple[Lifecycle, str, str], ...] = (
    (FOLLOW_REQUEST, "pending", "cancelled"),  # superseded by a newer Follow
    (FOLLOW_REQUEST, "accepted", "ended"),
    (INBOX_ITEM, "received", "processing"),  # claim
    (INBOX_ITEM, "failed", "processing"),  # claim: due again
    (INBOX_ITEM, "processing", "processing"),  # claim: its worker's lock expired
    (INBOX_ITEM, "processing", "received"),  # its worker died or stopped
    (DELIVERY, "queued", "sending"),  # claim
    (DELIVERY, "retry_wait", "sending"),  # claim: due again
    (DELIVERY, "sending", "sending"),  # claim: its worker's lock expired
    (DELIVERY, "sending", "queued"),  # lock expired, or its worker died or stopped
    (DELIVERY, "queued", "dead"),  # host dead-lettered
    (DELIVERY, "retry_wait", "dead"),
    (DELIVERY, "dead", "queued"),  # host resumed, or probed
    (DELIVERY, "queued", "withdrawn"),  # superseded by a newer card or profile Update
    (DELIVERY, "retry_wait", "withdrawn"),
    (DELIVERY, "dead", "withdrawn"),
    (RELATIONSHIP_OFFER, "offered", "expired"),  # unanswered for 30 days
)
for _lifecycle, _source, _target in BULK_TRANSITIONS:
    _lifecycle.check(_source, _target)

#: How long a signed request can be replayed at all: a signature is valid for up to 12 hours after it was made,
#: made up to the clock skew in the future, and checked with the skew again (protocol/cavage.py, rfc9421.py).
REPLAY_WINDOW = max(cavage.MAX_EXPIRY, rfc9421.MAX_AGE) + 2 * max(cavage.CLOCK_SKEW, rfc9421.CLOCK_SKEW)
#: How long one process trusts its copy of an account's blocks (both ways) before reading them again: a block
#: made through this process counts at once (the copy is updated with the write); one written by another
#: process sharing the database (a restore from the command line) counts within this many seconds.
BLOCK_CACHE_SECONDS = 2.0


def host_of(url: str) -> str:
    return urlsplit(url).netloc.lower()


def domains_of(url: str) -> set[str]:
    """The domains a domain block may name to cover ``url``: its host[:port], its host and every parent."""
    host = urlsplit(url).hostname or ""
    labels = host.split(".")
    domains = {".".join(labels[i:]) for i in range(len(labels))}
    domains.add(host_of(url))
    return domains


def reused_id(
    *,
    prior_state: str,
    prior_actor: str,
    prior_request: str | None,
    prior_received_at: float,
    actor_id: str,
    request: str | None,
    now: float,
) -> bool:
    """Whether an activity whose id one account already stored (``prior_*``) is a new request reusing that id:
    the earlier item is finished (done or rejected), came from the same actor, and this is another signed
    request (servers that keep one record per relationship reuse a Follow's id after its Undo, issue 19). The
    very same signed request again is a replay."""
    if prior_state not in ("done", "rejected") or prior_actor != actor_id:
        return False  # still to be processed (it will do the work), or someone else's id
    if prior_request is None:  # stored before requests were kept: only a request too old to replay
        return request is not None and now - prior_received_at > REPLAY_WINDOW
    return request is not None and request != prior_request


@dataclass
class BlockCache:
    """One account's blocks and blocked-by, as last read (see AccountStore)."""

    blocks: set[tuple[str, str]] | None = None
    blocked_by: set[str] | None = None
    read_at: float = float("-inf")
    pending: set[tuple[str, str]] = field(default_factory=set)  # counted before their row is written
    # the read under way: requests and deliveries that find the cache stale together wait for one read
    reads: SharedReads[None, None] = field(default_factory=SharedReads)
    generation: int = 0  # counts forget_blocks: a read begun before one leaves the cache stale

    def fresh(self) -> bool:
        return time.monotonic() - self.read_at < BLOCK_CACHE_SECONDS


class AccountStore:
    """The federation store bound to one account (and the server's shared cache of remote actors)."""

    def __init__(self, store: FederationStore, account: str, cache: BlockCache | None = None) -> None:
        self.shared = store
        self.account = account
        self._cache = cache if cache is not None else BlockCache()

    # ---- remote actors (shared) ------------------------------------------------------------------------
    async def save_actor(self, actor: RemoteActor, doc: Mapping[str, Any], now: float) -> None:
        await self.shared.save_actor(actor, doc, now)

    async def actor(self, actor_id: str) -> StoredActor | None:
        return await self.shared.actor(actor_id)

    async def actor_by_key(self, key_id: str) -> StoredActor | None:
        return await self.shared.actor_by_key(key_id)

    async def actor_by_acct(self, acct: str) -> StoredActor | None:
        return await self.shared.actor_by_acct(acct)

    async def actors(self, actor_ids: Sequence[str]) -> dict[str, StoredActor]:
        return await self.shared.actors(actor_ids)

    async def kith_actors_on(self, host: str) -> list[RemoteActor]:
        return await self.shared.kith_actors_on(host)

    async def actor_for_inbox(self, inbox: str) -> str | None:
        return await self.shared.actor_for_inbox(inbox)

    async def mark_gone(self, actor_id: str) -> None:
        await self.shared.mark_gone(actor_id)

    async def set_moved(self, actor_id: str, target: str) -> None:
        await self.shared.set_moved(actor_id, target)

    # ---- follows ---------------------------------------------------------------------------------------
    async def add_follow(
        self, *, follow_id: str, direction: str, actor_id: str, state: str, now: float
    ) -> bool:
        return await self.shared.add_follow(
            self.account, follow_id=follow_id, direction=direction, actor_id=actor_id, state=state, now=now
        )

    async def follow(self, follow_id: str) -> FollowRow | None:
        return await self.shared.follow(self.account, follow_id)

    async def live_follow(self, direction: str, actor_id: str) -> FollowRow | None:
        return await self.shared.live_follow(self.account, direction, actor_id)

    async def live_follow_actors(self) -> list[str]:
        return await self.shared.live_follow_actors(self.account)

    async def follows(self, direction: str, states: Sequence[str]) -> list[FollowRow]:
        return await self.shared.follows(self.account, direction, states)

    async def set_follow_state(self, follow_id: str, state: str, now: float) -> None:
        await self.shared.set_follow_state(self.account, follow_id, state, now)

    # ---- relationship offers -----------------------------------------------------------------------------
    async def add_offer(
        self,
        *,
        offer_id: str,
        direction: str,
        actor_id: str,
        rel_type: str,
        record: Mapping[str, Any],
        now: float,
    ) -> bool:
        return await self.shared.add_offer(
            self.account,
            offer_id=offer_id,
            direction=direction,
            actor_id=actor_id,
            rel_type=rel_type,
            record=record,
            now=now,
        )

    async def offer(self, offer_id: str) -> OfferRow | None:
        return await self.shared.offer(self.account, offer_id)

    async def offers(self, states: Sequence[str]) -> list[OfferRow]:
        return await self.shared.offers(self.account, states)

    async def offer_by_record(self, record_id: str) -> OfferRow | None:
        return await self.shared.offer_by_record(self.account, record_id)

    async def set_offer_state(
        self, offer_id: str, state: str, now: float, final: Mapping[str, Any] | None = None
    ) -> None:
        await self.shared.set_offer_state(self.account, offer_id, state, now, final)

    # ---- outbox --------------------------------------------------------------------------------------------
    async def enqueue_many(
        self, items: Sequence[Outgoing], *, now: float, changes: Changes | None = None
    ) -> list[int]:
        seqs = await self.shared.enqueue_many(self.account, items, now=now, changes=changes)
        if changes is not None and changes.block is not None:
            written = (changes.block.kind, changes.block.value)
            self._cache.pending.discard(written)  # its row is on disk: a read from now on finds it
            self._blocks_now().add(written)
        return seqs

    async def in_outbox(self, activity_id: str) -> bool:
        return await self.shared.in_outbox(self.account, activity_id)

    async def public_outbox(self, limit: int = 20) -> tuple[int, list[dict[str, Any]]]:
        return await self.shared.public_outbox(self.account, limit)

    async def peer_status(self) -> list[dict[str, Any]]:
        return await self.shared.peer_status(self.account)

    async def delivery_counts(self) -> dict[str, int]:
        return await self.shared.delivery_counts(self.account)

    async def forget_body(self, activity_id: str) -> None:
        await self.shared.forget_body(self.account, activity_id)

    async def inbox_count(self, state: str | None = None) -> int:
        return await self.shared.inbox_count(state, account=self.account)

    async def deliveries_to(self, inbox: str) -> list[dict[str, Any]]:
        return [d for d in await self.shared.deliveries_to(inbox) if d.get("account") == self.account]

    async def host(self, host: str) -> HostRow | None:
        """A host's health (the server's: every account delivers through the same breaker)."""
        return await self.shared.host(host)

    # ---- blocks ----------------------------------------------------------------------------------------------
    async def _load(self) -> BlockCache:
        cache = self._cache
        if cache.blocks is None or cache.blocked_by is None or not cache.fresh():
            await cache.reads.read(None, self._read_blocks)
        return cache

    async def _read_blocks(self) -> None:
        cache, generation = self._cache, self._cache.generation
        blocks = set(await self.shared.block_set(self.account))
        blocked_by = await self.shared.blocked_by(self.account)
        if cache.generation == generation:
            cache.blocks, cache.blocked_by = blocks | cache.pending, blocked_by
            cache.read_at = time.monotonic()
        elif cache.blocks is None or cache.blocked_by is None:
            # a forget_blocks came meanwhile: its callers still need sets, and the next call reads again
            cache.blocks, cache.blocked_by = blocks | cache.pending, blocked_by

    def _blocks_now(self) -> set[tuple[str, str]]:
        if self._cache.blocks is None:
            self._cache.blocks = set()
            self._cache.read_at = float("-inf")  # read at next use; this one counts meanwhile
        return self._cache.blocks

    def forget_blocks(self) -> None:
        """Read the blocks again on next use (a restore wrote rows around this process)."""
        self._cache.read_at = float("-inf")
        self._cache.generation += 1
        self._cache.reads.forget(None)

    async def add_block(self, kind: str, value: str, now: float, block_id: str | None = None) -> None:
        await self.shared.add_block(self.account, kind, value, now, block_id)
        self._blocks_now().add((kind, value))

    async def block_in_memory(self, kind: str, value: str) -> Callable[[], Awaitable[None]]:
        """Count a block from now on, before its row is written (so nothing checked meanwhile slips through);
        returns what takes it back if the write fails."""
        cache = await self._load()
        assert cache.blocks is not None
        had = (kind, value) in cache.blocks
        cache.blocks.add((kind, value))
        cache.pending.add((kind, value))

        async def undo() -> None:
            cache.pending.discard((kind, value))
            if not had and cache.blocks is not None:
                cache.blocks.discard((kind, value))

        return undo

    async def remove_block(self, kind: str, value: str) -> str | None:
        block_id = await self.shared.remove_block(self.account, kind, value)
        cache = await self._load()
        assert cache.blocks is not None
        cache.blocks.discard((kind, value))
        return block_id

    async def blocks(self) -> list[dict[str, Any]]:
        return await self.shared.blocks(self.account)

    async def has_blocks(self) -> bool:
        cache = await self._load()
        return bool(cache.blocks)

    async def is_blocked(self, actor_id: str) -> bool:
        """Blocked when the actor or its host (or a parent domain of it) is blocked. A key id names its actor
        with a ``#fragment`` (``…/users/x#main-key``): the fragment is not part of the actor's id. The whole
        decision (keys without a fragment, server actors, aliases) is federation/blocks.py's."""
        blocks = (await self._load()).blocks
        if not blocks:
            return False
        if ("actor", actor_id) in blocks or ("actor", actor_id.split("#", 1)[0]) in blocks:
            return True
        return any(("domain", d) in blocks for d in domains_of(actor_id))

    async def add_blocked_by(self, actor_id: str, block_id: str, now: float) -> None:
        await self.shared.add_blocked_by(self.account, actor_id, block_id, now)
        cache = await self._load()
        assert cache.blocked_by is not None
        cache.blocked_by.add(actor_id)

    async def remove_blocked_by(self, actor_id: str) -> None:
        await self.shared.remove_blocked_by(self.account, actor_id)
        cache = await self._load()
        assert cache.blocked_by is not None
        cache.blocked_by.discard(actor_id)

    async def blocked_by(self) -> set[str]:
        return await self.shared.blocked_by(self.account)

    async def block_by_id(self, actor_id: str) -> str | None:
        return await self.shared.block_by_id(self.account, actor_id)

    async def is_blocked_by(self, actor_id: str) -> bool:
        blocked_by = (await self._load()).blocked_by
        return blocked_by is not None and actor_id in blocked_by

    # ---- tombstones --------------------------------------------------------------------------------------------
    async def add_tombstone(
        self, actor_id: str, *, former_type: str, activity_id: str, now: float
    ) -> TombstoneRow:
        return await self.shared.add_tombstone(
            self.account, actor_id, former_type=former_type, activity_id=activity_id, now=now
        )

    async def tombstone(self, actor_id: str) -> TombstoneRow | None:
        row = await self.shared.tombstone(actor_id)
        return row if row is not None and row.account == self.account else None

    # ---- settings -----------------------------------------------------------------------------------------------
    async def setting(self, key: str, default: Any = None) -> Any:
        return await self.shared.setting(self.account, key, default)

    async def set_setting(self, key: str, value: Any) -> None:
        await self.shared.set_setting(self.account, key, value)

    # ---- cards received -----------------------------------------------------------------------------------------
    async def card_received_version(self, actor_id: str) -> str | None:
        return await self.shared.card_received_version(self.account, actor_id)

    async def card_applied(
        self, actor_id: str, *, updated: str, activity_id: str | None, unverified: Sequence[str], now: float
    ) -> None:
        await self.shared.card_applied(
            self.account, actor_id, updated=updated, activity_id=activity_id, unverified=unverified, now=now
        )

    async def unverified_claims(self, actor_id: str) -> list[str]:
        return await self.shared.unverified_claims(self.account, actor_id)
