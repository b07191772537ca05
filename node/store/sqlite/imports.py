"""SQLite implementation of the graph store's imports (node/store/imports.py): look-ups by the chunk, one
statement to write a chunk, one transaction.

The importer (node/importer.py) decides; this module only reads what it asks for and writes the rows it
hands over. Rules kept:
- One import is one transaction (``SqliteImports.transaction``): a kill, a crash or an error part-way leaves the
  database exactly as it was, and the next run starts from the beginning and completes. (We chose atomic over
  checkpointed batches: a 50,000-row export is written in about two seconds, a length for which holding the
  writer is cheaper than the bookkeeping of a resumable import.)
- Rows get their integer keys from us (max(pk) + n, read once inside the transaction, which no other writer
  can enter), so inserts need no read-back, and a whole chunk is written by one statement (``write``).
- No per-row statements on the hot path and no per-row triggers: the search rows of new people are made here
  from the chunk's own rows (their names, addresses and notes, as the person_search_text view writes them) and
  inserted in bulk with the rest of the chunk.
- The transaction runs with SQLite's reference checks off (``Database.write(foreign_keys=False)``): every key
  an import writes is one it assigned or read in the same transaction, and it deletes nothing that rows point
  to. Its tests run ``PRAGMA foreign_key_check`` after every sample import.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import orjson

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
from node.store.sqlite.db import Database
from node.store.sqlite.driver import has_jsonb_each
from node.store.sqlite.links import save_cursor
from node.store.sqlite.merges import merge_in_tx
from node.store.sqlite.people import recompute_due, recompute_people
from node.store.sqlite.rows import (
    dumps,
    fetch_all,
    fetch_one,
    identity_search_text,
    names_search_text,
    placeholders,
    refresh_fts,
    refresh_fts_sql,
    stamp,
)

__all__ = [
    "IMPORTS_FOLDER",
    "IMPORT_CACHE_KIB",
    "RunLock",
    "SqliteImportSession",
    "SqliteImports",
    "encode_chunk",
]

T = TypeVar("T")

_UPDATABLE = frozenset((*PERSON_IMPORT_FIELDS, "met_on"))
_PEOPLE_TEXT = [*PERSON_IMPORT_FIELDS, "met_on"].index  # a new person row's column: 2 + its field's place
_DISPLAY, _GIVEN, _FAMILY, _NICK, _ORG, _TITLE = (
    2 + _PEOPLE_TEXT(f)
    for f in ("display_name", "given_name", "family_name", "nickname", "organization", "title")
)
IMPORT_CACHE_KIB = 131_072  # 128 MiB of page cache while an import runs
_IN_MAX = 900  # variables per IN (...): well under SQLite's limit on every build still in use
IMPORTS_FOLDER = "imports"  # in the data folder: a lock file per live run, an upload folder per uploaded run


class RunLock:
    """The lock file ``imports/<run id>.lock``, held (flock) by the process that runs or will run the import.
    The system drops it when that process ends, however it ends, which is how a later sweep
    (SqliteImports.sweep) tells a run left behind from one still going, across processes."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self.fd = path, fd

    @classmethod
    def take(cls, folder: Path, run_id: str) -> RunLock:
        folder.parent.mkdir(mode=0o700, exist_ok=True)  # (parents=True would make it with the umask's mode)
        folder.mkdir(mode=0o700, exist_ok=True)
        path = folder / f"{run_id}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise RuntimeError(f"import {run_id} is already claimed by another process") from None
        return cls(path, fd)

    def release(self, *, remove: bool = True) -> None:
        """Drop the lock (and its file: the run is over, recorded as done or failed)."""
        if self.fd < 0:
            return
        if remove:
            self.path.unlink(missing_ok=True)
        os.close(self.fd)
        self.fd = -1


def _left_behind(folder: Path, running: set[str]) -> list[Path]:
    """Of the runs recorded as running and the names in ``folder``, those nobody holds the lock of: their lock
    file and upload folder, found while holding the lock (the caller removes them)."""
    names = set(running)
    with contextlib.suppress(FileNotFoundError):
        for entry in folder.iterdir():
            names.add(entry.name.removesuffix(".lock"))
    found: list[Path] = []
    for name in sorted(names):
        if name in ("", ".", "..") or "/" in name:
            continue
        try:
            lock = RunLock.take(folder, name)
        except (RuntimeError, OSError):
            continue  # alive (or the folder cannot be written: left as it is)
        found.append(folder / name)
        lock.release()
    return found


