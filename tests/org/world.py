"""An organisation and its members, each on a server of their own, joined and accepted: the starting point of
most organisation tests. ``join`` and ``settle`` are the steps a test repeats."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from federation import org_share

from .nodes import OrgNode, server, settle

__all__ = ["World", "db_bytes", "join", "org_rows", "quiet", "world"]


@dataclass
class World:
    org: OrgNode
    members: dict[str, OrgNode]

    def __getitem__(self, name: str) -> OrgNode:
        return self.members[name]

    @property
    def everyone(self) -> list[OrgNode]:
        return [self.org, *self.members.values()]

    async def settle(self) -> None:
        await settle(*self.everyone)


async def join(org: OrgNode, member: OrgNode, *others: OrgNode, role: str = "member") -> None:
    """``member`` asks, the organisation accepts with its usual requests / accept, everything settles."""
    await member.api("POST", "/api/org/join", {"address": org.acct})
    await settle(org, member, *others)
    waiting = [r for r in await org.api("GET", "/api/federation/requests") if r["actor"] == member.actor]
    assert waiting and waiting[0]["type"] == "member", waiting
    if role == "member":
        await org.api("POST", "/api/federation/requests/accept", {"id": waiting[0]["id"]})
    else:
        await org.api("POST", "/api/org/requests/accept", {"id": waiting[0]["id"], "role": role})
    await settle(org, member, *others)


@asynccontextmanager
async def world(
    tmp: Path, names: Sequence[str] = ("alice", "bob"), *, joined: bool = True, extensions: Sequence[Any] = ()
) -> AsyncIterator[World]:
    async with AsyncExitStack() as stack:
        org = await stack.enter_async_context(
            server(tmp, "acme", 0, organization=True, extensions=extensions)
        )
        members = {}
        for i, name in enumerate(names, start=1):
            members[name] = await stack.enter_async_context(server(tmp, name, i, extensions=extensions))
        w = World(org=org, members=members)
        if joined:
            for m in members.values():
                await join(org, m, *[o for o in members.values() if o is not m])
        yield w


async def quiet(node: OrgNode) -> None:
    """One quiet moment of the node's inbox loop, now (what runs when nothing is due): graph changes shared."""
    node.runtime.org_timers.next_check = 0.0
    await org_share.quiet(node.runtime)


#: Federation's tables with a row per account, in the server database (docs/ARCHITECTURE.md §8).
_FED_TABLES = (
    "fed_follows",
    "fed_offers",
    "fed_inbox",
    "fed_outbox",
    "fed_deliveries",
    "fed_blocks",
    "fed_blocked_by",
    "fed_settings",
    "fed_tombstones",
    "fed_cards_received",
)


def org_rows(node: OrgNode, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows read straight from the disk, as an attacker with it would: the account's graph database, or for
    federation's tables (``fed_*``) the server database, where each of them reads as the account's rows alone.
    On PostgreSQL: the account's graph schema, and the server schema's ``fed_*`` tables the same way."""
    if node.ctx.config.storage.backend == "postgresql":
        return _pg_rows(node, sql, *args)
    if "fed_" not in sql:
        path = node.ctx.store.db.path
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            return list(conn.execute(sql, args).fetchall())
    path = node.ctx.config.data_dir / "server.sqlite3"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        name = node.name.replace("'", "''")
        for table in _FED_TABLES:  # temporary views come first in name resolution
            conn.execute(f"CREATE TEMP VIEW {table} AS SELECT * FROM main.{table} WHERE account = '{name}'")
        return list(conn.execute(sql, args).fetchall())


def _pg_rows(node: OrgNode, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    import psycopg
    from psycopg import sql as pgsql

    with psycopg.connect(node.ctx.config.storage.url) as conn, conn.transaction():
        schema = node.ctx.store.db.schema  # type: ignore[attr-defined]
        conn.execute(pgsql.SQL("SET LOCAL search_path TO {}").format(pgsql.Identifier(schema)))
        for table in _FED_TABLES:  # pg_temp is searched first, as SQLite's temporary views are
            conn.execute(
                pgsql.SQL("CREATE TEMP VIEW {} AS SELECT * FROM kith.{} WHERE account = {}").format(
                    pgsql.Identifier(table), pgsql.Identifier(table), pgsql.Literal(node.name)
                )
            )
        rows = conn.execute(sql.replace("?", "%s"), args).fetchall()  # type: ignore[call-overload]
        return [tuple(r) for r in rows]  # the temporary views go with the connection


def db_bytes(node: OrgNode) -> bytes:
    """Every byte of a server's data folder: its databases (with their write-ahead logs), keys, tokens. On
    PostgreSQL the folder holds keys and tokens, and the databases' part is every row of the account's graph
    schema and of the server schema, as text (what anyone with the database reads through SQL)."""
    root = node.ctx.config.data_dir
    files = b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())
    if node.ctx.config.storage.backend != "postgresql":
        return files
    import psycopg
    from psycopg import sql as pgsql

    schemas = [node.ctx.store.db.schema, "kith"]  # type: ignore[attr-defined]
    out = [files]
    with psycopg.connect(node.ctx.config.storage.url) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema = ANY(%s) "
            "AND table_type = 'BASE TABLE'",
            (schemas,),
        ).fetchall()
        for schema, table in tables:
            query = pgsql.SQL("SELECT t::text FROM {}.{} t").format(
                pgsql.Identifier(schema), pgsql.Identifier(table)
            )
            out.extend(row[0].encode() for row in conn.execute(query))
    return b"\n".join(out)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
