"""The federation runtime of one server: the pieces (store, guarded client, remote actors, intake, delivery, inbox
processing) wired together, the two reconciliation loops' workers, and each account's view of them.

- :class:`Federation` is the server's: one guarded client, one cache of remote actors, one intake (personal
  inboxes and the shared inbox), one delivery loop and one inbox loop for every account.
- :class:`AccountFederation` is one account acting as its actor (``Federation.acting(name)``): its URLs, keys,
  graph (borrowed for the piece of work), its store rows (federation/store.py's AccountStore) and blocks. The
  owner's operations (federation/owner.py), inbox processing (federation/process.py) and the card and profile
  code take it, so that nothing they do can reach another account's rows or graph.

Inbox items are processed side by side (federation/pump.py): ``INBOX_CONCURRENCY`` at once, ``INBOX_PER_HOST``
per sender host, and one at a time per (account, actor), in the order they were received. An item whose
processing waits on a hanging server holds its own slot; the other senders' items go on around it.

``FederationContext`` is what the node passes in (node/federation_wiring.py); ``Federation`` is built from it
inside the running event loop (the HTTP session needs one) by ``federation.setup``'s cleanup context, or
directly in tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from federation import audience, cards, org_share, profile
from federation.blocks import Blocks
from federation.delivery import DeliveryLoop, Withdrawn, backoff
from federation.errors import FetchError, FetchStatus, Gone, NotFound
from federation.fetch import FetchPolicy, GuardedClient
from federation.inbox import Intake
from federation.org_ports import OrgPort, OrgPorts
from federation.ports import (
    FederationSettings,
    FederationStore,
    GraphPort,
    GraphPorts,
    LocalAccount,
    LocalActors,
    SigningKeys,
)
from federation.pump import Busy, Pump
from federation.ratelimit import HostRateLimiter
from federation.remote import AccountActors, RemoteActors
from federation.shared_reads import SharedReads
from federation.signing import make_signer
from federation.store import AccountStore, BlockCache
from federation.urls import Urls, actor_document
from federation.values import BlockChange, Changes, DeliveryRow, InboxRow, Outgoing, StoredActor
from protocol.errors import KithError, RemoteError

__all__ = [
    "CARD_SWEEP",
    "INBOX_CONCURRENCY",
    "INBOX_MAX_ATTEMPTS",
    "INBOX_PER_HOST",
    "KEEP_DAYS",
    "OFFER_DAYS",
    "PRUNE_EVERY",
    "WORKER_STALE",
    "AccountFederation",
    "Federation",
    "FederationContext",
    "default_worker",
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
#: A worker not heard from for this long (seconds) is taken for dead: the rows it held are released. Workers
#: beat every quarter of it, and every idle cycle of the inbox loop (5 s). The default of
#: FederationContext.worker_stale (``federation.worker_stale_seconds``).
WORKER_STALE = 60.0
#: Accounts whose card is compared with what was last published in one quiet moment, besides those flagged: a
#: change saved by another process (the command line) goes out within a few rounds, and a server of a thousand
#: accounts opens a few dozen graphs per quiet moment, not a thousand.
CARD_SWEEP = 32


def default_worker(port: int = 0) -> str:
    """The worker name of a ``kith serve`` process: its machine and the port it listens on. Stable across
    restarts of one serving process (a systemd unit per port), so that a process that starts again releases what
    its previous run held at once (FederationStore.register_worker); different for two ``kith serve`` processes
    on one machine, which listen on different ports (one sharing the other's name would release the other's
    rows as its own, and both would finish them). Port 0 (a port chosen by the system, tests): the process id."""
    return f"serve@{socket.gethostname()}:{port or f'pid{os.getpid()}'}"


@dataclass(kw_only=True)
class FederationContext:
    """Everything federation needs from the server (federation/ports.py). ``clock`` returns Unix seconds; tests
    pass a fake one."""

    settings: FederationSettings
    store: FederationStore
    local: LocalActors
    graphs: GraphPorts
    clock: Callable[[], float] = time.time
    client_factory: Callable[[], GuardedClient] | None = None
    run_workers: bool = True  # False: nothing runs in the background; tests call run_once()
    # True: this process takes requests only (``kith serve --no-workers``): its intake stores what arrives and
    # its owner API queues what to send, and ``kith worker`` processes do the rest (docs/DEPLOYMENT.md)
    intake_only: bool = False
    # deliveries in flight at once (None: the delivery loop's default). A worker sharing the queues with others
    # also holds at most twice this many claimed rows, so that the others get their share of a fan-out
    concurrency: int | None = None
    # a worker not heard from for this long (seconds) is taken for dead and the rows it held go back to the
    # queues; each running worker beats every quarter of it (federation.worker_stale_seconds)
    worker_stale: float = WORKER_STALE
    # per peer host, requests a second after a burst: None takes the settings' (benchmarks pass their own)
    inbox_rate: float | None = None
    inbox_burst: float | None = None
    rng: random.Random | None = None
    worker: str = "main"  # stamped on the queue rows this process claims
    # each account's organisation records (federation/org_ports.py); None: this server runs without them
    orgs: OrgPorts | None = None


@dataclass
class _AccountState:
    """What one process keeps per account between pieces of work."""

    # one publication of the card at a time (an owner's request and the background check may meet), and one
    # card received at a time, so that "newer than the last one applied" holds when applying it
    publish_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    card_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    seen_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    rendered_cards: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)
    blocks: BlockCache = field(default_factory=BlockCache)
    # a profile Update's body, rendered for the rows of it being prepared at the same moment (activity id ->
    # the render under way: federation/profile.py's profile_delivery)
    profile_renders: SharedReads[str, str] = field(default_factory=SharedReads)
    # organisations (federation/org_share.py, org_intro.py): one reconcile per organisation at a time, and one
    # introducer's answer at a time
    org_share_locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    org_intro_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Federation:
    def __init__(self, ctx: FederationContext, client: GuardedClient | None = None) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.store = ctx.store
        self.local = ctx.local
        self.graphs = ctx.graphs
        self.orgs = ctx.orgs
        self.org_timers = org_share.Timers()  # when the quiet moments next look at organisations
        self.clock = ctx.clock
        self.rng = ctx.rng or random.Random()
        self.urls = Urls(ctx.settings.base_url)  # the server's; an account's: self.urls.of(name)
        self.worker = ctx.worker
        self._states: dict[str, _AccountState] = {}
        self._keys: dict[str, SigningKeys] = {}
        self._next_prune = 0.0  # the clock's time of the next prune of old traffic
        self._card_due: set[str] = set()  # accounts whose card must be compared with what was published
        self._card_sweep: list[str] = []  # the accounts still to compare in this round of the sweep
        self._recipients: dict[str, StoredActor] = {}  # the recipients of the delivery batch being sent
        if client is None:
            client = (
                ctx.client_factory()
                if ctx.client_factory
                else GuardedClient(FetchPolicy.from_settings(ctx.settings))
            )
        self.client = client
        from federation.local import LocalTransport  # serves this server's own URLs without the network

        client.local = LocalTransport(self)
        # the server's Application actor signs every fetch (Mastodon's "authorized fetch" needs a signed GET)
        self.fetch_signer = make_signer(
            key_id=self.urls.node_key, private_key=ctx.local.server_key(), clock=ctx.clock
        )
        self.actors = RemoteActors(
            store=self.store,
            client=client,
            signer=self.fetch_signer,
            clock=ctx.clock,
            allow_http=ctx.settings.allow_http,
        )
        self._inbox: Pump[InboxRow] = Pump(
            name="inbox",
            claim=self._claim_inbox,
            run=self._process,
            ident=lambda row: row.seq,
            host=lambda row: row.host,
            lane=lambda row: (row.account, row.actor_id),
            total=INBOX_CONCURRENCY,
            per_host=INBOX_PER_HOST,
            log=_log,
        )
        self.inbox_wake = self._inbox.wake  # the intake sets it when it stores something
        settings = ctx.settings
        self.intake = Intake(
            store=self.store,
            actors=self.actors,
            base_url=settings.base_url,
            clock=ctx.clock,
            limiter=HostRateLimiter(
                rate=settings.inbox_rate_per_host if ctx.inbox_rate is None else ctx.inbox_rate,
                burst=settings.inbox_burst_per_host if ctx.inbox_burst is None else ctx.inbox_burst,
                clock=ctx.clock,
            ),
            on_stored=self.inbox_wake.set,
            recipients=self,
        )
        self.delivery = DeliveryLoop(
            store=self.store,
            client=client,
            keys=self._delivery_key,
            clock=ctx.clock,
            delivery_days=settings.delivery_days,
            rng=self.rng,
            prepare=self._prepare_delivery,
            prefetch=self._prefetch_recipients,
            worker=self.worker,
            per_host=settings.per_host_requests,
            **(
                {}
                if ctx.concurrency is None
                else {"concurrency": ctx.concurrency, "held": 2 * ctx.concurrency}
            ),
        )
        self._tasks: list[asyncio.Task[None]] = []

    # ---- life cycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        if self.ctx.intake_only:  # ``kith serve --no-workers``: claims nothing, holds nothing, is no worker
            return
        released = await self.store.register_worker(
            self.worker, self.clock(), stale_after=self.ctx.worker_stale
        )
        if released:
            _log.info("took back %d queue rows a stopped worker held", released)
        # a card saved just before a crash goes out now (issue #12 §2), every account's: compared at start
        self._card_due.update(a.name for a in await self.local.accounts(("active",)))
        if self.ctx.run_workers:
            self._tasks = [
                asyncio.create_task(self.delivery.run_forever(), name="kith-delivery"),
                asyncio.create_task(self._inbox_forever(), name="kith-inbox"),
                asyncio.create_task(self._housekeeping(), name="kith-federation-start"),
                # the beat does not wait for an idle moment: a worker busy for minutes is alive, and another
                # worker must not take its rows back (docs/DEPLOYMENT.md)
                asyncio.create_task(self._beat_forever(), name="kith-heartbeat"),
            ]
        else:
            await self._housekeeping()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if not self.ctx.intake_only:
            with contextlib.suppress(Exception):  # closing: a database already gone has nothing to give back
                await self.store.retire_worker(self.worker)
        await self.client.close()

    async def _housekeeping(self) -> None:
        """What start-up owes: removed accounts announced, cards saved but not published sent."""
        try:
            await self._announce_removals()
            await self._publish_due(everyone=True)
            await org_share.catch_up(
                self
            )  # so does a change shared with an organisation (federation/org_share.py)
        except Exception:  # the graph or the database is unwell: logged, tried again in a quiet moment
            _log.exception("federation's start-up housekeeping failed; will try again")

    # ---- accounts ----------------------------------------------------------------------------------

    def _state(self, name: str) -> _AccountState:
        state = self._states.get(name)
        if state is None:
            state = self._states[name] = _AccountState()
        return state

    async def _keys_of(self, name: str) -> SigningKeys:
        keys = self._keys.get(name)
        if keys is None:
            keys = self._keys[name] = await self.local.keys(name)
        return keys

    async def _delivery_key(self, name: str) -> tuple[str, rsa.RSAPrivateKey]:
        return self.urls.of(name).owner_key, (await self._keys_of(name)).rsa

    async def account(self, name: str) -> LocalAccount:
        """The account ``name`` (NotFound when it does not exist or was purged)."""
        account = await self.local.account(name)
        if account is None or account.state == "purged":
            raise NotFound(f"no account {name} on this server")
        return account

    @contextlib.asynccontextmanager
    async def acting(
        self, name: str, *, graph: bool = True, walk: bool = False
    ) -> AsyncIterator[AccountFederation]:
        """The account ``name`` acting as its actor, with its graph borrowed for the length of the block
        (``graph=False``: without it, for work that only reads federation's rows; ``walk``: one step of a walk
        over every account, GraphPorts.graph_for)."""
        account = await self.account(name)
        keys = await self._keys_of(name)
        if not graph:
            yield AccountFederation(self, account, keys, None)
            return
        async with contextlib.AsyncExitStack() as stack:
            port = await stack.enter_async_context(self.graphs.graph_for(name, walk=walk))
            org = await stack.enter_async_context(self.orgs.org_for(name)) if self.orgs is not None else None
            yield AccountFederation(self, account, keys, port, org)

    def account_store(self, name: str) -> AccountStore:
        return AccountStore(self.store, name, self._state(name).blocks)

    # what the intake asks (federation/inbox.py's Recipients)

    def actor_of(self, account: str) -> str:
        return self.urls.of(account).owner

    def names_ours(self, actor_id: str) -> bool:
        return self.urls.account_of(actor_id) is not None and "/followers" not in actor_id

    def blocks_of(self, account: str) -> Blocks:
        return Blocks(self.account_store(account))

    async def concerned(self, activity: Mapping[str, Any], sender: str) -> set[str]:
        names = audience.mentioned(activity, self.urls)
        names |= await self.store.owners_of(sender, audience.referenced_ids(activity))
        if activity.get("type") in audience.FOLLOWER_TYPES:
            names |= await self.store.accounts_dealing_with(sender)
        concerned = set()
        for name in sorted(names)[: audience.MAX_MENTIONS]:
            account = await self.local.account(name)
            if account is not None and account.state in ("active", "suspended"):
                concerned.add(name)
        return concerned

    # ---- the server's own actor -----------------------------------------------------------------------

    def node_document(self) -> dict[str, Any]:
        return actor_document(
            self.urls,
            which="node",
            actor_type="Application",
            name=f"Kith node {self.urls.host}",
            rsa_key=self.local.server_key(),
            ed_key=None,
            manually_approves=True,
        )

    def new_id(self, kind: str = "activities") -> str:
        return self.urls.new_id(kind)

    # ---- delivery ------------------------------------------------------------------------------------

    async def _prefetch_recipients(self, rows: list[DeliveryRow]) -> None:
        ids = sorted({r.actor_id for r in rows if r.actor_id})
        self._recipients = await self.store.actors(ids) if ids else {}

    async def recipient(self, actor_id: str) -> StoredActor | None:
        """A delivery's recipient as cached (read with its batch, else now)."""
        found = self._recipients.get(actor_id)
        return found if found is not None else await self.store.actor(actor_id)

    async def _prepare_delivery(self, row: DeliveryRow) -> str:
        """The send-time check of every delivery (federation/delivery.py ``prepare``): its account may still
        send it (a removed account sends its Delete and nothing else), blocks of the recipient and its domain
        (federation/blocks.py), then cards and profiles rendered for what may be seen now."""
        account = await self.local.account(row.account)
        if account is None or account.state == "purged":
            raise Withdrawn("its account is gone")
        if account.state == "removed":
            tomb = await self.store.tombstone(self.urls.of(row.account).owner)
            if tomb is None or tomb.activity_id != row.activity_id:
                raise Withdrawn("its account was removed: only the Delete of its actor goes")
        async with self.acting(row.account, graph=row.kind in ("card", "profile")) as me:
            recipient = row.actor_id
            if recipient is None and row.kind is None and await me.store.has_blocks():
                recipient = await me.store.actor_for_inbox(row.inbox)  # written without one: whose inbox?
            reason = await me.blocks.withholds(activity_type=row.type, inbox=row.inbox, recipient=recipient)
            if reason is not None:
                raise Withdrawn(reason)
            if row.kind == "card":
                return await cards.card_delivery(me, row)
            if row.kind == "profile":
                return await profile.profile_delivery(me, row)
            if (
                row.kind == org_share.KIND
            ):  # a share goes only to an organisation the account still belongs to
                return await org_share.share_delivery(me, row)
            return row.body

    # ---- cards and removals, in quiet moments ------------------------------------------------------------

    def card_changed(self, name: str) -> None:
        """The account's card may have changed: compare it with what was published at the next chance."""
        self._card_due.add(name)

    async def publish_pending(self, name: str) -> int:
        """Send the account's saved card changes now (cards.publish_pending); should this fail, a quiet moment
        tries again. The number of peers the card goes to."""
        self._card_due.add(name)
        async with self.acting(name) as me:
            peers = await cards.publish_pending(me)
        self._card_due.discard(name)
        return peers

    async def _publish_due(self, *, everyone: bool = False) -> None:
        """Send the card changes saved and not sent yet: of the accounts flagged, and of the next few of the
        sweep over every account (``everyone``: of every account, as at start)."""
        if not self._card_sweep:
            self._card_sweep = [a.name for a in await self.local.accounts(("active",))]
        if everyone:
            names, self._card_sweep = set(self._card_sweep), []
        else:
            names, self._card_sweep = set(self._card_sweep[:CARD_SWEEP]), self._card_sweep[CARD_SWEEP:]
        names |= self._card_due
        self._card_due = set()
        for name in sorted(names):
            try:
                account = await self.local.account(name)
                if account is None or account.state != "active":
                    continue
                async with self.acting(name, walk=True) as me:
                    await cards.publish_pending(me)
            except Exception:  # the graph or the database is unwell: logged, tried again in a quiet moment
                self._card_due.add(name)
                _log.exception("publishing the card of %s failed; will try again", name)

    async def _announce_removals(self) -> None:
        """Removed accounts whose actor's Delete is not queued yet (removed beside a stopped server, or a crash
        came between): queue it now (federation.owner.delete_actor, which is safe to repeat)."""
        from federation.owner import delete_actor

        for account in await self.local.accounts(("removed",)):
            actor = self.urls.of(account.name).owner
            tomb = await self.store.tombstone(actor)
            if tomb is not None and await self.store.in_outbox(account.name, tomb.activity_id):
                continue
            try:
                async with self.acting(account.name, walk=True) as me:
                    result = await delete_actor(me)
                _log.info("announced the removal of %s to %d inboxes", account.name, result["notified"])
            except Exception:
                _log.exception("announcing the removal of %s failed; will try again", account.name)

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
            worker=self.worker,
            limit=room,
            # held items are skipped by the claim whatever their lock says; a restart releases its own locks
            lock_seconds=3600.0,
            per_host=busy.backlog,
            busy_hosts=busy.hosts,
            busy_seqs=[i for i in busy.ids if isinstance(i, int)],
        )

    async def _quiet(self) -> None:
        """Say this worker is alive, send saved card changes not sent yet, announce removed accounts, let
        unanswered offers expire, and forget old finished traffic (at most every PRUNE_EVERY)."""
        now = self.clock()
        await self._beat(now)
        await self._publish_due()
        await self._announce_removals()
        await org_share.quiet(self)  # graph changes shared with organisations, introductions expire
        await self.store.expire_offers(now - OFFER_DAYS * 86400, now)
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_EVERY
            inbox, outbox = await self.store.prune(now - KEEP_DAYS * 86400)
            if inbox or outbox:
                _log.info("forgot %d old inbox items and %d old outbox activities", inbox, outbox)

    async def _process(self, row: InboxRow, release: Callable[[], None] | None = None) -> None:
        """Process one claimed item for its account and record its outcome; it holds its slots throughout
        (``release`` unused: an item's own fetches are what its sender's host slots bound)."""
        now = self.clock()
        try:
            async with self.acting(row.account) as me:
                await me.processor.process(row.actor_id, json.loads(row.body))
        except FetchError as exc:  # the peer or a third party is unreachable: try again later
            asked = exc.retry_after if isinstance(exc, FetchStatus) else None
            await self._retry_later(row, exc.message, asked)
            return
        except (RemoteError, KithError) as exc:  # the activity itself is wrong: no retry helps
            _log.info("activity %s from %s refused: %s", row.activity_id, row.actor_id, exc.message)
            await self._finish_item(row, state="rejected", now=now, error=exc.message)
            return
        except Exception as exc:  # a fault of ours (or the graph's): logged, retried, never a poison pill
            _log.exception("processing %s from %s failed", row.activity_id, row.actor_id)
            await self._retry_later(row, f"{type(exc).__name__}: {exc}"[:500])
            return
        await self._finish_item(row, state="done", now=now)

    async def _finish_item(
        self,
        row: InboxRow,
        *,
        state: str,
        now: float,
        error: str | None = None,
        retry_at: float | None = None,
    ) -> None:
        """Record an item's outcome while it is still this worker's claim; if its lock expired and another
        worker took it meanwhile, that worker's outcome is the one, and this one is only logged."""
        kept = await self.store.finish_inbox(
            row.seq, state=state, now=now, error=error, retry_at=retry_at, worker=self.worker
        )
        if not kept:
            _log.warning(
                "inbox item %s from %s: worker %s lost its claim (its lock expired and the item went back to the"
                " queue or to another worker); its outcome (%s) is not recorded, the new holder's will be",
                row.activity_id,
                row.actor_id,
                self.worker,
                state,
            )

    async def _retry_later(self, row: InboxRow, error: str, asked: float | None = None) -> None:
        now = self.clock()
        if row.attempts >= INBOX_MAX_ATTEMPTS:  # given up: kept, with its error, for the owner to see
            await self._finish_item(row, state="rejected", now=now, error=error)
            return
        # not before a server's Retry-After (capped by the guarded client), whatever the back-off says
        retry_at = now + max(backoff(row.attempts, self.rng), asked or 0.0)
        await self._finish_item(row, state="failed", now=now, error=error, retry_at=retry_at)

    async def _beat(self, now: float) -> None:
        released = await self.store.heartbeat(self.worker, now, stale_after=self.ctx.worker_stale)
        if released:
            _log.info("took back %d queue rows a silent worker held", released)
            self.wake()  # they are due now: claimed at once, not at the next poll

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.ctx.worker_stale / 4)
            try:
                await self._beat(self.clock())
            except Exception:  # the database is unwell: the next beat tries again
                _log.exception("the worker's heartbeat failed; trying again")

    def wake(self, what: str = "") -> None:
        """New work was written by another process (``inbox`` or ``delivery``; empty: either): claim now
        rather than at the next poll."""
        if what in ("", "inbox"):
            self.inbox_wake.set()
        if what in ("", "delivery"):
            self.delivery.wake.set()

    async def _inbox_forever(self, idle: float = 5.0) -> None:
        await self._inbox.forever(idle, quiet=self._quiet)

    async def run_once(self) -> tuple[int, int]:
        """One step of both loops (inbox first, so that its answers go out in the same step)."""
        processed = await self.process_inbox_once()
        delivered = await self.delivery.run_once()
        return processed, delivered


