"""Delivering the outbox: a reconciliation loop over ``fed_deliveries`` rows (docs/ARCHITECTURE.md §3.3).

Rules kept (docs/ARCHITECTURE.md §5, Mastodon's delivery worker as the reference):
- The outbox row and one delivery row per inbox are committed before anything is sent (store.enqueue), so a
  kill at any moment loses nothing; a row sent but not yet marked is sent again after a restart, and peers
  de-duplicate by activity id, so nothing is seen twice.
- Retries back off as ``n⁴ + 15 s`` plus jitter (Mastodon's Sidekiq schedule) until the delivery is older than
  ``delivery_days``; 4xx answers other than 401/408/429 are final.
- A circuit breaker per host: after consecutive failures no attempt is made until the back-off has passed; a
  host failing for ``delivery_days`` is dead-lettered, probed now and then, and resumed when it answers.
- Side by side, with per-host limits (federation/pump.py): at most ``per_host`` requests in flight to any one
  host (the setting ``federation.per_host_requests``, 1 by default: issue #14's "one request in flight per peer
  host"; the claim gives a host to one worker at a time, so the limit holds across every process) and
  ``concurrency`` in all; a row that finishes frees its slot at once. A host that hangs until the
  fetch timeout holds its own slots, never another host's deliveries (a batch used to wait for its slowest).
- ``Retry-After`` on a 429 or 503 is honoured, capped at ``RETRY_AFTER_MAX``: the delivery is not retried,
  and the host's circuit stays open, before the time it names (or the back-off, if that is later).
- Each delivery is signed with the key of the account whose outbox it is in (``keys``).
- Double knock (HTTP-SIGNATURES.md §7, protocol.wire.knock_order): the scheme remembered for the host first,
  else RFC 9421 towards Kith peers and cavage towards everyone else; after a 401/403 the other one, once; the
  scheme that worked is remembered. Failures that are ours (a bug, not the peer) are retried but never count
  against the peer's breaker.
- Checked again at send time (``prepare``, federation/service.py): blocks, and for a card or profile Update
  what the recipient may see now, rendered afresh; a delivery that must not go any more is withdrawn, never
  sent with a body made for an earlier decision. Deliveries to one inbox claimed together go in outbox order.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from cryptography.hazmat.primitives.asymmetric import rsa

from federation.errors import FetchBlocked, FetchError
from federation.fetch import FetchResponse, GuardedClient
from federation.ports import FederationStore
from federation.pump import Busy, Pump
from federation.signing import Scheme, make_signer
from federation.values import DeliveryRow, HostRow
from protocol.wire import knock_order, retry_with_other_scheme

__all__ = [
    "BREAKER_AFTER",
    "PER_HOST",
    "PROBE_EVERY",
    "DeliveryLoop",
    "KeyFor",
    "Outcome",
    "Withdrawn",
    "backoff",
]

_log = logging.getLogger("kith.federation.delivery")

BREAKER_AFTER = 3  # consecutive failures before a host's circuit opens
PROBE_EVERY = 6 * 3600.0  # how often a dead-lettered host is probed
# Requests in flight to one host (host:port: two loopback peers on different ports are two hosts) when the
# setting does not say: one, across every process of the server (specs/POSTGRESQL.md §11).
PER_HOST = 1
_PROBE_CHECK = 60.0  # seconds between two looks for dead hosts due a probe, while the loop runs
_RETRYABLE_4XX = frozenset({401, 408, 429})


#: The key an account's deliveries are signed with: account name -> (key id, private key).
KeyFor = Callable[[str], Awaitable[tuple[str, rsa.RSAPrivateKey]]]


def backoff(attempt: int, rng: random.Random) -> float:
    """Seconds before retry number ``attempt`` (1-based): n⁴ + 15 + up to 10·(n+1) s of jitter."""
    return attempt**4 + 15 + rng.random() * 10 * (attempt + 1)


class Withdrawn(Exception):
    """Raised by the send-time check: this delivery must not go (a block, a withdrawn disclosure, a newer
    version queued after it). It ends in state ``withdrawn`` with the reason; nothing is sent."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    delivered: bool
    retry: bool
    status: int | None
    error: str | None
    scheme: Scheme | None
    host_up: bool
    withdrawn: bool = False
    retry_after: float | None = None  # what a 429/503 asked for, capped (federation/fetch.py)


