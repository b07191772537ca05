"""Imports on PostgreSQL (node/store/imports.py): look-ups by the chunk, a chunk written with COPY and
``unnest``, one transaction per import. The importer (node/importer.py) decides; this module reads what it asks
for and writes the rows it hands over, as node/store/sqlite/imports.py does on SQLite, and the graph an import
leaves is the same on both engines (tests/node/test_import_chunks.py imports every sample on each).

How it uses what PostgreSQL is fast at (specs/POSTGRESQL.md §2, "Rules for the PostgreSQL store"):
- Rows that cannot meet a row already there (new people, identities, source records, the owner's
  relationships, interactions: their keys are the importer's, or their ids new) go in by COPY, a table at a
  time. Rows that may (provenance, circle members, notes, blocks, interaction links) and updates go in by one
  ``INSERT ... SELECT FROM unnest(arrays) ON CONFLICT DO NOTHING`` or ``UPDATE ... FROM unnest(arrays)`` per
  table, whose row count is what was added.
- One import is one write transaction (PgDatabase.write: the graph's lock taken, so no other writer enters
  and the importer's keys, the first free ones read in it, stay free). A failure anywhere rolls all of it
  back. The key sequences are moved past the importer's keys before the commit (node/store/postgres/keys.py).
- Look-ups read the graph as the import found it, on a connection of their own taken before the transaction's
  lock (``_Reader``), while ``snapshot`` is true, so that they run beside the chunk being written, as SQLite's
  blocking reader does; after an automatic merge they go through the import's own transaction.
- Search rows of the chunk's new people, and of people it changed, are made by the same SQL every other write
  uses (node/store/postgres/person_rows.py), once per chunk, over the chunk's keys.
- ``off_loop`` (an import through the owner API): the importer and its Python work run in a thread of their
  own, on an event loop of that thread; every statement is handed back to the loop that owns the
  connection, which only waits on the socket meanwhile.
- Claims are the SQLite engine's lock files (node/store/sqlite/imports.py's RunLock), in the data folder
  beside the uploads they guard: an import and its upload live on the machine that runs it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from node.store.errors import StoreError
from node.store.imports import (
    INTERRUPTED,
    PERSON_IMPORT_FIELDS,
    ChunkRows,
    ImportRun,
    ImportSession,
    KnownIdentity,
    KnownPerson,
    KnownRecord,
    RelatedRow,
    SuggestionRow,
)
from node.store.postgres.db import PgDatabase
from node.store.postgres.errors import store_error
from node.store.postgres.keys import advance_keys, first_free_key
from node.store.postgres.links import save_cursor
from node.store.postgres.merges import merge_in_tx
from node.store.postgres.people import recompute_due, recompute_people
from node.store.postgres.person_rows import nocase, refresh_fts
from node.store.postgres.rows import Conn, fetch_all, fetch_one
from node.store.sqlite.imports import RunLock, _left_behind, _remove_all
from node.store.values import dumps, stamp

__all__ = ["PgImportSession", "PgImports"]

T = TypeVar("T")


_UPDATABLE = (*PERSON_IMPORT_FIELDS, "met_on")  # every one a text column
_UPDATABLE_SET = frozenset(_UPDATABLE)
#: Inserts that may meet rows already there: ``added`` reports how many rows each really added.
_COUNTED = ("provenance", "circle_members", "notes", "relationships", "blocks")
_KEYED = ("person", "identity", "interaction")  # the tables whose keys the importer gives


class _Chunk:
    """A chunk's rows in the shapes the statements take, made when ImportSession.write is called (the
    importer's thread), checked there: an import may only fill or change the person fields it owns."""

    __slots__ = (
        "identity_updates",
        "interactions",
        "new_people",
        "record_updates",
        "refresh",
        "rows",
        "updates",
    )

    def __init__(self, rows: ChunkRows) -> None:
        updates: dict[int, dict[str, Any]] = {}
        for pk, changed in rows.person_updates:
            if not changed.keys() <= _UPDATABLE_SET or None in changed.values():
                raise ValueError(f"an import may only fill or change {sorted(_UPDATABLE_SET)}, not {changed}")
            updates.setdefault(pk, {}).update(changed)
        self.rows = rows
        self.updates = updates
        self.identity_updates = list({r[3]: r for r in rows.identity_updates}.values())  # the last one wins
        self.record_updates = list({(r[0], r[1]): r for r in rows.record_updates}.values())
        self.interactions = [(r[0], r[1], stamp(r[2]), *r[3:]) for r in rows.interactions]
        self.new_people = [r[0] for r in rows.people]
        self.refresh = list(dict.fromkeys([*self.new_people, *rows.refresh]))


