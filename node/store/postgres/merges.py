"""Merging two people into one, undoing it exactly, and the merge-suggestion queue, on PostgreSQL: the SQLite
engine's logic and SQL (node/store/sqlite/merges.py) in PostgreSQL's words.

A merge snapshots both people first (their rows and every association: identities, relationships, interaction
links, notes, circle memberships, source records), moves everything of the merged person onto the survivor,
and marks the merged person ``merged`` (the row and its id stay, so that links to it still resolve). Undo puts
back both person rows exactly as they were and returns to the merged person exactly the associations that were
theirs; anything added to the survivor after the merge stays with the survivor.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from node.errors import Conflict, NotFound
from node.models import MergeRecord, MergeSuggestion, Page
from node.store.merges import IdentityIndexEntry, PersonName, SuggestionInput
from node.store.postgres.db import PgDatabase
from node.store.postgres.people import person_pk, recompute_people
from node.store.postgres.person_rows import refresh_fts
from node.store.postgres.rows import Conn, execute, executemany, fetch_all, fetch_one, placeholders
from node.store.row_records import suggestion_from_row
from node.store.values import dumps, stamp

__all__ = ["PgMerges", "merge_in_tx"]

# Each association is recorded by a stable key (text id, or the address itself), never by row id (as on SQLite:
# node/store/sqlite/merges.py says why). The snapshot is exported (merge_log), so its lists are in the order
# SQLite reads them, by the index each query walks there: the same document on both engines.
_ASSOC = {
    "identities": "SELECT uri FROM identity WHERE person_pk = %s ORDER BY pk",
    "relationships": "SELECT id FROM relationship WHERE person_pk = %s ORDER BY pk",
    "related_to": "SELECT id FROM relationship WHERE other_pk = %s ORDER BY pk",
    "interactions": "SELECT i.id FROM interaction_person ip JOIN interaction i ON i.pk = ip.interaction_pk "
    "WHERE ip.person_pk = %s ORDER BY ip.interaction_pk",
    "notes": "SELECT id FROM note WHERE person_pk = %s ORDER BY pk",
    "circles": "SELECT c.id FROM circle_member m JOIN circle c ON c.pk = m.circle_pk WHERE m.person_pk = %s "
    "ORDER BY m.circle_pk",
    "source_records": "SELECT source || chr(31) || record_id FROM source_record WHERE person_pk = %s "
    "ORDER BY source, record_id",
}
#: Where each association's key lives, to find its row again at undo.
_KEYS = {
    "identities": ("identity", "uri"),
    "relationships": ("relationship", "id"),
    "related_to": ("relationship", "id"),
    "interactions": ("interaction", "id"),
    "notes": ("note", "id"),
    "circles": ("circle", "id"),
}


async def _rows_now(conn: Conn, snap: dict[str, Any]) -> dict[str, Any]:
    """A snapshot's associations as the row ids they have now (rows deleted since are simply absent)."""
    out = dict(snap)
    for name, (table, column) in _KEYS.items():
        keys = snap[name]
        if keys and isinstance(keys[0], int):  # snapshots written before stable keys held row ids
            continue
        pks: list[int] = []
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            pks += [
                r[0]
                for r in await fetch_all(
                    conn, f"SELECT pk FROM {table} WHERE {column} IN ({placeholders(len(chunk))})", chunk
                )
            ]
        out[name] = pks
    return out


async def _snapshot(conn: Conn, pk: int) -> dict[str, Any]:
    row = await fetch_one(conn, f"SELECT {_PERSON_ROW} FROM person WHERE pk = %s", (pk,))
    assert row is not None
    snap: dict[str, Any] = {"row": dict(row)}
    for name, sql in _ASSOC.items():
        snap[name] = [r[0] for r in await fetch_all(conn, sql, (pk,))]
    return snap


