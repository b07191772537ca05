"""Every SQL statement federation runs, over its own ``fed_*`` tables (migration 0002_federation.sql).

One class over ``node.store.sqlite.db.Database`` so that a PostgreSQL backend can be a second implementation of the
same methods later. Writes go through ``db.write`` (group commit: many inbox items or deliveries per fsync);
queue claims are single UPDATE ... RETURNING statements so that two workers never take the same row.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiosqlite

from federation.ports import RemoteActor
from node.store.sqlite.db import Database
from protocol import cavage, rfc9421
from protocol.errors import IllegalTransition
from protocol.states import DELIVERY, FOLLOW_REQUEST, INBOX_ITEM, RELATIONSHIP_OFFER, Lifecycle

__all__ = [
    "REPLAY_WINDOW",
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
]


T = TypeVar("T")

# The transitions this module makes in bulk SQL, where no row-by-row check runs: each must be declared in the
# tables of protocol/states.py, and is checked once here, when the module loads.
for _lifecycle, _source, _target in (
    (FOLLOW_REQUEST, "pending", "cancelled"),  # superseded by a newer Follow
    (FOLLOW_REQUEST, "accepted", "ended"),
    (INBOX_ITEM, "received", "processing"),  # claim
    (INBOX_ITEM, "failed", "received"),  # due again (then claimed)
    (INBOX_ITEM, "processing", "received"),  # lock expired, or the process died
    (DELIVERY, "queued", "sending"),  # claim
    (DELIVERY, "retry_wait", "sending"),
    (DELIVERY, "sending", "queued"),  # lock expired, or the process died
    (DELIVERY, "queued", "dead"),  # host dead-lettered
    (DELIVERY, "retry_wait", "dead"),
    (DELIVERY, "dead", "queued"),  # host resumed, or probed
    (DELIVERY, "queued", "withdrawn"),  # superseded by a newer card or profile Update
    (DELIVERY, "retry_wait", "withdrawn"),
    (DELIVERY, "dead", "withdrawn"),
    (RELATIONSHIP_OFFER, "offered", "expired"),  # unanswered for 30 days
):
    _lifecycle.check(_source, _target)


#: How long a signed request can be replayed at all: a signature is valid for up to 12 hours after it was made,
#: made up to the clock skew in the future, and checked with the skew again (protocol/cavage.py, rfc9421.py).
REPLAY_WINDOW = max(cavage.MAX_EXPIRY, rfc9421.MAX_AGE) + 2 * max(cavage.CLOCK_SKEW, rfc9421.CLOCK_SKEW)


def host_of(url: str) -> str:
    return urlsplit(url).netloc.lower()


def _reused_id(prior: aiosqlite.Row, actor_id: str, digest: str | None, now: float) -> bool:
    """Whether an activity whose id is already stored (``prior``) is a new request reusing that id."""
    if prior["state"] not in ("done", "rejected") or prior["actor_id"] != actor_id:
        return False  # still to be processed (it will do the work), or someone else's id
    if prior["request"] is None:  # stored before requests were kept: only a request too old to replay
        return digest is not None and now - prior["received_at"] > REPLAY_WINDOW
    return digest is not None and digest != prior["request"]


def domains_of(url: str) -> set[str]:
    """The domains a domain block may name to cover ``url``: its host[:port], its host and every parent."""
    host = urlsplit(url).hostname or ""
    labels = host.split(".")
    domains = {".".join(labels[i:]) for i in range(len(labels))}
    domains.add(host_of(url))
    return domains


def _url_host(column: str) -> str:
    """SQL for the host[:port] of the URL in ``column`` (what :func:`host_of` gives for the URLs actor ids
    are: scheme://host[:port]/path), so that a claim can group rows by the host of a URL column."""
    rest = f"substr({column}, instr({column}, '://') + 3)"
    end = f"CASE WHEN instr({rest}, '/') > 0 THEN instr({rest}, '/') - 1 ELSE length({rest}) END"
    return f"lower(substr({rest}, 1, {end}))"


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredActor:
    actor: RemoteActor
    doc: dict[str, Any]
    gone: bool
    fetched_at: float
    key_refetched_at: float | None


@dataclass(frozen=True, kw_only=True, slots=True)
class FollowRow:
    follow_id: str
    direction: str
    actor_id: str
    state: str
    created_at: float
    updated_at: float

    @property
    def end_state(self) -> str:
        """Where an Undo, a Block or a Delete takes this follow (FOLLOW_REQUEST)."""
        return "cancelled" if self.state == "pending" else "ended"


@dataclass(frozen=True, kw_only=True, slots=True)
class TombstoneRow:
    """A deleted actor of this node (docs/ARCHITECTURE.md §4; specs/FEDERATION.md)."""

    actor_id: str
    former_type: str
    activity_id: str  # the Delete sent for it
    deleted_at: float


@dataclass(frozen=True, kw_only=True, slots=True)
class OfferRow:
    offer_id: str
    direction: str
    actor_id: str
    rel_type: str
    record: dict[str, Any]
    final: dict[str, Any] | None
    state: str
    created_at: float
    updated_at: float


@dataclass(frozen=True, kw_only=True, slots=True)
class InboxRow:
    seq: int
    activity_id: str
    actor_id: str
    type: str
    body: str
    attempts: int
    host: str = ""  # the sender's host[:port], as the claim grouped it (see _URL_HOST)


@dataclass(frozen=True, kw_only=True, slots=True)
class DeliveryRow:
    id: int
    outbox_seq: int
    activity_id: str
    body: str
    inbox: str
    host: str
    attempts: int
    created_at: float
    type: str = ""
    kind: str | None = None  # 'card' | 'profile': rendered again at send time (migration 0006)
    actor_id: str | None = None  # the recipient of a personal delivery


@dataclass(frozen=True, kw_only=True, slots=True)
class Outgoing:
    """One activity to write to the outbox with its deliveries (FederationStore.enqueue_many)."""

    activity_id: str
    type: str
    body: str
    inboxes: Sequence[str]
    public: bool = False
    kind: str | None = None
    recipient: str | None = None  # the actor whose personal inbox ``inboxes`` is


@dataclass(frozen=True, kw_only=True, slots=True)
class HostRow:
    host: str
    failures: int
    first_failure_at: float | None
    open_until: float | None
    dead: bool
    scheme: str | None


def _actor_from_row(row: aiosqlite.Row) -> StoredActor:
    doc = json.loads(row["doc"])
    stored = doc.get("__kith__", {})
    actor = RemoteActor(
        id=row["id"],
        type=stored.get("type", "Person"),
        acct=row["acct"],
        preferred_username=stored.get("preferred_username"),
        name=stored.get("name"),
        summary=stored.get("summary"),
        url=stored.get("url"),
        icon=stored.get("icon"),
        inbox=row["inbox"],
        shared_inbox=row["shared_inbox"],
        outbox=stored.get("outbox"),
        followers=stored.get("followers"),
        following=stored.get("following"),
        public_key_id=row["key_id"],
        public_key_pem=row["key_pem"],
        also_known_as=tuple(stored.get("also_known_as", ())),
        moved_to=row["moved_to"],
        is_kith=bool(row["is_kith"]),
        multikeys=tuple((a, b) for a, b in stored.get("multikeys", ())),
    )
    original = {k: v for k, v in doc.items() if k != "__kith__"}
    return StoredActor(
        actor=actor,
        doc=original,
        gone=bool(row["gone"]),
        fetched_at=row["fetched_at"],
        key_refetched_at=row["key_refetched_at"],
    )


class FederationStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._blocks: set[tuple[str, str]] | None = None
        self._blocked_by: set[str] | None = None  # who blocks the owner: asked for every card, changes rarely

    async def _read(self, fn: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        return await self.db.read(fn)

    # ---- remote actors and their keys ------------------------------------------------------------

    async def save_actor(self, actor: RemoteActor, doc: dict[str, Any], now: float) -> None:
        extra = {
            "type": actor.type,
            "preferred_username": actor.preferred_username,
            "name": actor.name,
            "summary": actor.summary,
            "url": actor.url,
            "icon": actor.icon,
            "outbox": actor.outbox,
            "followers": actor.followers,
            "following": actor.following,
            "also_known_as": list(actor.also_known_as),
            "multikeys": [list(m) for m in actor.multikeys],
        }
        text = json.dumps({**doc, "__kith__": extra}, separators=(",", ":"))

        async def fn(conn: aiosqlite.Connection) -> None:
            # a key id moves with its actor: drop a stale row that claimed the same key id
            await conn.execute(
                "DELETE FROM fed_actors WHERE key_id = ? AND id != ?", (actor.public_key_id, actor.id)
            )
            await conn.execute(
                """INSERT INTO fed_actors (id, host, acct, key_id, key_pem, inbox, shared_inbox, is_kith,
                       gone, moved_to, doc, fetched_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)
                   ON CONFLICT(id) DO UPDATE SET acct = COALESCE(excluded.acct, fed_actors.acct),
                       key_id = excluded.key_id, key_pem = excluded.key_pem, inbox = excluded.inbox,
                       shared_inbox = excluded.shared_inbox, is_kith = excluded.is_kith,
                       moved_to = excluded.moved_to, doc = excluded.doc, fetched_at = excluded.fetched_at""",
                (
                    actor.id,
                    actor.host,
                    actor.acct,
                    actor.public_key_id,
                    actor.public_key_pem,
                    actor.inbox,
                    actor.shared_inbox,
                    int(actor.is_kith),
                    actor.moved_to,
                    text,
                    now,
                ),
            )

        await self.db.write(fn)

    async def _actor_where(self, clause: str, arg: str) -> StoredActor | None:
        async def fn(conn: aiosqlite.Connection) -> StoredActor | None:
            async with conn.execute(f"SELECT * FROM fed_actors WHERE {clause} = ?", (arg,)) as cur:
                row = await cur.fetchone()
            return _actor_from_row(row) if row else None

        return await self._read(fn)

    async def actor(self, actor_id: str) -> StoredActor | None:
        return await self._actor_where("id", actor_id)

    async def actor_by_key(self, key_id: str) -> StoredActor | None:
        return await self._actor_where("key_id", key_id)

    async def actor_by_acct(self, acct: str) -> StoredActor | None:
        return await self._actor_where("acct", acct.lower())

    async def actors(self, actor_ids: Sequence[str]) -> dict[str, StoredActor]:
        """Many cached actors in a few queries (the card fan-out asks about every peer at once)."""

        async def fn(conn: aiosqlite.Connection) -> dict[str, StoredActor]:
            found: dict[str, StoredActor] = {}
            for start in range(0, len(actor_ids), 500):
                part = list(actor_ids[start : start + 500])
                marks = ",".join("?" * len(part))
                async with conn.execute(f"SELECT * FROM fed_actors WHERE id IN ({marks})", part) as cur:
                    for row in await cur.fetchall():
                        found[row["id"]] = _actor_from_row(row)
            return found

        return await self._read(fn)

    async def kith_actors_on(self, host: str) -> list[RemoteActor]:
        """Kith actors we know on ``host`` (host[:port])."""

        async def fn(conn: aiosqlite.Connection) -> list[RemoteActor]:
            async with conn.execute(
                "SELECT * FROM fed_actors WHERE host = ? AND is_kith = 1 AND gone = 0 ORDER BY id", (host,)
            ) as cur:
                return [_actor_from_row(r).actor for r in await cur.fetchall()]

        return await self._read(fn)

    async def note_key_refetch(self, actor_id: str, now: float) -> None:
        await self._exec("UPDATE fed_actors SET key_refetched_at = ? WHERE id = ?", (now, actor_id))

    async def mark_gone(self, actor_id: str) -> None:
        await self._exec("UPDATE fed_actors SET gone = 1 WHERE id = ?", (actor_id,))

    async def set_moved(self, actor_id: str, target: str) -> None:
        await self._exec("UPDATE fed_actors SET moved_to = ? WHERE id = ?", (target, actor_id))

    # ---- follows ---------------------------------------------------------------------------------

    async def add_follow(
        self, *, follow_id: str, direction: str, actor_id: str, state: str, now: float
    ) -> bool:
        """Record a Follow; False when this follow id is already known and still live (a repeat), or names
        another actor's or direction's follow.

        A follow id whose earlier follow ended (rejected, cancelled, ended) starts a new request when the same
        actor sends it again: servers that keep one follow record per pair (Takahē) reuse its id after an
        Undo. The ended row is history nothing reads; the new request replaces it (FOLLOW_REQUEST begins
        again at its initial state, protocol/states.py)."""

        async def fn(conn: aiosqlite.Connection) -> bool:
            async with conn.execute(
                "SELECT direction, actor_id, state FROM fed_follows WHERE follow_id = ?", (follow_id,)
            ) as cur:
                earlier = await cur.fetchone()
            if earlier is not None:
                same = (earlier["direction"], earlier["actor_id"]) == (direction, actor_id)
                if not same or earlier["state"] not in FOLLOW_REQUEST.terminal:
                    return False
                await conn.execute("DELETE FROM fed_follows WHERE follow_id = ?", (follow_id,))
            await conn.execute(
                """INSERT INTO fed_follows
                   (follow_id, direction, actor_id, state, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?)""",
                (follow_id, direction, actor_id, state, now, now),
            )
            # one live follow per (direction, actor): an older one is superseded (a new Follow is its Undo)
            await conn.execute(
                """UPDATE fed_follows SET updated_at = ?,
                       state = CASE state WHEN 'pending' THEN 'cancelled' ELSE 'ended' END
                   WHERE direction = ? AND actor_id = ? AND follow_id != ?
                     AND state IN ('pending', 'accepted')""",
                (now, direction, actor_id, follow_id),
            )
            return True

        return await self.db.write(fn)

    async def follow(self, follow_id: str) -> FollowRow | None:
        rows = await self._follows("follow_id = ?", (follow_id,))
        return rows[0] if rows else None

    async def live_follow(self, direction: str, actor_id: str) -> FollowRow | None:
        rows = await self._follows(
            "direction = ? AND actor_id = ? AND state IN ('pending', 'accepted') ORDER BY created_at DESC",
            (direction, actor_id),
        )
        return rows[0] if rows else None

    async def live_follow_actors(self) -> list[str]:
        """Actors with a pending or accepted follow either way."""

        async def fn(conn: aiosqlite.Connection) -> list[str]:
            async with conn.execute(
                "SELECT DISTINCT actor_id FROM fed_follows WHERE state IN ('pending', 'accepted') ORDER BY actor_id"
            ) as cur:
                return [r[0] for r in await cur.fetchall()]

        return await self._read(fn)

    async def follows(self, direction: str, states: Sequence[str]) -> list[FollowRow]:
        marks = ",".join("?" * len(states))
        return await self._follows(
            f"direction = ? AND state IN ({marks}) ORDER BY created_at", (direction, *states)
        )

    async def _follows(self, where: str, args: tuple[Any, ...]) -> list[FollowRow]:
        async def fn(conn: aiosqlite.Connection) -> list[FollowRow]:
            async with conn.execute(f"SELECT * FROM fed_follows WHERE {where}", args) as cur:
                return [FollowRow(**dict(r)) for r in await cur.fetchall()]

        return await self._read(fn)

    async def set_follow_state(self, follow_id: str, state: str, now: float) -> None:
        """Move a follow along FOLLOW_REQUEST; an undeclared transition raises IllegalTransition."""
        await self._transition("fed_follows", "follow_id", follow_id, FOLLOW_REQUEST, state, now)

    # ---- relationship offers ---------------------------------------------------------------------

    async def add_offer(
        self,
        *,
        offer_id: str,
        direction: str,
        actor_id: str,
        rel_type: str,
        record: dict[str, Any],
        now: float,
    ) -> bool:
        """Record an offer; False when it is not new: its id is known (a replay), or an offer of the same type
        between the same two is still pending. One pending offer per pair and type: sixteen identical offers
        were sixteen requests for the owner to answer; a repeat is ignored while the first one waits."""

        async def fn(conn: aiosqlite.Connection) -> bool:
            async with conn.execute(
                """SELECT 1 FROM fed_offers WHERE direction = ? AND actor_id = ? AND rel_type = ?
                   AND state = 'offered' LIMIT 1""",
                (direction, actor_id, rel_type),
            ) as cur:
                if await cur.fetchone() is not None:
                    return False
            cur = await conn.execute(
                """INSERT OR IGNORE INTO fed_offers
                   (offer_id, direction, actor_id, rel_type, record, state, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, 'offered', ?, ?)""",
                (offer_id, direction, actor_id, rel_type, json.dumps(record), now, now),
            )
            return cur.rowcount > 0

        return await self.db.write(fn)

    async def offer(self, offer_id: str) -> OfferRow | None:
        rows = await self._offers("offer_id = ?", (offer_id,))
        return rows[0] if rows else None

    async def offers(self, states: Sequence[str]) -> list[OfferRow]:
        marks = ",".join("?" * len(states))
        return await self._offers(f"state IN ({marks}) ORDER BY created_at", tuple(states))

    async def offer_by_record(self, record_id: str) -> OfferRow | None:
        rows = await self._offers("json_extract(record, '$.id') = ? ORDER BY created_at DESC", (record_id,))
        return rows[0] if rows else None

    async def _offers(self, where: str, args: tuple[Any, ...]) -> list[OfferRow]:
        async def fn(conn: aiosqlite.Connection) -> list[OfferRow]:
            async with conn.execute(f"SELECT * FROM fed_offers WHERE {where}", args) as cur:
                rows = await cur.fetchall()
            out = []
            for r in rows:
                d = dict(r)
                d["record"] = json.loads(d["record"])
                d["final"] = json.loads(d["final"]) if d["final"] else None
                out.append(OfferRow(**d))
            return out

        return await self._read(fn)

    async def set_offer_state(
        self, offer_id: str, state: str, now: float, final: dict[str, Any] | None = None
    ) -> None:
        """Move an offer along RELATIONSHIP_OFFER (and keep the final record once accepted)."""
        await self._transition(
            "fed_offers",
            "offer_id",
            offer_id,
            RELATIONSHIP_OFFER,
            state,
            now,
            extra=("final", json.dumps(final)) if final is not None else None,
        )

    async def expire_offers(self, created_before: float, now: float) -> int:
        """Offers still unanswered that were made before ``created_before`` expire (both directions)."""

        async def fn(conn: aiosqlite.Connection) -> int:
            cur = await conn.execute(
                "UPDATE fed_offers SET state = 'expired', updated_at = ? WHERE state = 'offered' AND created_at < ?",
                (now, created_before),
            )
            return cur.rowcount

        return await self.db.write(fn)

    async def prune(self, before: float, *, limit: int = 1000) -> tuple[int, int]:
        """Forget finished federation traffic last touched before ``before``, at most ``limit`` rows of each
        kind: inbox items done or rejected, and outbox activities that were not public whose every delivery
        ended (delivered, failed or withdrawn; their delivery rows go with them). Public activities stay: they
        are the outbox collection others read. How many inbox and outbox rows went."""

        async def fn(conn: aiosqlite.Connection) -> tuple[int, int]:
            inbox = await conn.execute(
                "DELETE FROM fed_inbox WHERE seq IN (SELECT seq FROM fed_inbox "
                "WHERE state IN ('done', 'rejected') AND updated_at < ? ORDER BY seq LIMIT ?)",
                (before, limit),
            )
            outbox = await conn.execute(
                "DELETE FROM fed_outbox WHERE seq IN (SELECT o.seq FROM fed_outbox o WHERE o.public = 0 "
                "AND o.created_at < ?1 AND NOT EXISTS (SELECT 1 FROM fed_deliveries d WHERE d.outbox_seq = o.seq "
                "AND (d.state NOT IN ('delivered', 'failed', 'withdrawn') OR d.updated_at >= ?1)) ORDER BY o.seq LIMIT ?2)",
                (before, limit),
            )
            return inbox.rowcount, outbox.rowcount

        return await self.db.write(fn)

    # ---- inbox -----------------------------------------------------------------------------------

    async def store_inbox_many(
        self,
        items: Sequence[tuple[str, str, str, str, float]],
        requests: Sequence[str | None] | None = None,
    ) -> list[bool]:
        """Store many verified activities (activity_id, actor_id, type, body, now) in one write; for each,
        whether it was stored (False: a duplicate). Used by the intake's batcher so that concurrent requests
        share one commit. ``requests`` holds, item by item, a digest of the signed request that carried it.

        An id already stored is a duplicate (a re-delivery or a replay), except when the earlier item is
        finished (done or rejected), came from the same actor, and this is another signed request: then it is
        a new request that reuses the id, as servers that keep one record per relationship do (a re-Follow
        after an Undo, the Accept of it and its Undo, issue 19). The finished item is forgotten (the prune
        would have, later) and the new one stored, so that it is processed in the order it arrived. Its
        handler sees the current state: a retry of something already in effect changes nothing."""
        digests = list(requests) if requests is not None else [None] * len(items)

        async def fn(conn: aiosqlite.Connection) -> list[bool]:
            ids = list({i[0] for i in items})
            known: dict[str, aiosqlite.Row] = {}
            for chunk in range(0, len(ids), 500):
                part = ids[chunk : chunk + 500]
                marks = ",".join("?" * len(part))
                async with conn.execute(
                    f"""SELECT seq, activity_id, actor_id, state, request, received_at FROM fed_inbox
                        WHERE activity_id IN ({marks})""",
                    part,
                ) as cur:
                    known.update((r["activity_id"], r) for r in await cur.fetchall())
            fresh: list[bool] = []
            rows = []
            forget = []
            batch: set[str] = set()
            for (activity_id, actor_id, kind, body, now), digest in zip(items, digests, strict=True):
                prior = known.get(activity_id)
                if activity_id in batch:  # a duplicate inside the same batch is a replay too
                    new = False
                else:
                    new = prior is None or _reused_id(prior, actor_id, digest, now)
                fresh.append(new)
                if new:
                    batch.add(activity_id)
                    if prior is not None:
                        forget.append((prior["seq"],))
                    rows.append((activity_id, actor_id, kind, body, now, now, now, digest))
            await conn.executemany("DELETE FROM fed_inbox WHERE seq = ?", forget)
            await conn.executemany(
                """INSERT INTO fed_inbox (activity_id, actor_id, type, body, received_at, next_attempt_at,
                       updated_at, request) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                rows,
            )
            return fresh

        return await self.db.write(fn)

    async def claim_inbox(
        self,
        now: float,
        *,
        limit: int = 64,
        lock_seconds: float = 120,
        per_host: int | None = None,
        busy_hosts: Mapping[str, int] | None = None,
        busy_seqs: Iterable[int] = (),
    ) -> list[InboxRow]:
        """Take due inbox items, oldest first. ``per_host``: at most that many items per sender host, counting
        the ``busy_hosts`` ones already held; ``busy_seqs`` (held) are skipped whatever their lock says."""
        cap = per_host if per_host is not None else limit
        host = _url_host("actor_id")

        async def fn(conn: aiosqlite.Connection) -> list[InboxRow]:
            async with conn.execute(
                f"""UPDATE fed_inbox SET state = 'processing', lock_expires_at = ?, attempts = attempts + 1,
                       updated_at = ?
                   WHERE seq IN (
                     SELECT seq FROM (
                       SELECT seq, host, row_number() OVER (PARTITION BY host ORDER BY seq) AS nth FROM (
                         SELECT seq, {host} AS host FROM fed_inbox
                         WHERE state IN ('received', 'failed', 'processing') AND next_attempt_at <= ?
                           AND (lock_expires_at IS NULL OR lock_expires_at <= ?)
                           AND seq NOT IN (SELECT value FROM json_each(?))))
                     WHERE nth <= ? - COALESCE((SELECT value FROM json_each(?) WHERE key = host), 0)
                     ORDER BY seq LIMIT ?)
                   RETURNING seq, activity_id, actor_id, type, body, attempts, {host} AS host""",
                (
                    now + lock_seconds,
                    now,
                    now,
                    now,
                    json.dumps(sorted(busy_seqs)),
                    cap,
                    json.dumps(dict(busy_hosts or {})),
                    limit,
                ),
            ) as cur:
                rows = await cur.fetchall()
            return sorted((InboxRow(**dict(r)) for r in rows), key=lambda r: r.seq)

        return await self.db.write(fn)

    async def forget_body(self, activity_id: str) -> None:
        """Keep a processed item for dedupe only: its body goes (hook: an organisation's shared records,
        federation/org_share.py, must not outlive their withdrawal in the inbox's 30 days of history)."""
        await self._exec("UPDATE fed_inbox SET body = '{}' WHERE activity_id = ?", (activity_id,))

    async def finish_inbox(
        self, seq: int, *, state: str, now: float, error: str | None = None, retry_at: float | None = None
    ) -> None:
        INBOX_ITEM.check("processing", state)
        await self._exec(
            """UPDATE fed_inbox SET state = ?, last_error = ?, lock_expires_at = NULL, updated_at = ?,
                   next_attempt_at = COALESCE(?, next_attempt_at) WHERE seq = ?""",
            (state, error, now, retry_at, seq),
        )

    async def inbox_count(self, state: str | None = None) -> int:
        if state is None:
            return await self._scalar("SELECT count(*) FROM fed_inbox", ())
        return await self._scalar("SELECT count(*) FROM fed_inbox WHERE state = ?", (state,))

    # ---- outbox and deliveries -------------------------------------------------------------------

    async def enqueue(
        self,
        *,
        activity_id: str,
        type: str,
        body: str,
        inboxes: Iterable[str],
        now: float,
        public: bool = False,
        kind: str | None = None,
        recipient: str | None = None,
    ) -> int:
        """Write the activity and one delivery row per inbox in one transaction, before anything is sent."""
        item = Outgoing(
            activity_id=activity_id,
            type=type,
            body=body,
            inboxes=list(inboxes),
            public=public,
            kind=kind,
            recipient=recipient,
        )
        return (await self.enqueue_many([item], now=now))[0]

    async def enqueue_many(
        self,
        items: Sequence[Outgoing],
        *,
        now: float,
        also: Callable[[aiosqlite.Connection], Awaitable[None]] | None = None,
    ) -> list[int]:
        """Write several activities and their deliveries, and ``also`` (state changes they report: a block,
        follows ended, the card version published), in ONE transaction: a kill leaves all of it or none, so
        that a restart neither loses what was decided nor sends what was not. Outbox order is ``items``'
        order (deliveries to one inbox go out in it). Returns the outbox seqs."""

        async def fn(conn: aiosqlite.Connection) -> list[int]:
            if also is not None:
                await also(conn)
            seqs = []
            for item in items:
                cur = await conn.execute(
                    "INSERT INTO fed_outbox (activity_id, type, body, public, created_at, kind)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (item.activity_id, item.type, item.body, int(item.public), now, item.kind),
                )
                seq = cur.lastrowid
                assert seq is not None
                targets = sorted({t for t in item.inboxes if t})
                await conn.executemany(
                    """INSERT OR IGNORE INTO fed_deliveries (outbox_seq, inbox, host, next_attempt_at,
                           created_at, updated_at, actor_id) VALUES (?, ?, ?, ?, ?, ?, ?)""",
                    [(seq, t, host_of(t), now, now, now, item.recipient) for t in targets],
                )
                seqs.append(seq)
            return seqs

        return await self.db.write(fn)

    async def claim_deliveries(
        self,
        now: float,
        *,
        limit: int = 256,
        lock_seconds: float = 120,
        per_host: int | None = None,
        busy_hosts: Mapping[str, int] | None = None,
        busy_ids: Iterable[int] = (),
    ) -> list[DeliveryRow]:
        """Take due deliveries whose host's circuit is closed (a dead host gets at most one probe a claim).

        ``per_host``: at most that many rows per host, counting the ``busy_hosts`` rows already in flight;
        ``busy_ids`` (in flight) are skipped whatever their lock says. Oldest due first within each host."""
        cap = per_host if per_host is not None else limit

        async def fn(conn: aiosqlite.Connection) -> list[DeliveryRow]:
            async with conn.execute(
                """UPDATE fed_deliveries SET state = 'sending', lock_expires_at = ?, updated_at = ?
                   WHERE id IN (
                     SELECT id FROM (
                       SELECT d.id, d.host, d.next_attempt_at,
                              row_number() OVER (PARTITION BY d.host ORDER BY d.next_attempt_at, d.id) AS nth
                       FROM fed_deliveries d LEFT JOIN fed_hosts h ON h.host = d.host
                       WHERE d.state IN ('queued', 'retry_wait', 'sending') AND d.next_attempt_at <= ?
                         AND (d.lock_expires_at IS NULL OR d.lock_expires_at <= ?)
                         AND (h.open_until IS NULL OR h.open_until <= ?)
                         AND d.id NOT IN (SELECT value FROM json_each(?)))
                     WHERE nth <= ? - COALESCE((SELECT value FROM json_each(?) WHERE key = host), 0)
                     ORDER BY next_attempt_at, id LIMIT ?)
                   RETURNING id""",
                (
                    now + lock_seconds,
                    now,
                    now,
                    now,
                    now,
                    json.dumps(sorted(busy_ids)),
                    cap,
                    json.dumps(dict(busy_hosts or {})),
                    limit,
                ),
            ) as cur:
                ids = [r[0] for r in await cur.fetchall()]
            if not ids:
                return []
            marks = ",".join("?" * len(ids))
            async with conn.execute(
                f"""SELECT d.id, d.outbox_seq, o.activity_id, o.body, d.inbox, d.host, d.attempts,
                        d.created_at, o.type, o.kind, d.actor_id
                    FROM fed_deliveries d JOIN fed_outbox o ON o.seq = d.outbox_seq
                    WHERE d.id IN ({marks}) ORDER BY d.outbox_seq, d.id""",
                ids,
            ) as cur:
                return [DeliveryRow(**dict(r)) for r in await cur.fetchall()]

        return await self.db.write(fn)

    async def release_deliveries(self, ids: Sequence[int]) -> None:
        """Put claimed deliveries back unattempted (their host's circuit opened while they waited); those of a
        host dead-lettered meanwhile go with its other dead letters."""

        async def fn(conn: aiosqlite.Connection) -> None:
            marks = ",".join("?" * len(ids))
            await conn.execute(
                f"""UPDATE fed_deliveries SET state = 'queued', lock_expires_at = NULL
                    WHERE id IN ({marks}) AND state = 'sending'""",
                list(ids),
            )
            await conn.execute(
                f"""UPDATE fed_deliveries SET state = 'dead' WHERE id IN ({marks}) AND state = 'queued'
                    AND host IN (SELECT host FROM fed_hosts WHERE dead = 1)""",
                list(ids),
            )

        if ids:
            await self.db.write(fn)

    async def finish_delivery(
        self,
        delivery_id: int,
        *,
        state: str,
        now: float,
        status: int | None,
        error: str | None = None,
        retry_at: float | None = None,
    ) -> None:
        if state == "dead":  # a retryable failure on a delivery too old to retry: it waits, then gives up
            DELIVERY.check("sending", "retry_wait")
            DELIVERY.check("retry_wait", "dead")
        else:
            DELIVERY.check("sending", state)
        await self._exec(
            """UPDATE fed_deliveries SET state = ?, attempts = attempts + 1, last_status = ?, last_error = ?,
                   lock_expires_at = NULL, updated_at = ?, next_attempt_at = COALESCE(?, next_attempt_at)
               WHERE id = ?""",
            (state, status, error, now, retry_at, delivery_id),
        )

    @staticmethod
    def supersede_writer(
        kind: str, *, recipients: Sequence[str] = (), inboxes: Sequence[str] = (), now: float
    ) -> Callable[[aiosqlite.Connection], Awaitable[None]]:
        """Withdraw the still-waiting deliveries of older ``kind`` Updates ('card' to ``recipients``, 'profile'
        to ``inboxes``), inside the transaction that queues the newer ones (before they are written): a peer
        gets the newest version once, never an older one after it. Deliveries already on their way go."""
        column, values = ("actor_id", list(recipients)) if kind == "card" else ("inbox", list(inboxes))

        async def fn(conn: aiosqlite.Connection) -> None:
            for start in range(0, len(values), 500):
                part = values[start : start + 500]
                marks = ",".join("?" * len(part))
                await conn.execute(
                    f"""UPDATE fed_deliveries SET state = 'withdrawn', lock_expires_at = NULL, updated_at = ?,
                            last_error = 'withdrawn: a newer ' || ? || ' Update follows it'
                        WHERE state IN ('queued', 'retry_wait', 'dead') AND {column} IN ({marks})
                          AND outbox_seq IN (SELECT seq FROM fed_outbox WHERE kind = ?)""",
                    (now, kind, *part, kind),
                )

        return fn

    async def actor_for_inbox(self, inbox: str) -> str | None:
        """The actor whose personal inbox this is (deliveries written without a recipient), if we know one
        whose inbox lives on its own origin (an actor naming someone else's inbox proves nothing)."""

        async def fn(conn: aiosqlite.Connection) -> str | None:
            async with conn.execute("SELECT id FROM fed_actors WHERE inbox = ? ORDER BY id", (inbox,)) as cur:
                rows = await cur.fetchall()
            for row in rows:
                if host_of(row[0]) == host_of(inbox):
                    return str(row[0])
            return None

        return await self._read(fn)

    async def delivery_counts(self) -> dict[str, int]:
        async def fn(conn: aiosqlite.Connection) -> dict[str, int]:
            async with conn.execute("SELECT state, count(*) FROM fed_deliveries GROUP BY state") as cur:
                return {r[0]: r[1] for r in await cur.fetchall()}

        return await self._read(fn)

    async def deliveries_to(self, inbox: str) -> list[dict[str, Any]]:
        async def fn(conn: aiosqlite.Connection) -> list[dict[str, Any]]:
            async with conn.execute(
                """SELECT d.*, o.activity_id FROM fed_deliveries d JOIN fed_outbox o ON o.seq = d.outbox_seq
                   WHERE d.inbox = ? ORDER BY d.id""",
                (inbox,),
            ) as cur:
                return [dict(r) for r in await cur.fetchall()]

        return await self._read(fn)

    async def peer_status(self) -> list[dict[str, Any]]:
        """Per host: deliveries queued/failed/dead and the breaker's state."""

        async def fn(conn: aiosqlite.Connection) -> list[dict[str, Any]]:
            async with conn.execute(
                """SELECT d.host AS host,
                          sum(d.state IN ('queued', 'retry_wait', 'sending')) AS queued,
                          sum(d.state = 'delivered') AS delivered,
                          sum(d.state = 'failed') AS failed, sum(d.state = 'dead') AS dead,
                          max(d.last_error) AS last_error, h.failures AS failures, h.dead AS host_dead,
                          h.open_until AS open_until, h.scheme AS scheme
                   FROM fed_deliveries d LEFT JOIN fed_hosts h ON h.host = d.host
                   GROUP BY d.host ORDER BY d.host"""
            ) as cur:
                return [dict(r) for r in await cur.fetchall()]

        return await self._read(fn)

    async def public_outbox(self, limit: int = 20) -> tuple[int, list[dict[str, Any]]]:
        async def fn(conn: aiosqlite.Connection) -> tuple[int, list[dict[str, Any]]]:
            async with conn.execute("SELECT count(*) FROM fed_outbox WHERE public = 1") as cur:
                row = await cur.fetchone()
            async with conn.execute(
                "SELECT body FROM fed_outbox WHERE public = 1 ORDER BY seq DESC LIMIT ?", (limit,)
            ) as cur:
                items = [json.loads(r[0]) for r in await cur.fetchall()]
            return (int(row[0]) if row else 0), items

        return await self._read(fn)

    # ---- hosts: breaker, dead letters, signature scheme ------------------------------------------

    async def host(self, host: str) -> HostRow | None:
        async def fn(conn: aiosqlite.Connection) -> HostRow | None:
            async with conn.execute("SELECT * FROM fed_hosts WHERE host = ?", (host,)) as cur:
                r = await cur.fetchone()
            if r is None:
                return None
            d = dict(r)
            d.pop("updated_at")
            d["dead"] = bool(d["dead"])
            return HostRow(**d)

        return await self._read(fn)

    async def host_succeeded(self, host: str, now: float, scheme: str | None) -> None:
        """The host answered: close its breaker, resume its dead letters, remember the scheme that worked."""

        async def fn(conn: aiosqlite.Connection) -> None:
            async with conn.execute("SELECT dead FROM fed_hosts WHERE host = ?", (host,)) as cur:
                row = await cur.fetchone()
            await conn.execute(
                """INSERT INTO fed_hosts (host, failures, dead, scheme, updated_at) VALUES (?, 0, 0, ?, ?)
                   ON CONFLICT(host) DO UPDATE SET failures = 0, first_failure_at = NULL, open_until = NULL,
                       dead = 0, scheme = COALESCE(excluded.scheme, fed_hosts.scheme),
                       updated_at = excluded.updated_at""",
                (host, scheme, now),
            )
            if row is not None and row[0]:
                await conn.execute(
                    """UPDATE fed_deliveries SET state = 'queued', next_attempt_at = ?, updated_at = ?
                       WHERE host = ? AND state = 'dead'""",
                    (now, now, host),
                )

        await self.db.write(fn)

    async def host_failed(self, host: str, now: float, *, open_for: float, dead_after: float) -> bool:
        """Count a failure; open the breaker for ``open_for`` seconds; dead-letter the host's queued
        deliveries when it has failed for ``dead_after`` seconds. Returns True when the host is (now) dead."""

        async def fn(conn: aiosqlite.Connection) -> bool:
            await conn.execute(
                """INSERT INTO fed_hosts (host, failures, first_failure_at, open_until, updated_at)
                   VALUES (?, 1, ?, ?, ?)
                   ON CONFLICT(host) DO UPDATE SET failures = fed_hosts.failures + 1,
                       first_failure_at = COALESCE(fed_hosts.first_failure_at, excluded.first_failure_at),
                       open_until = excluded.open_until, updated_at = excluded.updated_at""",
                (host, now, now + open_for, now),
            )
            async with conn.execute("SELECT first_failure_at FROM fed_hosts WHERE host = ?", (host,)) as cur:
                row = await cur.fetchone()
            assert row is not None
            if now - row[0] < dead_after:
                return False
            await conn.execute("UPDATE fed_hosts SET dead = 1 WHERE host = ?", (host,))
            await conn.execute(
                """UPDATE fed_deliveries SET state = 'dead', lock_expires_at = NULL, updated_at = ?
                   WHERE host = ? AND state IN ('queued', 'retry_wait')""",
                (now, host),
            )
            return True

        return await self.db.write(fn)

    async def host_probe_at(self, host: str, when: float) -> None:
        await self._exec("UPDATE fed_hosts SET open_until = ? WHERE host = ?", (when, host))

    async def dead_hosts_due(self, now: float) -> list[str]:
        async def fn(conn: aiosqlite.Connection) -> list[str]:
            async with conn.execute(
                "SELECT host FROM fed_hosts WHERE dead = 1 AND (open_until IS NULL OR open_until <= ?)",
                (now,),
            ) as cur:
                return [r[0] for r in await cur.fetchall()]

        return await self._read(fn)

    async def requeue_probe(self, host: str, now: float) -> None:
        """Put one dead-lettered delivery of a dead host back in the queue: a probe of whether it is back."""

        async def fn(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                """UPDATE fed_deliveries SET state = 'queued', next_attempt_at = ?, updated_at = ?
                   WHERE id = (SELECT id FROM fed_deliveries WHERE host = ? AND state = 'dead'
                               ORDER BY id LIMIT 1)""",
                (now, now, host),
            )
            # half-open: the probe may go now; a failure sets the next probe time again
            await conn.execute("UPDATE fed_hosts SET open_until = NULL WHERE host = ?", (host,))

        await self.db.write(fn)

    async def release_locks(self) -> None:
        """At start-up of a single-process node, no worker holds a lock: release what a killed one held."""

        async def fn(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "UPDATE fed_deliveries SET state = 'queued', lock_expires_at = NULL WHERE state = 'sending'"
            )
            await conn.execute(
                "UPDATE fed_inbox SET state = 'received', lock_expires_at = NULL WHERE state = 'processing'"
            )

        await self.db.write(fn)

    # ---- blocks ----------------------------------------------------------------------------------

    async def add_block(self, kind: str, value: str, now: float, block_id: str | None = None) -> None:
        await self._exec(
            "INSERT OR REPLACE INTO fed_blocks (kind, value, block_id, created_at) VALUES (?, ?, ?, ?)",
            (kind, value, block_id, now),
        )
        (await self._block_set()).add((kind, value))

    async def block_in_memory(self, kind: str, value: str) -> Callable[[], Awaitable[None]]:
        """Count a block from now on, before its row is written (so nothing checked meanwhile slips through);
        returns what takes it back if the write fails."""
        blocks = await self._block_set()
        had = (kind, value) in blocks
        blocks.add((kind, value))

        async def undo() -> None:
            if not had:
                blocks.discard((kind, value))

        return undo

    def block_writer(
        self,
        kind: str,
        value: str,
        now: float,
        *,
        block_id: str | None,
        follows_ended: Sequence[tuple[str, str]] = (),
    ) -> Callable[[aiosqlite.Connection], Awaitable[None]]:
        """The block row and the follows it ends (each along FOLLOW_REQUEST), to be written inside the
        transaction that also queues what the block sends (enqueue_many's ``also``)."""

        async def fn(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "INSERT OR REPLACE INTO fed_blocks (kind, value, block_id, created_at) VALUES (?, ?, ?, ?)",
                (kind, value, block_id, now),
            )
            for follow_id, state in follows_ended:
                async with conn.execute(
                    "SELECT state FROM fed_follows WHERE follow_id = ?", (follow_id,)
                ) as cur:
                    row = await cur.fetchone()
                if row is None or row[0] == state:
                    continue
                FOLLOW_REQUEST.check(row[0], state)
                await conn.execute(
                    "UPDATE fed_follows SET state = ?, updated_at = ? WHERE follow_id = ?",
                    (state, now, follow_id),
                )

        return fn

    async def remove_block(self, kind: str, value: str) -> str | None:
        """Remove a block; return the id of the Block activity sent for it, if any."""

        async def fn(conn: aiosqlite.Connection) -> str | None:
            async with conn.execute(
                "DELETE FROM fed_blocks WHERE kind = ? AND value = ? RETURNING block_id", (kind, value)
            ) as cur:
                row = await cur.fetchone()
            return row[0] if row else None

        block_id = await self.db.write(fn)
        (await self._block_set()).discard((kind, value))
        return block_id

    async def blocks(self) -> list[dict[str, Any]]:
        async def fn(conn: aiosqlite.Connection) -> list[dict[str, Any]]:
            async with conn.execute(
                "SELECT kind, value, created_at FROM fed_blocks ORDER BY created_at"
            ) as cur:
                return [dict(r) for r in await cur.fetchall()]

        return await self._read(fn)

    def forget_blocks(self) -> None:
        """Read the blocks from the database again on next use: a restore wrote rows around this store."""
        self._blocks = None

    async def _block_set(self) -> set[tuple[str, str]]:
        # Every inbox request asks; blocks change rarely. One process owns this database, so a copy in
        # memory, loaded once and kept in step by add/remove_block, answers without a database round trip.
        if self._blocks is None:
            loaded = {(b["kind"], b["value"]) for b in await self.blocks()}
            if self._blocks is None:
                self._blocks = loaded
        return self._blocks

    async def has_blocks(self) -> bool:
        return bool(await self._block_set())

    async def is_blocked(self, actor_id: str) -> bool:
        """Blocked when the actor or its host (or a parent domain of it) is blocked. A key id names its actor
        with a ``#fragment`` (``…/users/x#main-key``): the fragment is not part of the actor's id. The whole
        decision (keys without a fragment, server actors, aliases) is federation/blocks.py's."""
        blocks = await self._block_set()
        if not blocks:
            return False
        if ("actor", actor_id) in blocks or ("actor", actor_id.split("#", 1)[0]) in blocks:
            return True
        return any(("domain", d) in blocks for d in domains_of(actor_id))

    async def add_blocked_by(self, actor_id: str, block_id: str, now: float) -> None:
        await self._exec(
            "INSERT OR REPLACE INTO fed_blocked_by (actor_id, block_id, created_at) VALUES (?, ?, ?)",
            (actor_id, block_id, now),
        )
        (await self._blocked_by_set()).add(actor_id)

    async def remove_blocked_by(self, actor_id: str) -> None:
        await self._exec("DELETE FROM fed_blocked_by WHERE actor_id = ?", (actor_id,))
        (await self._blocked_by_set()).discard(actor_id)

    async def _blocked_by_set(self) -> set[str]:
        # as _block_set: one process owns this database, so a copy in memory kept in step by add/remove
        if self._blocked_by is None:
            loaded = await self.blocked_by()
            if self._blocked_by is None:
                self._blocked_by = loaded
        return self._blocked_by

    async def blocked_by(self) -> set[str]:
        async def fn(conn: aiosqlite.Connection) -> set[str]:
            async with conn.execute("SELECT actor_id FROM fed_blocked_by") as cur:
                return {r[0] for r in await cur.fetchall()}

        return await self._read(fn)

    async def block_by_id(self, actor_id: str) -> str | None:
        """The id of the Block ``actor_id`` sent us, if they block us."""

        async def fn(conn: aiosqlite.Connection) -> str | None:
            async with conn.execute(
                "SELECT block_id FROM fed_blocked_by WHERE actor_id = ?", (actor_id,)
            ) as cur:
                row = await cur.fetchone()
            return str(row[0]) if row else None

        return await self._read(fn)

    async def is_blocked_by(self, actor_id: str) -> bool:
        return actor_id in await self._blocked_by_set()

    # ---- our deleted actors ----------------------------------------------------------------------

    async def add_tombstone(
        self, actor_id: str, *, former_type: str, activity_id: str, now: float
    ) -> TombstoneRow:
        """Mark one of our actors deleted; the first deletion's row stands (a repeat changes nothing)."""

        async def fn(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                """INSERT OR IGNORE INTO fed_tombstones (actor_id, former_type, activity_id, deleted_at)
                   VALUES (?, ?, ?, ?)""",
                (actor_id, former_type, activity_id, now),
            )

        await self.db.write(fn)
        row = await self.tombstone(actor_id)
        assert row is not None
        return row

    async def tombstone(self, actor_id: str) -> TombstoneRow | None:
        async def fn(conn: aiosqlite.Connection) -> TombstoneRow | None:
            async with conn.execute("SELECT * FROM fed_tombstones WHERE actor_id = ?", (actor_id,)) as cur:
                row = await cur.fetchone()
            return TombstoneRow(**dict(row)) if row else None

        return await self._read(fn)

    async def in_outbox(self, activity_id: str) -> bool:
        return bool(
            await self._scalar(
                "SELECT EXISTS (SELECT 1 FROM fed_outbox WHERE activity_id = ?)", (activity_id,)
            )
        )

    # ---- settings of the owner's actor -----------------------------------------------------------

    async def setting(self, key: str, default: Any = None) -> Any:
        async def fn(conn: aiosqlite.Connection) -> Any:
            async with conn.execute("SELECT value FROM fed_settings WHERE key = ?", (key,)) as cur:
                row = await cur.fetchone()
            return json.loads(row[0]) if row else default

        return await self._read(fn)

    async def set_setting(self, key: str, value: Any) -> None:
        await self._exec(
            "INSERT OR REPLACE INTO fed_settings (key, value) VALUES (?, ?)", (key, json.dumps(value))
        )

    @staticmethod
    def settings_writer(values: dict[str, Any]) -> Callable[[aiosqlite.Connection], Awaitable[None]]:
        """Settings to write inside another write's transaction (enqueue_many's ``also``)."""

        async def fn(conn: aiosqlite.Connection) -> None:
            await conn.executemany(
                "INSERT OR REPLACE INTO fed_settings (key, value) VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in values.items()],
            )

        return fn

    # ---- cards received from Kith peers ----------------------------------------------------------

    async def card_received_version(self, actor_id: str) -> str | None:
        """The ``updated`` of the last card applied from ``actor_id`` (normalised text, sorts in time)."""

        async def fn(conn: aiosqlite.Connection) -> str | None:
            async with conn.execute(
                "SELECT updated FROM fed_cards_received WHERE actor_id = ?", (actor_id,)
            ) as cur:
                row = await cur.fetchone()
            return str(row[0]) if row else None

        return await self._read(fn)

    async def card_applied(
        self, actor_id: str, *, updated: str, activity_id: str | None, unverified: Sequence[str], now: float
    ) -> None:
        await self._exec(
            """INSERT INTO fed_cards_received (actor_id, updated, activity_id, unverified, received_at)
               VALUES (?, ?, ?, ?, ?) ON CONFLICT(actor_id) DO UPDATE SET updated = excluded.updated,
                   activity_id = excluded.activity_id, unverified = excluded.unverified,
                   received_at = excluded.received_at""",
            (actor_id, updated, activity_id, json.dumps(list(unverified)), now),
        )

    async def unverified_claims(self, actor_id: str) -> list[str]:
        """Identities ``actor_id``'s last card claimed that their actors did not confirm."""

        async def fn(conn: aiosqlite.Connection) -> list[str]:
            async with conn.execute(
                "SELECT unverified FROM fed_cards_received WHERE actor_id = ?", (actor_id,)
            ) as cur:
                row = await cur.fetchone()
            return list(json.loads(row[0])) if row else []

        return await self._read(fn)

    # ---- helpers ---------------------------------------------------------------------------------

    async def _transition(
        self,
        table: str,
        key: str,
        value: str,
        lifecycle: Lifecycle,
        state: str,
        now: float,
        extra: tuple[str, str] | None = None,
    ) -> None:
        async def fn(conn: aiosqlite.Connection) -> None:
            async with conn.execute(f"SELECT state FROM {table} WHERE {key} = ?", (value,)) as cur:
                row = await cur.fetchone()
            if row is None:
                raise IllegalTransition(f"{lifecycle.name}: no row {value}")
            if row[0] != state:
                lifecycle.check(row[0], state)
            sets, args = "state = ?, updated_at = ?", [state, now]
            if extra is not None:
                sets += f", {extra[0]} = ?"
                args.append(extra[1])
            await conn.execute(f"UPDATE {table} SET {sets} WHERE {key} = ?", (*args, value))

        await self.db.write(fn)

    async def _exec(self, sql: str, args: tuple[Any, ...]) -> None:
        async def fn(conn: aiosqlite.Connection) -> None:
            await conn.execute(sql, args)

        await self.db.write(fn)

    async def _scalar(self, sql: str, args: tuple[Any, ...]) -> int:
        async def fn(conn: aiosqlite.Connection) -> int:
            async with conn.execute(sql, args) as cur:
                row = await cur.fetchone()
            return int(row[0]) if row and row[0] is not None else 0

        return await self._read(fn)