def _columns(rows: Sequence[Sequence[Any]], n: int) -> list[list[Any]]:
    """Rows of ``n`` values as ``n`` lists, one array parameter each for ``unnest``."""
    return [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in range(n)]


class _Write:
    """A chunk's write, made when ImportSession.write is called and run when awaited. Not a coroutine: one
    that an error part-way leaves unawaited would be reported as never awaited; this is only dropped."""

    __slots__ = ("chunk", "session")

    def __init__(self, session: PgImportSession, chunk: _Chunk) -> None:
        self.session, self.chunk = session, chunk

    def __await__(self) -> Generator[Any, None, None]:
        return self.session.on_home(lambda: self.session.write_chunk(self.chunk)).__await__()


class _Reader:
    """The import's own connection for look-ups of the graph as committed, each in a short transaction of its
    own. It is taken from the pool before the import's transaction takes the graph's lock: taken later, it could
    wait for a pool whose every connection is held by a write waiting for that lock, which only the import's
    end would release (each waiting write holds its connection: node/store/postgres/db.py)."""

    def __init__(self, conn: Conn, schema: str) -> None:
        self.conn = conn
        self.path = sql.SQL("SET LOCAL search_path TO {}, public").format(sql.Identifier(schema))
        self.lock = asyncio.Lock()  # one look-up at a time: a transaction() within another is a savepoint

    async def select(self, query: str, params: Sequence[Any]) -> list[Any]:
        async with self.lock, self.conn.transaction():
            await self.conn.execute(self.path)
            return list(await fetch_all(self.conn, query, params))


