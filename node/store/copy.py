"""``kith storage copy``: every row of a server, from the engine it runs on to another (issue #14;
specs/POSTGRESQL.md §12).

The copy works table by table, below the concepts: each engine offers its stores' tables through the small
contract here (:class:`TableCopy`), and the same tables with the same columns exist on every engine, so what is
read from one is written unchanged into the other. Values an engine derives for itself (SQLite's full-text
index, PostgreSQL's search vectors) are not copied: the destination computes its own.

    src, dst = await open_server_store(config), await open_server_store(config_of(url))
    summary = await copy_server(src, dst, progress=bar)

Rules:
- The destination holds no account yet (Conflict otherwise): a copy never merges two servers.
- Each database is read in one snapshot and written in one transaction: the server's own first (the registry,
  keys and federation's state), then each account's graph. A failure leaves the destination without the account
  being written; run the copy again into an empty destination.
- The account registry's ``graph_file`` (where each graph lives) is the destination's own, made by its
  ``create_graph``: every other value is copied as it is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from node.errors import Conflict
from node.store.errors import StoreError

__all__ = [
    "CopyPlan",
    "CopyStores",
    "CopySummary",
    "Deliver",
    "Progress",
    "TableCopy",
    "Transform",
    "copy_server",
    "plan_copy",
]

#: Rows of one table, handed on in batches: (table, columns, rows).
Deliver = Callable[[str, Sequence[str], Sequence[Sequence[Any]]], Awaitable[None]]
#: What the copy changes in a row on its way (table, columns, row) -> row.
Transform = Callable[[str, Sequence[str], Sequence[Any]], Sequence[Any]]
#: How far the copy is: (what is being copied, rows done in it, rows in it).
Progress = Callable[[str, int, int], None]


class TableCopy(Protocol):
    """One database's tables as an engine offers them to a copy (every store has one: ``table_copy``)."""

    async def shape(self) -> dict[str, tuple[str, ...]]:
        """The tables a copy carries (those the engine derives left out), each with its columns."""
        ...

    async def count(self, shape: Mapping[str, Sequence[str]]) -> dict[str, int]:
        """How many rows each table of ``shape`` holds (for progress)."""
        ...

    async def read_tables(self, shape: Mapping[str, Sequence[str]], deliver: Deliver, *, batch: int) -> None:
        """Every row of every table of ``shape``, in one snapshot, handed to ``deliver`` ``batch`` at a time."""
        ...

    async def write_tables(
        self, shape: Mapping[str, Sequence[str]], fill: Callable[[Deliver], Awaitable[None]]
    ) -> None:
        """One transaction: the tables of ``shape`` are emptied (of what a new database holds from its
        creation), ``fill`` hands in rows (in any table order; references are checked once all are in), then the
        engine derives what it derives (search) and commits. Nothing is written if it fails."""
        ...


class CopyStores(Protocol):
    """What the copy needs of a server store (node/store/stores.py's ServerStore has it)."""

    @property
    def table_copy(self) -> TableCopy: ...

    async def create_graph(self, name: str) -> str: ...

    async def open_graph(self, graph_file: str) -> Any: ...


@dataclass(frozen=True, slots=True)
class CopyPlan:
    """The tables both engines carry with the columns the copy writes."""

    tables: dict[str, tuple[str, ...]]

    def total(self, counts: Mapping[str, int]) -> int:
        return sum(counts.get(t, 0) for t in self.tables)


@dataclass(slots=True)
class CopySummary:
    accounts: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # database ("server", or an account) -> rows copied


def plan_copy(what: str, source: Mapping[str, Sequence[str]], dest: Mapping[str, Sequence[str]]) -> CopyPlan:
    """The columns to copy: every table and column of the source must exist at the destination (else the two
    are not the same version of Kith's schema, and a copy would lose what has nowhere to go)."""
    missing = [t for t in source if t not in dest]
    if missing:
        raise StoreError(
            f"{what}: the destination has no table {', '.join(sorted(missing))}; are both databases migrated "
            "by this version of Kith? (run `kith migrate` on each)"
        )
    tables: dict[str, tuple[str, ...]] = {}
    for table, columns in source.items():
        lacking = [c for c in columns if c not in dest[table]]
        if lacking:
            raise StoreError(
                f"{what}: the destination's table {table} has no column {', '.join(lacking)}; are both "
                "databases migrated by this version of Kith? (run `kith migrate` on each)"
            )
        tables[table] = tuple(columns)
    return CopyPlan(tables)


async def _copy_one(
    what: str,
    src: TableCopy,
    dst: TableCopy,
    progress: Progress,
    *,
    transform: Transform | None = None,
    batch: int = 2000,
) -> int:
    plan = plan_copy(what, await src.shape(), await dst.shape())
    total = plan.total(await src.count(plan.tables))
    done = 0
    progress(what, 0, total)

    async def fill(into: Deliver) -> None:
        async def deliver(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
            nonlocal done
            if transform is not None:
                rows = [transform(table, columns, row) for row in rows]
            await into(table, columns, rows)
            done += len(rows)
            progress(what, done, total)

        await src.read_tables(plan.tables, deliver, batch=batch)

    await dst.write_tables(plan.tables, fill)
    return done


async def copy_server(
    src: CopyStores,
    dst: CopyStores,
    *,
    accounts: Sequence[tuple[str, str]],
    dest_is_empty: Callable[[], Awaitable[bool]],
    progress: Progress,
) -> CopySummary:
    """Copy the server store ``src`` and its ``accounts`` (name, graph_file) into ``dst``, which must hold no
    account. Returns what was copied."""
    if not await dest_is_empty():
        raise Conflict(
            "the destination already holds accounts; copy only into an empty database (a new PostgreSQL "
            "database: `createdb NAME`)",
            field="to",
        )
    summary = CopySummary()
    dest_files = {name: await dst.create_graph(name) for name, _ in accounts}

    def account_row(table: str, columns: Sequence[str], row: Sequence[Any]) -> Sequence[Any]:
        if table != "account":
            return row
        values = list(row)
        name = values[columns.index("name")]
        if name in dest_files:
            values[columns.index("graph_file")] = dest_files[name]
        return values

    summary.rows["server"] = await _copy_one(
        "server", src.table_copy, dst.table_copy, progress, transform=account_row
    )
    for name, graph_file in accounts:
        source = await src.open_graph(graph_file)
        try:
            dest = await dst.open_graph(dest_files[name])
            try:
                summary.rows[name] = await _copy_one(
                    f"account {name}", source.table_copy, dest.table_copy, progress
                )
            finally:
                await dest.close()
        finally:
            await source.close()
        summary.accounts.append(name)
    return summary
