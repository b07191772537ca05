"""Federation's store on SQLite: every statement federation's rows need, over the server's database
(server migration 0002_federation.sql), implementing federation.ports.FederationStore.

Rows that belong to one account name it in ``account``; every method that concerns one account takes it and
puts it in each statement's key. Writes go through ``Database.write`` (group commit: many inbox items or
deliveries per fsync); queue claims are single UPDATE ... RETURNING statements so that two workers never take
the same row, and they stamp what they take with the claiming worker.

An account's federation rows as a whole (moved from a graph database, exported, restored, purged) are
node/store/sqlite/federation_rows.py's.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import aiosqlite

from federation.store import BULK_TRANSITIONS, host_of, reused_id
from federation.values import (
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
from node.store.federation_models import actor_from_row, offer_from_row, record_id
from node.store.sqlite.db import Database
from node.store.sqlite.driver import sqlite
from node.store.sqlite.rows import fetch_all, fetch_one, placeholders
from protocol.errors import IllegalTransition
from protocol.states import DELIVERY, FOLLOW_REQUEST, INBOX_ITEM, RELATIONSHIP_OFFER, Lifecycle

__all__ = ["SqliteFederation"]

T = TypeVar("T")

# The transitions this module makes in bulk SQL, where no row-by-row check runs: each must be among those the
# federation store's contract declares (federation/store.py, itself checked against protocol/states.py).
_BULK = (
    (FOLLOW_REQUEST, "pending", "cancelled"),  # add_follow: superseded by a newer Follow
    (FOLLOW_REQUEST, "accepted", "ended"),
    (INBOX_ITEM, "received", "processing"),  # claim_inbox
    (INBOX_ITEM, "failed", "processing"),  # claim_inbox: due again
    (INBOX_ITEM, "processing", "received"),  # claim_inbox (lock expired), _release_locks
    (DELIVERY, "queued", "sending"),  # claim_deliveries
    (DELIVERY, "retry_wait", "sending"),
    (DELIVERY, "sending", "queued"),  # claim_deliveries (lock expired), release_deliveries, _release_locks
    (DELIVERY, "queued", "dead"),  # host_failed, release_deliveries
    (DELIVERY, "retry_wait", "dead"),
    (DELIVERY, "dead", "queued"),  # host_succeeded, requeue_probe
    (DELIVERY, "queued", "withdrawn"),  # enqueue_many's supersede
    (DELIVERY, "retry_wait", "withdrawn"),
    (DELIVERY, "dead", "withdrawn"),
    (RELATIONSHIP_OFFER, "offered", "expired"),  # expire_offers
)
for _move in _BULK:
    if _move not in BULK_TRANSITIONS:
        raise AssertionError(f"{_move[0].name}: {_move[1]} -> {_move[2]} is made in bulk but not declared")


def _url_host(column: str) -> str:
    """SQL for the host[:port] of the URL in ``column`` (what :func:`host_of` gives for the URLs actor ids
    are: scheme://host[:port]/path), so that a claim can group rows by the host of a URL column."""
    rest = f"substr({column}, instr({column}, '://') + 3)"
    end = f"CASE WHEN instr({rest}, '/') > 0 THEN instr({rest}, '/') - 1 ELSE length({rest}) END"
    return f"lower(substr({rest}, 1, {end}))"


_FOLLOW_COLUMNS = "account, follow_id, direction, actor_id, state, created_at, updated_at"
_OFFER_COLUMNS = (
    "account, offer_id, direction, actor_id, rel_type, record, final, state, created_at, updated_at"
)
#: Accounts whose queues wait: a suspended account processes nothing and sends nothing until it is resumed;
#: a purged one has nothing left. (A removed account still sends: its Delete.)
_INBOX_WAITS = "(SELECT name FROM account WHERE state != 'active')"
_DELIVERY_WAITS = "(SELECT name FROM account WHERE state IN ('suspended', 'purged'))"


class SqliteFederation:
    """federation.ports.FederationStore over the server's database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def _read(self, fn: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        return await self.db.read(fn)

    async def _exec(self, sql: str, args: Sequence[Any]) -> None:
        async def fn(conn: aiosqlite.Connection) -> None:
            await conn.execute(sql, args)

        await self.db.write(fn)

    async def _changed(self, sql: str, args: Sequence[Any]) -> bool:
        """Run one statement; whether it touched a row."""

        async def fn(conn: aiosqlite.Connection) -> bool:
            cursor = await conn.execute(sql, args)
            return cursor.rowcount > 0

        return await self.db.write(fn)

    async def _scalar(self, sql: str, args: Sequence[Any]) -> int:
        async def fn(conn: aiosqlite.Connection) -> int:
            row = await fetch_one(conn, sql, args)
            return int(row[0]) if row and row[0] is not None else 0

        return await self._read(fn)

    # ---- remote actors and their keys ------------------------------------------------------------------
    async def save_actor(self, actor: RemoteActor, doc: Mapping[str, Any], now: float) -> None:
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

    async def _actor_where(self, column: str, arg: str) -> StoredActor | None:
        async def fn(conn: aiosqlite.Connection) -> StoredActor | None:
            row = await fetch_one(conn, f"SELECT * FROM fed_actors WHERE {column} = ?", (arg,))
            return actor_from_row(row) if row else None

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
                sql = f"SELECT * FROM fed_actors WHERE id IN ({placeholders(len(part))})"
                for row in await fetch_all(conn, sql, part):
                    found[row["id"]] = actor_from_row(row)
            return found

        return await self._read(fn)

    async def kith_actors_on(self, host: str) -> list[RemoteActor]:
        """Kith actors we know on ``host`` (host[:port])."""

        async def fn(conn: aiosqlite.Connection) -> list[RemoteActor]:
            rows = await fetch_all(
                conn,
                "SELECT * FROM fed_actors WHERE host = ? AND is_kith = 1 AND gone = 0 ORDER BY id",
                (host,),
            )
            return [actor_from_row(r).actor for r in rows]

        return await self._read(fn)

    async def actor_for_inbox(self, inbox: str) -> str | None:
        """The actor whose personal inbox this is (deliveries written without a recipient), if we know one
        whose inbox lives on its own origin (an actor naming someone else's inbox proves nothing)."""

        async def fn(conn: aiosqlite.Connection) -> str | None:
            for row in await fetch_all(
                conn, "SELECT id FROM fed_actors WHERE inbox = ? ORDER BY id", (inbox,)
            ):
                if host_of(row[0]) == host_of(inbox):
                    return str(row[0])
            return None

        return await self._read(fn)

    async def note_key_refetch(self, actor_id: str, now: float) -> None:
        await self._exec("UPDATE fed_actors SET key_refetched_at = ? WHERE id = ?", (now, actor_id))

    async def mark_gone(self, actor_id: str) -> None:
        await self._exec("UPDATE fed_actors SET gone = 1 WHERE id = ?", (actor_id,))

    async def set_moved(self, actor_id: str, target: str) -> None:
        await self._exec("UPDATE fed_actors SET moved_to = ? WHERE id = ?", (target, actor_id))

    # ---- which accounts an activity concerns ---------------------------------------------------------------
    async def accounts_dealing_with(self, actor_id: str) -> set[str]:
        async def fn(conn: aiosqlite.Connection) -> set[str]:
            rows = await fetch_all(
                conn,
                """SELECT account FROM fed_follows WHERE actor_id = ?1 AND state IN ('pending', 'accepted')
                   UNION SELECT account FROM fed_offers WHERE actor_id = ?1 AND state IN ('offered', 'accepted')
                   UNION SELECT account FROM fed_cards_received WHERE actor_id = ?1""",
                (actor_id,),
            )
            return {r[0] for r in rows}

        return await self._read(fn)

    async def owners_of(self, actor_id: str, ids: Sequence[str]) -> set[str]:
        wanted = sorted(set(ids))[:16]
        if not wanted:
            return set()

        async def fn(conn: aiosqlite.Connection) -> set[str]:
            marks = placeholders(len(wanted))
            rows = await fetch_all(
                conn,
                # an activity of ours counts only if it went to the sender: to its own inbox, or to a shared
                # inbox of its server without naming a recipient (an actor Update to followers)
                f"""SELECT o.account FROM fed_outbox o WHERE o.activity_id IN ({marks}) AND EXISTS (
                        SELECT 1 FROM fed_deliveries d WHERE d.outbox_seq = o.seq
                        AND (d.actor_id = ? OR (d.actor_id IS NULL AND d.host = ?)))
                    UNION SELECT account FROM fed_follows WHERE actor_id = ? AND follow_id IN ({marks})
                    UNION SELECT account FROM fed_offers WHERE actor_id = ? AND offer_id IN ({marks})
                    UNION SELECT account FROM fed_offers WHERE actor_id = ? AND record_id IN ({marks})
                    UNION SELECT account FROM fed_blocked_by WHERE actor_id = ? AND block_id IN ({marks})""",
                (
                    *wanted,
                    actor_id,
                    host_of(actor_id),
                    actor_id,
                    *wanted,
                    actor_id,
                    *wanted,
                    actor_id,
                    *wanted,
                    actor_id,
                    *wanted,
                ),
            )
            return {r[0] for r in rows}

        return await self._read(fn)

    # ---- follows --------------------------------------------------------------------------------------------
    async def add_follow(
        self, account: str, *, follow_id: str, direction: str, actor_id: str, state: str, now: float
    ) -> bool:
        """Record a Follow; False when this follow id is already known and still live (a repeat), or names
        another actor's or direction's follow.

        A follow id whose earlier follow ended (rejected, cancelled, ended) starts a new request when the same
        actor sends it again: servers that keep one follow record per pair (Takahē) reuse its id after an
        Undo. The ended row is history nothing reads; the new request replaces it (FOLLOW_REQUEST begins
        again at its initial state, protocol/states.py)."""

        async def fn(conn: aiosqlite.Connection) -> bool:
            earlier = await fetch_one(
                conn,
                "SELECT direction, actor_id, state FROM fed_follows WHERE account = ? AND follow_id = ?",
                (account, follow_id),
            )
            if earlier is not None:
                same = (earlier["direction"], earlier["actor_id"]) == (direction, actor_id)
                if not same or earlier["state"] not in FOLLOW_REQUEST.terminal:
                    return False
                await conn.execute(
                    "DELETE FROM fed_follows WHERE account = ? AND follow_id = ?", (account, follow_id)
                )
            await conn.execute(
                f"INSERT INTO fed_follows ({_FOLLOW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (account, follow_id, direction, actor_id, state, now, now),
            )
            # one live follow per (direction, actor): an older one is superseded (a new Follow is its Undo)
            await conn.execute(
                """UPDATE fed_follows SET updated_at = ?,
                       state = CASE state WHEN 'pending' THEN 'cancelled' ELSE 'ended' END
                   WHERE account = ? AND direction = ? AND actor_id = ? AND follow_id != ?
                     AND state IN ('pending', 'accepted')""",
                (now, account, direction, actor_id, follow_id),
            )
            return True

        return await self.db.write(fn)

    async def _follows(self, where: str, args: Sequence[Any]) -> list[FollowRow]:
        async def fn(conn: aiosqlite.Connection) -> list[FollowRow]:
            rows = await fetch_all(conn, f"SELECT {_FOLLOW_COLUMNS} FROM fed_follows WHERE {where}", args)
            return [FollowRow(**dict(r)) for r in rows]

        return await self._read(fn)

    async def follow(self, account: str, follow_id: str) -> FollowRow | None:
        rows = await self._follows("account = ? AND follow_id = ?", (account, follow_id))
        return rows[0] if rows else None

    async def live_follow(self, account: str, direction: str, actor_id: str) -> FollowRow | None:
        rows = await self._follows(
            "account = ? AND direction = ? AND actor_id = ? AND state IN ('pending', 'accepted') "
            "ORDER BY created_at DESC",
            (account, direction, actor_id),
        )
        return rows[0] if rows else None

    async def live_follow_actors(self, account: str) -> list[str]:
        """Actors with a pending or accepted follow either way."""

        async def fn(conn: aiosqlite.Connection) -> list[str]:
            rows = await fetch_all(
                conn,
                "SELECT DISTINCT actor_id FROM fed_follows WHERE account = ? "
                "AND state IN ('pending', 'accepted') ORDER BY actor_id",
                (account,),
            )
            return [r[0] for r in rows]

        return await self._read(fn)

    async def follows(self, account: str, direction: str, states: Sequence[str]) -> list[FollowRow]:
        return await self._follows(
            f"account = ? AND direction = ? AND state IN ({placeholders(len(states))}) ORDER BY created_at",
            (account, direction, *states),
        )

    async def set_follow_state(self, account: str, follow_id: str, state: str, now: float) -> None:
        """Move a follow along FOLLOW_REQUEST; an undeclared transition raises IllegalTransition."""
        await self._transition("fed_follows", account, "follow_id", follow_id, FOLLOW_REQUEST, state, now)

    # ---- relationship offers ------------------------------------------------------------------------------------
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
    ) -> bool:
        """Record an offer; False when it is not new: its id is known (a replay), or an offer of the same type
        between the same two is still pending. One pending offer per pair and type: sixteen identical offers
        were sixteen requests for the owner to answer; a repeat is ignored while the first one waits."""

        async def fn(conn: aiosqlite.Connection) -> bool:
            pending = await fetch_one(
                conn,
                """SELECT 1 FROM fed_offers WHERE account = ? AND direction = ? AND actor_id = ?
                   AND rel_type = ? AND state = 'offered' LIMIT 1""",
                (account, direction, actor_id, rel_type),
            )
            if pending is not None:
                return False
            cur = await conn.execute(
                """INSERT OR IGNORE INTO fed_offers (account, offer_id, direction, actor_id, rel_type,
                       record_id, record, state, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, 'offered', ?, ?)""",
                (
                    account,
                    offer_id,
                    direction,
                    actor_id,
                    rel_type,
                    record_id(record),
                    json.dumps(record),
                    now,
                    now,
                ),
            )
            return cur.rowcount > 0

        return await self.db.write(fn)

    async def _offers(self, where: str, args: Sequence[Any]) -> list[OfferRow]:
        async def fn(conn: aiosqlite.Connection) -> list[OfferRow]:
            rows = await fetch_all(conn, f"SELECT {_OFFER_COLUMNS} FROM fed_offers WHERE {where}", args)
            return [offer_from_row(r) for r in rows]

        return await self._read(fn)

    async def offer(self, account: str, offer_id: str) -> OfferRow | None:
        rows = await self._offers("account = ? AND offer_id = ?", (account, offer_id))
        return rows[0] if rows else None

    async def offers(self, account: str, states: Sequence[str]) -> list[OfferRow]:
        return await self._offers(
            f"account = ? AND state IN ({placeholders(len(states))}) ORDER BY created_at", (account, *states)
        )

    async def offer_by_record(self, account: str, record_id: str) -> OfferRow | None:
        rows = await self._offers(
            "account = ? AND record_id = ? ORDER BY created_at DESC", (account, record_id)
        )
        return rows[0] if rows else None

    async def accounts_holding_record(self, record_id: str) -> list[str]:
        async def fn(conn: aiosqlite.Connection) -> list[str]:
            rows = await fetch_all(
                conn,
                "SELECT DISTINCT account FROM fed_offers WHERE record_id = ? ORDER BY account",
                (record_id,),
            )
            return [r[0] for r in rows]

        return await self._read(fn)

    async def set_offer_state(
        self, account: str, offer_id: str, state: str, now: float, final: Mapping[str, Any] | None = None
    ) -> None:
        """Move an offer along RELATIONSHIP_OFFER (and keep the final record once accepted)."""
        await self._transition(
            "fed_offers",
            account,
            "offer_id",
            offer_id,
            RELATIONSHIP_OFFER,
            state,
            now,
            extra=("final", json.dumps(final)) if final is not None else None,
        )

    async def expire_offers(self, created_before: float, now: float) -> int:
        async def fn(conn: aiosqlite.Connection) -> int:
            cur = await conn.execute(
                "UPDATE fed_offers SET state = 'expired', updated_at = ? "
                "WHERE state = 'offered' AND created_at < ?",
                (now, created_before),
            )
            return cur.rowcount

        return await self.db.write(fn)

    async def prune(self, before: float, *, limit: int = 1000) -> tuple[int, int]:
        """Forget finished federation traffic last touched before ``before``, at most ``limit`` rows of each
        kind: inbox items done or rejected, and outbox activities that were not public whose every delivery
        ended (delivered, failed or withdrawn; their delivery rows go with them). Public activities stay: they
        are the outbox collections others read. How many inbox and outbox rows went."""

        async def fn(conn: aiosqlite.Connection) -> tuple[int, int]:
            inbox = await conn.execute(
                "DELETE FROM fed_inbox WHERE seq IN (SELECT seq FROM fed_inbox "
                "WHERE state IN ('done', 'rejected') AND updated_at < ? ORDER BY seq LIMIT ?)",
                (before, limit),
            )
            outbox = await conn.execute(
                "DELETE FROM fed_outbox WHERE seq IN (SELECT o.seq FROM fed_outbox o WHERE o.public = 0 "
                "AND o.created_at < ?1 AND NOT EXISTS (SELECT 1 FROM fed_deliveries d WHERE "
                "d.outbox_seq = o.seq AND (d.state NOT IN ('delivered', 'failed', 'withdrawn') "
                "OR d.updated_at >= ?1)) "
                "AND NOT EXISTS (SELECT 1 FROM fed_tombstones t WHERE t.activity_id = o.activity_id) "
                "ORDER BY o.seq LIMIT ?2)",
                (before, limit),
            )
            return inbox.rowcount, outbox.rowcount

        return await self.db.write(fn)

    # ---- inbox --------------------------------------------------------------------------------------------------
    async def store_inbox_many(self, items: Sequence[InboxItem]) -> list[bool]:
        """Store many verified activities in one write; for each, whether it was stored (False: a duplicate
        for its account). Used by the intake's batcher so that concurrent requests share one commit.

        An id an account already stored is a duplicate (a re-delivery or a replay), except when it is a new
        request reusing the id (federation.store.reused_id): then the finished item is forgotten (the prune
        would have, later) and the new one stored, so that it is processed in the order it arrived. Its
        handler sees the current state: a retry of something already in effect changes nothing."""

        async def fn(conn: aiosqlite.Connection) -> list[bool]:
            keys = sorted({(i.account, i.activity_id) for i in items})
            known: dict[tuple[str, str], aiosqlite.Row] = {}
            ids = sorted({k[1] for k in keys})
            for chunk in range(0, len(ids), 500):
                part = ids[chunk : chunk + 500]
                rows = await fetch_all(
                    conn,
                    f"""SELECT seq, account, activity_id, actor_id, state, request, received_at FROM fed_inbox
                        WHERE activity_id IN ({placeholders(len(part))})""",
                    part,
                )
                known.update(((r["account"], r["activity_id"]), r) for r in rows)
            fresh: list[bool] = []
            rows_in: list[tuple[Any, ...]] = []
            forget: list[tuple[int]] = []
            batch: set[tuple[str, str]] = set()
            for item in items:
                key = (item.account, item.activity_id)
                prior = known.get(key)
                if key in batch:  # a duplicate inside the same batch is a replay too
                    new = False
                else:
                    new = prior is None or reused_id(
                        prior_state=prior["state"],
                        prior_actor=prior["actor_id"],
                        prior_request=prior["request"],
                        prior_received_at=prior["received_at"],
                        actor_id=item.actor_id,
                        request=item.request,
                        now=item.now,
                    )
                fresh.append(new)
                if new:
                    batch.add(key)
                    if prior is not None:
                        forget.append((prior["seq"],))
                    rows_in.append(
                        (
                            item.account,
                            item.activity_id,
                            item.actor_id,
                            item.type,
                            item.body,
                            item.now,
                            item.now,
                            item.now,
                            item.request,
                        )
                    )
            await conn.executemany("DELETE FROM fed_inbox WHERE seq = ?", forget)
            await conn.executemany(
                """INSERT INTO fed_inbox (account, activity_id, actor_id, type, body, received_at,
                       next_attempt_at, updated_at, request) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                rows_in,
            )
            return fresh

        return await self.db.write(fn)

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
        """Take due inbox items of active accounts, oldest first. ``per_host``: at most that many items per
        sender host, counting the ``busy_hosts`` ones already held; ``busy_seqs`` (held) are skipped whatever
        their lock says. An actor whose item another live worker (a `kith worker` process beside this one)
        is processing waits for it: one sender's activities are handled in order by whichever takes them."""
        cap = per_host if per_host is not None else limit
        host = _url_host("actor_id")

        async def fn(conn: aiosqlite.Connection) -> list[InboxRow]:
            rows = await fetch_all(
                conn,
                f"""UPDATE fed_inbox SET state = 'processing', lock_expires_at = ?, locked_by = ?,
                       attempts = attempts + 1, updated_at = ?
                   WHERE seq IN (
                     SELECT seq FROM (
                       SELECT seq, host, row_number() OVER (PARTITION BY host ORDER BY seq) AS nth FROM (
                         SELECT seq, {host} AS host FROM fed_inbox
                         WHERE state IN ('received', 'failed', 'processing') AND next_attempt_at <= ?
                           AND (lock_expires_at IS NULL OR lock_expires_at <= ?)
                           AND account NOT IN {_INBOX_WAITS}
                           AND seq NOT IN (SELECT value FROM json_each(?))
                           AND NOT EXISTS (SELECT 1 FROM fed_inbox p WHERE p.state = 'processing'
                               AND p.account = fed_inbox.account AND p.actor_id = fed_inbox.actor_id
                               AND p.locked_by IS NOT ? AND p.lock_expires_at > ?)))
                     WHERE nth <= ? - COALESCE((SELECT value FROM json_each(?) WHERE key = host), 0)
                     ORDER BY seq LIMIT ?)
                   RETURNING seq, account, activity_id, actor_id, type, body, attempts, {host} AS host""",
                (
                    now + lock_seconds,
                    worker,
                    now,
                    now,
                    now,
                    json.dumps(sorted(busy_seqs)),
                    worker,
                    now,
                    cap,
                    json.dumps(dict(busy_hosts or {})),
                    limit,
                ),
            )
            return sorted((InboxRow(**dict(r)) for r in rows), key=lambda r: r.seq)

        return await self.db.write(fn)

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
        """Record a processed item's outcome if it is still ``worker``'s claim (state ``processing`` and
        ``locked_by`` the worker; any claim when ``worker`` is None); False, writing nothing, when the claim was
        lost (its lock expired and the row went back to the queue or to another worker)."""
        INBOX_ITEM.check("processing", state)
        return await self._changed(
            """UPDATE fed_inbox SET state = ?, last_error = ?, lock_expires_at = NULL, locked_by = NULL,
                   updated_at = ?, next_attempt_at = COALESCE(?, next_attempt_at)
               WHERE seq = ? AND state = 'processing' AND (? IS NULL OR locked_by = ?)""",
            (state, error, now, retry_at, seq, worker, worker),
        )

    async def forget_body(self, account: str, activity_id: str) -> None:
        # What goes (a member's shared records) is overwritten in the file, not only unlinked (the server
        # database runs with secure_delete: node/server.py), and the write-ahead log that held it is emptied:
        # an attacker with the organisation's disk must not read back what a member took back
        # (specs/ORGANISATIONS.md; the records' own tables do the same, node/store/sqlite/org.py).
        await self._exec(
            "UPDATE fed_inbox SET body = '{}' WHERE account = ? AND activity_id = ?", (account, activity_id)
        )

        def checkpoint() -> None:
            conn = sqlite.connect(str(self.db.path), isolation_level=None, timeout=10)
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()

        # in the writer's turn, so that no write of ours is under way; a thread, since it waits on the disk
        await self.db.write_elsewhere(lambda: asyncio.to_thread(checkpoint))

    async def inbox_count(self, state: str | None = None, *, account: str | None = None) -> int:
        where, args = [], []
        if state is not None:
            where.append("state = ?")
            args.append(state)
        if account is not None:
            where.append("account = ?")
            args.append(account)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        return await self._scalar(f"SELECT count(*) FROM fed_inbox{clause}", args)

    # ---- outbox and deliveries -------------------------------------------------------------------------------
    async def enqueue_many(
        self, account: str, items: Sequence[Outgoing], *, now: float, changes: Changes | None = None
    ) -> list[int]:
        """Write several activities and their deliveries, and ``changes`` (state changes they report: a block,
        follows ended, settings such as the card version published, older Updates withdrawn), in ONE
        transaction: a kill leaves all of it or none, so that a restart neither loses what was decided nor
        sends what was not. Outbox order is ``items``' order (deliveries to one inbox go out in it)."""

        async def fn(conn: aiosqlite.Connection) -> list[int]:
            if changes is not None:
                await self._apply(conn, account, changes, now)
            seqs = []
            for item in items:
                cur = await conn.execute(
                    "INSERT INTO fed_outbox (account, activity_id, type, body, public, created_at, kind)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (account, item.activity_id, item.type, item.body, int(item.public), now, item.kind),
                )
                seq = cur.lastrowid
                assert seq is not None
                targets = sorted({t for t in item.inboxes if t})
                await conn.executemany(
                    """INSERT OR IGNORE INTO fed_deliveries (outbox_seq, account, inbox, host, next_attempt_at,
                           created_at, updated_at, actor_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                    [(seq, account, t, host_of(t), now, now, now, item.recipient) for t in targets],
                )
                seqs.append(seq)
            return seqs

        return await self.db.write(fn)

    async def _apply(self, conn: aiosqlite.Connection, account: str, changes: Changes, now: float) -> None:
        for kind, values in (("card", changes.supersede_cards), ("profile", changes.supersede_profiles)):
            # Withdraw the still-waiting deliveries of older Updates of this kind ('card' to these recipients,
            # 'profile' to these inboxes), before the newer ones are written: a peer gets the newest version
            # once, never an older one after it. Deliveries already on their way go.
            column = "actor_id" if kind == "card" else "inbox"
            for start in range(0, len(values), 500):
                part = values[start : start + 500]
                await conn.execute(
                    f"""UPDATE fed_deliveries SET state = 'withdrawn', lock_expires_at = NULL, locked_by = NULL,
                            updated_at = ?, last_error = 'withdrawn: a newer ' || ? || ' Update follows it'
                        WHERE account = ? AND state IN ('queued', 'retry_wait', 'dead')
                          AND {column} IN ({placeholders(len(part))})
                          AND outbox_seq IN (SELECT seq FROM fed_outbox WHERE account = ? AND kind = ?)""",
                    (now, kind, account, *part, account, kind),
                )
        if changes.settings:
            await conn.executemany(
                "INSERT OR REPLACE INTO fed_settings (account, key, value) VALUES (?, ?, ?)",
                [(account, k, json.dumps(v)) for k, v in changes.settings.items()],
            )
        block = changes.block
        if block is not None:
            await conn.execute(
                "INSERT OR REPLACE INTO fed_blocks (account, kind, value, block_id, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (account, block.kind, block.value, block.block_id, now),
            )
            for follow_id, state in block.follows_ended:
                row = await fetch_one(
                    conn,
                    "SELECT state FROM fed_follows WHERE account = ? AND follow_id = ?",
                    (account, follow_id),
                )
                if row is None or row[0] == state:
                    continue
                FOLLOW_REQUEST.check(row[0], state)
                await conn.execute(
                    "UPDATE fed_follows SET state = ?, updated_at = ? WHERE account = ? AND follow_id = ?",
                    (state, now, account, follow_id),
                )

    async def in_outbox(self, account: str, activity_id: str) -> bool:
        return bool(
            await self._scalar(
                "SELECT EXISTS (SELECT 1 FROM fed_outbox WHERE account = ? AND activity_id = ?)",
                (account, activity_id),
            )
        )

    async def public_outbox(self, account: str, limit: int = 20) -> tuple[int, list[dict[str, Any]]]:
        async def fn(conn: aiosqlite.Connection) -> tuple[int, list[dict[str, Any]]]:
            row = await fetch_one(
                conn, "SELECT count(*) FROM fed_outbox WHERE account = ? AND public = 1", (account,)
            )
            rows = await fetch_all(
                conn,
                "SELECT body FROM fed_outbox WHERE account = ? AND public = 1 ORDER BY seq DESC LIMIT ?",
                (account, limit),
            )
            return (int(row[0]) if row else 0), [json.loads(r[0]) for r in rows]

        return await self._read(fn)

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
        """Take due deliveries whose host's circuit is closed (a dead host gets at most one probe a claim),
        of accounts that send (not suspended).

        ``per_host``: at most that many rows per host, counting the ``busy_hosts`` rows already in flight;
        ``busy_ids`` (in flight) are skipped whatever their lock says. Oldest due first within each host. A host
        to which another live worker has a delivery in flight is left to it: one process at a time talks to a
        peer host, so the per-host limit holds for the whole server (docs/DEPLOYMENT.md)."""
        cap = per_host if per_host is not None else limit

        async def fn(conn: aiosqlite.Connection) -> list[DeliveryRow]:
            claimed = await fetch_all(
                conn,
                f"""UPDATE fed_deliveries SET state = 'sending', lock_expires_at = ?, locked_by = ?, updated_at = ?
                   WHERE id IN (
                     SELECT id FROM (
                       SELECT d.id, d.host, d.next_attempt_at,
                              row_number() OVER (PARTITION BY d.host ORDER BY d.next_attempt_at, d.id) AS nth
                       FROM fed_deliveries d LEFT JOIN fed_hosts h ON h.host = d.host
                       WHERE d.state IN ('queued', 'retry_wait', 'sending') AND d.next_attempt_at <= ?
                         AND (d.lock_expires_at IS NULL OR d.lock_expires_at <= ?)
                         AND (h.open_until IS NULL OR h.open_until <= ?)
                         AND d.account NOT IN {_DELIVERY_WAITS}
                         AND d.id NOT IN (SELECT value FROM json_each(?))
                         AND NOT EXISTS (SELECT 1 FROM fed_deliveries s WHERE s.host = d.host
                             AND s.state = 'sending' AND s.locked_by IS NOT ? AND s.lock_expires_at > ?))
                     WHERE nth <= ? - COALESCE((SELECT value FROM json_each(?) WHERE key = host), 0)
                     ORDER BY next_attempt_at, id LIMIT ?)
                   RETURNING id""",
                (
                    now + lock_seconds,
                    worker,
                    now,
                    now,
                    now,
                    now,
                    json.dumps(sorted(busy_ids)),
                    worker,
                    now,
                    cap,
                    json.dumps(dict(busy_hosts or {})),
                    limit,
                ),
            )
            ids = [r[0] for r in claimed]
            if not ids:
                return []
            rows = await fetch_all(
                conn,
                f"""SELECT d.id, d.account, d.outbox_seq, o.activity_id, o.body, d.inbox, d.host, d.attempts,
                        d.created_at, o.type, o.kind, d.actor_id
                    FROM fed_deliveries d JOIN fed_outbox o ON o.seq = d.outbox_seq
                    WHERE d.id IN ({placeholders(len(ids))}) ORDER BY d.outbox_seq, d.id""",
                ids,
            )
            return [DeliveryRow(**dict(r)) for r in rows]

        return await self.db.write(fn)

    async def release_deliveries(self, ids: Sequence[int]) -> None:
        """Put claimed deliveries back unattempted (their host's circuit opened while they waited); those of a
        host dead-lettered meanwhile go with its other dead letters."""

        async def fn(conn: aiosqlite.Connection) -> None:
            marks = placeholders(len(ids))
            await conn.execute(
                f"""UPDATE fed_deliveries SET state = 'queued', lock_expires_at = NULL, locked_by = NULL
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
        worker: str | None = None,
    ) -> bool:
        """Record an attempt's outcome if the row is still ``worker``'s claim (as finish_inbox); False, writing
        nothing, when the claim was lost: another worker may be sending it now, and its outcome is the one."""
        if state == "dead":  # a retryable failure on a delivery too old to retry: it waits, then gives up
            DELIVERY.check("sending", "retry_wait")
            DELIVERY.check("retry_wait", "dead")
        else:
            DELIVERY.check("sending", state)
        return await self._changed(
            """UPDATE fed_deliveries SET state = ?, attempts = attempts + 1, last_status = ?, last_error = ?,
                   lock_expires_at = NULL, locked_by = NULL, updated_at = ?,
                   next_attempt_at = COALESCE(?, next_attempt_at)
               WHERE id = ? AND state = 'sending' AND (? IS NULL OR locked_by = ?)""",
            (state, status, error, now, retry_at, delivery_id, worker, worker),
        )

    async def delivery_counts(self, account: str | None = None) -> dict[str, int]:
        async def fn(conn: aiosqlite.Connection) -> dict[str, int]:
            if account is None:
                rows = await fetch_all(conn, "SELECT state, count(*) FROM fed_deliveries GROUP BY state")
            else:
                rows = await fetch_all(
                    conn,
                    "SELECT state, count(*) FROM fed_deliveries WHERE account = ? GROUP BY state",
                    (account,),
                )
            return {r[0]: r[1] for r in rows}

        return await self._read(fn)

    async def deliveries_to(self, inbox: str) -> list[dict[str, Any]]:
        async def fn(conn: aiosqlite.Connection) -> list[dict[str, Any]]:
            rows = await fetch_all(
                conn,
                """SELECT d.*, o.activity_id FROM fed_deliveries d JOIN fed_outbox o ON o.seq = d.outbox_seq
                   WHERE d.inbox = ? ORDER BY d.id""",
                (inbox,),
            )
            return [dict(r) for r in rows]

        return await self._read(fn)

    async def peer_status(self, account: str) -> list[dict[str, Any]]:
        """Per host the account delivers to: its deliveries queued/failed/dead and the host's breaker."""

        async def fn(conn: aiosqlite.Connection) -> list[dict[str, Any]]:
            rows = await fetch_all(
                conn,
                """SELECT d.host AS host,
                          sum(d.state IN ('queued', 'retry_wait', 'sending')) AS queued,
                          sum(d.state = 'delivered') AS delivered,
                          sum(d.state = 'failed') AS failed, sum(d.state = 'dead') AS dead,
                          max(d.last_error) AS last_error, h.failures AS failures, h.dead AS host_dead,
                          h.open_until AS open_until, h.scheme AS scheme
                   FROM fed_deliveries d LEFT JOIN fed_hosts h ON h.host = d.host
                   WHERE d.account = ? GROUP BY d.host ORDER BY d.host""",
                (account,),
            )
            return [dict(r) for r in rows]

        return await self._read(fn)

    # ---- hosts: breaker, dead letters, signature scheme ---------------------------------------------------------
    async def host(self, host: str) -> HostRow | None:
        async def fn(conn: aiosqlite.Connection) -> HostRow | None:
            r = await fetch_one(conn, "SELECT * FROM fed_hosts WHERE host = ?", (host,))
            if r is None:
                return None
            d = dict(r)
            d.pop("updated_at")
            d["dead"] = bool(d["dead"])
            return HostRow(**d)

        return await self._read(fn)

    async def hosts_for_claim(self, hosts: Sequence[str]) -> tuple[dict[str, HostRow], set[str]]:
        async def fn(conn: aiosqlite.Connection) -> tuple[dict[str, HostRow], set[str]]:
            known: dict[str, HostRow] = {}
            kith: set[str] = set()
            for start in range(0, len(hosts), 500):
                part = list(hosts[start : start + 500])
                marks = placeholders(len(part))
                for r in await fetch_all(conn, f"SELECT * FROM fed_hosts WHERE host IN ({marks})", part):
                    d = dict(r)
                    d.pop("updated_at")
                    d["dead"] = bool(d["dead"])
                    known[d["host"]] = HostRow(**d)
                rows = await fetch_all(
                    conn,
                    f"SELECT DISTINCT host FROM fed_actors WHERE host IN ({marks}) AND is_kith = 1 AND gone = 0",
                    part,
                )
                kith.update(r[0] for r in rows)
            return known, kith

        return await self._read(fn)

    async def host_succeeded(self, host: str, now: float, scheme: str | None) -> None:
        """The host answered: close its breaker, resume its dead letters, remember the scheme that worked."""

        async def fn(conn: aiosqlite.Connection) -> None:
            row = await fetch_one(conn, "SELECT dead FROM fed_hosts WHERE host = ?", (host,))
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
            row = await fetch_one(conn, "SELECT first_failure_at FROM fed_hosts WHERE host = ?", (host,))
            assert row is not None
            if now - row[0] < dead_after:
                return False
            await conn.execute("UPDATE fed_hosts SET dead = 1 WHERE host = ?", (host,))
            await conn.execute(
                """UPDATE fed_deliveries SET state = 'dead', lock_expires_at = NULL, locked_by = NULL,
                       updated_at = ?
                   WHERE host = ? AND state IN ('queued', 'retry_wait')""",
                (now, host),
            )
            return True

        return await self.db.write(fn)

    async def host_probe_at(self, host: str, when: float) -> None:
        await self._exec("UPDATE fed_hosts SET open_until = ? WHERE host = ?", (when, host))

    async def dead_hosts_due(self, now: float) -> list[str]:
        async def fn(conn: aiosqlite.Connection) -> list[str]:
            rows = await fetch_all(
                conn,
                "SELECT host FROM fed_hosts WHERE dead = 1 AND (open_until IS NULL OR open_until <= ?)",
                (now,),
            )
            return [r[0] for r in rows]

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

    # ---- workers and their locks --------------------------------------------------------------------------------
    @staticmethod
    async def _release_locks(conn: aiosqlite.Connection, where: str, args: Sequence[Any]) -> int:
        """Put back what the workers ``where`` names hold (claimed rows go back to their queue)."""
        deliveries = await conn.execute(
            f"""UPDATE fed_deliveries SET state = 'queued', lock_expires_at = NULL, locked_by = NULL
                WHERE state = 'sending' AND ({where})""",
            args,
        )
        inbox = await conn.execute(
            f"""UPDATE fed_inbox SET state = 'received', lock_expires_at = NULL, locked_by = NULL
                WHERE state = 'processing' AND ({where})""",
            args,
        )
        return deliveries.rowcount + inbox.rowcount

    async def register_worker(self, worker: str, now: float, *, stale_after: float) -> int:
        async def fn(conn: aiosqlite.Connection) -> int:
            # locks of this worker's previous run (it died holding them), of workers long silent, and of no
            # worker at all (rows claimed before workers were named)
            released = await self._release_locks(
                conn,
                "locked_by IS NULL OR locked_by = ? OR locked_by NOT IN "
                "(SELECT worker FROM fed_workers WHERE heartbeat_at >= ?)",
                (worker, now - stale_after),
            )
            await conn.execute(
                "INSERT INTO fed_workers (worker, started_at, heartbeat_at) VALUES (?, ?, ?) "
                "ON CONFLICT(worker) DO UPDATE SET started_at = excluded.started_at, "
                "heartbeat_at = excluded.heartbeat_at",
                (worker, now, now),
            )
            return released

        return await self.db.write(fn)

    async def heartbeat(self, worker: str, now: float, *, stale_after: float) -> int:
        async def fn(conn: aiosqlite.Connection) -> int:
            await conn.execute(
                "INSERT INTO fed_workers (worker, started_at, heartbeat_at) VALUES (?, ?, ?) "
                "ON CONFLICT(worker) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
                (worker, now, now),
            )
            stale = [
                r[0]
                for r in await fetch_all(
                    conn, "SELECT worker FROM fed_workers WHERE heartbeat_at < ?", (now - stale_after,)
                )
            ]
            if not stale:
                return 0
            marks = placeholders(len(stale))
            released = await self._release_locks(conn, f"locked_by IN ({marks})", stale)
            await conn.execute(f"DELETE FROM fed_workers WHERE worker IN ({marks})", stale)
            return released

        return await self.db.write(fn)

    async def retire_worker(self, worker: str) -> None:
        async def fn(conn: aiosqlite.Connection) -> None:
            await self._release_locks(conn, "locked_by = ?", (worker,))
            await conn.execute("DELETE FROM fed_workers WHERE worker = ?", (worker,))

        await self.db.write(fn)

    # ---- blocks ---------------------------------------------------------------------------------------------------
    async def block_set(self, account: str) -> frozenset[tuple[str, str]]:
        async def fn(conn: aiosqlite.Connection) -> frozenset[tuple[str, str]]:
            rows = await fetch_all(conn, "SELECT kind, value FROM fed_blocks WHERE account = ?", (account,))
            return frozenset((r[0], r[1]) for r in rows)

        return await self._read(fn)

    async def blocks(self, account: str) -> list[dict[str, Any]]:
        async def fn(conn: aiosqlite.Connection) -> list[dict[str, Any]]:
            rows = await fetch_all(
                conn,
                "SELECT kind, value, created_at FROM fed_blocks WHERE account = ? ORDER BY created_at",
                (account,),
            )
            return [dict(r) for r in rows]

        return await self._read(fn)

    async def add_block(
        self, account: str, kind: str, value: str, now: float, block_id: str | None = None
    ) -> None:
        await self._exec(
            "INSERT OR REPLACE INTO fed_blocks (account, kind, value, block_id, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (account, kind, value, block_id, now),
        )

    async def remove_block(self, account: str, kind: str, value: str) -> str | None:
        """Remove a block; return the id of the Block activity sent for it, if any."""

        async def fn(conn: aiosqlite.Connection) -> str | None:
            row = await fetch_one(
                conn,
                "DELETE FROM fed_blocks WHERE account = ? AND kind = ? AND value = ? RETURNING block_id",
                (account, kind, value),
            )
            return row[0] if row else None

        return await self.db.write(fn)

    async def blocked_by(self, account: str) -> set[str]:
        async def fn(conn: aiosqlite.Connection) -> set[str]:
            rows = await fetch_all(conn, "SELECT actor_id FROM fed_blocked_by WHERE account = ?", (account,))
            return {r[0] for r in rows}

        return await self._read(fn)

    async def add_blocked_by(self, account: str, actor_id: str, block_id: str, now: float) -> None:
        await self._exec(
            "INSERT OR REPLACE INTO fed_blocked_by (account, actor_id, block_id, created_at) VALUES (?, ?, ?, ?)",
            (account, actor_id, block_id, now),
        )

    async def remove_blocked_by(self, account: str, actor_id: str) -> None:
        await self._exec("DELETE FROM fed_blocked_by WHERE account = ? AND actor_id = ?", (account, actor_id))

    async def block_by_id(self, account: str, actor_id: str) -> str | None:
        """The id of the Block ``actor_id`` sent the account, if they block it."""

        async def fn(conn: aiosqlite.Connection) -> str | None:
            row = await fetch_one(
                conn,
                "SELECT block_id FROM fed_blocked_by WHERE account = ? AND actor_id = ?",
                (account, actor_id),
            )
            return str(row[0]) if row else None

        return await self._read(fn)

    # ---- our deleted actors ------------------------------------------------------------------------------------------
    async def add_tombstone(
        self, account: str, actor_id: str, *, former_type: str, activity_id: str, now: float
    ) -> TombstoneRow:
        """Mark one of our actors deleted; the first deletion's row stands (a repeat changes nothing)."""
        await self._exec(
            """INSERT OR IGNORE INTO fed_tombstones (actor_id, account, former_type, activity_id, deleted_at)
               VALUES (?, ?, ?, ?, ?)""",
            (actor_id, account, former_type, activity_id, now),
        )
        row = await self.tombstone(actor_id)
        assert row is not None
        return row

    async def tombstone(self, actor_id: str) -> TombstoneRow | None:
        async def fn(conn: aiosqlite.Connection) -> TombstoneRow | None:
            row = await fetch_one(
                conn,
                "SELECT account, actor_id, former_type, activity_id, deleted_at FROM fed_tombstones "
                "WHERE actor_id = ?",
                (actor_id,),
            )
            return TombstoneRow(**dict(row)) if row else None

        return await self._read(fn)

    # ---- settings of an account's actor ----------------------------------------------------------------------------
    async def setting(self, account: str, key: str, default: Any = None) -> Any:
        async def fn(conn: aiosqlite.Connection) -> Any:
            row = await fetch_one(
                conn, "SELECT value FROM fed_settings WHERE account = ? AND key = ?", (account, key)
            )
            return json.loads(row[0]) if row else default

        return await self._read(fn)

    async def set_setting(self, account: str, key: str, value: Any) -> None:
        await self._exec(
            "INSERT OR REPLACE INTO fed_settings (account, key, value) VALUES (?, ?, ?)",
            (account, key, json.dumps(value)),
        )

    # ---- cards received from Kith peers -------------------------------------------------------------------------------
    async def card_received_version(self, account: str, actor_id: str) -> str | None:
        """The ``updated`` of the last card applied from ``actor_id`` (normalised text, sorts in time)."""

        async def fn(conn: aiosqlite.Connection) -> str | None:
            row = await fetch_one(
                conn,
                "SELECT updated FROM fed_cards_received WHERE account = ? AND actor_id = ?",
                (account, actor_id),
            )
            return str(row[0]) if row else None

        return await self._read(fn)

    async def card_applied(
        self,
        account: str,
        actor_id: str,
        *,
        updated: str,
        activity_id: str | None,
        unverified: Sequence[str],
        now: float,
    ) -> None:
        await self._exec(
            """INSERT INTO fed_cards_received (account, actor_id, updated, activity_id, unverified, received_at)
               VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(account, actor_id) DO UPDATE SET
                   updated = excluded.updated, activity_id = excluded.activity_id,
                   unverified = excluded.unverified, received_at = excluded.received_at""",
            (account, actor_id, updated, activity_id, json.dumps(list(unverified)), now),
        )

    async def unverified_claims(self, account: str, actor_id: str) -> list[str]:
        """Identities ``actor_id``'s last card claimed that their actors did not confirm."""

        async def fn(conn: aiosqlite.Connection) -> list[str]:
            row = await fetch_one(
                conn,
                "SELECT unverified FROM fed_cards_received WHERE account = ? AND actor_id = ?",
                (account, actor_id),
            )
            return list(json.loads(row[0])) if row else []

        return await self._read(fn)

    # ---- helpers -----------------------------------------------------------------------------------------------------
    async def _transition(
        self,
        table: str,
        account: str,
        key: str,
        value: str,
        lifecycle: Lifecycle,
        state: str,
        now: float,
        extra: tuple[str, str] | None = None,
    ) -> None:
        async def fn(conn: aiosqlite.Connection) -> None:
            row = await fetch_one(
                conn, f"SELECT state FROM {table} WHERE account = ? AND {key} = ?", (account, value)
            )
            if row is None:
                raise IllegalTransition(f"{lifecycle.name}: no row {value}")
            if row[0] != state:
                lifecycle.check(row[0], state)
            sets, args = "state = ?, updated_at = ?", [state, now]
            if extra is not None:
                sets += f", {extra[0]} = ?"
                args.append(extra[1])
            await conn.execute(
                f"UPDATE {table} SET {sets} WHERE account = ? AND {key} = ?", (*args, account, value)
            )

        await self.db.write(fn)
