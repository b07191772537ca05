"""Every table of an account, out and back in (node/store/export.py), on every backend: an export restored into
an empty graph exports the same again; a restore is all or nothing, never into a graph that holds anything, and
takes no derived value from the document."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from node.errors import BadInput, Conflict
from node.graph import Graph
from node.store import GraphStore, ServerStore
from node.store.export import GRAPH_EXPORT_TABLES, ExportedTable, ExportSnapshot
from tests.conftest import T0, FixedClock
from tests.node.export_helpers import populate_graph

pytestmark = pytest.mark.part(
    "export", "people", "imports", "capture", "links", "messages", "outreach", "misc", "merges", "insights"
)


async def _second(server_store: ServerStore) -> GraphStore:
    return await server_store.open_graph(await server_store.create_graph("bob"))


def _tables(snap: ExportSnapshot) -> dict[str, ExportedTable]:
    return {
        name: ExportedTable(columns=t.columns, rows=copy.deepcopy(t.rows)) for name, t in snap.tables.items()
    }


async def _populated(graph: Graph, tmp_path: Path, clock: FixedClock) -> ExportSnapshot:
    await populate_graph(graph, tmp_path, clock)
    await graph.store.links.put(
        source="mastodon", account="ann", base_url="https://m.example", secret="s", now=T0
    )
    await graph.store.links.set_cursor("mastodon", "ann", "following", {"max_id": "7"}, T0)
    await graph.store.misc.meta_set("card", '{"name": "Ann"}')
    return await graph.store.export.export_all(["card", "not_set"])


async def test_an_export_restored_exports_the_same(
    graph: Graph, server_store: ServerStore, tmp_path: Path, clock: FixedClock
) -> None:
    first = await _populated(graph, tmp_path, clock)
    assert set(first.tables) == set(GRAPH_EXPORT_TABLES)
    assert first.meta == {"card": '{"name": "Ann"}', "not_set": None}
    assert len(first.tables["person"].rows) >= 6 and first.tables["merge_log"].rows
    other = await _second(server_store)
    try:
        counts = await other.export.import_all(
            _tables(first), {"card": '{"name": "Ann"}'}, meta_keys=["card"]
        )
        assert counts["person"] == len(first.tables["person"].rows)
        again = await other.export.export_all(["card", "not_set"])
        assert again == first
        # What the graph reads from it is the same too: search, the due list, the merge history and its undo.
        copy_graph = Graph(other, clock)
        assert [p.display_name for p in (await copy_graph.search("ada")).items] == ["Ada Lovelace"]
        assert (await copy_graph.due(within_days=60)).items == (await graph.due(within_days=60)).items
        (merge,) = await copy_graph.merges()
        await copy_graph.unmerge(merge.id)
        assert [p.display_name for p in (await copy_graph.search("merged away")).items] == ["Merged Away"]
    finally:
        await other.close()


async def test_a_restore_refuses_a_graph_that_holds_anything(
    graph: Graph, server_store: ServerStore, tmp_path: Path, clock: FixedClock
) -> None:
    first = await _populated(graph, tmp_path, clock)
    other = await _second(server_store)
    try:
        await other.misc.block("acct:x@ex.org", "owner", T0)
        with pytest.raises(Conflict):
            await other.export.import_all(_tables(first), {})
        await other.misc.unblock("acct:x@ex.org")
        await other.misc.meta_set("card", "{}")
        with pytest.raises(Conflict):
            await other.export.import_all(_tables(first), {"card": "{}"}, meta_keys=["card"])
        assert (await other.export.export_all()).tables["person"].rows == []
    finally:
        await other.close()


@pytest.mark.parametrize(
    "damage", ["dangling", "duplicate", "unknown column", "unknown table", "repeated column"]
)
async def test_a_bad_document_is_refused_whole(
    graph: Graph, server_store: ServerStore, tmp_path: Path, clock: FixedClock, damage: str
) -> None:
    """Whatever is wrong, late in the document or early, nothing of it is written."""
    tables = _tables(await _populated(graph, tmp_path, clock))
    if damage == "dangling":  # the last note names a person that is not there
        note = tables["note"]
        note.rows[-1][note.columns.index("person_pk")] = 999_999
    elif damage == "duplicate":  # two identities with one address
        ident = tables["identity"]
        twin = list(ident.rows[0])
        twin[ident.columns.index("pk")] = 999_999
        ident.rows.append(twin)
    elif damage == "unknown column":
        t = tables["blocked_address"]
        tables["blocked_address"] = ExportedTable(
            columns=(*t.columns, "pwned"), rows=[[*r, 1] for r in t.rows]
        )
    elif damage == "unknown table":
        tables["sqlite_master"] = ExportedTable(columns=("name",), rows=[["x"]])
    else:
        t = tables["circle"]
        tables["circle"] = ExportedTable(
            columns=(*t.columns, t.columns[0]), rows=[[*r, r[0]] for r in t.rows]
        )
    other = await _second(server_store)
    try:
        with pytest.raises((BadInput, Conflict)):
            await other.export.import_all(tables, {"card": "{}"}, meta_keys=["card"])
        after = await other.export.export_all(["card"])
        assert all(not t.rows for t in after.tables.values()) and after.meta == {"card": None}
    finally:
        await other.close()


async def test_derived_values_are_computed_again_not_taken(
    graph: Graph, server_store: ServerStore, tmp_path: Path, clock: FixedClock
) -> None:
    snap = await _populated(graph, tmp_path, clock)
    tables = _tables(snap)
    person = tables["person"]
    cols = person.columns
    for row in person.rows:
        if row[cols.index("status")] != "merged":
            row[cols.index("interaction_count")] = 1000
            row[cols.index("due_at")] = "1999-01-01T00:00:00Z"
    other = await _second(server_store)
    try:
        await other.export.import_all(tables, {})
        assert (await other.export.export_all()).tables["person"] == snap.tables["person"]
    finally:
        await other.close()