def _remove_all(paths: Sequence[Path]) -> None:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)
        path.with_name(path.name + ".lock").unlink(missing_ok=True)


def encode_chunk(rows: ChunkRows) -> tuple[str, ...]:
    """The chunk's rows as the JSON texts the bulk write hands SQLite, one per statement in _CHUNK_STATEMENTS'
    order, with the search rows of the chunk's new people. Made by the importer's thread when the chunk is
    decided (ImportSession.write takes the rows at the call), before the previous chunk's write ends: encoding
    is a few milliseconds, and done at the hand-over it kept SQLite's thread waiting that long each chunk."""
    updates: dict[int, dict[str, Any]] = {}
    for pk, changed in rows.person_updates:
        if not changed.keys() <= _UPDATABLE or None in changed.values():
            raise ValueError(f"an import may only fill or change {sorted(_UPDATABLE)}, not {changed}")
        updates.setdefault(pk, {"pk": pk}).update(changed)
    doc = {
        "people": rows.people,
        "person_updates": list(updates.values()),
        "identities": rows.identities,
        "identity_updates": list({r[3]: r for r in rows.identity_updates}.values()),
        "provenance": rows.provenance,
        "records": rows.records,
        "record_updates": list({(r[0], r[1]): r for r in rows.record_updates}.values()),
        "circle_members": rows.circle_members,
        "notes": rows.notes,
        "relationships": rows.relationships,
        "interactions": [(r[0], r[1], stamp(r[2]), *r[3:]) for r in rows.interactions],
        "interaction_people": rows.interaction_people,
        "blocks": rows.blocks,
        "fts": _new_people_search(rows),
        "refresh": rows.refresh,
    }
    return tuple(_JSON(doc[p]) if doc[p] else "[]" for p in _CHUNK_STATEMENTS)


def _new_people_search(rows: ChunkRows) -> list[tuple[Any, ...]]:
    """The search rows (person_fts) of the people this chunk creates, as the person_search_text view (migration
    0005) would write them: their names, organisation and title, and the addresses and notes the chunk gives
    them, in the order it gives them. (People written before get theirs from the view itself: ``refresh``.)
    One pass over the chunk's identities and notes: a new person's are all in the chunk that creates them,
    since the importer writes a person with the first chunk taken after it made them."""
    if not rows.people:
        return []
    words: dict[int, tuple[list[str], list[str]]] = {r[0]: ([], []) for r in rows.people}
    for ident in rows.identities:
        got = words.get(ident[1])
        if got is not None:
            got[0].append(identity_search_text(ident[4], ident[2]))
    for note in rows.notes:
        got = words.get(note[1])
        if got is not None:
            got[1].append(note[2])
    out = []
    for r in rows.people:
        idents, notes = words[r[0]]
        out.append(
            (
                r[0],
                names_search_text(r[_DISPLAY] or "", r[_GIVEN], r[_FAMILY], r[_NICK]),
                f"{r[_ORG] or ''} {r[_TITLE] or ''}",
                " ".join(idents) or None,
                " ".join(notes) or None,
            )
        )
    return out


