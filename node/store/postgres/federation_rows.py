"""One account's federation rows as a whole on PostgreSQL (node/store/sqlite/federation_rows.py's port): exported
with the account's graph, restored into a new account, purged when a removed account's grace period is over.

A PostgreSQL graph never kept federation rows itself (that layout predates accounts and exists only in SQLite
files), so there is nothing to move in: :func:`move_graph_federation` has no work here, and ``kith storage copy``
reads the SQLite server's rows after they moved.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg

from node.errors import BadInput, Conflict
from node.store.federation import EXPORTED_FED_SETTINGS, FEDERATION_COLUMNS, FEDERATION_TABLES
from node.store.federation_models import record_id, same_rows
from node.store.postgres.db import PgDatabase
from node.store.postgres.federation import account_lock, fetch_all
from node.store.postgres.rows import Conn

__all__ = ["PgAccountFederation"]


_SETTINGS = " AND key IN (" + ", ".join(f"'{k}'" for k in EXPORTED_FED_SETTINGS) + ")"
#: Everything an account holds besides its tombstones (purge), dependants first.
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


class PgAccountFederation:
    """One account's federation rows in the server's schema, as a whole (node.store.federation.AccountFederation)."""

    def __init__(self, db: PgDatabase, account: str) -> None:
        self.db = db
        self.account = account

    async def _tables(self, conn: Conn) -> dict[str, list[list[Any]]]:
        out: dict[str, list[list[Any]]] = {}
        for table, cols in FEDERATION_COLUMNS.items():
            where = _SETTINGS if table == "fed_settings" else ""
            # every column, as SQLite orders them (text by code point, NULL first): the same rows, same order
            order = ", ".join(
                f"{c} NULLS FIRST" if c in ("created_at", "updated_at") else f'{c} COLLATE "C" NULLS FIRST'
                for c in cols
            )
            rows = await fetch_all(
                conn,
                f"SELECT {', '.join(cols)} FROM {table} WHERE account = %s{where} ORDER BY {order}",
                (self.account,),
            )
            out[table] = [[r[c] for c in cols] for r in rows]
        return out

    async def export_tables(self) -> dict[str, dict[str, Any]]:
        tables = await self.db.read(self._tables, snapshot=True)
        return {t: {"columns": list(FEDERATION_COLUMNS[t]), "rows": rows} for t, rows in tables.items()}

    async def import_tables(
        self, tables: Mapping[str, tuple[Sequence[str], Sequence[Sequence[Any]]]]
    ) -> dict[str, int]:
        """As AccountFederationRows.import_tables (SQLite): all of it in one transaction, the very rows again
        taken as written, other rows a Conflict."""
        unknown = set(tables) - set(FEDERATION_TABLES)
        if unknown:
            raise BadInput(
                f"federation tables must be among {', '.join(FEDERATION_TABLES)}", field=sorted(unknown)[0]
            )

        async def run(conn: Conn) -> dict[str, int]:
            await account_lock(conn, self.account)
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
                        f"table {table}: columns must be distinct names among "
                        f"{', '.join(FEDERATION_COLUMNS[table])}",
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
                if not values:
                    continue
                marks = ", ".join(["%s"] * len(columns))
                try:
                    # a savepoint: the failure is reported as the export's fault, and the transaction rolls back
                    async with conn.transaction(), conn.cursor() as cur:
                        await cur.executemany(
                            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", values
                        )
                except (psycopg.errors.IntegrityError, psycopg.errors.DataError) as exc:
                    raise BadInput(
                        f"table {table}: {exc.diag.message_primary or exc}; the export is inconsistent",
                        field=table,
                    ) from None
            return counts

        return await self.db.write(run, lock=False)

    async def require_empty(self) -> None:
        held = await self.db.read(self._tables, snapshot=True)
        table = next((t for t, rows in held.items() if rows), None)
        if table is not None:
            raise Conflict(
                f"this account already holds {table} rows; restore only into a new, empty account",
                field="tables",
            )

    async def clear_imported(self) -> None:
        async def run(conn: Conn) -> None:
            await account_lock(conn, self.account)
            for table in FEDERATION_TABLES:
                where = _SETTINGS if table == "fed_settings" else ""
                await conn.execute(f"DELETE FROM {table} WHERE account = %s{where}", (self.account,))

        await self.db.write(run, lock=False)

    async def purge(self) -> None:
        async def run(conn: Conn) -> None:
            await account_lock(conn, self.account)
            for table in _ACCOUNT_TABLES:
                await conn.execute(f"DELETE FROM {table} WHERE account = %s", (self.account,))

        await self.db.write(run, lock=False)