#: Every stored column of a person row, as SQLite's ``SELECT *`` reads it (the generated last_interaction_jd is
#: not the row's: it follows last_interaction_at, and an undo could not write it).
_PERSON_ROW = (
    "pk, id, display_name, given_name, family_name, nickname, organization, title, birthday, photo_url, priority, "
    "cadence_days, effective_cadence_days, last_interaction_at, due_at, interaction_count, initiated_by_them, "
    "initiated_by_owner, met_on, status, merged_into, created_at, updated_at"
)

_FILL = ("given_name", "family_name", "nickname", "organization", "title", "birthday", "photo_url")


async def merge_in_tx(
    conn: Conn,
    *,
    merge_id: str,
    survivor: int,
    merged: int,
    decided_by: str,
    evidence: Sequence[Mapping[str, str]],
    now: str,
) -> None:
    """Merge ``merged`` into ``survivor`` inside the caller's transaction (also used by imports); ``now`` as
    the tables hold it (rows.stamp)."""
    if survivor == merged:
        raise Conflict("cannot merge a person with themselves", field="other")
    snap = {"survivor": await _snapshot(conn, survivor), "merged": await _snapshot(conn, merged)}
    s, m = survivor, merged
    await execute(
        conn, "UPDATE identity SET person_pk = %s, updated_at = %s WHERE person_pk = %s", (s, now, m)
    )
    await execute(conn, "UPDATE relationship SET person_pk = %s WHERE person_pk = %s", (s, m))
    await execute(conn, "UPDATE relationship SET other_pk = %s WHERE other_pk = %s", (s, m))
    await execute(
        conn,
        "INSERT INTO interaction_person (person_pk, interaction_pk) "
        "SELECT %s, interaction_pk FROM interaction_person WHERE person_pk = %s ON CONFLICT DO NOTHING",
        (s, m),
    )
    await execute(conn, "DELETE FROM interaction_person WHERE person_pk = %s", (m,))
    await execute(conn, "UPDATE note SET person_pk = %s WHERE person_pk = %s", (s, m))
    await execute(
        conn,
        "INSERT INTO circle_member (circle_pk, person_pk) "
        "SELECT circle_pk, %s FROM circle_member WHERE person_pk = %s ON CONFLICT DO NOTHING",
        (s, m),
    )
    await execute(conn, "DELETE FROM circle_member WHERE person_pk = %s", (m,))
    await execute(conn, "UPDATE source_record SET person_pk = %s WHERE person_pk = %s", (s, m))
    fills = ", ".join(f"{c} = coalesce(person.{c}, (SELECT {c} FROM person WHERE pk = %(m)s))" for c in _FILL)
    await execute(
        conn,
        f"""UPDATE person SET {fills},
            display_name = CASE WHEN display_name = '' THEN (SELECT display_name FROM person WHERE pk = %(m)s)
                           ELSE display_name END,
            priority = greatest(priority, (SELECT priority FROM person WHERE pk = %(m)s)),
            cadence_days = CASE WHEN cadence_days IS NULL THEN (SELECT cadence_days FROM person WHERE pk = %(m)s)
                           ELSE least(cadence_days, coalesce((SELECT cadence_days FROM person WHERE pk = %(m)s),
                                                           cadence_days)) END,
            met_on = CASE WHEN met_on IS NULL THEN (SELECT met_on FROM person WHERE pk = %(m)s)
                     ELSE least(met_on, coalesce((SELECT met_on FROM person WHERE pk = %(m)s), met_on)) END,
            updated_at = %(now)s
        WHERE pk = %(s)s""",
        {"s": s, "m": m, "now": now},
    )
    await execute(
        conn,
        "UPDATE person SET status = 'merged', merged_into = %s, updated_at = %s WHERE pk = %s",
        (s, now, m),
    )
    await execute(
        conn,
        "UPDATE merge_suggestion SET status = 'merged' WHERE (a_pk = %(s)s AND b_pk = %(m)s) "
        "OR (a_pk = %(m)s AND b_pk = %(s)s)",
        {"s": s, "m": m},
    )
    await execute(
        conn,
        "INSERT INTO merge_log (id, survivor_pk, merged_pk, decided_by, evidence, snapshot, created_at) "
        "VALUES (%s,%s,%s,%s,%s,%s,%s)",
        (merge_id, s, m, decided_by, dumps([dict(e) for e in evidence]), dumps(snap), now),
    )
    await recompute_people(conn, [s])
    await refresh_fts(conn, [s, m])


