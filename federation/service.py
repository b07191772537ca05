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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from federation.delivery import DeliveryLoop, backoff
from federation.errors import FetchError, FetchStatus
from federation.fetch import FetchPolicy, GuardedClient
from federation.inbox import Intake
from federation.ports import GraphPort
from federation.pump import Busy, Pump
from federation.ratelimit import HostRateLimiter
from federation.remote import RemoteActors
from federation.signing import make_signer
from federation.store import FederationStore, InboxRow
from federation.urls import Urls, actor_document
from node.config import Config
from node.keys import KeyRing
from node.store.db import Database
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


class Federation:
    def __init__(self, ctx: FederationContext, client: GuardedClient | None = None) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.keys = ctx.keys
        self.graph = ctx.graph
        self.clock = ctx.clock
        self.rng = ctx.rng or random.Random()
        self.urls = Urls(ctx.config.base_url, ctx.config.node.username)
        self.store = FederationStore(ctx.db)
        self._next_prune = 0.0  # the clock's time of the next prune of old traffic
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
        )
        self.delivery = DeliveryLoop(
            store=self.store,
            client=client,
            key_id=self.urls.owner_key,
            private_key=ctx.keys.owner_rsa,
            clock=ctx.clock,
            delivery_days=ctx.config.federation.delivery_days,
            rng=self.rng,
        )
        from federation.process import Processor  # the processor needs the whole runtime

        self.processor = Processor(self)
        self._tasks: list[asyncio.Task[None]] = []

    # ---- life cycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.store.release_locks()
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
            return actor_document(
                self.urls,
                which="owner",
                actor_type=node.actor_type,
                name=node.display_name or node.username,
                rsa_key=self.keys.owner_rsa,
                ed_key=self.keys.owner_ed25519,
                manually_approves=not self.config.federation.auto_accept_follows,
                also_known_as=await self.store.setting("also_known_as", []),
                moved_to=await self.store.setting("moved_to"),
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

    async def send(self, activity: dict[str, Any], inboxes: Iterable[str], *, public: bool = False) -> int:
        """Write the activity and its deliveries durably, then wake the delivery loop; the outbox seq."""
        targets = [i for i in inboxes if i]
        seq = await self.store.enqueue(
            activity_id=activity["id"],
            type=activity["type"],
            body=json.dumps(activity),
            inboxes=targets,
            now=self.clock(),
            public=public,
        )
        self.delivery.wake.set()
        return seq

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
        """Let unanswered offers expire, and forget old finished traffic (at most every PRUNE_EVERY)."""
        now = self.clock()
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