class PgImportSession(ImportSession):
    """The import transaction's connection, with the reads and bulk writes the importer needs (the module's
    rules). ``reader``: the look-ups' own connection. ``home``: the loop that owns the connections, when the
    importer runs on another (``off_loop``)."""

    def __init__(
        self, db: PgDatabase, conn: Conn, reader: _Reader, now: str, home: asyncio.AbstractEventLoop | None
    ) -> None:
        self.db = db
        self.conn = conn
        self.reader = reader
        self.now = now
        self.home = home
        self.snapshot = True
        self.counts = dict.fromkeys(_COUNTED, 0)

    async def on_home(self, fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run ``fn()`` on the loop that owns the connections (here, unless the importer runs off it)."""
        if self.home is None or asyncio.get_running_loop() is self.home:
            return await fn()
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(fn(), self.home))

    async def _select(self, query: str, params: Sequence[Any]) -> list[Any]:
        """A look-up: through the graph as committed (the import's start) while ``snapshot``, else through the
        import's own transaction."""

        if self.snapshot:
            return await self.on_home(lambda: self.reader.select(query, params))
        return await self.on_home(lambda: fetch_all(self.conn, query, params))

    async def _tx_one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return await self.on_home(lambda: fetch_one(self.conn, sql, params))

    async def _tx_all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await self.on_home(lambda: fetch_all(self.conn, sql, params))

    async def next_keys(self) -> tuple[int, int, int]:
        """The first free person, identity and interaction keys."""

        async def run() -> tuple[int, int, int]:
            person, identity, interaction = [await first_free_key(self.conn, t) for t in _KEYED]
            return person, identity, interaction

        return await self.on_home(run)

    async def identities(self, uris: Sequence[str]) -> dict[str, KnownIdentity]:
        rows = await self._select(
            "SELECT uri, pk, person_pk, verification, label FROM identity WHERE uri = ANY(%s)", (list(uris),)
        )
        return {r[0]: KnownIdentity(r[1], r[2], r[3], r[4]) for r in rows}

    async def records(self, source: str, record_ids: Sequence[str]) -> dict[str, KnownRecord]:
        rows = await self._select(
            "SELECT record_id, person_pk, digest, fields FROM source_record "
            "WHERE source = %s AND record_id = ANY(%s)",
            (source, list(record_ids)),
        )
        return {r[0]: KnownRecord(r[1], r[2], json.loads(r[3] or "{}")) for r in rows}

    async def known_interactions(self, source: str, record_ids: Sequence[str]) -> set[str]:
        rows = await self._select(
            "SELECT source_record_id FROM interaction WHERE source = %s AND source_record_id = ANY(%s)",
            (source, list(record_ids)),
        )
        return {r[0] for r in rows}

    async def people(self, pks: Sequence[int]) -> dict[int, KnownPerson]:
        """Person fields by key; ``placeholder`` is true when the name is only one of their addresses (set by
        an import that knew no name), which a real name from a later import replaces."""
        rows = await self._select(
            f"SELECT pk, {', '.join(_UPDATABLE)}, EXISTS (SELECT 1 FROM identity i WHERE i.person_pk = person.pk "
            "AND i.display = person.display_name) AS placeholder FROM person WHERE pk = ANY(%s)",
            (list(pks),),
        )
        return {
            r[0]: KnownPerson(dict(zip(_UPDATABLE, tuple(r)[1:-1], strict=True)), bool(r[-1])) for r in rows
        }

    async def relationship_types(self, pks: Sequence[int]) -> set[tuple[int, str]]:
        rows = await self._select(
            "SELECT person_pk, type FROM relationship WHERE other_pk IS NULL AND person_pk = ANY(%s)",
            (list(pks),),
        )
        return {(r[0], r[1]) for r in rows}

    async def people_named(self, names: Sequence[str]) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for r in await self._tx_all(
            "SELECT display_name, pk FROM person WHERE status = 'active' AND display_name = ANY(%s) ORDER BY pk",
            (list(names),),
        ):
            found.setdefault(r[0], []).append(r[1])
        return found

    async def add_related(self, rows: Sequence[RelatedRow]) -> int:
        """Relationships between two people (vCard RELATED); one the graph holds already, either way round, is
        not added again: row by row, as SQLite's executemany, so that a fact named twice in one chunk is added
        once."""
        if not rows:
            return 0

        async def run() -> int:
            async with self.conn.cursor() as cur:
                await cur.executemany(
                    "INSERT INTO relationship (id, person_pk, other_pk, type, iri, direction, created_at, "
                    "updated_at) SELECT %(id)s, %(a)s, %(b)s, %(type)s, %(iri)s, %(dir)s, %(now)s, %(now)s "
                    "WHERE NOT EXISTS (SELECT 1 FROM relationship WHERE (person_pk = %(a)s AND other_pk = %(b)s "
                    "AND type = %(type)s) OR (person_pk = %(b)s AND other_pk = %(a)s AND type = %(back)s))",
                    [
                        {"id": r[0], "a": r[1], "b": r[2], "type": r[3], "iri": r[4], "dir": r[5], "back": r[6],
                         "now": self.now}
                        for r in rows
                    ],
                )  # fmt: skip
                return max(cur.rowcount, 0)

        return await self.on_home(run)

    async def circle(self, circle_id: str, name: str) -> tuple[int, bool]:
        """The circle's key (made if missing) and whether it has a cadence. Circle names are one per spelling
        whatever the case (SQLite's COLLATE NOCASE)."""

        async def run() -> tuple[int, bool]:
            await self.conn.execute(
                "INSERT INTO circle (id, name, created_at) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                (circle_id, name, self.now),
            )
            row = await fetch_one(
                self.conn,
                f"SELECT pk, cadence_days FROM circle WHERE {nocase('name')} = {nocase('%s')}",
                (name,),
            )
            assert row is not None
            return int(row[0]), row[1] is not None

        return await self.on_home(run)

    async def merge_refused(self, a: int, b: int) -> bool:
        row = await self._tx_one(
            """SELECT 1 FROM merge_log WHERE undone_at IS NOT NULL AND
                   ((survivor_pk = %(a)s AND merged_pk = %(b)s) OR (survivor_pk = %(b)s AND merged_pk = %(a)s))
               UNION ALL SELECT 1 FROM merge_suggestion WHERE status = 'dismissed' AND
                   ((a_pk = %(a)s AND b_pk = %(b)s) OR (a_pk = %(b)s AND b_pk = %(a)s))
               LIMIT 1""",
            {"a": a, "b": b},  # type: ignore[arg-type]
        )
        return row is not None

    async def merge(
        self, *, merge_id: str, survivor: int, merged: int, evidence: Sequence[Mapping[str, str]]
    ) -> None:
        await self.on_home(
            lambda: merge_in_tx(
                self.conn,
                merge_id=merge_id,
                survivor=survivor,
                merged=merged,
                decided_by="automatic",
                evidence=evidence,
                now=self.now,
            )
        )

    async def suggest(self, rows: Sequence[SuggestionRow]) -> int:
        """(id, a_pk, b_pk, tier, evidence) with a_pk < b_pk; a pair already known keeps its state."""
        if not rows:
            return 0

        async def run() -> int:
            async with self.conn.cursor() as cur:
                await cur.executemany(
                    "INSERT INTO merge_suggestion (id, a_pk, b_pk, tier, evidence, created_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (a_pk, b_pk) DO NOTHING",
                    [
                        (sid, a, b, tier, dumps([dict(e) for e in ev]), self.now)
                        for sid, a, b, tier, ev in rows
                    ],
                )
                return max(cur.rowcount, 0)

        return await self.on_home(run)

    def write(self, rows: ChunkRows) -> Awaitable[None]:
        """Take the chunk's rows now (checked and shaped here, in the importer's thread); write them when the
        result is awaited."""
        return _Write(self, _Chunk(rows))

    async def write_chunk(self, chunk: _Chunk) -> None:
        """Every table's rows of one chunk, each table after every table it references."""
        conn, now, rows = self.conn, self.now, chunk.rows
        cols = ", ".join(_UPDATABLE)
        await _copy(conn, f"person (pk, id, {cols}, created_at, updated_at)", rows.people, (now, now))
        if chunk.updates:
            # An import never empties a field (Resolution.update_person): a missing one keeps the column.
            pks = list(chunk.updates)
            arrays = [[chunk.updates[pk].get(f) for pk in pks] for f in _UPDATABLE]
            await conn.execute(
                "UPDATE person SET "
                + "".join(f"{f} = coalesce(u.{f}, person.{f}), " for f in _UPDATABLE)
                + "updated_at = %s FROM unnest(%s::bigint[], "
                + ", ".join("%s::text[]" for _ in _UPDATABLE)
                + f") AS u(pk, {cols}) WHERE person.pk = u.pk",
                (now, pks, *arrays),
            )
        await _copy(
            conn,
            "identity (pk, person_pk, uri, kind, display, label, verification, created_at, updated_at)",
            rows.identities,
            (now, now),
        )
        if chunk.identity_updates:
            person, verification, label, pk = _columns(chunk.identity_updates, 4)
            await conn.execute(
                "UPDATE identity SET person_pk = u.person_pk, verification = u.verification, label = u.label, "
                "updated_at = %s FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::bigint[]) "
                "AS u(person_pk, verification, label, pk) WHERE identity.pk = u.pk",
                (now, person, verification, label, pk),
            )
        if rows.provenance:
            ident, source, record = _columns(rows.provenance, 3)
            await self._count(
                "provenance",
                "INSERT INTO provenance (identity_pk, source, source_record_id, seen_at) "
                "SELECT i, s, r, %s FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS u(i, s, r) "
                "ON CONFLICT DO NOTHING",
                (now, ident, source, record),
            )
        await _copy(
            conn,
            "source_record (source, record_id, person_pk, digest, fields, seen_at)",
            rows.records,
            (now,),
        )
        if chunk.record_updates:
            source, record, person, digest, fields = _columns(chunk.record_updates, 5)
            await conn.execute(
                "UPDATE source_record SET person_pk = u.person_pk, digest = u.digest, fields = u.fields, "
                "seen_at = %s FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[], %s::text[]) "
                "AS u(source, record_id, person_pk, digest, fields) "
                "WHERE source_record.source = u.source AND source_record.record_id = u.record_id",
                (now, source, record, person, digest, fields),
            )
        if rows.circle_members:
            circle, person = _columns(rows.circle_members, 2)
            await self._count(
                "circle_members",
                "INSERT INTO circle_member (circle_pk, person_pk) SELECT * FROM unnest(%s::bigint[], %s::bigint[]) "
                "ON CONFLICT DO NOTHING",
                (circle, person),
            )
        if rows.notes:
            ids, person, body = _columns(rows.notes, 3)
            await self._count(
                "notes",
                "INSERT INTO note (id, person_pk, body, created_at, updated_at) "
                "SELECT i, p, b, %s, %s FROM unnest(%s::text[], %s::bigint[], %s::text[]) AS u(i, p, b) "
                "ON CONFLICT DO NOTHING",
                (now, now, ids, person, body),
            )
        if rows.relationships:
            await _copy(
                conn,
                "relationship (id, person_pk, type, iri, direction, since, created_at, updated_at)",
                rows.relationships,
                (now, now),
            )
            self.counts["relationships"] += len(rows.relationships)  # new ids: every one is added
        await _copy(
            conn,
            "interaction (pk, id, occurred_at, channel, initiated_by, summary, source, source_record_id, "
            "created_at)",
            chunk.interactions,
            (now,),
        )
        if rows.interaction_people:
            person, interaction = _columns(rows.interaction_people, 2)
            await conn.execute(
                "INSERT INTO interaction_person (person_pk, interaction_pk) "
                "SELECT * FROM unnest(%s::bigint[], %s::bigint[]) ON CONFLICT DO NOTHING",
                (person, interaction),
            )
        if rows.blocks:
            uri, source = _columns(rows.blocks, 2)
            await self._count(
                "blocks",
                "INSERT INTO blocked_address (uri, source, created_at) "
                "SELECT u, s, %s FROM unnest(%s::text[], %s::text[]) AS x(u, s) ON CONFLICT DO NOTHING",
                (now, uri, source),
            )
        if chunk.refresh:
            await refresh_fts(conn, chunk.refresh)

    async def _count(self, kind: str, sql: str, params: Sequence[Any]) -> None:
        cur = await self.conn.execute(sql, params)
        self.counts[kind] += max(cur.rowcount, 0)

    async def added(self) -> dict[str, int]:
        """How many rows the counted inserts (those that may meet rows already there) added so far."""
        return dict(self.counts)

    async def finish(self, *, refresh: Iterable[int], stats: Iterable[int], due: Iterable[int]) -> None:
        refresh_list = list(dict.fromkeys(refresh))
        stats_list = sorted(set(stats))
        due_list = sorted(set(due) - set(stats_list))

        async def run() -> None:
            if refresh_list:
                await refresh_fts(self.conn, refresh_list)
            if stats_list:
                await recompute_people(self.conn, stats_list)
            for start in range(0, len(due_list), 500):
                await recompute_due(self.conn, due_list[start : start + 500])

        await self.on_home(run)

    async def save_cursor(
        self, *, source: str, account: str, direction: str, cursor: dict[str, Any] | None
    ) -> None:
        await self.on_home(
            lambda: save_cursor(
                self.conn, source=source, account=account, direction=direction, cursor=cursor, now=self.now
            )
        )

    async def run_finished(
        self, *, run_id: str, status: str, summary: dict[str, Any] | None, error: str | None, now: datetime
    ) -> None:
        await self.on_home(lambda: _run_finished(self.conn, run_id, status, summary, error, stamp(now)))


async def _copy(conn: Conn, target: str, rows: Sequence[Sequence[Any]], tail: tuple[Any, ...]) -> None:
    """COPY ``rows`` (each followed by ``tail``'s values) into ``target`` ("table (columns)")."""
    if not rows:
        return
    async with conn.cursor() as cur, cur.copy(f"COPY {target} FROM STDIN") as copy:
        for row in rows:
            await copy.write_row((*row, *tail))


async def _run_finished(
    conn: Conn, run_id: str, status: str, summary: dict[str, Any] | None, error: str | None, now: str
) -> None:
    await conn.execute(
        "UPDATE import_run SET status = %s, summary = %s, error = %s, finished_at = %s WHERE id = %s",
        (status, None if summary is None else json.dumps(summary, sort_keys=True), error, now, run_id),
    )


class PgImports:
    """Import runs and the transaction an import runs in. ``folder``: where this graph's runs keep their
    claims and uploads (in the data folder of the server that runs them; None in an import worker)."""

    def __init__(self, db: PgDatabase, folder: Path | None) -> None:
        self.db = db
        self._folder = folder

    async def transaction(
        self, now: datetime, fn: Callable[[ImportSession], Awaitable[T]], *, off_loop: bool = False
    ) -> T:
        """Run ``fn`` in one write transaction; if it raises, nothing it wrote remains. ``off_loop``: ``fn``
        runs in a thread of its own, on an event loop of that thread; its statements come back to this loop."""

        async def body(conn: Conn, reader: _Reader) -> T:
            home = asyncio.get_running_loop() if off_loop else None
            session = PgImportSession(self.db, conn, reader, stamp(now), home)
            if off_loop:
                result = await asyncio.to_thread(asyncio.run, _awaited(fn(session)))
            else:
                result = await fn(session)
            for table in _KEYED:
                await advance_keys(conn, table)
            return result

        try:
            async with self.db.pool.connection() as looking:  # before the write's lock: _Reader says why
                reader = _Reader(looking, self.db.schema)
                return await self.db.write(lambda conn: body(conn, reader))
        except psycopg.Error as exc:
            raise store_error(exc, self.db.url) from exc
        except Exception as exc:
            if type(exc).__module__.startswith("psycopg_pool"):  # PoolTimeout: said as the store says it
                raise store_error(exc, self.db.url) from exc
            raise

    @property
    def folder(self) -> Path:
        if self._folder is None:
            raise StoreError(
                "this graph was opened without a data folder (an import worker: the node that started it holds "
                "its run's claim and upload), so it keeps no import runs' files"
            )
        return self._folder

    async def claim(self, run_id: str) -> RunLock:
        return await asyncio.to_thread(RunLock.take, self.folder, run_id)

    async def start_run(self, *, run_id: str, source: str, name: str, now: datetime) -> None:
        async def run(conn: Conn) -> None:
            await conn.execute(
                "INSERT INTO import_run (id, source, name, status, started_at) VALUES (%s, %s, %s, 'running', %s) "
                "ON CONFLICT (id) DO UPDATE SET status = 'running', source = excluded.source, name = excluded.name",
                (run_id, source, name, stamp(now)),
            )

        await self.db.write(run)

    async def sweep(self, now: datetime) -> list[str]:
        """Runs left behind by a process that ended part-way: marked failed with INTERRUPTED, their files
        removed (node/store/sqlite/imports.py's sweep says how a run left behind is told)."""
        running = await self.db.read(
            lambda conn: fetch_all(conn, "SELECT id FROM import_run WHERE status = 'running'")
        )
        ids = {str(r[0]) for r in running}
        found = await asyncio.to_thread(_left_behind, self.folder, ids)
        if not found:
            return []
        marked = sorted(ids & {p.name for p in found})

        async def run(conn: Conn) -> None:
            await conn.execute(
                "UPDATE import_run SET status = 'failed', finished_at = %s, error = %s "
                "WHERE id = ANY(%s) AND status = 'running'",
                (stamp(now), INTERRUPTED, marked),
            )

        try:
            if marked:
                await self.db.write(run)
        finally:
            await asyncio.to_thread(_remove_all, found)
        return marked

    async def finish_run(
        self, *, run_id: str, status: str, summary: dict[str, Any] | None, error: str | None, now: datetime
    ) -> None:
        async def run(conn: Conn) -> None:
            await _run_finished(conn, run_id, status, summary, error, stamp(now))

        await self.db.write(run)

    async def recent_runs(self, limit: int = 20) -> list[ImportRun]:
        async def run(conn: Conn) -> list[ImportRun]:
            rows = await fetch_all(
                conn,
                f"SELECT {_RUN_COLUMNS} FROM import_run ORDER BY pk DESC LIMIT %s",
                (max(0, min(limit, 1000)),),
            )
            return [_run(r) for r in rows]

        return await self.db.read(run)

    async def get_run(self, run_id: str) -> ImportRun | None:
        async def run(conn: Conn) -> ImportRun | None:
            row = await fetch_one(conn, f"SELECT {_RUN_COLUMNS} FROM import_run WHERE id = %s", (run_id,))
            return None if row is None else _run(row)

        return await self.db.read(run)


_RUN_COLUMNS = "id, source, name, status, summary, error, started_at, finished_at"


def _run(row: Any) -> ImportRun:
    return ImportRun(
        id=row[0],
        source=row[1],
        name=row[2],
        status=row[3],
        summary=json.loads(row[4]) if row[4] else None,
        error=row[5],
        started_at=row[6],
        finished_at=row[7],
    )


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable
