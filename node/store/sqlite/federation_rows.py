"""One account's federation rows as a whole, in the server database: moved in from the graph database that kept
them before (graph migration 0012), exported with the account's graph and restored into a new account, and
purged when a removed account's grace period is over. Every statement is SQLite's; federation/ports.py's
FederationStore is node/store/sqlite/federation.py.

An export document keeps the one-owner layout of these tables (no account column: the document is one
account's), so that documents exported before federation's state moved restore, and restore elsewhere.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import aiosqlite

from node.errors import BadInput, Conflict
from node.store.federation import EXPORTED_FED_SETTINGS, FEDERATION_COLUMNS, FEDERATION_TABLES
from node.store.federation_models import record_id, same_rows
from node.store.sqlite.db import Database
from node.store.sqlite.rows import fetch_all, placeholders

__all__ = [
    "MOVED_TABLES",
    "AccountFederationRows",
    "move_graph_federation",
]

_log = logging.getLogger("kith.store")

_SETTINGS = " AND key IN (" + ", ".join(f"'{k}'" for k in EXPORTED_FED_SETTINGS) + ")"
#: Everything an account holds besides its tombstones (purge_account).
_ACCOUNT_TABLES = (
    "fed_deliveries",
    "fed_outbox",
    "fed_inbox",
    "fed_follows",
    "fed_offers",
    "fed_blocks",
    "fed_blocked_by",
    "fed_settings",
    "fed_cards_received",
)


class AccountFederationRows:
    """One account's federation rows in the server database, as a whole."""

    def __init__(self, db: Database, account: str) -> None:
        self.db = db
        self.account = account

    async def _tables(self, conn: aiosqlite.Connection) -> dict[str, list[list[Any]]]:
        out: dict[str, list[list[Any]]] = {}
        for table, cols in FEDERATION_COLUMNS.items():
            where = _SETTINGS if table == "fed_settings" else ""
            order = ", ".join(str(i + 1) for i in range(len(cols)))  # every column: deterministic
            rows = await fetch_all(
                conn,
                f"SELECT {', '.join(cols)} FROM {table} WHERE account = ?{where} ORDER BY {order}",
                (self.account,),
            )
            out[table] = [list(r) for r in rows]
        return out

    async def export_tables(self) -> dict[str, dict[str, Any]]:
        """The account's follows, offers, blocks both ways and chosen settings, as export tables."""
        tables = await self.db.read(self._tables)
        return {t: {"columns": list(FEDERATION_COLUMNS[t]), "rows": rows} for t, rows in tables.items()}

    async def import_tables(
        self, tables: Mapping[str, tuple[Sequence[str], Sequence[Sequence[Any]]]]
    ) -> dict[str, int]:
        """Write checked export rows (table -> (columns, rows)) for this account, which must hold none of them
        yet, in one transaction. The very rows again (a restore that died after this step, run again) are
        taken as written already; any other rows are a Conflict."""
        unknown = set(tables) - set(FEDERATION_TABLES)
        if unknown:
            raise BadInput(
                f"federation tables must be among {', '.join(FEDERATION_TABLES)}", field=sorted(unknown)[0]
            )

        async def run(conn: aiosqlite.Connection) -> dict[str, int]:
            held = await self._tables(conn)
            counts = {t: len(rows) for t, (_, rows) in tables.items()}
            if any(held.values()):
                if same_rows(held, tables):
                    return counts
                table = next(t for t, rows in held.items() if rows)
                raise Conflict(
                    f"this account already holds {table} rows; restore only into a new, empty account "
                    "(`kith account add NAME`, then `kith --account NAME restore FILE`)",
                    field="tables",
                )
            for table, (cols, rows) in tables.items():
                if not set(cols) <= set(FEDERATION_COLUMNS[table]) or len(set(cols)) != len(cols):
                    raise BadInput(
                        f"table {table}: columns must be distinct names among {', '.join(FEDERATION_COLUMNS[table])}",
                        field=table,
                    )
                columns = ["account", *cols]
                values = [[self.account, *row] for row in rows]
                if table == "fed_offers" and "record" in cols:
                    columns.append("record_id")
                    at = list(cols).index("record")
                    values = [
                        [*v, record_id(json.loads(row[at]))] for v, row in zip(values, rows, strict=True)
                    ]
                try:
                    await conn.executemany(
                        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders(len(columns))})",
                        values,
                    )
                except self.db.module.IntegrityError as exc:
                    raise BadInput(f"table {table}: {exc}; the export is inconsistent", field=table) from None
            return counts

        return await self.db.write(run)

    async def require_empty(self) -> None:
        """Conflict when the account holds any of the exported rows (checked again by import_tables)."""
        held = await self.db.read(self._tables)
        table = next((t for t, rows in held.items() if rows), None)
        if table is not None:
            raise Conflict(
                f"this account already holds {table} rows; restore only into a new, empty account",
                field="tables",
            )

    async def clear_imported(self) -> None:
        """Take back what import_tables wrote (the graph's part of the restore failed after it)."""

        async def run(conn: aiosqlite.Connection) -> None:
            for table in FEDERATION_TABLES:
                where = _SETTINGS if table == "fed_settings" else ""
                await conn.execute(f"DELETE FROM {table} WHERE account = ?{where}", (self.account,))

        await self.db.write(run)

    async def purge(self) -> None:
        """A removed account's grace period is over: its federation rows go, but its tombstones stay (its actor
        answers 410 for good) and so does its name (in the registry)."""

        async def run(conn: aiosqlite.Connection) -> None:
            for table in _ACCOUNT_TABLES:
                await conn.execute(f"DELETE FROM {table} WHERE account = ?", (self.account,))

        await self.db.write(run)


