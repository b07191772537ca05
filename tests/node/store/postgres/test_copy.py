"""PostgreSQL's side of `kith storage copy` (node/store/postgres/copy.py): a graph's tables read in one snapshot
and written into another schema in one transaction give the same rows, rebuilt search, and keys that go on past
the copied ones; a copy that breaks a reference writes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from node.store import StoreError
from node.store.postgres.copy import PgTableCopy
from node.store.postgres.store import PgServerStore
from tests.conftest import T0
from tests.node.store.postgres.test_export_parity import _populate

Tables = dict[str, list[tuple[Any, ...]]]


async def _read(copy: PgTableCopy) -> Tables:
    got: Tables = {}

    async def deliver(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        got.setdefault(table, []).extend(tuple(r) for r in rows)

    await copy.read_tables(await copy.shape(), deliver, batch=3)
    return got


async def test_a_graph_copied_table_by_table_is_the_same_graph(postgres_db_url: str) -> None:
    server = await PgServerStore.open(postgres_db_url)
    src = await server.open_graph(await server.create_graph("alice"))
    dst = await server.open_graph(await server.create_graph("copy"))
    try:
        await _populate(src)
        shape = await src.table_copy.shape()
        assert shape == await dst.table_copy.shape()
        assert "person_fts" not in shape and "schema_version" not in shape
        assert "last_interaction_jd" not in shape["person"]  # generated: the destination computes it

        async def fill(into: Any) -> None:
            await src.table_copy.read_tables(shape, into, batch=2)

        await dst.table_copy.write_tables(shape, fill)
        assert await _read(dst.table_copy) == await _read(src.table_copy)
        assert await dst.table_copy.count(shape) == await src.table_copy.count(shape)
        page = await dst.insights.search(
            "lovelace", circle=None, due_until=None, include_archived=False, now=T0, offset=0, limit=5
        )
        assert [p.id for p in page.items] == ["p_ada"]
        await dst.people.insert_person(
            person_id="p_new", fields={"display_name": "New"}, identities=[], now=T0
        )

        # a row naming a person that is not there: nothing of the copy is written
        async def broken(into: Any) -> None:
            await into("note", ("pk", "id", "person_pk", "body", "created_at", "updated_at"),
                       [(99, "n_x", 12345, "orphan", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z")])  # fmt: skip

        before = await _read(dst.table_copy)
        with pytest.raises(StoreError, match="note"):
            await dst.table_copy.write_tables({"note": shape["note"]}, broken)
        assert await _read(dst.table_copy) == before
    finally:
        await src.close()
        await dst.close()
        await server.close()