def _cols(n: int, alias: str = "") -> str:
    """``value ->> 0, ..., value ->> n-1``: the columns of json_each's rows, each an array of n values."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(f"{prefix}value ->> {i}" for i in range(n))


def _rows(part: str) -> str:
    return f"{_EACH}(NEW.{part})"


#: Written in the statements where the chunk's JSON is read, replaced by the table function the connection's
#: SQLite has (_bulk_schema): jsonb_each (SQLite 3.51) hands over each row as JSONB, so ``value ->> i`` reads the
#: column straight out of it; json_each hands over text, which every ``->>`` parses again (two thirds of the
#: cost of reading a 15-column person row).
_EACH = "EACH_ROW_OF"


#: Inserts that may meet rows already there; how many rows each added is kept in temp.import_added.
_COUNTED = ("provenance", "circle_members", "notes", "relationships", "blocks")
_FIELDS = ", ".join(PERSON_IMPORT_FIELDS)
#: What an INSERT into temp.import_chunk does with the chunk's document (ImportSession.write): every table's
#: rows, each table after every table it references.
_CHUNK_STATEMENTS = {
    "people": f"INSERT INTO person (pk, id, {_FIELDS}, met_on, created_at, updated_at) "
    f"SELECT {_cols(len(PERSON_IMPORT_FIELDS) + 3)}, NEW.now, NEW.now FROM {_rows('people')}",
    # An import never empties a field (Resolution.update_person), so a missing key keeps the column as it is.
    "person_updates": "UPDATE person SET "
    + "".join(f"{col} = coalesce(j.value ->> '{col}', {col}), " for col in sorted(_UPDATABLE))
    + f"updated_at = NEW.now FROM {_rows('person_updates')} AS j WHERE person.pk = j.value ->> 'pk'",
    "identities": "INSERT INTO identity (pk, person_pk, uri, kind, display, label, verification, created_at, "
    f"updated_at) SELECT {_cols(7)}, NEW.now, NEW.now FROM {_rows('identities')}",
    "identity_updates": "UPDATE identity SET person_pk = j.value ->> 0, verification = j.value ->> 1, "
    f"label = j.value ->> 2, updated_at = NEW.now FROM {_rows('identity_updates')} AS j "
    "WHERE identity.pk = j.value ->> 3",
    "provenance": "INSERT INTO provenance (identity_pk, source, source_record_id, seen_at) "
    f"SELECT {_cols(3)}, NEW.now FROM {_rows('provenance')} WHERE true ON CONFLICT DO NOTHING",
    "records": "INSERT INTO source_record (source, record_id, person_pk, digest, fields, seen_at) "
    f"SELECT {_cols(5)}, NEW.now FROM {_rows('records')}",
    "record_updates": "UPDATE source_record SET person_pk = j.value ->> 2, digest = j.value ->> 3, "
    f"fields = j.value ->> 4, seen_at = NEW.now FROM {_rows('record_updates')} AS j "
    "WHERE source_record.source = j.value ->> 0 AND source_record.record_id = j.value ->> 1",
    "circle_members": "INSERT OR IGNORE INTO circle_member (circle_pk, person_pk) "
    f"SELECT {_cols(2)} FROM {_rows('circle_members')}",
    "notes": "INSERT OR IGNORE INTO note (id, person_pk, body, created_at, updated_at) "
    f"SELECT {_cols(3)}, NEW.now, NEW.now FROM {_rows('notes')}",
    "relationships": "INSERT INTO relationship (id, person_pk, type, iri, direction, since, created_at, "
    f"updated_at) SELECT {_cols(6)}, NEW.now, NEW.now FROM {_rows('relationships')}",
    "interactions": "INSERT INTO interaction (pk, id, occurred_at, channel, initiated_by, summary, source, "
    f"source_record_id, created_at) SELECT {_cols(8)}, NEW.now FROM {_rows('interactions')}",
    "interaction_people": "INSERT OR IGNORE INTO interaction_person (person_pk, interaction_pk) "
    f"SELECT {_cols(2)} FROM {_rows('interaction_people')}",
    "blocks": "INSERT OR IGNORE INTO blocked_address (uri, source, created_at) "
    f"SELECT {_cols(2)}, NEW.now FROM {_rows('blocks')}",
    "fts": "INSERT INTO person_fts (rowid, names, organization, identities, notes) "
    f"SELECT {_cols(5)} FROM {_rows('fts')}",
    # Two statements (refresh_fts, for a chunk's worth of people).
    "refresh": ";\n".join(refresh_fts_sql(f"SELECT value FROM {_rows('refresh')}")),
}
_TRIGGER_BODY = "".join(
    f"{sql};\n"
    + (f"INSERT INTO import_added (kind, n) VALUES ('{part}', changes());\n" if part in _COUNTED else "")
    for part, sql in _CHUNK_STATEMENTS.items()
)


def _bulk_schema(sqlite_version: str) -> tuple[str, ...]:
    """The temporary objects an import writes through, for a connection on this SQLite version. Temporary
    objects are the connection's own and never part of the database file. Made at the start of each import
    transaction and dropped at its end (SqliteImports.transaction)."""
    each = "jsonb_each" if has_jsonb_each(sqlite_version) else "json_each"
    return (
        "CREATE TEMP VIEW import_chunk AS SELECT NULL AS now, "
        + ", ".join(f"NULL AS {part}" for part in _CHUNK_STATEMENTS),
        "CREATE TEMP TABLE import_added (kind TEXT NOT NULL, n INTEGER NOT NULL)",
        "CREATE TEMP TRIGGER import_chunk_write INSTEAD OF INSERT ON import_chunk BEGIN\n"
        f"{_TRIGGER_BODY.replace(_EACH, each)}END",
    )


_CHUNK_INSERT = (
    f"INSERT INTO temp.import_chunk (now, {', '.join(_CHUNK_STATEMENTS)}) "
    f"VALUES ({placeholders(len(_CHUNK_STATEMENTS) + 1)})"
)
_BULK_DROP = (
    "DROP TRIGGER IF EXISTS temp.import_chunk_write",
    "DROP VIEW IF EXISTS temp.import_chunk",
    "DROP TABLE IF EXISTS temp.import_added",
)


def _JSON(rows: Any) -> str:
    """Compact JSON text (SQLite's JSON functions take text, not the bytes orjson makes)."""
    return orjson.dumps(rows).decode()


def _chunks(values: Sequence[T], size: int = _IN_MAX) -> Iterable[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class _Write:
    """A chunk's write, made when ImportSession.write is called and run when awaited. Not a coroutine: one
    that an error part-way leaves unawaited would be reported as never awaited; this is only dropped."""

    __slots__ = ("session", "texts")

    def __init__(self, session: SqliteImportSession, texts: tuple[str, ...]) -> None:
        self.session, self.texts = session, texts

    def __await__(self) -> Generator[Any, None, None]:
        return self._run().__await__()

    async def _run(self) -> None:
        await self.session.conn.execute(_CHUNK_INSERT, [self.session.now, *self.texts])


class SqliteImportSession(ImportSession):
    """The import transaction's connection, with the reads and bulk writes the importer needs.

    The look-ups (identities, records, known_interactions, people, relationship_types) read the committed
    database while ``snapshot`` is true, so that they run beside a chunk being written. The import's
    transaction is a transaction of its own (``Database.write(alone=True)``), so what is committed is exactly
    the database the import started from; what the import has written since is in the resolution's caches,
    which are consulted first (node/import_resolve.py). After an automatic merge, which changes rows the import
    had read, the importer sets ``snapshot`` false and they read through the import's own connection.

    The committed database is read by ``reader``, a blocking connection of the import's own, in the importer's
    thread: a chunk's look-up is a millisecond or two inside SQLite, which runs without the GIL. Sent to a
    reader connection's thread instead, each look-up waited for that thread, and then for the importer's
    thread, to be given the GIL while the importer was busy reading the next rows: a quarter of a 30,000-row
    LinkedIn import was the importer waiting for its look-ups (specs/IMPORTS.md, "Speed")."""

    def __init__(self, conn: aiosqlite.Connection, now: str, reader: Any = None) -> None:
        self.conn = conn
        self.now = now
        self.reader = reader
        self.snapshot = reader is not None

    async def _select(self, sql: str, params: Sequence[Any]) -> list[Any]:
        if self.snapshot and self.reader is not None:
            rows: list[Any] = self.reader.execute(sql, params).fetchall()
            return rows
        return await fetch_all(self.conn, sql, params)

    async def next_keys(self) -> tuple[int, int, int]:
        """The first free person, identity and interaction keys."""
        out = []
        for table in ("person", "identity", "interaction"):
            row = await fetch_one(self.conn, f"SELECT coalesce(max(pk), 0) + 1 FROM {table}")
            out.append(int(row[0]) if row else 1)
        return out[0], out[1], out[2]

    async def identities(self, uris: Sequence[str]) -> dict[str, KnownIdentity]:
        found: dict[str, KnownIdentity] = {}
        for part in _chunks(uris):
            for r in await self._select(
                f"SELECT uri, pk, person_pk, verification, label FROM identity WHERE uri IN ({placeholders(len(part))})",
                part,
            ):
                found[r[0]] = KnownIdentity(r[1], r[2], r[3], r[4])
        return found

    async def records(self, source: str, record_ids: Sequence[str]) -> dict[str, KnownRecord]:
        found: dict[str, KnownRecord] = {}
        for part in _chunks(record_ids):
            for r in await self._select(
                f"SELECT record_id, person_pk, digest, fields FROM source_record "
                f"WHERE source = ? AND record_id IN ({placeholders(len(part))})",
                [source, *part],
            ):
                found[r[0]] = KnownRecord(r[1], r[2], json.loads(r[3] or "{}"))
        return found

    async def known_interactions(self, source: str, record_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for part in _chunks(record_ids):
            rows = await self._select(
                f"SELECT source_record_id FROM interaction "
                f"WHERE source = ? AND source_record_id IN ({placeholders(len(part))})",
                [source, *part],
            )
            found.update(r[0] for r in rows)
        return found

    async def people(self, pks: Sequence[int]) -> dict[int, KnownPerson]:
        """Person fields by key; ``placeholder`` is true when the name is only one of their addresses (set by
        an import that knew no name), which a real name from a later import replaces."""
        names = (*PERSON_IMPORT_FIELDS, "met_on")
        found: dict[int, KnownPerson] = {}
        for part in _chunks(pks):
            for r in await self._select(
                f"SELECT pk, {', '.join(names)}, EXISTS (SELECT 1 FROM identity i WHERE i.person_pk = person.pk "
                f"AND i.display = person.display_name) AS placeholder FROM person "
                f"WHERE pk IN ({placeholders(len(part))})",
                part,
            ):
                found[r[0]] = KnownPerson(dict(zip(names, tuple(r)[1:-1], strict=True)), bool(r[-1]))
        return found

    async def relationship_types(self, pks: Sequence[int]) -> set[tuple[int, str]]:
        """(person, type) of the owner's relationships with these people."""
        found: set[tuple[int, str]] = set()
        for part in _chunks(pks):
            rows = await self._select(
                f"SELECT person_pk, type FROM relationship WHERE other_pk IS NULL "
                f"AND person_pk IN ({placeholders(len(part))})",
                part,
            )
            found.update((r[0], r[1]) for r in rows)
        return found

    async def people_named(self, names: Sequence[str]) -> dict[str, list[int]]:
        """Active people whose display name is exactly one of ``names``, for "ask" suggestions."""
        found: dict[str, list[int]] = {}
        for part in _chunks(names):
            for r in await fetch_all(
                self.conn,
                f"SELECT display_name, pk FROM person WHERE status = 'active' "
                f"AND display_name IN ({placeholders(len(part))}) ORDER BY pk",
                part,
            ):
                found.setdefault(r[0], []).append(r[1])
        return found

    async def add_related(self, rows: Sequence[RelatedRow]) -> int:
        """Relationships between two people ("person_pk is ``type`` of other_pk": vCard RELATED), each given as
        (id, person, other, type, iri, direction, the same fact's type seen from other's side or None). A
        relationship the graph holds already, either way round, is not added again. Returns how many were."""
        cur = await self.conn.executemany(
            "INSERT INTO relationship (id, person_pk, other_pk, type, iri, direction, created_at, updated_at) "
            "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?8, ?8 WHERE NOT EXISTS (SELECT 1 FROM relationship WHERE "
            "(person_pk = ?2 AND other_pk = ?3 AND type = ?4) OR (person_pk = ?3 AND other_pk = ?2 AND type = ?7))",
            [(*r, self.now) for r in rows],
        )
        return max(cur.rowcount, 0)  # the rows this statement added (total_changes would count triggers')

    async def circle(self, circle_id: str, name: str) -> tuple[int, bool]:
        """The circle's key (made if missing) and whether it has a cadence (members then need a due date)."""
        await self.conn.execute(
            "INSERT INTO circle (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT(name) DO NOTHING",
            (circle_id, name, self.now),
        )
        row = await fetch_one(self.conn, "SELECT pk, cadence_days FROM circle WHERE name = ?", (name,))
        assert row is not None
        return int(row[0]), row[1] is not None

    async def merge_refused(self, a: int, b: int) -> bool:
        """True when the owner has undone a merge of these two or dismissed the suggestion to merge them."""
        row = await fetch_one(
            self.conn,
            """SELECT 1 FROM merge_log WHERE undone_at IS NOT NULL AND
                   ((survivor_pk = ?1 AND merged_pk = ?2) OR (survivor_pk = ?2 AND merged_pk = ?1))
               UNION ALL SELECT 1 FROM merge_suggestion WHERE status = 'dismissed' AND
                   ((a_pk = ?1 AND b_pk = ?2) OR (a_pk = ?2 AND b_pk = ?1))
               LIMIT 1""",
            (a, b),
        )
        return row is not None

    async def merge(
        self, *, merge_id: str, survivor: int, merged: int, evidence: Sequence[Mapping[str, str]]
    ) -> None:
        await merge_in_tx(
            self.conn,
            merge_id=merge_id,
            survivor=survivor,
            merged=merged,
            decided_by="automatic",
            evidence=evidence,
            now=self.now,
        )

    async def suggest(self, rows: Sequence[SuggestionRow]) -> int:
        """(id, a_pk, b_pk, tier, evidence) with a_pk < b_pk; a pair already known keeps its state."""
        before = self.conn.total_changes
        await self.conn.executemany(
            "INSERT INTO merge_suggestion (id, a_pk, b_pk, tier, evidence, created_at) VALUES (?,?,?,?,?,?) "
            "ON CONFLICT(a_pk, b_pk) DO NOTHING",
            [(sid, a, b, tier, dumps([dict(e) for e in ev]), self.now) for sid, a, b, tier, ev in rows],
        )
        return self.conn.total_changes - before

    async def begin_bulk(self) -> None:
        """Make the connection's temporary view whose INSERT writes a whole chunk (see :meth:`write`)."""
        row = await fetch_one(self.conn, "SELECT sqlite_version()")
        for sql in (*_BULK_DROP, *_bulk_schema(row[0] if row else "0.0")):
            await self.conn.execute(
                sql
            )  # the drops: left over only if one failed (temp objects are per-connection)

    async def end_bulk(self) -> None:
        for sql in _BULK_DROP:
            await self.conn.execute(sql)

    def write(self, rows: ChunkRows) -> Awaitable[None]:
        """Write one chunk: its rows are encoded now (encode_chunk), and written when the result is awaited by
        one statement, a single step of SQLite's.

        Every table's rows go in as JSON text, inserted into a temporary view whose INSTEAD OF trigger reads
        each table's part with ``json_each``. The sqlite3 module runs a step without the GIL, so the importer
        goes on resolving the next chunk meanwhile; an ``executemany``, or one statement per table, takes the
        GIL back for every row or statement, and each of those hand-overs waits for the importer's thread to
        let go, or for it to come back to the event loop to send the next statement."""
        return _Write(self, encode_chunk(rows))

    async def added(self) -> dict[str, int]:
        """How many rows the counted inserts (those that may meet rows already there) added so far."""
        rows = await fetch_all(self.conn, "SELECT kind, total(n) FROM temp.import_added GROUP BY kind")
        return {kind: 0 for kind in _COUNTED} | {r[0]: int(r[1]) for r in rows}

    async def finish(self, *, refresh: Iterable[int], stats: Iterable[int], due: Iterable[int]) -> None:
        """Search rows of people the import changed after writing them, statistics and due dates of people who
        got interactions or circles."""
        await refresh_fts(self.conn, refresh)
        stats_list = sorted(set(stats))
        await recompute_people(self.conn, stats_list)
        due_list = sorted(set(due) - set(stats_list))
        for part in _chunks(due_list, 500):
            await recompute_due(self.conn, part)

    async def save_cursor(
        self, *, source: str, account: str, direction: str, cursor: dict[str, Any] | None
    ) -> None:
        await save_cursor(
            self.conn, source=source, account=account, direction=direction, cursor=cursor, now=self.now
        )

    async def run_finished(
        self, *, run_id: str, status: str, summary: dict[str, Any] | None, error: str | None, now: datetime
    ) -> None:
        await _run_finished(self.conn, run_id, status, summary, error, stamp(now))


async def _run_finished(
    conn: aiosqlite.Connection,
    run_id: str,
    status: str,
    summary: dict[str, Any] | None,
    error: str | None,
    now: str,
) -> None:
    await conn.execute(
        "UPDATE import_run SET status = ?, summary = ?, error = ?, finished_at = ? WHERE id = ?",
        (status, None if summary is None else json.dumps(summary, sort_keys=True), error, now, run_id),
    )


class SqliteImports:
    """Import runs and the transaction an import runs in."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def transaction(
        self, now: datetime, fn: Callable[[ImportSession], Awaitable[T]], *, off_loop: bool = False
    ) -> T:
        """Run ``fn`` in one write transaction; if it raises, nothing it wrote remains.

        ``off_loop``: ``fn`` and everything it reads run in a thread of their own, on an event loop of that
        thread, so that the caller's loop (the node's server) only waits for the end. The transaction's
        connection is an aiosqlite one, which answers whichever loop asks; the blocking look-up connection is
        made in the thread that uses it (the sqlite3 module refuses a connection from another thread)."""

        async def body(conn: aiosqlite.Connection) -> T:
            # A bulk import touches index pages all over a large database: a bigger page cache for its
            # duration saves re-reading them (the setting is the connection's, so it is put back after).
            row = await fetch_one(conn, "PRAGMA cache_size")
            before = int(row[0]) if row else -2000
            await conn.execute(f"PRAGMA cache_size = {-IMPORT_CACHE_KIB}")
            with self.db.blocking_reader() as reader:
                session = SqliteImportSession(conn, stamp(now), reader)
                try:
                    await session.begin_bulk()
                    return await fn(session)
                finally:
                    await session.end_bulk()
                    await conn.execute(f"PRAGMA cache_size = {before}")

        async def run(conn: aiosqlite.Connection) -> T:
            if not off_loop:
                return await body(conn)
            return await asyncio.to_thread(asyncio.run, body(conn))

        return await self.db.write(run, alone=True, foreign_keys=False)

    @property
    def folder(self) -> Path:
        """Where this graph's runs keep their lock files and uploads: ``imports/NAME/`` in the folder of the
        database ``NAME.sqlite3`` (each account's graph has its own: ``accounts/imports/alice/``)."""
        return self.db.path.parent / IMPORTS_FOLDER / self.db.path.stem

    async def claim(self, run_id: str) -> RunLock:
        """Take the lock that says run ``run_id`` is alive (before its row or upload exists, so that a sweep
        never mistakes a run being set up for one left behind)."""
        return await asyncio.to_thread(RunLock.take, self.folder, run_id)

    async def start_run(self, *, run_id: str, source: str, name: str, now: datetime) -> None:
        """Record a run as running (again, if a node process recorded it when it accepted the job: the worker
        that runs it says so here). Its owner holds its lock (``claim``) until the run is finished."""

        async def run(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "INSERT INTO import_run (id, source, name, status, started_at) VALUES (?,?,?,'running',?) "
                "ON CONFLICT(id) DO UPDATE SET status = 'running', source = excluded.source, "
                "name = excluded.name",
                (run_id, source, name, stamp(now)),
            )

        await self.db.write(run)

    async def sweep(self, now: datetime) -> list[str]:
        """Runs left behind by a process that ended part-way (killed, crashed, the machine stopped): each is
        marked failed with INTERRUPTED and its files (upload, lock) are removed. A run is left behind when
        nobody holds its lock (``claim``): the lock goes with the process that held it, whatever ended it.
        Returns the ids of the runs marked."""
        running = await self.db.read(
            lambda conn: fetch_all(conn, "SELECT id FROM import_run WHERE status = 'running'")
        )
        ids = {str(r[0]) for r in running}
        found = await asyncio.to_thread(_left_behind, self.folder, ids)
        if not found:
            return []
        marked = sorted(ids & {p.name for p in found})

        async def run(conn: aiosqlite.Connection) -> None:
            await conn.executemany(
                "UPDATE import_run SET status = 'failed', finished_at = ?, error = ? "
                "WHERE id = ? AND status = 'running'",
                [(stamp(now), INTERRUPTED, run_id) for run_id in marked],
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
        async def run(conn: aiosqlite.Connection) -> None:
            await _run_finished(conn, run_id, status, summary, error, stamp(now))

        await self.db.write(run)

    async def recent_runs(self, limit: int = 20) -> list[ImportRun]:
        """The last ``limit`` runs, newest first, as ``get_run`` gives each."""

        async def run(conn: aiosqlite.Connection) -> list[str]:
            rows = await fetch_all(
                conn, "SELECT id FROM import_run ORDER BY pk DESC LIMIT ?", (max(0, min(limit, 1000)),)
            )
            return [str(r[0]) for r in rows]

        found = [await self.get_run(run_id) for run_id in await self.db.read(run)]
        return [r for r in found if r is not None]

    async def get_run(self, run_id: str) -> ImportRun | None:
        async def run(conn: aiosqlite.Connection) -> ImportRun | None:
            row = await fetch_one(
                conn,
                "SELECT id, source, name, status, summary, error, started_at, finished_at FROM import_run "
                "WHERE id = ?",
                (run_id,),
            )
            if row is None:
                return None
            return ImportRun(
                id=row["id"],
                source=row["source"],
                name=row["name"],
                status=row["status"],
                summary=json.loads(row["summary"]) if row["summary"] else None,
                error=row["error"],
                started_at=row["started_at"],
                finished_at=row["finished_at"],
            )

        return await self.db.read(run)