#: The graph database's federation tables, set aside by graph migration 0012 (in the order they are copied:
#: an outbox row before its deliveries).
MOVED_TABLES = (
    "actors",
    "hosts",
    "follows",
    "offers",
    "inbox",
    "outbox",
    "deliveries",
    "blocks",
    "blocked_by",
    "settings",
    "tombstones",
    "cards_received",
)


# ---- federation rows a graph database kept before they moved here -------------------------------------------------


async def _moved_tables(conn: aiosqlite.Connection) -> set[str]:
    rows = await fetch_all(
        conn, "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'moved_fed_%'"
    )
    return {r[0][len("moved_fed_") :] for r in rows}


async def _read_moved(conn: aiosqlite.Connection) -> dict[str, list[dict[str, Any]]]:
    present = await _moved_tables(conn)
    return {
        name: [dict(r) for r in await fetch_all(conn, f"SELECT * FROM moved_fed_{name}")]
        for name in MOVED_TABLES
        if name in present
    }


async def move_graph_federation(graph: Database, server: Database, account: str) -> int:
    """Move the federation rows ``graph`` (the account's graph database) set aside (graph migration 0012) into
    the server's database, each naming ``account``; then drop them from the graph. How many rows were copied.

    Idempotent and safe to interrupt: the copy is one transaction of the server's database that skips rows it
    holds already, and the old tables are dropped only after it committed. A kill before the drop copies again
    (changing nothing) at the next open; a kill after it finds nothing left to move."""
    if not await graph.read(_moved_tables):
        return 0
    tables = await graph.read(_read_moved)  # one snapshot of them all

    async def copy(conn: aiosqlite.Connection) -> int:
        copied = 0

        async def put(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
            nonlocal copied
            sql = (
                f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) VALUES ({placeholders(len(columns))})"
            )
            for row in rows:
                cur = await conn.execute(sql, tuple(row))
                copied += max(cur.rowcount, 0)

        actor_cols = [
            *("id", "host", "acct", "key_id", "key_pem", "inbox", "shared_inbox", "is_kith", "gone"),
            *("moved_to", "doc", "fetched_at", "key_refetched_at"),
        ]
        await put("fed_actors", actor_cols, ([r[c] for c in actor_cols] for r in tables.get("actors", [])))
        host_cols = ["host", "failures", "first_failure_at", "open_until", "dead", "scheme", "updated_at"]
        await put("fed_hosts", host_cols, ([r[c] for c in host_cols] for r in tables.get("hosts", [])))
        follow_cols = ["follow_id", "direction", "actor_id", "state", "created_at", "updated_at"]
        await put(
            "fed_follows",
            ["account", *follow_cols],
            ([account, *(r[c] for c in follow_cols)] for r in tables.get("follows", [])),
        )
        offer_cols = ["offer_id", "direction", "actor_id", "rel_type", "record", "final", "state"]
        offers = tables.get("offers", [])
        for r in offers:
            r["record_id"] = record_id(json.loads(r["record"]))
        offer_cols += ["record_id", "created_at", "updated_at"]
        await put(
            "fed_offers", ["account", *offer_cols], ([account, *(r[c] for c in offer_cols)] for r in offers)
        )
        inbox_cols = [
            "activity_id",
            "actor_id",
            "type",
            "body",
            "received_at",
            "state",
            "attempts",
            "next_attempt_at",
            "last_error",
            "updated_at",
            "request",
        ]
        inbox = sorted(tables.get("inbox", []), key=lambda r: r["seq"])
        for r in inbox:  # a claim the old process held is released: nobody holds it now
            if r["state"] == "processing":
                r["state"] = "received"
            r.setdefault("request", None)
        await put(
            "fed_inbox", ["account", *inbox_cols], ([account, *(r.get(c) for c in inbox_cols)] for r in inbox)
        )
        for r in sorted(tables.get("outbox", []), key=lambda r: r["seq"]):
            await put(
                "fed_outbox",
                ["account", "activity_id", "type", "body", "public", "created_at", "kind"],
                [
                    [
                        account,
                        r["activity_id"],
                        r["type"],
                        r["body"],
                        r["public"],
                        r["created_at"],
                        r.get("kind"),
                    ]
                ],
            )
        seq_of = {
            row[0]: row[1]
            for row in await fetch_all(
                conn, "SELECT activity_id, seq FROM fed_outbox WHERE account = ?", (account,)
            )
        }
        activity_of = {r["seq"]: r["activity_id"] for r in tables.get("outbox", [])}
        delivery_cols = [
            "inbox",
            "host",
            "actor_id",
            "state",
            "attempts",
            "next_attempt_at",
            "last_status",
            "last_error",
            "created_at",
            "updated_at",
        ]
        moved = []
        for r in sorted(tables.get("deliveries", []), key=lambda r: r["id"]):
            seq = seq_of.get(activity_of.get(r["outbox_seq"], ""))
            if seq is None:
                continue
            if r["state"] == "sending":
                r["state"] = "queued"
            moved.append([seq, account, *(r.get(c) for c in delivery_cols)])
        await put("fed_deliveries", ["outbox_seq", "account", *delivery_cols], moved)
        await put(
            "fed_blocks",
            ["account", "kind", "value", "block_id", "created_at"],
            (
                [account, r["kind"], r["value"], r["block_id"], r["created_at"]]
                for r in tables.get("blocks", [])
            ),
        )
        await put(
            "fed_blocked_by",
            ["account", "actor_id", "block_id", "created_at"],
            ([account, r["actor_id"], r["block_id"], r["created_at"]] for r in tables.get("blocked_by", [])),
        )
        await put(
            "fed_settings",
            ["account", "key", "value"],
            ([account, r["key"], r["value"]] for r in tables.get("settings", [])),
        )
        await put(
            "fed_tombstones",
            ["actor_id", "account", "former_type", "activity_id", "deleted_at"],
            (
                [r["actor_id"], account, r["former_type"], r["activity_id"], r["deleted_at"]]
                for r in tables.get("tombstones", [])
            ),
        )
        card_cols = ["actor_id", "updated", "activity_id", "unverified", "received_at"]
        await put(
            "fed_cards_received",
            ["account", *card_cols],
            ([account, *(r[c] for c in card_cols)] for r in tables.get("cards_received", [])),
        )
        return copied

    copied = await server.write(copy)

    async def drop(conn: aiosqlite.Connection) -> None:
        # dependants first: deliveries reference the outbox
        for name in ("deliveries", *(t for t in MOVED_TABLES if t != "deliveries")):
            await conn.execute(f"DROP TABLE IF EXISTS moved_fed_{name}")

    await graph.write(drop)
    _log.info("moved %d federation rows of account %s into the server database", copied, account)
    return copied
