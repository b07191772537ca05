"""Federation's store on PostgreSQL: every statement federation's rows need, over the server's schema ``kith``
(server migration 0002_federation.sql), implementing federation.ports.FederationStore. It is
node/store/sqlite/federation.py's port, statement for statement where the engines allow; what differs is how
several processes share the rows (specs/POSTGRESQL.md §11):

- No schema-wide lock: writes that read before they write (a follow, an offer, an inbox item's dedupe, an
  outbox entry and its deliveries) take their *account's* transaction-level advisory lock, the PostgreSQL
  counterpart of SQLite's single writer for that account; the server's rows (actors, hosts, workers) are
  single upserts. Accounts write in parallel.
- Claims are one statement each, ``FOR UPDATE SKIP LOCKED`` under a per-queue transaction-level advisory lock:
  the lock makes the rules that span processes exact (one process at a time per peer host, one actor's items
  in order), SKIP LOCKED keeps a claim from waiting on rows other transactions are finishing.
- A claimed row's lock expires: it names its worker, and the rows of a worker silent for ``stale_after``
  seconds go back to their queue (register_worker, heartbeat), as on SQLite.
- Work written (an inbox item, a delivery) is announced with ``NOTIFY kith_work`` at commit, so that worker
  processes wake at once instead of at their next poll (:func:`listen_for_work`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row

from federation.shared_reads import SharedReads
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
from node.store.postgres.db import SERVER_SCHEMA, PgDatabase
from node.store.postgres.errors import store_error
from node.store.postgres.rows import Conn
from protocol.errors import IllegalTransition
from protocol.states import DELIVERY, FOLLOW_REQUEST, INBOX_ITEM, RELATIONSHIP_OFFER, Lifecycle

__all__ = [
    "TOMBSTONE_MISS_SECONDS",
    "WORK_CHANNEL",
    "PgFederation",
    "account_lock",
    "fetch_all",
    "fetch_one",
]

T = TypeVar("T")
_Row = dict[str, Any]

#: The channel ``NOTIFY`` announces new work on: payload ``inbox`` or ``delivery``.
WORK_CHANNEL = "kith_work"

# The transitions this module makes in bulk SQL (as node/store/sqlite/federation.py's, checked the same way).
_BULK = (
    (FOLLOW_REQUEST, "pending", "cancelled"),
    (FOLLOW_REQUEST, "accepted", "ended"),
    (INBOX_ITEM, "received", "processing"),
    (INBOX_ITEM, "failed", "processing"),  # claim_inbox: due again
    (INBOX_ITEM, "processing", "received"),
    (DELIVERY, "queued", "sending"),
    (DELIVERY, "retry_wait", "sending"),
    (DELIVERY, "sending", "queued"),
    (DELIVERY, "queued", "dead"),
    (DELIVERY, "retry_wait", "dead"),
    (DELIVERY, "dead", "queued"),
    (DELIVERY, "queued", "withdrawn"),
    (DELIVERY, "retry_wait", "withdrawn"),
    (DELIVERY, "dead", "withdrawn"),
    (RELATIONSHIP_OFFER, "offered", "expired"),
)
for _move in _BULK:
    if _move not in BULK_TRANSITIONS:
        raise AssertionError(f"{_move[0].name}: {_move[1]} -> {_move[2]} is made in bulk but not declared")

# Advisory lock keys (the two-int form: a key space of its own, apart from the graphs' single-key locks).
_LOCK_CLASS = 0x4B46  # "KF": Kith federation
_INBOX_CLAIM, _DELIVERY_CLAIM = 1, 2
_ACCOUNT_CLASS = 0x4B41  # "KA": one account's federation rows


_TABLES = re.compile(
    r"(?<![.\w])(fed_(?:actors|follows|offers|inbox|outbox|deliveries|hosts|blocks|blocked_by|settings|"
    r"tombstones|cards_received|workers)|kith_url_host)\b"
)


@functools.lru_cache(maxsize=512)
def _q(statement: str) -> str:
    """The statement with federation's tables named with their schema: it then needs no ``search_path``, so a
    read is one round trip outside any transaction and a write's transaction needs no ``SET LOCAL`` (each is a
    round trip; the inbox and delivery paths make several per request). Safe behind PgBouncer: nothing of the
    session is relied on."""
    return _TABLES.sub(rf"{SERVER_SCHEMA}.\1", statement)


async def _run(conn: Conn, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> None:
    await conn.execute(_q(sql), params)


async def fetch_all(conn: Conn, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[_Row]:
    """Rows as dicts (placeholders ``%s`` or ``%(name)s``)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_q(sql), params)
        return await cur.fetchall()


async def fetch_one(conn: Conn, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> _Row | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_q(sql), params)
        return await cur.fetchone()