async def _unmerge_in_tx(conn: Conn, merge_id: str, now: str) -> tuple[int, int]:
    log = await fetch_one(conn, "SELECT * FROM merge_log WHERE id = %s", (merge_id,))
    if log is None:
        raise NotFound(f"no merge with id {merge_id!r}", field="merge")
    if log["undone_at"] is not None:
        raise Conflict(f"merge {merge_id} was already undone at {log['undone_at']}", field="merge")
    later = await fetch_one(
        conn,
        "SELECT id FROM merge_log WHERE undone_at IS NULL AND pk > %s AND merged_pk = %s",
        (log["pk"], log["survivor_pk"]),
    )
    if later is not None:
        raise Conflict(f"undo merge {later[0]} first: it merged the survivor of this one away", field="merge")
    snap = json.loads(log["snapshot"])
    s, m = int(log["survivor_pk"]), int(log["merged_pk"])
    ms, ss = await _rows_now(conn, snap["merged"]), await _rows_now(conn, snap["survivor"])

    async def back(sql: str, ids: list[Any]) -> None:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            await execute(conn, sql.format(marks=placeholders(len(chunk))), [m, *chunk])

    await back("UPDATE identity SET person_pk = %s WHERE pk IN ({marks})", ms["identities"])
    await back("UPDATE relationship SET person_pk = %s WHERE pk IN ({marks})", ms["relationships"])
    await back("UPDATE relationship SET other_pk = %s WHERE pk IN ({marks})", ms["related_to"])
    await back("UPDATE note SET person_pk = %s WHERE pk IN ({marks})", ms["notes"])
    await executemany(
        conn,
        "INSERT INTO interaction_person (person_pk, interaction_pk) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        [(m, i) for i in ms["interactions"]],
    )
    only_m = sorted(set(ms["interactions"]) - set(ss["interactions"]))
    await executemany(
        conn,
        "DELETE FROM interaction_person WHERE person_pk = %s AND interaction_pk = %s",
        [(s, i) for i in only_m],
    )
    await executemany(
        conn,
        "INSERT INTO circle_member (circle_pk, person_pk) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        [(c, m) for c in ms["circles"]],
    )
    await executemany(
        conn,
        "DELETE FROM circle_member WHERE circle_pk = %s AND person_pk = %s",
        [(c, s) for c in sorted(set(ms["circles"]) - set(ss["circles"]))],
    )
    await executemany(
        conn,
        "UPDATE source_record SET person_pk = %s WHERE source = %s AND record_id = %s",
        [(m, *key.split("\x1f", 1)) for key in ms["source_records"]],
    )
    for row in (ss["row"], ms["row"]):
        cols = [c for c in row if c != "pk"]
        await execute(
            conn,
            f"UPDATE person SET {', '.join(f'{c} = %s' for c in cols)} WHERE pk = %s",
            [*[row[c] for c in cols], row["pk"]],
        )
    await execute(conn, "UPDATE merge_log SET undone_at = %s WHERE pk = %s", (now, log["pk"]))
    await execute(
        conn,
        "UPDATE merge_suggestion SET status = 'open' WHERE status = 'merged' AND "
        "((a_pk = %(s)s AND b_pk = %(m)s) OR (a_pk = %(m)s AND b_pk = %(s)s))",
        {"s": s, "m": m},
    )
    # Interactions logged on the survivor after the merge change its statistics; recompute from the rows.
    await recompute_people(conn, [s, m])
    await refresh_fts(conn, [s, m])
    return s, m


