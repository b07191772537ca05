"""The federation runtime of one node: the pieces (store, guarded client, remote actors, intake, delivery,
inbox processing) wired together, plus the two reconciliation loops' workers.

Inbox items are processed side by side (federation/pump.py): ``INBOX_CONCURRENCY`` at once, ``INBOX_PER_HOST``
per sender host, and one at a time per actor, in the order they were received. An item whose processing
waits on a hanging server (an ``Update`` whose actor is re-fetched) holds its own slot; the other senders'
items go on around it.

``FederationContext`` is what the node passes in; ``Federation`` is built from it inside the running event
loop (the HTTP session needs one) by ``federation.setup``'s cleanup context, or directly in tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from federation import cards, org_share, profile
from federation.blocks import Blocks
from federation.delivery import DeliveryLoop, Withdrawn, backoff
from federation.errors import FetchError, FetchStatus, Gone
from federation.fetch import FetchPolicy, GuardedClient
from federation.inbox import Intake
from federation.org_ports import OrgPort
from federation.ports import GraphPort
from federation.pump import Busy, Pump
from federation.ratelimit import HostRateLimiter
from federation.remote import RemoteActors
from federation.signing import make_signer
from federation.store import DeliveryRow, FederationStore, InboxRow, Outgoing, StoredActor
from federation.urls import Urls, actor_document
from node.config import Config
from node.keys import KeyRing
from node.store.sqlite.db import Database
from protocol.errors import KithError, RemoteError

__all__ = [
    "INBOX_CONCURRENCY",
    "INBOX_MAX_ATTEMPTS",
    "INBOX_PER_HOST",
    "KEEP_DAYS",
    "OFFER_DAYS",
    "PRUNE_EVERY",
    "Federation",
    "FederationContext",
]

_log = logging.getLogger("kith.federation")

INBOX_MAX_ATTEMPTS = 6
INBOX_CONCURRENCY = 16  # inbox items processed at once
INBOX_PER_HOST = 4  # of which from any one sender host
OFFER_DAYS = 30  # an unanswered relationship offer expires (PROTOCOL.md §7.2)
#: Finished inbox items and private outbox activities are forgotten this long after they ended (FEDERATION.md).
#: Far beyond any sender's retries (Mastodon's last comes about three days on) and the 12-hour signature cap,
#: so that dedupe by activity id still catches every replay that could pass the signature checks.
KEEP_DAYS = 30
PRUNE_EVERY = 3600.0  # seconds between two prunes, in the inbox loop's quiet moments


@dataclass(kw_only=True)
class FederationContext:
    """Everything federation needs from the node. ``clock`` returns Unix seconds; tests pass a fake one."""

    config: Config
    keys: KeyRing
    db: Database
    graph: GraphPort
    clock: Callable[[], float] = time.time
    client_factory: Callable[[], GuardedClient] | None = None
    run_workers: bool = True  # False: nothing runs in the background; tests call run_once()
    # per peer host, requests a second after a burst: None takes federation.inbox_rate_per_host and
    # federation.inbox_burst_per_host from the configuration (benchmarks pass their own)
    inbox_rate: float | None = None
    inbox_burst: float | None = None
    rng: random.Random | None = None
    # hook: the organisation's records and queries (federation/org_ports.py); None: this node runs without them
    org: OrgPort | None = None


class Federation:
    def __init__(self, ctx: FederationContext, client: GuardedClient | None = None) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.keys = ctx.keys
        self.graph = ctx.graph
        self.org = ctx.org  # hook: organisations (federation/org.py)
        self.clock = ctx.clock
        self.rng = ctx.rng or random.Random()
        self.urls = Urls(ctx.config.base_url, ctx.config.node.username)
        self.store = FederationStore(ctx.db)
        self.blocks = Blocks(self.store)  # the one block decision (federation/blocks.py)
        self._next_prune = 0.0  # the clock's time of the next prune of old traffic
        # one publication of the card at a time (an owner's request and the background check may meet), and
        # one card received at a time, so that "newer than the last one applied" holds when applying it
        self.publish_lock = asyncio.Lock()
        self.card_lock = asyncio.Lock()
        self.rendered_cards: dict[tuple[int, str], dict[str, Any]] = {}  # (version, share) -> signed card
        self._recipients: dict[str, StoredActor] = {}  # the recipients of the delivery batch being sent
        if client is None:
            client = (
                ctx.client_factory()
                if ctx.client_factory
                else GuardedClient(FetchPolicy.from_config(ctx.config))
            )
        self.client = client
        # the node's Application actor signs every fetch (Mastodon's "authorized fetch" needs a signed GET)
        self.fetch_signer = make_signer(
            key_id=self.urls.node_key, private_key=ctx.keys.node_rsa, clock=ctx.clock
        )
        self.actors = RemoteActors(
            store=self.store,
            client=client,
            signer=self.fetch_signer,
            graph=ctx.graph,
            clock=ctx.clock,
            allow_http=ctx.config.federation.allow_http,
        )
        self._inbox: Pump[InboxRow] = Pump(
            name="inbox",
            claim=self._claim_inbox,
            run=self._process,
            ident=lambda row: row.seq,
            host=lambda row: row.host,
            lane=lambda row: row.actor_id,
            total=INBOX_CONCURRENCY,
            per_host=INBOX_PER_HOST,
            log=_log,
        )
        self.inbox_wake = self._inbox.wake  # the intake sets it when it stores something
        fed_config = ctx.config.federation
        self.intake = Intake(
            store=self.store,
            actors=self.actors,
            base_url=ctx.config.base_url,
            clock=ctx.clock,
            limiter=HostRateLimiter(
                rate=fed_config.inbox_rate_per_host if ctx.inbox_rate is None else ctx.inbox_rate,
                burst=fed_config.inbox_burst_per_host if ctx.inbox_burst is None else ctx.inbox_burst,
                clock=ctx.clock,
            ),
            on_stored=self.inbox_wake.set,
            owner=self.urls.owner,
            blocks=self.blocks,
        )
        self.delivery = DeliveryLoop(
            store=self.store,
            client=client,
            key_id=self.urls.owner_key,
            private_key=ctx.keys.owner_rsa,
            clock=ctx.clock,
            delivery_days=ctx.config.federation.delivery_days,
            rng=self.rng,
            prepare=self._prepare_delivery,
            prefetch=self._prefetch_recipients,
        )
        from federation.process import Processor  # the processor needs the whole runtime

        self.processor = Processor(self)
        self._tasks: list[asyncio.Task[None]] = []

    # ---- life cycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.store.release_locks()
        await self._publish_pending()  # a card saved just before a crash goes out now (issue #12 §2)
        await org_share.catch_up(
            self
        )  # hook: so does a change shared with an organisation (federation/org_share.py)
        if self.ctx.run_workers:
            self._tasks = [
                asyncio.create_task(self.delivery.run_forever(), name="kith-delivery"),
                asyncio.create_task(self._inbox_forever(), name="kith-inbox"),
            ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.client.close()

    # ---- our actors ------------------------------------------------------------------------------

    async def actor_document(self, which: str) -> dict[str, Any]:
        node = self.config.node
        if which == "owner":
            # the public part of the owner's card is their profile (federation/profile.py); the actor must be
            # served even when the graph is unwell (peers need its keys), so then it goes without the profile
            try:
                public = profile.actor_fields(await self.graph.public_card())
            except Exception:
                _log.exception("reading the owner's public profile failed; the actor is served without it")
                public = {}
            return actor_document(
                self.urls,
                which="owner",
                actor_type=node.actor_type,
                name=public.pop("name", None) or node.display_name or node.username,
                rsa_key=self.keys.owner_rsa,
                ed_key=self.keys.owner_ed25519,
                manually_approves=not self.config.federation.auto_accept_follows,
                also_known_as=await self.store.setting("also_known_as", []),
                moved_to=await self.store.setting("moved_to"),
                extra=public,
            )
        return actor_document(
            self.urls,
            which="node",
            actor_type="Application",
            name=f"Kith node {self.urls.host}",
            rsa_key=self.keys.node_rsa,
            ed_key=None,
            manually_approves=True,
        )

    # ---- sending ---------------------------------------------------------------------------------

    async def send(
        self,
        activity: dict[str, Any],
        inboxes: Iterable[str],
        *,
        public: bool = False,
        recipient: str | None = None,
    ) -> int:
        """Write the activity and its deliveries durably, then wake the delivery loop; the outbox seq.
        ``recipient``: the actor whose personal inbox ``inboxes`` is (the send-time checks ask about it)."""
        actor = activity.get("actor")
        tomb = await self.store.tombstone(actor) if isinstance(actor, str) else None
        if tomb is not None and activity["id"] != tomb.activity_id:
            # the last line of defence: callers refuse earlier (federation.owner.ensure_alive)
            raise Gone(f"{actor} was deleted; nothing more is sent as it")
        targets = [i for i in inboxes if i]
        seq = await self.store.enqueue(
            activity_id=activity["id"],
            type=activity["type"],
            body=json.dumps(activity),
            inboxes=targets,
            now=self.clock(),
            public=public,
            recipient=recipient,
        )
        self.delivery.wake.set()
        return seq

    async def send_all(
        self,
        items: list[Outgoing],
        *,
        settings: dict[str, Any] | None = None,
        also: Callable[[Any], Awaitable[None]] | None = None,
    ) -> None:
        """Several activities, the settings that record them and ``also`` (state changes), in one transaction
        (FederationStore.enqueue_many), then wake the delivery loop. Card and profile Updates withdraw the
        older ones still waiting for the same peer or inbox in that same transaction."""
        now = self.clock()
        writes = []
        card_peers = [i.recipient for i in items if i.kind == "card" and i.recipient]
        profile_inboxes = [inbox for i in items if i.kind == "profile" for inbox in i.inboxes]
        if card_peers:
            writes.append(self.store.supersede_writer("card", recipients=card_peers, now=now))
        if profile_inboxes:
            writes.append(self.store.supersede_writer("profile", inboxes=profile_inboxes, now=now))
        if settings:
            writes.append(self.store.settings_writer(settings))
        if also is not None:
            writes.append(also)

        async def together(conn: Any) -> None:
            for write in writes:
                await write(conn)

        if items or writes:
            await self.store.enqueue_many(items, now=now, also=together)
        self.delivery.wake.set()

    async def _prefetch_recipients(self, rows: list[DeliveryRow]) -> None:
        ids = sorted({r.actor_id for r in rows if r.actor_id})
        self._recipients = await self.store.actors(ids) if ids else {}

    async def recipient(self, actor_id: str) -> StoredActor | None:
        """A delivery's recipient as cached (read with its batch, else now)."""
        found = self._recipients.get(actor_id)
        return found if found is not None else await self.store.actor(actor_id)

    async def _prepare_delivery(self, row: DeliveryRow) -> str:
        """The send-time check of every delivery (federation/delivery.py ``prepare``): blocks of the recipient
        and its domain (federation/blocks.py), then cards and profiles rendered for what may be seen now."""
        recipient = row.actor_id
        if recipient is None and row.kind is None and await self.store.has_blocks():
            recipient = await self.store.actor_for_inbox(row.inbox)  # written without one: whose inbox?
        reason = await self.blocks.withholds(activity_type=row.type, inbox=row.inbox, recipient=recipient)
        if reason is not None:
            raise Withdrawn(reason)
        if row.kind == "card":
            return await cards.card_delivery(self, row)
        if row.kind == "profile":
            return await profile.profile_delivery(self, row)
        if row.kind == org_share.KIND:  # hook: a share goes only to an organisation we still belong to
            return await org_share.share_delivery(self, row)
        return row.body

    async def _publish_pending(self) -> None:
        try:
            await cards.publish_pending(self)
        except Exception:  # the graph or the database is unwell: logged, tried again in a quiet moment
            _log.exception("publishing the owner's card failed; will try again")

    def new_id(self, kind: str = "activities") -> str:
        return self.urls.new_id(kind)

    # ---- the inbox loop --------------------------------------------------------------------------

    async def process_inbox_once(self, limit: int = 512) -> int:
        """Process every due inbox item (up to ``limit``), side by side within the limits, and return when all
        are done; how many were taken. When none was due, a quiet moment's housekeeping runs instead."""
        taken = await self._inbox.drain(limit)
        if not taken:
            await self._quiet()
        return taken

    async def _claim_inbox(self, room: int, busy: Busy) -> list[InboxRow]:
        return await self.store.claim_inbox(
            self.clock(),
            limit=room,
            # held items are skipped by the claim whatever their lock says; a restart releases every lock
            lock_seconds=3600.0,
            per_host=busy.backlog,
            busy_hosts=busy.hosts,
            busy_seqs=[i for i in busy.ids if isinstance(i, int)],
        )

    async def _quiet(self) -> None:
        """Send a saved card change not sent yet (the owner's request failed), let unanswered offers expire,
        and forget old finished traffic (at most every PRUNE_EVERY)."""
        now = self.clock()
        await self._publish_pending()
        await org_share.quiet(self)  # hook: graph changes shared with organisations, introductions expire
        await self.store.expire_offers(now - OFFER_DAYS * 86400, now)
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_EVERY
            inbox, outbox = await self.store.prune(now - KEEP_DAYS * 86400)
            if inbox or outbox:
                _log.info("forgot %d old inbox items and %d old outbox activities", inbox, outbox)

    async def _process(self, row: InboxRow, release: Callable[[], None] | None = None) -> None:
        """Process one claimed item and record its outcome; it holds its slots throughout (``release`` unused:
        an item's own fetches are what its sender's host slots bound)."""
        now = self.clock()
        try:
            await self.processor.process(row.actor_id, json.loads(row.body))
        except FetchError as exc:  # the peer or a third party is unreachable: try again later
            asked = exc.retry_after if isinstance(exc, FetchStatus) else None
            await self._retry_later(row, exc.message, asked)
            return
        except (RemoteError, KithError) as exc:  # the activity itself is wrong: no retry helps
            _log.info("activity %s from %s refused: %s", row.activity_id, row.actor_id, exc.message)
            await self.store.finish_inbox(row.seq, state="rejected", now=now, error=exc.message)
            return
        except Exception as exc:  # a fault of ours (or the graph's): logged, retried, never a poison pill
            _log.exception("processing %s from %s failed", row.activity_id, row.actor_id)
            await self._retry_later(row, f"{type(exc).__name__}: {exc}"[:500])
            return
        await self.store.finish_inbox(row.seq, state="done", now=now)

    async def _retry_later(self, row: InboxRow, error: str, asked: float | None = None) -> None:
        now = self.clock()
        if row.attempts >= INBOX_MAX_ATTEMPTS:  # given up: kept, with its error, for the owner to see
            await self.store.finish_inbox(row.seq, state="rejected", now=now, error=error)
            return
        # not before a server's Retry-After (capped by the guarded client), whatever the back-off says
        retry_at = now + max(backoff(row.attempts, self.rng), asked or 0.0)
        await self.store.finish_inbox(row.seq, state="failed", now=now, error=error, retry_at=retry_at)

    async def _inbox_forever(self, idle: float = 5.0) -> None:
        await self._inbox.forever(idle, quiet=self._quiet)

    async def run_once(self) -> tuple[int, int]:
        """One step of both loops (inbox first, so that its answers go out in the same step)."""
        processed = await self.process_inbox_once()
        delivered = await self.delivery.run_once()
        return processed, delivered
