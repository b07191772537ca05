"""Bulk SQL for imports: look-ups by the chunk, executemany inserts, FTS rows in bulk, one transaction.

The importer (node/importer.py) decides; this module only reads what it asks for and writes the rows it
hands over. Rules kept:
- One import is one transaction (``ImportStore.transaction``): a kill, a crash or an error part-way leaves the
  database exactly as it was, and the next run starts from the beginning and completes. (We chose atomic over
  checkpointed batches: a 50,000-row export is written in about two seconds, a length for which holding the
  writer is cheaper than the bookkeeping of a resumable import.)
- Rows get their integer keys from us (max(pk) + n, read once inside the transaction, which no other writer
  can enter), so inserts need no read-back and run as one ``executemany`` per table and chunk.
- No per-row statements on the hot path and no triggers: the search rows of new people are inserted in bulk.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiosqlite

from node.store.db import Database
from node.store.rows import fetch_all, fetch_one, placeholders, refresh_fts
from node.store.sqlite_links import save_cursor
from node.store.sqlite_merge import merge_in_tx
from node.store.sqlite_people import PERSON_FIELDS, recompute_due, recompute_people

__all__ = [
    "IMPORT_CACHE_KIB",
    "PERSON_IMPORT_FIELDS",
    "ChunkRows",
    "ImportSession",
    "ImportStore",
    "KnownIdentity",
    "KnownRecord",
]

T = TypeVar("T")

#: The person columns an import may set. The owner's own judgements (priority, cadence) are never imported, and
#: met_on is handled apart: it only ever moves earlier.
PERSON_IMPORT_FIELDS = tuple(f for f in PERSON_FIELDS if f not in ("priority", "cadence_days", "met_on"))
_UPDATABLE = frozenset((*PERSON_IMPORT_FIELDS, "met_on"))
IMPORT_CACHE_KIB = 131_072  # 128 MiB of page cache while an import runs
_IN_MAX = 900  # variables per IN (...): well under SQLite's limit on every build still in use


@dataclass(slots=True)
class KnownIdentity:
    pk: int
    person_pk: int | None
    verification: str
    label: str | None


@dataclass(frozen=True, slots=True)
class KnownRecord:
    person_pk: int
    digest: str
    fields: dict[str, Any]


@dataclass(slots=True)
class ChunkRows:
    """Rows for one chunk, in the order they are written (each table after every table it references)."""

    people: list[tuple[Any, ...]] = field(
        default_factory=list
    )  # pk, id, *PERSON_IMPORT_FIELDS, met_on, now, now
    person_updates: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # pk, changed columns
    identities: list[tuple[Any, ...]] = field(
        default_factory=list
    )  # pk, person, uri, kind, display, label, ver
    identity_updates: list[tuple[Any, ...]] = field(
        default_factory=list
    )  # person, verification, label, now, pk
    provenance: list[tuple[Any, ...]] = field(default_factory=list)  # identity_pk, source, record_id, now
    records: list[tuple[Any, ...]] = field(default_factory=list)  # source, record_id, person, digest, fields
    record_updates: list[tuple[Any, ...]] = field(default_factory=list)  # the same, for records seen before
    circle_members: list[tuple[int, int]] = field(default_factory=list)
    notes: list[tuple[Any, ...]] = field(default_factory=list)  # id, person, body, now, now
    relationships: list[tuple[Any, ...]] = field(default_factory=list)  # id, person, type, iri, dir, since
    interactions: list[tuple[Any, ...]] = field(default_factory=list)  # pk, id, at, channel, by, summary, rid
    interaction_people: list[tuple[int, int]] = field(default_factory=list)  # person, interaction
    blocks: list[tuple[str, str]] = field(default_factory=list)  # uri, source
    fts: list[tuple[Any, ...]] = field(default_factory=list)  # search rows of the new people


def _chunks(values: Sequence[T], size: int = _IN_MAX) -> Iterable[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class ImportSession:
    """The import transaction's connection, with the reads and bulk writes the importer needs."""

    def __init__(self, conn: aiosqlite.Connection, now: str) -> None:
        self.conn = conn
        self.now = now

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
            for r in await fetch_all(
                self.conn,
                f"SELECT uri, pk, person_pk, verification, label FROM identity WHERE uri IN ({placeholders(len(part))})",
                part,
            ):
                found[r[0]] = KnownIdentity(pk=r[1], person_pk=r[2], verification=r[3], label=r[4])
        return found

    async def records(self, source: str, record_ids: Sequence[str]) -> dict[str, KnownRecord]:
        found: dict[str, KnownRecord] = {}
        for part in _chunks(record_ids):
            for r in await fetch_all(
                self.conn,
                f"SELECT record_id, person_pk, digest, fields FROM source_record "
                f"WHERE source = ? AND record_id IN ({placeholders(len(part))})",
                [source, *part],
            ):
                found[r[0]] = KnownRecord(person_pk=r[1], digest=r[2], fields=json.loads(r[3] or "{}"))
        return found

    async def known_interactions(self, source: str, record_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for part in _chunks(record_ids):
            rows = await fetch_all(
                self.conn,
                f"SELECT source_record_id FROM interaction "
                f"WHERE source = ? AND source_record_id IN ({placeholders(len(part))})",
                [source, *part],
            )
            found.update(r[0] for r in rows)
        return found

    async def people(self, pks: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Person fields by key; ``placeholder`` is true when the name is only one of their addresses (set by
        an import that knew no name), which a real name from a later import replaces."""
        cols = ", ".join((*PERSON_IMPORT_FIELDS, "met_on", "status"))
        found: dict[int, dict[str, Any]] = {}
        for part in _chunks(pks):
            for r in await fetch_all(
                self.conn,
                f"SELECT pk, {cols}, EXISTS (SELECT 1 FROM identity i WHERE i.person_pk = person.pk AND "
                f"i.display = person.display_name) AS placeholder FROM person "
                f"WHERE pk IN ({placeholders(len(part))})",
                part,
            ):
                found[r[0]] = dict(r)
        return found

    async def relationship_types(self, pks: Sequence[int]) -> set[tuple[int, str]]:
        """(person, type) of the owner's relationships with these people."""
        found: set[tuple[int, str]] = set()
        for part in _chunks(pks):
            rows = await fetch_all(
                self.conn,
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
        self, *, merge_id: str, survivor: int, merged: int, evidence: Sequence[dict[str, str]]
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

    async def suggest(self, rows: Sequence[tuple[str, int, int, str, str]]) -> int:
        """(id, a_pk, b_pk, tier, evidence JSON) with a_pk < b_pk; a pair already known keeps its state."""
        before = self.conn.total_changes
        await self.conn.executemany(
            "INSERT INTO merge_suggestion (id, a_pk, b_pk, tier, evidence, created_at) VALUES (?,?,?,?,?,?) "
            "ON CONFLICT(a_pk, b_pk) DO NOTHING",
            [(*r, self.now) for r in rows],
        )
        return self.conn.total_changes - before

    async def write(self, rows: ChunkRows) -> dict[str, int]:
        """Write one chunk; returns how many rows each insert that may meet existing rows really added."""
        c, now = self.conn, self.now
        fields = ", ".join(PERSON_IMPORT_FIELDS)
        marks = placeholders(len(PERSON_IMPORT_FIELDS))
        added: dict[str, int] = {}
        if rows.people:
            await c.executemany(
                f"INSERT INTO person (pk, id, {fields}, met_on, created_at, updated_at) "
                f"VALUES (?, ?, {marks}, ?, ?, ?)",
                [(*r, now, now) for r in rows.people],
            )
        by_columns: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for pk, changed in rows.person_updates:
            cols = tuple(sorted(changed))
            if not set(cols) <= _UPDATABLE:
                raise ValueError(f"an import may not set {sorted(set(cols) - _UPDATABLE)}")
            by_columns.setdefault(cols, []).append((*[changed[k] for k in cols], now, pk))
        for cols, params in by_columns.items():
            sets = ", ".join(f"{col} = ?" for col in cols)
            await c.executemany(f"UPDATE person SET {sets}, updated_at = ? WHERE pk = ?", params)
        if rows.identities:
            await c.executemany(
                "INSERT INTO identity (pk, person_pk, uri, kind, display, label, verification, created_at, "
                "updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                [(*r, now, now) for r in rows.identities],
            )
        if rows.identity_updates:
            await c.executemany(
                "UPDATE identity SET person_pk = ?, verification = ?, label = ?, updated_at = ? WHERE pk = ?",
                [(p, v, lab, now, pk) for p, v, lab, pk in rows.identity_updates],
            )
        added["provenance"] = await self._count(
            "INSERT INTO provenance (identity_pk, source, source_record_id, seen_at) VALUES (?,?,?,?) "
            "ON CONFLICT DO NOTHING",
            [(*r, now) for r in rows.provenance],
        )
        # Plain INSERTs and UPDATEs only: an upsert or INSERT ... SELECT repeated by executemany inside the
        # writer's savepoint gets slower with every row the transaction has written (measured: quadratic).
        if rows.records:
            await c.executemany(
                "INSERT INTO source_record (source, record_id, person_pk, digest, fields, seen_at) "
                "VALUES (?,?,?,?,?,?)",
                [(*r, now) for r in rows.records],
            )
        if rows.record_updates:
            await c.executemany(
                "UPDATE source_record SET person_pk = ?, digest = ?, fields = ?, seen_at = ? "
                "WHERE source = ? AND record_id = ?",
                [(p, d, f, now, src, rid) for src, rid, p, d, f in rows.record_updates],
            )
        added["circle_members"] = await self._count(
            "INSERT OR IGNORE INTO circle_member (circle_pk, person_pk) VALUES (?, ?)", rows.circle_members
        )
        added["notes"] = await self._count(
            "INSERT OR IGNORE INTO note (id, person_pk, body, created_at, updated_at) VALUES (?,?,?,?,?)",
            [(*r, now, now) for r in rows.notes],
        )
        added["relationships"] = await self._count(
            "INSERT INTO relationship (id, person_pk, type, iri, direction, since, created_at, updated_at) "
            "VALUES (?,?,?,?,?,?,?,?)",
            [(*r, now, now) for r in rows.relationships],
        )
        if rows.interactions:
            await c.executemany(
                "INSERT INTO interaction (pk, id, occurred_at, channel, initiated_by, summary, source, "
                "source_record_id, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                [(*r, now) for r in rows.interactions],
            )
            await c.executemany(
                "INSERT OR IGNORE INTO interaction_person (person_pk, interaction_pk) VALUES (?, ?)",
                rows.interaction_people,
            )
        added["blocks"] = await self._count(
            "INSERT OR IGNORE INTO blocked_address (uri, source, created_at) VALUES (?, ?, ?)",
            [(*r, now) for r in rows.blocks],
        )
        if rows.fts:
            await c.executemany(
                "INSERT INTO person_fts (rowid, names, organization, identities, notes) VALUES (?,?,?,?,?)",
                rows.fts,
            )
        return added

    async def _count(self, sql: str, params: Sequence[Sequence[Any]]) -> int:
        if not params:
            return 0
        before = self.conn.total_changes
        await self.conn.executemany(sql, params)
        return self.conn.total_changes - before

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

    async def run_started(self, *, run_id: str, source: str, name: str, status: str) -> None:
        await self.conn.execute(
            "INSERT INTO import_run (id, source, name, status, started_at) VALUES (?,?,?,?,?)",
            (run_id, source, name, status, self.now),
        )

    async def run_finished(
        self, *, run_id: str, status: str, summary: dict[str, Any] | None, error: str | None, now: str
    ) -> None:
        await self.conn.execute(
            "UPDATE import_run SET status = ?, summary = ?, error = ?, finished_at = ? WHERE id = ?",
            (status, None if summary is None else json.dumps(summary, sort_keys=True), error, now, run_id),
        )


class ImportStore:
    """Import runs and the transaction an import runs in."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def transaction(self, now: str, fn: Callable[[ImportSession], Awaitable[T]]) -> T:
        """Run ``fn`` in one write transaction; if it raises, nothing it wrote remains."""

        async def run(conn: aiosqlite.Connection) -> T:
            # A bulk import touches index pages all over a large database: a bigger page cache for its
            # duration saves re-reading them (the setting is the connection's, so it is put back after).
            row = await fetch_one(conn, "PRAGMA cache_size")
            before = int(row[0]) if row else -2000
            await conn.execute(f"PRAGMA cache_size = {-IMPORT_CACHE_KIB}")
            try:
                return await fn(ImportSession(conn, now))
            finally:
                await conn.execute(f"PRAGMA cache_size = {before}")

        return await self.db.write(run)

    async def start_run(self, *, run_id: str, source: str, name: str, now: str) -> None:
        """Record a new run. A run still marked running was killed: imports take the one write transaction in
        turn, so by the time this write gets in, no other import is part-way."""

        async def run(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "UPDATE import_run SET status = 'failed', finished_at = ?, "
                "error = 'interrupted: the process ended before the import finished; nothing of it was kept' "
                "WHERE status = 'running'",
                (now,),
            )
            await ImportSession(conn, now).run_started(
                run_id=run_id, source=source, name=name, status="running"
            )

        await self.db.write(run)

    async def finish_run(
        self, *, run_id: str, status: str, summary: dict[str, Any] | None, error: str | None, now: str
    ) -> None:
        async def run(conn: aiosqlite.Connection) -> None:
            await ImportSession(conn, now).run_finished(
                run_id=run_id, status=status, summary=summary, error=error, now=now
            )

        await self.db.write(run)

    async def get_run(self, run_id: str) -> dict[str, Any] | None:
        async def run(conn: aiosqlite.Connection) -> dict[str, Any] | None:
            row = await fetch_one(
                conn,
                "SELECT id, source, name, status, summary, error, started_at, finished_at FROM import_run "
                "WHERE id = ?",
                (run_id,),
            )
            if row is None:
                return None
            out = dict(row)
            out["summary"] = json.loads(out["summary"]) if out["summary"] else None
            return out

        return await self.db.read(run)