class PgMerges:
    def __init__(self, db: PgDatabase) -> None:
        self.db = db

    async def merge(
        self,
        *,
        merge_id: str,
        survivor_id: str,
        merged_id: str,
        decided_by: str,
        evidence: Sequence[Mapping[str, str]],
        now: datetime,
    ) -> MergeRecord:
        at = stamp(now)

        async def run(conn: Conn) -> MergeRecord:
            s = await person_pk(conn, survivor_id)
            m = await person_pk(conn, merged_id)
            await merge_in_tx(
                conn,
                merge_id=merge_id,
                survivor=s,
                merged=m,
                decided_by=decided_by,
                evidence=evidence,
                now=at,
            )
            return (await _merge_records(conn, "l.id = %s", (merge_id,)))[0]

        return await self.db.write(run)

    async def unmerge(self, merge_id: str, now: datetime) -> MergeRecord:
        async def run(conn: Conn) -> MergeRecord:
            await _unmerge_in_tx(conn, merge_id, stamp(now))
            return (await _merge_records(conn, "l.id = %s", (merge_id,)))[0]

        return await self.db.write(run)

    async def list_merges(self, person_id: str | None) -> list[MergeRecord]:
        async def run(conn: Conn) -> list[MergeRecord]:
            if person_id is None:
                return await _merge_records(conn, "true", ())
            pk = await person_pk(conn, person_id, include_merged=True)
            return await _merge_records(conn, "(l.survivor_pk = %s OR l.merged_pk = %s)", (pk, pk))

        return await self.db.read(run)

    async def identity_index(self) -> list[IdentityIndexEntry]:
        """Every active person's identities, for suggestions."""

        async def run(conn: Conn) -> list[IdentityIndexEntry]:
            rows = await fetch_all(
                conn,
                "SELECT p.id, i.kind, i.uri, i.display FROM identity i JOIN person p ON p.pk = i.person_pk "
                "WHERE p.status = 'active'",
            )
            return [IdentityIndexEntry(r[0], r[1], r[2], r[3]) for r in rows]

        return await self.db.read(run)

    async def active_names(self) -> list[PersonName]:
        """(person id, display name) of every active person, for name suggestions: two columns, not whole
        people (loading 100,000 people with their identities took most of a suggestion run)."""

        async def run(conn: Conn) -> list[PersonName]:
            rows = await fetch_all(conn, "SELECT id, display_name FROM person WHERE status = 'active'")
            return [PersonName(r[0], r[1]) for r in rows]

        return await self.db.read(run)

    async def save_suggestions(self, suggestions: Sequence[SuggestionInput], now: datetime) -> int:
        """Insert suggestions; existing pairs keep their status."""
        at = stamp(now)

        # A handful of statements for the whole set, not four per pair: on a large graph the pairs number in
        # tens of thousands, and this one write holds the writer (every other write waits) while it runs.
        async def run(conn: Conn) -> int:
            ids = sorted({a for _, a, _, _, _ in suggestions} | {b for _, _, b, _, _ in suggestions})
            pk_of: dict[str, int] = {}
            if len(ids) > 5000:  # most of the graph: one scan beats hundreds of IN (...) look-ups
                wanted = set(ids)
                rows_all = await fetch_all(conn, "SELECT id, pk FROM person WHERE status != 'merged'")
                pk_of = {r[0]: r[1] for r in rows_all if r[0] in wanted}
                ids_left: list[str] = []
            else:
                ids_left = ids
            for start in range(0, len(ids_left), 500):
                chunk = ids_left[start : start + 500]
                for r in await fetch_all(
                    conn,
                    f"SELECT id, pk FROM person WHERE id IN ({placeholders(len(chunk))}) AND status != 'merged'",
                    chunk,
                ):
                    pk_of[r[0]] = r[1]
            missing = next((i for i in ids if i not in pk_of), None)
            if missing is not None:
                raise NotFound(f"no person with id {missing!r}", field="person")
            known = {
                (r[0], r[1]): (r[2], r[3], r[4])
                for r in await fetch_all(
                    conn, "SELECT a_pk, b_pk, tier, evidence, status FROM merge_suggestion"
                )
            }
            rows, new = [], 0
            for sid, a, b, tier, evidence in suggestions:
                a_pk, b_pk = sorted((pk_of[a], pk_of[b]))
                text = dumps([dict(e) for e in evidence])
                before = known.get((a_pk, b_pk))
                if before is None:
                    new += 1
                elif before[2] != "open" or before[:2] == (tier, text):
                    continue  # decided by the owner, or unchanged: nothing to write
                rows.append((sid, a_pk, b_pk, tier, text, at))
            await executemany(
                conn,
                "INSERT INTO merge_suggestion (id, a_pk, b_pk, tier, evidence, created_at) "
                "VALUES (%s,%s,%s,%s,%s,%s) ON CONFLICT(a_pk, b_pk) DO UPDATE SET evidence = excluded.evidence, "
                "tier = excluded.tier WHERE merge_suggestion.status = 'open'",
                rows,
            )
            return new  # an update of a pair already queued is not new

        return await self.db.write(run)

    async def list_suggestions(self, *, status: str, offset: int, limit: int) -> Page:
        async def run(conn: Conn) -> Page:
            rows = await fetch_all(
                conn,
                f"""{_SUGGESTION_SELECT}
                   WHERE s.status = %s AND (s.status != 'open' OR (a.status = 'active' AND b.status = 'active'))
                   ORDER BY CASE s.tier WHEN 'automatic' THEN 0 WHEN 'suggested' THEN 1 ELSE 2 END, s.pk
                   LIMIT %s OFFSET %s""",
                (status, limit + 1, offset),
            )
            items = (suggestion_from_row(r) for r in rows[:limit])
            return Page.uncounted(items, offset=offset, limit=limit, more=len(rows) > limit)

        return await self.db.read(run)

    async def get_suggestion(self, suggestion_id: str) -> MergeSuggestion:
        async def run(conn: Conn) -> MergeSuggestion:
            r = await fetch_one(conn, f"{_SUGGESTION_SELECT} WHERE s.id = %s", (suggestion_id,))
            if r is None:
                raise NotFound(f"no merge suggestion with id {suggestion_id!r}", field="suggestion")
            return suggestion_from_row(r)

        return await self.db.read(run)

    async def set_suggestion_status(self, suggestion_id: str, status: str) -> None:
        async def run(conn: Conn) -> None:
            cur = await execute(
                conn, "UPDATE merge_suggestion SET status = %s WHERE id = %s", (status, suggestion_id)
            )
            if cur.rowcount == 0:
                raise NotFound(f"no merge suggestion with id {suggestion_id!r}", field="suggestion")

        await self.db.write(run)


_SUGGESTION_SELECT = """SELECT s.id, a.id, b.id, a.display_name, b.display_name, s.tier, s.evidence, s.status,
       s.created_at
FROM merge_suggestion s JOIN person a ON a.pk = s.a_pk JOIN person b ON b.pk = s.b_pk"""


async def _merge_records(conn: Conn, where: str, params: Sequence[Any]) -> list[MergeRecord]:
    rows = await fetch_all(
        conn,
        f"""SELECT l.id, s.id, m.id, l.decided_by, l.evidence, l.created_at, l.undone_at FROM merge_log l
        JOIN person s ON s.pk = l.survivor_pk JOIN person m ON m.pk = l.merged_pk WHERE {where} ORDER BY l.pk""",
        params,
    )
    return [
        MergeRecord(
            id=r[0],
            survivor=r[1],
            merged=r[2],
            decided_by=r[3],
            evidence=tuple(json.loads(r[4])),
            created_at=r[5],
            undone_at=r[6],
        )
        for r in rows
    ]