async def _execute(conn: Conn, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> int:
    """Run a statement; how many rows it touched."""
    async with conn.cursor() as cur:
        await cur.execute(_q(sql), params)
        return max(cur.rowcount, 0)


async def account_lock(conn: Conn, *accounts: str) -> None:
    """Take the accounts' federation locks for this transaction, in one order (no deadlock between two
    transactions that take several)."""
    for account in sorted(set(accounts)):
        await _run(conn, "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_ACCOUNT_CLASS, account))


async def _notify(conn: Conn, what: str) -> None:
    await _run(conn, "SELECT pg_notify(%s, %s)", (WORK_CHANNEL, what))


_FOLLOW_COLUMNS = "account, follow_id, direction, actor_id, state, created_at, updated_at"
_OFFER_COLUMNS = (
    "account, offer_id, direction, actor_id, rel_type, record, final, state, created_at, updated_at"
)
_INBOX_WAITS = f"(SELECT name FROM {SERVER_SCHEMA}.account WHERE state != 'active')"
_DELIVERY_WAITS = f"(SELECT name FROM {SERVER_SCHEMA}.account WHERE state IN ('suspended', 'purged'))"
#: How many due rows a claim looks at, beyond what it may take, to fill its per-host quotas.
_SCAN = 1024
#: Seconds this process trusts that an actor of ours has no tombstone (every request to /users/NAME asks, and a
#: read is a round trip here, not a file read). A tombstone is for good, so a found one is kept; one written by
#: another process is seen within this bound, the same as a removed account's state (node/federation_port.py).
TOMBSTONE_MISS_SECONDS = 2.0


class _Batcher:
    """Calls that arrive together are written together: while one statement is on its way, the next calls queue
    and go in the following one. Each caller returns once its own row is written (durable when it returns), or
    sees the statement's error. A delivery loop with dozens in flight finishes them in a few round trips instead
    of one each (SQLite's group commit does the same for its writes). ``run`` returns the keys (each item's first
    value) of the rows it wrote; a caller learns whether its own was one of them."""

    def __init__(self, run: Callable[[list[tuple[Any, ...]]], Awaitable[set[Any]]]) -> None:
        self._run = run
        self._queue: list[tuple[tuple[Any, ...], asyncio.Future[bool]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def submit(self, item: tuple[Any, ...]) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush(), name="kith-pg-batch")
        return await asyncio.shield(future)  # a cancelled caller's row is written all the same

    async def _flush(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    written = await self._run([item for item, _ in batch])
                except Exception as exc:  # every caller of the batch sees it; nothing of it was written
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for item, future in batch:
                    if not future.done():
                        future.set_result(item[0] in written)
        finally:
            self._flushing = None


class PgFederation:
    """federation.ports.FederationStore over the server's PostgreSQL schema."""

    def __init__(self, db: PgDatabase, *, listen_url: str | None = None) -> None:
        self.db = db
        self.listen_url = listen_url  # where :meth:`listen` opens its session (None: no listening)
        self._tombstones: dict[str, tuple[float, TombstoneRow | None]] = {}  # actor -> (read at, row)
        self._finished_deliveries = _Batcher(self._finish_deliveries)
        self._finished_items = _Batcher(self._finish_items)
        self._hosts_up = _Batcher(self._hosts_succeeded)
        self._tombstone_reads: SharedReads[str, TombstoneRow | None] = SharedReads()

    async def listen(self, wake: Callable[[str], None], listening: Callable[[], None] = lambda: None) -> None:
        """Call ``wake(what)`` for each piece of work another process writes (``NOTIFY kith_work``), until
        cancelled. ``LISTEN`` needs a session of its own, outside the pool: through PgBouncer in transaction
        mode it is accepted and never delivered, and the worker claims at its polls instead (node/worker.py)."""
        if self.listen_url is None:
            return
        try:
            conn = await psycopg.AsyncConnection.connect(self.listen_url, autocommit=True)
        except (
            psycopg.Error
        ) as exc:  # said with the URL's password hidden (storage.listen_url, or storage.url)
            raise store_error(exc, self.listen_url) from exc
        async with conn:
            await conn.execute(f"LISTEN {WORK_CHANNEL}")
            listening()  # from here on no NOTIFY is missed
            async for note in conn.notifies():
                wake(note.payload)

    @contextlib.asynccontextmanager
    async def _connection(self, *, transaction: bool) -> AsyncIterator[Conn]:
        """A connection of the server's pool: in a transaction of its own, or (``transaction=False``, for one
        statement, atomic by itself) in autocommit. Statements name their schema (:func:`_q`), so neither needs
        PgDatabase's ``SET LOCAL``, and there is no schema-wide lock: every account's federation rows share this
        schema, and the statements take the row and account locks they need (this module's docstring)."""
        if self.db.closed:
            raise RuntimeError("database is closed")
        try:
            async with self.db.pool.connection() as conn:
                if transaction:
                    async with conn.transaction():
                        yield conn
                else:
                    yield conn
        except psycopg.Error as exc:
            raise store_error(exc, self.db.url) from exc

    async def _read(self, fn: Callable[[Conn], Awaitable[T]]) -> T:
        """``fn``'s statements, each its own snapshot (they are one statement, or need no common one)."""
        async with self._connection(transaction=False) as conn:
            return await fn(conn)

    async def _write(self, fn: Callable[[Conn], Awaitable[T]]) -> T:
        async with self._connection(transaction=True) as conn:
            return await fn(conn)

    async def _returning(self, sql: str, args: Sequence[Any]) -> set[Any]:
        """One statement with ``RETURNING ... AS key``: the keys of the rows it wrote."""
        async with self._connection(transaction=False) as conn:
            return {row["key"] for row in await fetch_all(conn, sql, args)}

    async def _exec(
        self, sql: str, args: Sequence[Any] | Mapping[str, Any], *, account: str | None = None
    ) -> int:
        if account is None:  # one statement: no transaction around it
            async with self._connection(transaction=False) as conn:
                return await _execute(conn, sql, args)

        async def fn(conn: Conn) -> int:
            await account_lock(conn, account)
            return await _execute(conn, sql, args)

        return await self._write(fn)

    async def _scalar(self, sql: str, args: Sequence[Any]) -> int:
        async def fn(conn: Conn) -> int:
            async with conn.cursor() as cur:
                await cur.execute(_q(sql), args)
                row = await cur.fetchone()
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

        async def fn(conn: Conn) -> None:
            # a key id moves with its actor: drop a stale row that claimed the same key id
            await _run(
                conn, "DELETE FROM fed_actors WHERE key_id = %s AND id != %s", (actor.public_key_id, actor.id)
            )
            await _run(
                conn,
                """INSERT INTO fed_actors (id, host, acct, key_id, key_pem, inbox, shared_inbox, is_kith,
                       gone, moved_to, doc, fetched_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 0, %s, %s, %s)
                   ON CONFLICT (id) DO UPDATE SET acct = COALESCE(excluded.acct, fed_actors.acct),
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

        await self._write(fn)

    async def _actor_where(self, column: str, arg: str) -> StoredActor | None:
        async def fn(conn: Conn) -> StoredActor | None:
            row = await fetch_one(conn, f"SELECT * FROM fed_actors WHERE {column} = %s", (arg,))
            return actor_from_row(row) if row else None

        return await self._read(fn)

    async def actor(self, actor_id: str) -> StoredActor | None:
        return await self._actor_where("id", actor_id)

    async def actor_by_key(self, key_id: str) -> StoredActor | None:
        return await self._actor_where("key_id", key_id)

    async def actor_by_acct(self, acct: str) -> StoredActor | None:
        return await self._actor_where("acct", acct.lower())

    async def actors(self, actor_ids: Sequence[str]) -> dict[str, StoredActor]:
        async def fn(conn: Conn) -> dict[str, StoredActor]:
            rows = await fetch_all(conn, "SELECT * FROM fed_actors WHERE id = ANY(%s)", (list(actor_ids),))
            return {row["id"]: actor_from_row(row) for row in rows}

        return await self._read(fn) if actor_ids else {}

    async def kith_actors_on(self, host: str) -> list[RemoteActor]:
        async def fn(conn: Conn) -> list[RemoteActor]:
            rows = await fetch_all(
                conn,
                "SELECT * FROM fed_actors WHERE host = %s AND is_kith = 1 AND gone = 0 ORDER BY id",
                (host,),
            )
            return [actor_from_row(r).actor for r in rows]

        return await self._read(fn)

    async def actor_for_inbox(self, inbox: str) -> str | None:
        async def fn(conn: Conn) -> str | None:
            for row in await fetch_all(
                conn, "SELECT id FROM fed_actors WHERE inbox = %s ORDER BY id", (inbox,)
            ):
                if host_of(row["id"]) == host_of(inbox):
                    return str(row["id"])
            return None

        return await self._read(fn)

    async def note_key_refetch(self, actor_id: str, now: float) -> None:
        await self._exec("UPDATE fed_actors SET key_refetched_at = %s WHERE id = %s", (now, actor_id))

    async def mark_gone(self, actor_id: str) -> None:
        await self._exec("UPDATE fed_actors SET gone = 1 WHERE id = %s", (actor_id,))

    async def set_moved(self, actor_id: str, target: str) -> None:
        await self._exec("UPDATE fed_actors SET moved_to = %s WHERE id = %s", (target, actor_id))

    # ---- which accounts an activity concerns ---------------------------------------------------------------
    async def accounts_dealing_with(self, actor_id: str) -> set[str]:
        async def fn(conn: Conn) -> set[str]:
            rows = await fetch_all(
                conn,
                """SELECT account FROM fed_follows WHERE actor_id = %(a)s AND state IN ('pending', 'accepted')
                   UNION SELECT account FROM fed_offers WHERE actor_id = %(a)s
                         AND state IN ('offered', 'accepted')
                   UNION SELECT account FROM fed_cards_received WHERE actor_id = %(a)s""",
                {"a": actor_id},
            )
            return {r["account"] for r in rows}

        return await self._read(fn)

    async def owners_of(self, actor_id: str, ids: Sequence[str]) -> set[str]:
        wanted = sorted(set(ids))[:16]
        if not wanted:
            return set()

        async def fn(conn: Conn) -> set[str]:
            rows = await fetch_all(
                conn,
                # an activity of ours counts only if it went to the sender: to its own inbox, or to a shared
                # inbox of its server without naming a recipient (an actor Update to followers)
                """SELECT o.account FROM fed_outbox o WHERE o.activity_id = ANY(%(ids)s) AND EXISTS (
                        SELECT 1 FROM fed_deliveries d WHERE d.outbox_seq = o.seq
                        AND (d.actor_id = %(a)s OR (d.actor_id IS NULL AND d.host = %(host)s)))
                    UNION SELECT account FROM fed_follows WHERE actor_id = %(a)s AND follow_id = ANY(%(ids)s)
                    UNION SELECT account FROM fed_offers WHERE actor_id = %(a)s AND offer_id = ANY(%(ids)s)
                    UNION SELECT account FROM fed_offers WHERE actor_id = %(a)s AND record_id = ANY(%(ids)s)
                    UNION SELECT account FROM fed_blocked_by WHERE actor_id = %(a)s
                          AND block_id = ANY(%(ids)s)""",
                {"ids": wanted, "a": actor_id, "host": host_of(actor_id)},
            )
            return {r["account"] for r in rows}

        return await self._read(fn)

    # ---- follows --------------------------------------------------------------------------------------------
    async def add_follow(
        self, account: str, *, follow_id: str, direction: str, actor_id: str, state: str, now: float
    ) -> bool:
        """As SqliteFederation.add_follow (a follow id whose follow ended starts a new request)."""

        async def fn(conn: Conn) -> bool:
            await account_lock(conn, account)
            earlier = await fetch_one(
                conn,
                "SELECT direction, actor_id, state FROM fed_follows WHERE account = %s AND follow_id = %s",
                (account, follow_id),
            )
            if earlier is not None:
                same = (earlier["direction"], earlier["actor_id"]) == (direction, actor_id)
                if not same or earlier["state"] not in FOLLOW_REQUEST.terminal:
                    return False
                await _run(
                    conn,
                    "DELETE FROM fed_follows WHERE account = %s AND follow_id = %s",
                    (account, follow_id),
                )
            await _run(
                conn,
                f"INSERT INTO fed_follows ({_FOLLOW_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (account, follow_id, direction, actor_id, state, now, now),
            )
            # one live follow per (direction, actor): an older one is superseded (a new Follow is its Undo)
            await _run(
                conn,
                """UPDATE fed_follows SET updated_at = %s,
                       state = CASE state WHEN 'pending' THEN 'cancelled' ELSE 'ended' END
                   WHERE account = %s AND direction = %s AND actor_id = %s AND follow_id != %s
                     AND state IN ('pending', 'accepted')""",
                (now, account, direction, actor_id, follow_id),
            )
            return True

        return await self._write(fn)

    async def _follows(self, where: str, args: Sequence[Any]) -> list[FollowRow]:
        async def fn(conn: Conn) -> list[FollowRow]:
            rows = await fetch_all(conn, f"SELECT {_FOLLOW_COLUMNS} FROM fed_follows WHERE {where}", args)
            return [FollowRow(**r) for r in rows]

        return await self._read(fn)

    async def follow(self, account: str, follow_id: str) -> FollowRow | None:
        rows = await self._follows("account = %s AND follow_id = %s", (account, follow_id))
        return rows[0] if rows else None

    async def live_follow(self, account: str, direction: str, actor_id: str) -> FollowRow | None:
        rows = await self._follows(
            "account = %s AND direction = %s AND actor_id = %s AND state IN ('pending', 'accepted') "
            "ORDER BY created_at DESC",
            (account, direction, actor_id),
        )
        return rows[0] if rows else None

    async def live_follow_actors(self, account: str) -> list[str]:
        async def fn(conn: Conn) -> list[str]:
            rows = await fetch_all(
                conn,
                "SELECT DISTINCT actor_id FROM fed_follows WHERE account = %s "
                "AND state IN ('pending', 'accepted') ORDER BY actor_id",
                (account,),
            )
            return [r["actor_id"] for r in rows]

        return await self._read(fn)

    async def follows(self, account: str, direction: str, states: Sequence[str]) -> list[FollowRow]:
        return await self._follows(
            "account = %s AND direction = %s AND state = ANY(%s) ORDER BY created_at",
            (account, direction, list(states)),
        )

    async def set_follow_state(self, account: str, follow_id: str, state: str, now: float) -> None:
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
        """As SqliteFederation.add_offer: one pending offer per pair and type."""

        async def fn(conn: Conn) -> bool:
            await account_lock(conn, account)
            pending = await fetch_one(
                conn,
                """SELECT 1 AS one FROM fed_offers WHERE account = %s AND direction = %s AND actor_id = %s
                   AND rel_type = %s AND state = 'offered' LIMIT 1""",
                (account, direction, actor_id, rel_type),
            )
            if pending is not None:
                return False
            return bool(
                await _execute(
                    conn,
                    """INSERT INTO fed_offers (account, offer_id, direction, actor_id, rel_type,
                           record_id, record, state, created_at, updated_at)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, 'offered', %s, %s) ON CONFLICT DO NOTHING""",
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
            )

        return await self._write(fn)

    async def _offers(self, where: str, args: Sequence[Any]) -> list[OfferRow]:
        async def fn(conn: Conn) -> list[OfferRow]:
            rows = await fetch_all(conn, f"SELECT {_OFFER_COLUMNS} FROM fed_offers WHERE {where}", args)
            return [offer_from_row(r) for r in rows]

        return await self._read(fn)

    async def offer(self, account: str, offer_id: str) -> OfferRow | None:
        rows = await self._offers("account = %s AND offer_id = %s", (account, offer_id))
        return rows[0] if rows else None

    async def offers(self, account: str, states: Sequence[str]) -> list[OfferRow]:
        return await self._offers(
            "account = %s AND state = ANY(%s) ORDER BY created_at", (account, list(states))
        )

    async def offer_by_record(self, account: str, record_id: str) -> OfferRow | None:
        rows = await self._offers(
            "account = %s AND record_id = %s ORDER BY created_at DESC", (account, record_id)
        )
        return rows[0] if rows else None

    async def accounts_holding_record(self, record_id: str) -> list[str]:
        async def fn(conn: Conn) -> list[str]:
            rows = await fetch_all(
                conn,
                "SELECT DISTINCT account FROM fed_offers WHERE record_id = %s ORDER BY account",
                (record_id,),
            )
            return [r["account"] for r in rows]

        return await self._read(fn)

    async def set_offer_state(
        self, account: str, offer_id: str, state: str, now: float, final: Mapping[str, Any] | None = None
    ) -> None:
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
        return await self._exec(
            "UPDATE fed_offers SET state = 'expired', updated_at = %s WHERE state = 'offered' AND created_at < %s",
            (now, created_before),
        )

    async def prune(self, before: float, *, limit: int = 1000) -> tuple[int, int]:
        """As SqliteFederation.prune."""

        async def fn(conn: Conn) -> tuple[int, int]:
            inbox = await _execute(
                conn,
                "DELETE FROM fed_inbox WHERE seq IN (SELECT seq FROM fed_inbox "
                "WHERE state IN ('done', 'rejected') AND updated_at < %s ORDER BY seq LIMIT %s)",
                (before, limit),
            )
            outbox = await _execute(
                conn,
                "DELETE FROM fed_outbox WHERE seq IN (SELECT o.seq FROM fed_outbox o WHERE o.public = 0 "
                "AND o.created_at < %(before)s AND NOT EXISTS (SELECT 1 FROM fed_deliveries d WHERE "
                "d.outbox_seq = o.seq AND (d.state NOT IN ('delivered', 'failed', 'withdrawn') "
                "OR d.updated_at >= %(before)s)) "
                "AND NOT EXISTS (SELECT 1 FROM fed_tombstones t WHERE t.activity_id = o.activity_id) "
                "ORDER BY o.seq LIMIT %(limit)s)",
                {"before": before, "limit": limit},
            )
            return inbox, outbox

        return await self._write(fn)

    # ---- inbox --------------------------------------------------------------------------------------------------
    async def store_inbox_many(self, items: Sequence[InboxItem]) -> list[bool]:
        """As SqliteFederation.store_inbox_many; the accounts' locks make the dedupe exact when several
        processes receive the same activity at once."""
        if not items:
            return []

        async def fn(conn: Conn) -> list[bool]:
            await account_lock(conn, *(i.account for i in items))
            ids = sorted({i.activity_id for i in items})
            rows = await fetch_all(
                conn,
                """SELECT seq, account, activity_id, actor_id, state, request, received_at FROM fed_inbox
                   WHERE activity_id = ANY(%s)""",
                (ids,),
            )
            known = {(r["account"], r["activity_id"]): r for r in rows}
            fresh: list[bool] = []
            rows_in: list[tuple[Any, ...]] = []
            forget: list[int] = []
            batch: set[tuple[str, str]] = set()
            for item in items:
                key = (item.account, item.activity_id)
                prior = known.get(key)
                if key in batch:
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
                        forget.append(prior["seq"])
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
            if forget:
                await _run(conn, "DELETE FROM fed_inbox WHERE seq = ANY(%s)", (forget,))
            if rows_in:
                async with conn.cursor() as cur:
                    await cur.executemany(
                        _q(
                            """INSERT INTO fed_inbox (account, activity_id, actor_id, type, body, received_at,
                                   next_attempt_at, updated_at, request)
                               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"""
                        ),
                        rows_in,
                    )
                await _notify(conn, "inbox")
            return fresh

        return await self._write(fn)

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
        """As SqliteFederation.claim_inbox, and across processes: an actor whose item another live worker is
        processing waits (one sender's activities are handled in order, whichever process takes them)."""
        cap = per_host if per_host is not None else limit

        async def fn(conn: Conn) -> list[InboxRow]:
            await _run(conn, "SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_CLASS, _INBOX_CLAIM))
            rows = await fetch_all(
                conn,
                f"""WITH cand AS (
                        SELECT i.seq, kith_url_host(i.actor_id) AS host FROM fed_inbox i
                        WHERE i.state IN ('received', 'failed', 'processing')
                          AND i.next_attempt_at <= %(now)s
                          AND (i.lock_expires_at IS NULL OR i.lock_expires_at <= %(now)s)
                          AND i.account NOT IN {_INBOX_WAITS}
                          AND NOT (i.seq = ANY(%(busy)s))
                          AND NOT EXISTS (
                              SELECT 1 FROM fed_inbox p WHERE p.account = i.account AND p.actor_id = i.actor_id
                                AND p.state = 'processing' AND p.locked_by IS DISTINCT FROM %(worker)s
                                AND p.lock_expires_at > %(now)s)
                        ORDER BY i.seq LIMIT %(scan)s
                        FOR UPDATE OF i SKIP LOCKED),
                    chosen AS (
                        SELECT seq FROM (
                            SELECT seq, host, row_number() OVER (PARTITION BY host ORDER BY seq) AS nth FROM cand
                        ) ranked
                        WHERE nth <= %(cap)s - COALESCE((%(hosts)s::jsonb ->> host)::int, 0)
                        ORDER BY seq LIMIT %(limit)s)
                    UPDATE fed_inbox f SET state = 'processing', lock_expires_at = %(until)s,
                           locked_by = %(worker)s, attempts = f.attempts + 1, updated_at = %(now)s
                    FROM chosen WHERE f.seq = chosen.seq
                    RETURNING f.seq, f.account, f.activity_id, f.actor_id, f.type, f.body, f.attempts,
                              kith_url_host(f.actor_id) AS host""",
                {
                    "now": now,
                    "until": now + lock_seconds,
                    "worker": worker,
                    "busy": sorted(busy_seqs),
                    "scan": limit + _SCAN,
                    "cap": cap,
                    "hosts": json.dumps(dict(busy_hosts or {})),
                    "limit": limit,
                },
            )
            return sorted((InboxRow(**r) for r in rows), key=lambda r: r.seq)

        return await self._write(fn)

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
        """As SqliteFederation.finish_inbox: written only while the row is still ``worker``'s claim."""
        INBOX_ITEM.check("processing", state)
        return await self._finished_items.submit((seq, state, error, now, retry_at, worker))

    async def _finish_items(self, rows: list[tuple[Any, ...]]) -> set[Any]:
        seqs, states, errors, nows, retries, workers = (list(column) for column in zip(*rows, strict=True))
        return await self._returning(
            """UPDATE fed_inbox f SET state = v.state, last_error = v.error, lock_expires_at = NULL,
                   locked_by = NULL, updated_at = v.now, next_attempt_at = COALESCE(v.retry_at, f.next_attempt_at)
               FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::float8[], %s::float8[], %s::text[])
                    AS v(seq, state, error, now, retry_at, worker)
               WHERE f.seq = v.seq AND f.state = 'processing'
                 AND (v.worker IS NULL OR f.locked_by = v.worker)
               RETURNING f.seq AS key""",
            (seqs, states, errors, nows, retries, workers),
        )

    async def forget_body(self, account: str, activity_id: str) -> None:
        # PostgreSQL keeps the old row version until (auto)vacuum reclaims its space; it cannot be read through
        # SQL from the commit on (SQLite's secure_delete overwrites it at once). specs/POSTGRESQL.md §11.
        await self._exec(
            "UPDATE fed_inbox SET body = '{}' WHERE account = %s AND activity_id = %s", (account, activity_id)
        )

    async def inbox_count(self, state: str | None = None, *, account: str | None = None) -> int:
        where, args = [], []
        if state is not None:
            where.append("state = %s")
            args.append(state)
        if account is not None:
            where.append("account = %s")
            args.append(account)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        return await self._scalar(f"SELECT count(*) FROM fed_inbox{clause}", args)

    # ---- outbox and deliveries -------------------------------------------------------------------------------
    async def enqueue_many(
        self, account: str, items: Sequence[Outgoing], *, now: float, changes: Changes | None = None
    ) -> list[int]:
        """As SqliteFederation.enqueue_many: the activities, their deliveries and ``changes`` in ONE
        transaction; the workers are told at its commit."""

        async def fn(conn: Conn) -> list[int]:
            await account_lock(conn, account)
            if changes is not None:
                await self._apply(conn, account, changes, now)
            seqs = []
            for item in items:
                row = await fetch_one(
                    conn,
                    "INSERT INTO fed_outbox (account, activity_id, type, body, public, created_at, kind)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING seq",
                    (account, item.activity_id, item.type, item.body, int(item.public), now, item.kind),
                )
                assert row is not None
                seq = int(row["seq"])
                targets = sorted({t for t in item.inboxes if t})
                if targets:
                    # one statement for a fan-out of any size (unnest of arrays: specs/POSTGRESQL.md §2)
                    await _run(
                        conn,
                        """INSERT INTO fed_deliveries (outbox_seq, account, inbox, host, next_attempt_at,
                               created_at, updated_at, actor_id)
                           SELECT %s, %s, t.inbox, t.host, %s, %s, %s, %s
                           FROM unnest(%s::text[], %s::text[]) AS t(inbox, host)
                           ON CONFLICT (outbox_seq, inbox) DO NOTHING""",
                        (seq, account, now, now, now, item.recipient, targets, [host_of(t) for t in targets]),
                    )
                seqs.append(seq)
            if any(item.inboxes for item in items):
                await _notify(conn, "delivery")
            return seqs

        return await self._write(fn)

    async def _apply(self, conn: Conn, account: str, changes: Changes, now: float) -> None:
        for kind, values in (("card", changes.supersede_cards), ("profile", changes.supersede_profiles)):
            if not values:
                continue
            column = "actor_id" if kind == "card" else "inbox"
            await _run(
                conn,
                f"""UPDATE fed_deliveries SET state = 'withdrawn', lock_expires_at = NULL, locked_by = NULL,
                        updated_at = %(now)s, last_error = 'withdrawn: a newer ' || %(kind)s || ' Update follows it'
                    WHERE account = %(account)s AND state IN ('queued', 'retry_wait', 'dead')
                      AND {column} = ANY(%(values)s)
                      AND outbox_seq IN (SELECT seq FROM fed_outbox WHERE account = %(account)s AND kind = %(kind)s)""",
                {"now": now, "kind": kind, "account": account, "values": list(values)},
            )
        if changes.settings:
            async with conn.cursor() as cur:
                await cur.executemany(
                    _q(
                        """INSERT INTO fed_settings (account, key, value) VALUES (%s, %s, %s)
                           ON CONFLICT (account, key) DO UPDATE SET value = excluded.value"""
                    ),
                    [(account, k, json.dumps(v)) for k, v in changes.settings.items()],
                )
        block = changes.block
        if block is not None:
            await _run(
                conn,
                """INSERT INTO fed_blocks (account, kind, value, block_id, created_at) VALUES (%s, %s, %s, %s, %s)
                   ON CONFLICT (account, kind, value) DO UPDATE SET block_id = excluded.block_id,
                       created_at = excluded.created_at""",
                (account, block.kind, block.value, block.block_id, now),
            )
            for follow_id, state in block.follows_ended:
                row = await fetch_one(
                    conn,
                    "SELECT state FROM fed_follows WHERE account = %s AND follow_id = %s",
                    (account, follow_id),
                )
                if row is None or row["state"] == state:
                    continue
                FOLLOW_REQUEST.check(row["state"], state)
                await _run(
                    conn,
                    "UPDATE fed_follows SET state = %s, updated_at = %s WHERE account = %s AND follow_id = %s",
                    (state, now, account, follow_id),
                )

    async def in_outbox(self, account: str, activity_id: str) -> bool:
        return bool(
            await self._scalar(
                "SELECT count(*) FROM fed_outbox WHERE account = %s AND activity_id = %s",
                (account, activity_id),
            )
        )

    async def public_outbox(self, account: str, limit: int = 20) -> tuple[int, list[dict[str, Any]]]:
        async def fn(conn: Conn) -> tuple[int, list[dict[str, Any]]]:
            row = await fetch_one(
                conn, "SELECT count(*) AS n FROM fed_outbox WHERE account = %s AND public = 1", (account,)
            )
            rows = await fetch_all(
                conn,
                "SELECT body FROM fed_outbox WHERE account = %s AND public = 1 ORDER BY seq DESC LIMIT %s",
                (account, limit),
            )
            return (int(row["n"]) if row else 0), [json.loads(r["body"]) for r in rows]

        return await self.db.read(fn, snapshot=True)  # the count and the page from one snapshot

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
        """As SqliteFederation.claim_deliveries, and across processes: a host to which another live worker has
        a delivery in flight is left to that worker, so that one process at a time talks to a peer host and the
        per-host limit holds for the whole server (specs/POSTGRESQL.md §11)."""
        cap = per_host if per_host is not None else limit

        async def fn(conn: Conn) -> list[DeliveryRow]:
            await _run(conn, "SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_CLASS, _DELIVERY_CLAIM))
            claimed = await fetch_all(
                conn,
                f"""WITH cand AS (
                        SELECT d.id, d.host, d.next_attempt_at FROM fed_deliveries d
                        LEFT JOIN fed_hosts h ON h.host = d.host
                        WHERE d.state IN ('queued', 'retry_wait', 'sending') AND d.next_attempt_at <= %(now)s
                          AND (d.lock_expires_at IS NULL OR d.lock_expires_at <= %(now)s)
                          AND (h.open_until IS NULL OR h.open_until <= %(now)s)
                          AND d.account NOT IN {_DELIVERY_WAITS}
                          AND NOT (d.id = ANY(%(busy)s))
                          AND NOT EXISTS (
                              SELECT 1 FROM fed_deliveries s WHERE s.host = d.host AND s.state = 'sending'
                                AND s.locked_by IS DISTINCT FROM %(worker)s AND s.lock_expires_at > %(now)s)
                        ORDER BY d.next_attempt_at, d.id LIMIT %(scan)s
                        FOR UPDATE OF d SKIP LOCKED),
                    chosen AS (
                        SELECT id FROM (
                            SELECT id, host, next_attempt_at,
                                   row_number() OVER (PARTITION BY host ORDER BY next_attempt_at, id) AS nth
                            FROM cand) ranked
                        WHERE nth <= %(cap)s - COALESCE((%(hosts)s::jsonb ->> host)::int, 0)
                        ORDER BY next_attempt_at, id LIMIT %(limit)s)
                    UPDATE fed_deliveries f SET state = 'sending', lock_expires_at = %(until)s,
                           locked_by = %(worker)s, updated_at = %(now)s
                    FROM chosen, fed_outbox o WHERE f.id = chosen.id AND o.seq = f.outbox_seq
                    RETURNING f.id, f.account, f.outbox_seq, o.activity_id, o.body, f.inbox, f.host, f.attempts,
                              f.created_at, o.type, o.kind, f.actor_id""",
                {
                    "now": now,
                    "until": now + lock_seconds,
                    "worker": worker,
                    "busy": sorted(busy_ids),
                    "scan": limit + _SCAN,
                    "cap": cap,
                    "hosts": json.dumps(dict(busy_hosts or {})),
                    "limit": limit,
                },
            )
            # the rows as the delivery loop needs them, from the claim itself (a second read was a round trip)
            return sorted((DeliveryRow(**r) for r in claimed), key=lambda r: (r.outbox_seq, r.id))

        return await self._write(fn)

    async def release_deliveries(self, ids: Sequence[int]) -> None:
        async def fn(conn: Conn) -> None:
            await _run(
                conn,
                """UPDATE fed_deliveries SET state = 'queued', lock_expires_at = NULL, locked_by = NULL
                   WHERE id = ANY(%s) AND state = 'sending'""",
                (list(ids),),
            )
            await _run(
                conn,
                """UPDATE fed_deliveries SET state = 'dead' WHERE id = ANY(%s) AND state = 'queued'
                   AND host IN (SELECT host FROM fed_hosts WHERE dead = 1)""",
                (list(ids),),
            )

        if ids:
            await self._write(fn)

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
        """As SqliteFederation.finish_delivery: written only while the row is still ``worker``'s claim."""
        if state == "dead":
            DELIVERY.check("sending", "retry_wait")
            DELIVERY.check("retry_wait", "dead")
        else:
            DELIVERY.check("sending", state)
        return await self._finished_deliveries.submit(
            (delivery_id, state, status, error, now, retry_at, worker)
        )

    async def _finish_deliveries(self, rows: list[tuple[Any, ...]]) -> set[Any]:
        ids, states, statuses, errors, nows, retries, workers = (
            list(column) for column in zip(*rows, strict=True)
        )
        return await self._returning(
            """UPDATE fed_deliveries d SET state = v.state, attempts = d.attempts + 1, last_status = v.status,
                   last_error = v.error, lock_expires_at = NULL, locked_by = NULL, updated_at = v.now,
                   next_attempt_at = COALESCE(v.retry_at, d.next_attempt_at)
               FROM unnest(%s::bigint[], %s::text[], %s::int[], %s::text[], %s::float8[], %s::float8[],
                           %s::text[])
                    AS v(id, state, status, error, now, retry_at, worker)
               WHERE d.id = v.id AND d.state = 'sending' AND (v.worker IS NULL OR d.locked_by = v.worker)
               RETURNING d.id AS key""",
            (ids, states, statuses, errors, nows, retries, workers),
        )

    async def delivery_counts(self, account: str | None = None) -> dict[str, int]:
        async def fn(conn: Conn) -> dict[str, int]:
            if account is None:
                rows = await fetch_all(conn, "SELECT state, count(*) AS n FROM fed_deliveries GROUP BY state")
            else:
                rows = await fetch_all(
                    conn,
                    "SELECT state, count(*) AS n FROM fed_deliveries WHERE account = %s GROUP BY state",
                    (account,),
                )
            return {r["state"]: int(r["n"]) for r in rows}

        return await self._read(fn)

    async def deliveries_to(self, inbox: str) -> list[dict[str, Any]]:
        async def fn(conn: Conn) -> list[dict[str, Any]]:
            return await fetch_all(
                conn,
                """SELECT d.*, o.activity_id FROM fed_deliveries d JOIN fed_outbox o ON o.seq = d.outbox_seq
                   WHERE d.inbox = %s ORDER BY d.id""",
                (inbox,),
            )

        return await self._read(fn)

    async def peer_status(self, account: str) -> list[dict[str, Any]]:
        async def fn(conn: Conn) -> list[dict[str, Any]]:
            rows = await fetch_all(
                conn,
                """SELECT d.host AS host,
                          count(*) FILTER (WHERE d.state IN ('queued', 'retry_wait', 'sending')) AS queued,
                          count(*) FILTER (WHERE d.state = 'delivered') AS delivered,
                          count(*) FILTER (WHERE d.state = 'failed') AS failed,
                          count(*) FILTER (WHERE d.state = 'dead') AS dead,
                          max(d.last_error) AS last_error, max(h.failures) AS failures, max(h.dead) AS host_dead,
                          max(h.open_until) AS open_until, max(h.scheme) AS scheme
                   FROM fed_deliveries d LEFT JOIN fed_hosts h ON h.host = d.host
                   WHERE d.account = %s GROUP BY d.host ORDER BY d.host""",
                (account,),
            )
            for r in rows:
                for key in ("queued", "delivered", "failed", "dead"):
                    r[key] = int(r[key])
            return rows

        return await self._read(fn)

    # ---- hosts: breaker, dead letters, signature scheme ---------------------------------------------------------
    async def host(self, host: str) -> HostRow | None:
        async def fn(conn: Conn) -> HostRow | None:
            r = await fetch_one(conn, "SELECT * FROM fed_hosts WHERE host = %s", (host,))
            if r is None:
                return None
            r.pop("updated_at")
            r["dead"] = bool(r["dead"])
            return HostRow(**r)

        return await self._read(fn)

    async def hosts_for_claim(self, hosts: Sequence[str]) -> tuple[dict[str, HostRow], set[str]]:
        async def fn(conn: Conn) -> tuple[dict[str, HostRow], set[str]]:
            known: dict[str, HostRow] = {}
            for r in await fetch_all(conn, "SELECT * FROM fed_hosts WHERE host = ANY(%s)", (list(hosts),)):
                r.pop("updated_at")
                r["dead"] = bool(r["dead"])
                known[r["host"]] = HostRow(**r)
            rows = await fetch_all(
                conn,
                "SELECT DISTINCT host FROM fed_actors WHERE host = ANY(%s) AND is_kith = 1 AND gone = 0",
                (list(hosts),),
            )
            return known, {r["host"] for r in rows}

        return await self._read(fn) if hosts else ({}, set())

    async def host_succeeded(self, host: str, now: float, scheme: str | None) -> None:
        """As SqliteFederation.host_succeeded. The first delivery to every host makes one, so the calls that
        arrive together are written in one statement (a fan-out to a thousand new hosts made a thousand round
        trips, more than half of its statements)."""
        await self._hosts_up.submit((host, scheme, now))

    async def _hosts_succeeded(self, rows: list[tuple[Any, ...]]) -> set[Any]:
        """One statement for a batch of host_succeeded calls, with the effect of making them one after the
        other: per host the last scheme named (None keeps the one known) and the latest moment. Every part sees
        the hosts' rows as they were, so a host's dead letters resume only if it was dead."""
        merged: dict[str, tuple[str | None, float]] = {}
        for host, scheme, now in rows:
            before = merged.get(host)
            merged[host] = (scheme if scheme is not None else before[0] if before else None, now)
        hosts = sorted(merged)
        await self._exec(
            """WITH v AS (SELECT * FROM unnest(%s::text[], %s::text[], %s::float8[]) AS t(host, scheme, now)),
                    prior AS (SELECT h.host FROM fed_hosts h JOIN v ON v.host = h.host WHERE h.dead = 1),
                    up AS (
                        INSERT INTO fed_hosts (host, failures, dead, scheme, updated_at)
                        SELECT host, 0, 0, scheme, now FROM v
                        ON CONFLICT (host) DO UPDATE SET failures = 0, first_failure_at = NULL, open_until = NULL,
                            dead = 0, scheme = COALESCE(excluded.scheme, fed_hosts.scheme),
                            updated_at = excluded.updated_at
                        RETURNING 1)
               UPDATE fed_deliveries d SET state = 'queued', next_attempt_at = v.now, updated_at = v.now
               FROM v WHERE d.host = v.host AND d.state = 'dead' AND v.host IN (SELECT host FROM prior)""",
            (hosts, [merged[h][0] for h in hosts], [merged[h][1] for h in hosts]),
        )
        return set(hosts)  # every host of the batch is written (the batcher's callers ask for theirs)

    async def host_failed(self, host: str, now: float, *, open_for: float, dead_after: float) -> bool:
        async def fn(conn: Conn) -> bool:
            row = await fetch_one(
                conn,
                """INSERT INTO fed_hosts (host, failures, first_failure_at, open_until, updated_at)
                   VALUES (%s, 1, %s, %s, %s)
                   ON CONFLICT (host) DO UPDATE SET failures = fed_hosts.failures + 1,
                       first_failure_at = COALESCE(fed_hosts.first_failure_at, excluded.first_failure_at),
                       open_until = excluded.open_until, updated_at = excluded.updated_at
                   RETURNING first_failure_at""",
                (host, now, now + open_for, now),
            )
            assert row is not None
            if now - row["first_failure_at"] < dead_after:
                return False
            await _run(conn, "UPDATE fed_hosts SET dead = 1 WHERE host = %s", (host,))
            await _run(
                conn,
                """UPDATE fed_deliveries SET state = 'dead', lock_expires_at = NULL, locked_by = NULL,
                       updated_at = %s
                   WHERE host = %s AND state IN ('queued', 'retry_wait')""",
                (now, host),
            )
            return True

        return await self._write(fn)

    async def host_probe_at(self, host: str, when: float) -> None:
        await self._exec("UPDATE fed_hosts SET open_until = %s WHERE host = %s", (when, host))

    async def dead_hosts_due(self, now: float) -> list[str]:
        async def fn(conn: Conn) -> list[str]:
            rows = await fetch_all(
                conn,
                "SELECT host FROM fed_hosts WHERE dead = 1 AND (open_until IS NULL OR open_until <= %s)",
                (now,),
            )
            return [r["host"] for r in rows]

        return await self._read(fn)

    async def requeue_probe(self, host: str, now: float) -> None:
        async def fn(conn: Conn) -> None:
            # the host's row first: two processes probing at once put back one delivery, not two
            held = await fetch_one(
                conn, "SELECT open_until FROM fed_hosts WHERE host = %s AND dead = 1 FOR UPDATE", (host,)
            )
            if held is None or (held["open_until"] is not None and held["open_until"] > now):
                return
            await _run(
                conn,
                """UPDATE fed_deliveries SET state = 'queued', next_attempt_at = %s, updated_at = %s
                   WHERE id = (SELECT id FROM fed_deliveries WHERE host = %s AND state = 'dead'
                               ORDER BY id LIMIT 1)""",
                (now, now, host),
            )
            await _run(conn, "UPDATE fed_hosts SET open_until = NULL WHERE host = %s", (host,))

        await self._write(fn)

    # ---- workers and their locks --------------------------------------------------------------------------------
    @staticmethod
    async def _release_locks(conn: Conn, where: str, args: Mapping[str, Any]) -> int:
        deliveries = await _execute(
            conn,
            f"""UPDATE fed_deliveries SET state = 'queued', lock_expires_at = NULL, locked_by = NULL
                WHERE state = 'sending' AND ({where})""",
            args,
        )
        inbox = await _execute(
            conn,
            f"""UPDATE fed_inbox SET state = 'received', lock_expires_at = NULL, locked_by = NULL
                WHERE state = 'processing' AND ({where})""",
            args,
        )
        return deliveries + inbox

    async def register_worker(self, worker: str, now: float, *, stale_after: float) -> int:
        async def fn(conn: Conn) -> int:
            released = await self._release_locks(
                conn,
                "locked_by IS NULL OR locked_by = %(worker)s OR locked_by NOT IN "
                "(SELECT worker FROM fed_workers WHERE heartbeat_at >= %(since)s)",
                {"worker": worker, "since": now - stale_after},
            )
            await _run(
                conn,
                "INSERT INTO fed_workers (worker, started_at, heartbeat_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (worker) DO UPDATE SET started_at = excluded.started_at, "
                "heartbeat_at = excluded.heartbeat_at",
                (worker, now, now),
            )
            return released

        return await self._write(fn)

    async def heartbeat(self, worker: str, now: float, *, stale_after: float) -> int:
        async def fn(conn: Conn) -> int:
            await _run(
                conn,
                "INSERT INTO fed_workers (worker, started_at, heartbeat_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (worker) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
                (worker, now, now),
            )
            stale = [
                r["worker"]
                for r in await fetch_all(
                    conn,
                    # locked: two workers taking the same silent one for dead release its rows once
                    "SELECT worker FROM fed_workers WHERE heartbeat_at < %s FOR UPDATE SKIP LOCKED",
                    (now - stale_after,),
                )
            ]
            if not stale:
                return 0
            released = await self._release_locks(conn, "locked_by = ANY(%(stale)s)", {"stale": stale})
            await _run(conn, "DELETE FROM fed_workers WHERE worker = ANY(%s)", (stale,))
            return released

        return await self._write(fn)

    async def retire_worker(self, worker: str) -> None:
        async def fn(conn: Conn) -> None:
            await self._release_locks(conn, "locked_by = %(worker)s", {"worker": worker})
            await _run(conn, "DELETE FROM fed_workers WHERE worker = %s", (worker,))

        await self._write(fn)

    # ---- blocks ---------------------------------------------------------------------------------------------------
    async def block_set(self, account: str) -> frozenset[tuple[str, str]]:
        async def fn(conn: Conn) -> frozenset[tuple[str, str]]:
            rows = await fetch_all(conn, "SELECT kind, value FROM fed_blocks WHERE account = %s", (account,))
            return frozenset((r["kind"], r["value"]) for r in rows)

        return await self._read(fn)

    async def blocks(self, account: str) -> list[dict[str, Any]]:
        async def fn(conn: Conn) -> list[dict[str, Any]]:
            return await fetch_all(
                conn,
                "SELECT kind, value, created_at FROM fed_blocks WHERE account = %s ORDER BY created_at",
                (account,),
            )

        return await self._read(fn)

    async def add_block(
        self, account: str, kind: str, value: str, now: float, block_id: str | None = None
    ) -> None:
        await self._exec(
            """INSERT INTO fed_blocks (account, kind, value, block_id, created_at) VALUES (%s, %s, %s, %s, %s)
               ON CONFLICT (account, kind, value) DO UPDATE SET block_id = excluded.block_id,
                   created_at = excluded.created_at""",
            (account, kind, value, block_id, now),
        )

    async def remove_block(self, account: str, kind: str, value: str) -> str | None:
        async def fn(conn: Conn) -> str | None:
            row = await fetch_one(
                conn,
                "DELETE FROM fed_blocks WHERE account = %s AND kind = %s AND value = %s RETURNING block_id",
                (account, kind, value),
            )
            return row["block_id"] if row else None

        return await self._write(fn)

    async def blocked_by(self, account: str) -> set[str]:
        async def fn(conn: Conn) -> set[str]:
            rows = await fetch_all(conn, "SELECT actor_id FROM fed_blocked_by WHERE account = %s", (account,))
            return {r["actor_id"] for r in rows}

        return await self._read(fn)

    async def add_blocked_by(self, account: str, actor_id: str, block_id: str, now: float) -> None:
        await self._exec(
            """INSERT INTO fed_blocked_by (account, actor_id, block_id, created_at) VALUES (%s, %s, %s, %s)
               ON CONFLICT (account, actor_id) DO UPDATE SET block_id = excluded.block_id,
                   created_at = excluded.created_at""",
            (account, actor_id, block_id, now),
        )

    async def remove_blocked_by(self, account: str, actor_id: str) -> None:
        await self._exec(
            "DELETE FROM fed_blocked_by WHERE account = %s AND actor_id = %s", (account, actor_id)
        )

    async def block_by_id(self, account: str, actor_id: str) -> str | None:
        async def fn(conn: Conn) -> str | None:
            row = await fetch_one(
                conn,
                "SELECT block_id FROM fed_blocked_by WHERE account = %s AND actor_id = %s",
                (account, actor_id),
            )
            return str(row["block_id"]) if row else None

        return await self._read(fn)

    # ---- our deleted actors ------------------------------------------------------------------------------------------
    async def add_tombstone(
        self, account: str, actor_id: str, *, former_type: str, activity_id: str, now: float
    ) -> TombstoneRow:
        await self._exec(
            """INSERT INTO fed_tombstones (actor_id, account, former_type, activity_id, deleted_at)
               VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
            (actor_id, account, former_type, activity_id, now),
        )
        self._tombstones.pop(actor_id, None)  # this process sees its own at once
        self._tombstone_reads.forget(actor_id)  # (a read begun before the insert would not find it)
        row = await self.tombstone(actor_id)
        assert row is not None
        return row

    async def tombstone(self, actor_id: str) -> TombstoneRow | None:
        known = self._tombstones.get(actor_id)
        if known is not None and (
            known[1] is not None or time.monotonic() - known[0] < TOMBSTONE_MISS_SECONDS
        ):
            return known[1]
        return await self._tombstone_reads.read(actor_id, functools.partial(self._read_tombstone, actor_id))

    async def _read_tombstone(self, actor_id: str) -> TombstoneRow | None:
        """One read of ``actor_id``'s tombstone, shared by every request that asks while it runs (each request to
        /users/NAME asks, and the cache's misses expire for all of them at once)."""

        async def fn(conn: Conn) -> TombstoneRow | None:
            row = await fetch_one(
                conn,
                "SELECT account, actor_id, former_type, activity_id, deleted_at FROM fed_tombstones "
                "WHERE actor_id = %s",
                (actor_id,),
            )
            return TombstoneRow(**row) if row else None

        found = await self._read(fn)
        if len(self._tombstones) >= 10_000:
            self._tombstones.clear()
        known = self._tombstones.get(actor_id)
        if found is None and known is not None and known[1] is not None:
            return known[1]  # a read begun before add_tombstone's ended after it: the tombstone is for good
        self._tombstones[actor_id] = (time.monotonic(), found)
        return found

    # ---- settings of an account's actor ----------------------------------------------------------------------------
    async def setting(self, account: str, key: str, default: Any = None) -> Any:
        async def fn(conn: Conn) -> Any:
            row = await fetch_one(
                conn, "SELECT value FROM fed_settings WHERE account = %s AND key = %s", (account, key)
            )
            return json.loads(row["value"]) if row else default

        return await self._read(fn)

    async def set_setting(self, account: str, key: str, value: Any) -> None:
        await self._exec(
            """INSERT INTO fed_settings (account, key, value) VALUES (%s, %s, %s)
               ON CONFLICT (account, key) DO UPDATE SET value = excluded.value""",
            (account, key, json.dumps(value)),
        )

    # ---- cards received from Kith peers -------------------------------------------------------------------------------
    async def card_received_version(self, account: str, actor_id: str) -> str | None:
        async def fn(conn: Conn) -> str | None:
            row = await fetch_one(
                conn,
                "SELECT updated FROM fed_cards_received WHERE account = %s AND actor_id = %s",
                (account, actor_id),
            )
            return str(row["updated"]) if row else None

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
               VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (account, actor_id) DO UPDATE SET
                   updated = excluded.updated, activity_id = excluded.activity_id,
                   unverified = excluded.unverified, received_at = excluded.received_at""",
            (account, actor_id, updated, activity_id, json.dumps(list(unverified)), now),
        )

    async def unverified_claims(self, account: str, actor_id: str) -> list[str]:
        async def fn(conn: Conn) -> list[str]:
            row = await fetch_one(
                conn,
                "SELECT unverified FROM fed_cards_received WHERE account = %s AND actor_id = %s",
                (account, actor_id),
            )
            return list(json.loads(row["unverified"])) if row else []

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
        async def fn(conn: Conn) -> None:
            row = await fetch_one(
                conn,
                f"SELECT state FROM {table} WHERE account = %s AND {key} = %s FOR UPDATE",
                (account, value),
            )
            if row is None:
                raise IllegalTransition(f"{lifecycle.name}: no row {value}")
            if row["state"] != state:
                lifecycle.check(row["state"], state)
            sets, args = "state = %s, updated_at = %s", [state, now]
            if extra is not None:
                sets += f", {extra[0]} = %s"
                args.append(extra[1])
            await _run(
                conn, f"UPDATE {table} SET {sets} WHERE account = %s AND {key} = %s", (*args, account, value)
            )

        await self._write(fn)
