"""A value an older version stored unchecked (a date that is not a date, a negative count, control characters)
must not make listing, search, stay-in-touch, export or a person's page fail for good: each is read around.
A restore of such an export is refused, naming the row."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from node.config import load_config
from node.context import AccountContext
from node.errors import BadInput
from node.exporting import people_csv, vcards
from node.graph import Graph
from node.store.sqlite.db import Database
from node.store.sqlite.store import SqliteGraphStore
from tests.conftest import Api, FixedClock, run_cli

#: (table, column, value) as an older version could have left them; no CHECK constraint refuses any of them.
BAD: list[tuple[str, str, Any]] = [
    ("person", "last_interaction_at", "garbage"),
    ("person", "due_at", "garbage"),
    ("person", "birthday", "nope"),
    ("person", "birthday", "--13-45"),
    ("person", "met_on", "13/13/13"),
    ("person", "created_at", "x"),
    ("person", "interaction_count", -5),
    ("person", "initiated_by_them", -1),
    ("person", "photo_url", "javascript:alert(1)"),
    ("person", "display_name", "Ann\x07\x00Lee"),
    ("interaction", "occurred_at", "garbage"),
]


async def _plant(graph: Graph, values: list[tuple[str, str, Any]]) -> str:
    """Ann (in a circle with a cadence, one interaction), Bob beside her; then Ann's rows take ``values``."""
    ann = await graph.create_person({"display_name": "Ann Lee", "circles": ["club"], "cadence_days": 7})
    await graph.create_person({"display_name": "Bob Ray"})
    await graph.log_interaction({"people": [ann.id], "initiated_by": "them"})

    async def write(conn: Any) -> None:
        for table, column, value in values:
            if table == "person":
                await conn.execute(f"UPDATE person SET {column} = ? WHERE id = ?", (value, ann.id))
            else:
                await conn.execute(f"UPDATE {table} SET {column} = ?", (value,))

    await graph.store.db.write(write)
    return ann.id


async def _read_everything(graph: Graph, ann: str) -> None:
    for order in ("strength", "name", "recent", "created"):
        assert ann in [p.id for p in (await graph.list_people(order=order)).items]
    await graph.search("ann")
    await graph.search("lee", circle="club", due_within_days=3650)
    await graph.due(within_days=3650)
    await graph.fading()
    await graph.layers()
    person = await graph.get_person(ann)
    assert person.tie_strength is not None and person.tie_strength_parts
    await graph.interactions(ann)
    doc = await graph.export_json()
    assert doc["tables"]["person"]["rows"]
    assert "BEGIN:VCARD" in await vcards(graph)
    assert (await people_csv(graph)).count("\r\n") == 3


@pytest.mark.parametrize(("table", "column", "value"), BAD, ids=[f"{t}.{c}={v!r}" for t, c, v in BAD])
async def test_each_bad_value_is_read_around(
    ctx: AccountContext, table: str, column: str, value: Any
) -> None:
    ann = await _plant(ctx.graph, [(table, column, value)])
    await _read_everything(ctx.graph, ann)


async def test_all_of_them_at_once_over_the_api(api: Api) -> None:
    ann = await _plant(api.ctx.graph, BAD)
    for path in (
        "/api/people",
        "/api/people?order=recent",
        "/api/people?order=name",
        f"/api/people/{ann}",
        f"/api/people/{ann}/interactions",
        "/api/search?q=ann",
        "/api/due?within_days=3650",
        "/api/fading",
        "/api/layers",
        "/api/export?format=json",
        "/api/export?format=vcard",
        "/api/export?format=csv",
    ):
        status, _ = await api.get(path)
        assert status == 200, path


async def test_all_of_them_at_once_from_the_cli(data_dir: Path, clock: FixedClock) -> None:
    ctx = await AccountContext.open(load_config(data_dir, env={}), clock=clock, load_keys=False)
    try:
        ann = await _plant(ctx.graph, BAD)
    finally:
        await ctx.close()
    for argv in (
        ("people", "list"),
        ("people", "list", "--order", "recent"),
        ("people", "search", "ann"),
        ("people", "show", ann),
        ("due", "--within", "3650"),
        ("export", "--format", "vcard"),
        ("export", "--format", "csv"),
    ):
        result = await asyncio.to_thread(run_cli, "--data", data_dir, *argv)
        assert result.code == 0, (argv, result.err)


async def test_their_export_is_refused_by_restore_naming_the_row(ctx: AccountContext, tmp_path: Path) -> None:
    ann = await _plant(ctx.graph, [("person", "last_interaction_at", "garbage")])
    doc = await ctx.graph.export_json()
    db = await Database.open(tmp_path / "other.sqlite3")
    try:
        with pytest.raises(BadInput) as info:
            await Graph(SqliteGraphStore.of(db), FixedClock()).import_json(json.loads(json.dumps(doc)))
    finally:
        await db.close()
    assert info.value.field == "person.last_interaction_at"
    assert ann in info.value.message
