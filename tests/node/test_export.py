"""Export: JSON → import into an empty node → JSON again is identical; vCard 4.0 parses back; hostile imports."""

from __future__ import annotations

import asyncio
import copy
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bridges.base import ContactDraft
from bridges.vcard import VCardBridge
from node.context import AccountContext
from node.errors import BadInput, Conflict
from node.exporting import vcards
from node.graph import Graph
from node.store import Database, GraphStore
from tests.conftest import FixedClock


async def _populate(graph: Graph, clock: FixedClock) -> dict[str, str]:
    # The survivor is created after the merged person, so its row id is the higher one.
    m = await graph.create_person(
        {"display_name": "Merged Away", "identities": ["acct:away@ex.org"], "notes": ["old note"]}
    )
    a = await graph.create_person(
        {
            "display_name": "Ada Lovelace",
            "given_name": "Ada",
            "family_name": "Lovelace",
            "organization": "Engines Ltd",
            "title": "Analyst",
            "birthday": "1815-12-10",
            "identities": [
                "acct:ada@math.example",
                "mailto:ada@engines.example",
                "tel:+442079460958",
                "https://ada.example/",
                "https://x.com/ada",
            ],
            "circles": ["science", "friends"],
            "notes": ["likes poetry"],
            "cadence_days": 30,
            "priority": 2,
        }
    )
    b = await graph.create_person({"display_name": "Charles Babbage", "birthday": "--02-29"})
    await graph.add_identity(
        b.id, "acct:cb@math.example", verification="two-way", source="mastodon", source_record_id="9"
    )
    clock.advance(days=1)
    await graph.log_interaction({"people": [a.id, b.id], "channel": "meeting", "summary": "engine talk"})
    await graph.add_relationship(a.id, {"type": "colleague", "other_person_id": b.id, "since": "1833-06-05"})
    await graph.create_circle("empty circle", 90)
    rec = await graph.merge(a.id, m.id)
    await graph.suggest_merges()
    await graph.block("acct:spam@bad.example")
    archived = await graph.create_person({"display_name": "Archived One"})
    await graph.archive(archived.id)
    return {"a": a.id, "b": b.id, "m": m.id, "merge": rec.id}


def _set(doc: dict[str, Any], table: str, column: str, value: Any) -> None:
    """Point every row's COLUMN at VALUE (a row id nothing has)."""
    spec = doc["tables"][table]
    at = spec["columns"].index(column)
    for row in spec["rows"]:
        row[at] = value


def _strip(doc: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    out.pop("exported_at")
    return out


async def test_json_round_trip_is_lossless(ctx: AccountContext, clock: FixedClock, tmp_path: Path) -> None:
    ids = await _populate(ctx.graph, clock)
    first = await ctx.graph.export_json()
    assert first["format"] == "kith-export" and first["tables"]["person"]["rows"]
    db = await Database.open(tmp_path / "empty.sqlite3")
    try:
        other = Graph(GraphStore.sqlite(db), FixedClock(clock()))
        counts = await other.import_json(first)
        assert counts["person"] == len(first["tables"]["person"]["rows"])
        other.clock.advance(days=3)  # type: ignore[attr-defined]
        second = await other.export_json()
        assert _strip(second) == _strip(first)
        # The imported node works: search, the merge's undo, due.
        assert [p.id for p in (await other.search("poetry")).items] == [ids["a"]]
        await other.unmerge(ids["merge"])
        assert [p.id for p in (await other.search("away")).items] == [ids["m"]]
        # A second import into a node that now holds people is refused, whole.
        with pytest.raises(Conflict):
            await other.import_json(first)
    finally:
        await db.close()


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.update(format="something-else"), "format"),
        (lambda d: d["tables"].update(sqlite_master={"columns": [], "rows": []}), "tables"),
        (lambda d: d["tables"]["person"]["columns"].append("evil; DROP TABLE person"), "person"),
        (lambda d: d["tables"]["person"]["rows"][0].pop(), "person"),
        (lambda d: d["tables"]["note"]["rows"][0].__setitem__(0, {"nested": 1}), "note"),
        (
            lambda d: d["tables"]["identity"]["rows"].append(list(d["tables"]["identity"]["rows"][0])),
            "identity",
        ),
        (lambda d: _set(d, "identity", "person_pk", 999_999), "identity"),
        (lambda d: _set(d, "person", "merged_into", 999_999), "person"),
    ],
)
async def test_hostile_import_is_refused_whole(
    ctx: AccountContext, clock: FixedClock, tmp_path: Path, mutate: Any, field: str
) -> None:
    await _populate(ctx.graph, clock)
    doc = await ctx.graph.export_json()
    mutate(doc)
    db = await Database.open(tmp_path / "target.sqlite3")
    try:
        other = Graph(GraphStore.sqlite(db), FixedClock())
        with pytest.raises(BadInput) as info:
            await other.import_json(doc)
        assert info.value.field == field
        assert (await other.list_people()).total == 0
        assert await other.circles() == []
    finally:
        await db.close()


async def test_vcard_export_parses_back(ctx: AccountContext, clock: FixedClock, tmp_path: Path) -> None:
    ids = await _populate(ctx.graph, clock)
    text = await vcards(ctx.graph)
    assert text.count("BEGIN:VCARD") == 2  # active people only: Ada (with Merged Away inside) and Charles
    assert "VERSION:4.0" in text
    path = tmp_path / "people.vcf"
    path.write_text(text, encoding="utf-8")
    cards = {c.display_name: c for c in VCardBridge().parse_export(path) if isinstance(c, ContactDraft)}
    assert set(cards) == {"Ada Lovelace", "Charles Babbage"}
    ada = cards["Ada Lovelace"]
    assert ada.given_name == "Ada" and ada.family_name == "Lovelace"
    assert ada.organization == "Engines Ltd" and ada.title == "Analyst"
    assert ada.birthday == date(1815, 12, 10)
    assert set(ada.circles) == {"science", "friends"}
    assert set(ada.notes) == {"likes poetry", "old note"}
    person = await ctx.graph.get_person(ids["a"])
    exported = {ctx.graph.normalize(i.address, i.kind).uri for i in ada.identities}
    assert exported == {i.uri for i in person.identities}
    charles = cards["Charles Babbage"]
    assert charles.birthday is not None and (charles.birthday.month, charles.birthday.day) == (2, 29)


async def test_failed_import_spares_writes_batched_with_it(
    ctx: AccountContext, clock: FixedClock, tmp_path: Path
) -> None:
    await _populate(ctx.graph, clock)
    doc = await ctx.graph.export_json()
    _set(doc, "note", "person_pk", 424_242)
    db = await Database.open(tmp_path / "target.sqlite3")
    try:
        other = Graph(GraphStore.sqlite(db), FixedClock())
        results = await asyncio.gather(
            other.import_json(doc),
            other.create_circle("written beside a failing import"),
            return_exceptions=True,
        )
        assert isinstance(results[0], BadInput) and results[0].field == "note"
        assert [c.name for c in await other.circles()] == ["written beside a failing import"]
        assert (await other.list_people()).total == 0
        # Foreign keys are enforced again after the import.
        with pytest.raises(Exception, match="FOREIGN KEY"):
            await db.write(_orphan_note)
    finally:
        await db.close()


async def _orphan_note(conn: Any) -> None:
    await conn.execute(
        "INSERT INTO note (id, person_pk, body, created_at, updated_at) VALUES ('n', 77, 'b', 't', 't')"
    )