@dataclass(frozen=True, slots=True)
class _Job:
    row: DeliveryRow
    host: HostRow | None  # the host's breaker and scheme as they were at the claim
    kith: bool
    # shared by the rows of one claim: hosts already written up (with the scheme that worked) since the claim
    # read them, so that a fan-out's rows to one host write it once, not once each (the claim's snapshot says
    # the host is new or failing until the next claim reads it again)
    up: dict[str, Scheme | None]


class DeliveryLoop:
    def __init__(
        self,
        *,
        store: FederationStore,
        client: GuardedClient,
        keys: KeyFor,
        clock: Callable[[], float],
        delivery_days: int,
        rng: random.Random | None = None,
        concurrency: int = 64,
        prepare: Callable[[DeliveryRow], Awaitable[str]] | None = None,
        prefetch: Callable[[list[DeliveryRow]], Awaitable[None]] | None = None,
        per_host: int = PER_HOST,
        worker: str = "main",
        held: int | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.keys = keys
        self.worker = worker  # stamped on the rows it claims (FederationStore.register_worker)
        self.clock = clock
        self.max_age = delivery_days * 86400.0
        self.rng = rng or random.Random()
        self.concurrency = concurrency
        self.prepare = prepare  # the body to send now, or Withdrawn
        self.prefetch = prefetch  # what ``prepare`` will ask about a claimed batch, read in one go
        self.sign_seconds = 0.0  # time spent signing (the fan-out benchmark reports its share)
        self.sent = 0
        # Rows the pump holds are skipped by its claims whatever their lock says, and a restart releases every
        # lock (store.release_locks): the lock only has to outlast the longest a held row may wait and run.
        self.lock_seconds = 3600 + 4 * client.policy.total_timeout
        self._next_probe_check = float("-inf")
        # hosts whose circuit opened after the pump claimed their rows: those rows go back unattempted
        self._open_until: dict[str, float] = {}
        self._pump: Pump[_Job] = Pump(
            name="delivery",
            claim=self._claim,
            run=self._deliver,
            ident=lambda job: job.row.id,
            host=lambda job: job.row.host,
            # what is addressed to one recipient goes one at a time, in outbox order (Undo{Follow},
            # Reject{Follow}, then Block; card versions); fan-outs to shared inboxes go side by side
            lane=lambda job: (job.row.inbox, job.row.actor_id) if job.row.actor_id else job.row.id,
            total=concurrency,
            per_host=per_host,
            held=held,  # rows claimed and not yet sent, at most (None: the pump's default)
            log=_log,
        )
        self.wake = self._pump.wake  # Federation.send sets it when it queues something

    def _signer(
        self, key_id: str, private_key: rsa.RSAPrivateKey, scheme: Scheme
    ) -> Callable[..., dict[str, str]]:
        inner = make_signer(key_id=key_id, private_key=private_key, clock=self.clock, scheme=scheme)

        def timed(*args: object) -> dict[str, str]:
            t0 = time.perf_counter()
            try:
                return dict(inner(*args))  # type: ignore[arg-type]
            finally:
                self.sign_seconds += time.perf_counter() - t0

        return timed

    async def run_once(self, *, limit: int = 512) -> int:
        """Attempt every due delivery once (up to ``limit``), side by side within the limits, and return when
        all of them are done; how many were attempted."""
        self._next_probe_check = float("-inf")
        return await self._pump.drain(limit)

    async def _claim(self, room: int, busy: Busy) -> list[_Job]:
        now = self.clock()
        if now >= self._next_probe_check:
            self._next_probe_check = now + _PROBE_CHECK
            await self._probe_dead_hosts(now)
        rows = await self.store.claim_deliveries(
            now,
            worker=self.worker,
            limit=room,
            lock_seconds=self.lock_seconds,
            per_host=busy.backlog,
            busy_hosts=busy.hosts,
            busy_ids=[i for i in busy.ids if isinstance(i, int)],
        )
        # one read for the whole batch (a fan-out claims rows of hundreds of hosts; a read per host each was a
        # round trip on PostgreSQL)
        known, kith_hosts = (
            await self.store.hosts_for_claim(sorted({r.host for r in rows})) if rows else ({}, set())
        )
        hosts: dict[str, HostRow | None] = {r.host: known.get(r.host) for r in rows}
        if self.prefetch is not None and rows:
            await self.prefetch(rows)  # what the send-time checks will ask about these rows, read in one go
        up: dict[str, Scheme | None] = {}
        return [_Job(row=r, host=hosts[r.host], kith=r.host in kith_hosts, up=up) for r in rows]

    async def _deliver(self, job: _Job, release: Callable[[], None]) -> None:
        row = job.row
        if self._open_until.get(row.host, float("-inf")) > self.clock():
            # the host failed (or asked us to wait) while this row waited for a slot: back to the queue
            release()
            await self.store.release_deliveries([row.id])
            return
        try:
            if self.prepare is not None:
                row = replace(row, body=await self.prepare(row))
            outcome = await self._attempt(row, job.host, kith=job.kith)
        except Withdrawn as exc:
            outcome = Outcome(
                delivered=False,
                retry=False,
                status=None,
                error=f"withdrawn: {exc.reason}",
                scheme=None,
                host_up=True,
                withdrawn=True,
            )
        except Exception as exc:  # a fault of ours: logged and retried like a failure, never stuck
            _log.exception("delivery %s to %s failed", row.activity_id, row.inbox)
            error = f"{type(exc).__name__}: {exc}"[:500]
            outcome = Outcome(
                delivered=False, retry=True, status=None, error=error, scheme=None, host_up=True
            )
        if not outcome.host_up:
            # the host failed: what the breaker decides must be known before its next row takes the slot
            await self._record(row, outcome, job.host, job.up)
            return
        release()  # done with the peer: the next request to it starts while this outcome is written
        await self._record(row, outcome, job.host, job.up)

    async def _post(
        self, row: DeliveryRow, key: tuple[str, rsa.RSAPrivateKey], scheme: Scheme
    ) -> FetchResponse:
        return await self.client.request(
            "POST",
            row.inbox,
            headers={"Content-Type": "application/activity+json", "Accept": "application/activity+json"},
            body=row.body.encode(),
            signer=self._signer(key[0], key[1], scheme),
            follow_redirects=False,
        )

    async def _attempt(self, row: DeliveryRow, host: HostRow | None, *, kith: bool = False) -> Outcome:
        key = await self.keys(row.account)
        known = host.scheme if host is not None else None
        remembered: Scheme | None = (
            "rfc9421" if known == "rfc9421" else "cavage" if known == "cavage" else None
        )
        # towards a Kith peer RFC 9421 goes first (HTTP-SIGNATURES.md §7.4)
        scheme, other = knock_order(remembered=remembered, kith_peer=kith)
        try:
            resp = await self._post(row, key, scheme)
            if retry_with_other_scheme(resp.status):
                # the double knock (HTTP-SIGNATURES.md §7): once with the other scheme; the winner is remembered
                second = await self._post(row, key, other)
                if 200 <= second.status < 300:
                    scheme, resp = other, second
        except FetchBlocked as exc:
            return Outcome(
                delivered=False, retry=False, status=None, error=exc.message, scheme=None, host_up=False
            )
        except FetchError as exc:
            return Outcome(
                delivered=False, retry=True, status=None, error=exc.message, scheme=None, host_up=False
            )
        status = resp.status
        if 200 <= status < 300:
            self.sent += 1
            return Outcome(
                delivered=True, retry=False, status=status, error=None, scheme=scheme, host_up=True
            )
        text = resp.body[:200].decode("utf-8", "replace")
        if 400 <= status < 500 and status not in _RETRYABLE_4XX:
            return Outcome(
                delivered=False,
                retry=False,
                status=status,
                error=f"{status}: {text}",
                scheme=None,
                host_up=True,
            )
        return Outcome(
            delivered=False,
            retry=True,
            status=status,
            error=f"{status}: {text}",
            scheme=None,
            host_up=False,
            retry_after=resp.retry_after(self.clock()),
        )

    async def _host_up(
        self, name: str, now: float, scheme: Scheme | None, up: dict[str, Scheme | None]
    ) -> None:
        """Close the host's breaker and remember ``scheme`` (None: keep the one known), unless a row of the same
        claim already wrote as much."""
        if name in up and (scheme is None or up[name] == scheme):
            return
        up[name] = scheme if scheme is not None else up.get(name)  # before the write: rows beside it skip it
        try:
            await self.store.host_succeeded(name, now, scheme)
        except BaseException:
            up.pop(name, None)  # not written: the next row writes it
            raise

    async def _finish(
        self,
        row: DeliveryRow,
        *,
        state: str,
        now: float,
        status: int | None,
        error: str | None = None,
        retry_at: float | None = None,
    ) -> None:
        """Record the outcome while the row is still this worker's claim. If its lock expired and the row went
        back to the queue or to another worker meanwhile, nothing is written (that worker's outcome is the one;
        the peer deduplicates a second copy by activity id) and it is said in the log."""
        kept = await self.store.finish_delivery(
            row.id, state=state, now=now, status=status, error=error, retry_at=retry_at, worker=self.worker
        )
        if not kept:
            _log.warning(
                "delivery of %s to %s: worker %s lost its claim (its lock expired and the delivery went back to the"
                " queue or to another worker); its outcome (%s) is not recorded, the new holder's will be",
                row.activity_id,
                row.inbox,
                self.worker,
                state,
            )

    async def _record(
        self, row: DeliveryRow, outcome: Outcome, host: HostRow | None, up: dict[str, Scheme | None]
    ) -> None:
        now = self.clock()
        if outcome.withdrawn:
            await self._finish(row, state="withdrawn", now=now, status=None, error=outcome.error)
            return
        if outcome.delivered or outcome.host_up:
            self._open_until.pop(row.host, None)
        if outcome.delivered:
            await self._finish(row, state="delivered", now=now, status=outcome.status)
            if host is None or host.failures or host.dead or host.scheme != outcome.scheme:
                await self._host_up(row.host, now, outcome.scheme, up)
            return
        if not outcome.retry:
            await self._finish(row, state="failed", now=now, status=outcome.status, error=outcome.error)
            if outcome.host_up and host is not None and (host.failures or host.dead):
                await self._host_up(row.host, now, None, up)
            return
        attempts = row.attempts + 1
        # a peer's Retry-After: nothing is sent to it before then, whatever the back-off says
        asked = outcome.retry_after or 0.0
        if now - row.created_at >= self.max_age:
            await self._finish(row, state="dead", now=now, status=outcome.status, error=outcome.error)
        else:
            await self._finish(
                row,
                state="retry_wait",
                now=now,
                status=outcome.status,
                error=outcome.error,
                retry_at=now + max(backoff(attempts, self.rng), asked),
            )
        _log.info("delivery of %s to %s failed (%s)", row.activity_id, row.inbox, outcome.error)
        if outcome.host_up:
            return  # the host answered (or the fault was ours): nothing against its breaker
        up.pop(row.host, None)  # it failed since: the next row that gets through writes it up again
        failures = (host.failures if host else 0) + 1
        open_for = backoff(failures, self.rng) if failures >= BREAKER_AFTER else 0.0
        open_for = max(open_for, asked)  # a 429/503 speaks for the host: its other deliveries wait too
        if open_for > 0:
            self._open_until[row.host] = now + open_for
        dead = await self.store.host_failed(row.host, now, open_for=open_for, dead_after=self.max_age)
        if dead:
            self._open_until[row.host] = now + PROBE_EVERY
            await self.store.host_probe_at(row.host, now + PROBE_EVERY)

    async def _probe_dead_hosts(self, now: float) -> None:
        for host in await self.store.dead_hosts_due(now):
            await self.store.requeue_probe(host, now)

    async def run_forever(self, idle: float = 5.0) -> None:
        await self._pump.forever(idle)