class AccountFederation:
    """One account of the server acting as its actor ("the owner" in federation's modules: this account)."""

    def __init__(
        self,
        fed: Federation,
        account: LocalAccount,
        keys: SigningKeys,
        graph: GraphPort | None,
        org: OrgPort | None = None,
    ) -> None:
        self.server = fed
        self.account = account
        self.name = account.name
        self.urls = fed.urls.of(account.name)
        self.keys = keys
        self.settings = fed.settings
        self.clock = fed.clock
        self._graph = graph
        state = fed._state(account.name)
        self.publish_lock = state.publish_lock
        self.card_lock = state.card_lock
        self.rendered_cards = state.rendered_cards  # (version, share) -> signed card
        self.profile_renders = state.profile_renders
        self.org = org  # its organisation records (federation/org.py); None without them or without the graph
        self.org_share_locks = state.org_share_locks
        self.org_intro_lock = state.org_intro_lock
        self.store = AccountStore(fed.store, account.name, state.blocks)
        self.blocks = Blocks(self.store)  # the one block decision (federation/blocks.py)
        self.actors = AccountActors(fed.actors, graph, state.seen_lock)
        self._processor: Any = None

    @property
    def graph(self) -> GraphPort:
        if self._graph is None:
            raise RuntimeError(f"{self.name}'s graph was not borrowed for this work (acting(graph=True))")
        return self._graph

    @property
    def processor(self) -> Any:
        if self._processor is None:
            from federation.process import Processor  # the processor needs the whole account view

            self._processor = Processor(self)
        return self._processor

    def new_id(self, kind: str = "activities") -> str:
        return self.urls.new_id(kind)

    async def actor_document(self, which: str = "owner") -> dict[str, Any]:
        """The account's actor document (``which="node"``: the server's)."""
        if which != "owner":
            return self.server.node_document()
        # the public part of the owner's card is their profile (federation/profile.py); the actor must be
        # served even when the graph is unwell (peers need its keys), so then it goes without the profile
        try:
            public = profile.actor_fields(await self.graph.public_card())
        except Exception:
            _log.exception("reading %s's public profile failed; the actor is served without it", self.name)
            public = {}
        return actor_document(
            self.urls,
            which="owner",
            actor_type=self.account.actor_type,
            name=public.pop("name", None) or self.account.display_name or self.name,
            rsa_key=self.keys.rsa,
            ed_key=self.keys.ed25519,
            manually_approves=not self.settings.auto_accept_follows,
            also_known_as=await self.store.setting("also_known_as", []),
            moved_to=await self.store.setting("moved_to"),
            extra=public,
            username=self.account.alias.removeprefix("acct:").rpartition("@")[0],
        )

    async def recipient(self, actor_id: str) -> StoredActor | None:
        return await self.server.recipient(actor_id)

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
        item = Outgoing(
            activity_id=activity["id"],
            type=activity["type"],
            body=json.dumps(activity),
            inboxes=[i for i in inboxes if i],
            public=public,
            recipient=recipient,
        )
        (seq,) = await self.store.enqueue_many([item], now=self.clock())
        self.server.delivery.wake.set()
        return seq

    async def send_all(
        self,
        items: list[Outgoing],
        *,
        settings: dict[str, Any] | None = None,
        block: BlockChange | None = None,
    ) -> None:
        """Several activities, the settings that record them and a block (with the follows it ends), in one
        transaction (FederationStore.enqueue_many), then wake the delivery loop. Card and profile Updates
        withdraw the older ones still waiting for the same peer or inbox in that same transaction."""
        changes = Changes(
            settings=settings or {},
            supersede_cards=tuple(i.recipient for i in items if i.kind == "card" and i.recipient),
            supersede_profiles=tuple(inbox for i in items if i.kind == "profile" for inbox in i.inboxes),
            block=block,
        )
        if items or changes:
            await self.store.enqueue_many(items, now=self.clock(), changes=changes)
        self.server.delivery.wake.set()

    # ---- the server's loops, for tests that step them through an account ------------------------------

    async def run_once(self) -> tuple[int, int]:
        return await self.server.run_once()

    async def process_inbox_once(self, limit: int = 512) -> int:
        return await self.server.process_inbox_once(limit)

    @property
    def intake(self) -> Intake:
        return self.server.intake

    @property
    def delivery(self) -> DeliveryLoop:
        return self.server.delivery

    @property
    def client(self) -> GuardedClient:
        return self.server.client
