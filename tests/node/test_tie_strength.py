"""Tie strength is explained where one person is shown (graph, owner API, CLI): the score lists order by and its
parts, read from the same expressions, adding up to the score."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from node.config import load_config
from node.context import AccountContext
from node.graph import Graph
from tests.conftest import Api, FixedClock, run_cli

PARTS = ["recency", "frequency", "reciprocity", "priority"]


async def _people(graph: Graph, clock: FixedClock) -> dict[str, str]:
    """Ann: 5 interactions, the last 30 days ago, she started 1 of 4 with a starter; priority 3.
    Bob: never in touch, priority 0. Cy: one interaction today, started by the owner; priority 1."""
    ann = await graph.create_person({"display_name": "Ann", "priority": 3})
    bob = await graph.create_person({"display_name": "Bob"})
    cy = await graph.create_person({"display_name": "Cy", "priority": 1})
    start = clock()
    for by in ("them", "owner", "owner", "owner", "unknown"):
        await graph.log_interaction(
            {"people": [ann.id], "initiated_by": by, "occurred_at": start.isoformat()}
        )
    clock.advance(days=30)
    await graph.log_interaction({"people": [cy.id]})
    return {"ann": ann.id, "bob": bob.id, "cy": cy.id}


async def test_the_parts_are_the_score_lists_order_by(ctx: AccountContext, clock: FixedClock) -> None:
    g = ctx.graph
    ids = await _people(g, clock)
    listed = {p.id: p.tie_strength for p in (await g.list_people(order="strength")).items}
    order = [p.id for p in (await g.list_people(order="strength")).items]
    shown = {name: await g.get_person(pid) for name, pid in ids.items()}
    for person in shown.values():
        assert person.tie_strength == listed[person.id]
        assert person.tie_strength_parts is not None
        assert [part.name for part in person.tie_strength_parts] == PARTS
        assert sum(part.weight for part in person.tie_strength_parts) == pytest.approx(1.0)
        assert sum(part.points for part in person.tie_strength_parts) == pytest.approx(
            person.tie_strength, abs=1e-3
        )
        for part in person.tie_strength_parts:
            assert part.points == pytest.approx(part.value * part.weight, abs=1e-4) and 0 <= part.value <= 1
    assert order == sorted(order, key=lambda pid: -(listed[pid] or 0))
    ann = {part.name: part for part in shown["ann"].tie_strength_parts or ()}
    # 30 days since the last: half; 5 interactions: 5/(5+5); 1 of 4 started by her: 2*1/4; priority 3 of 3.
    assert [ann[n].value for n in PARTS] == pytest.approx([0.5, 0.5, 0.5, 1.0], abs=1e-3)
    assert ann["recency"].detail == "last in touch 30 days ago"
    assert ann["frequency"].detail == "5 interactions"
    assert ann["reciprocity"].detail == "they started 1, you started 3"
    assert ann["priority"].detail == "priority 3 of 3"
    bob = {part.name: part for part in shown["bob"].tie_strength_parts or ()}
    assert bob["recency"].value == 0 and bob["recency"].detail == "never in touch"
    assert shown["bob"].tie_strength == 0.0


async def test_the_api_shows_the_score_and_its_parts(api: Api, clock: FixedClock) -> None:
    ids = await _people(api.ctx.graph, clock)
    status, page = await api.get("/api/people")
    assert status == 200
    listed = {p["id"]: p["tie_strength"] for p in page["items"]}
    status, ann = await api.get(f"/api/people/{ids['ann']}")
    assert status == 200
    assert ann["tie_strength"] == listed[ids["ann"]]
    assert [p["name"] for p in ann["tie_strength_parts"]] == PARTS
    assert set(ann["tie_strength_parts"][0]) == {"name", "weight", "value", "points", "detail", "rule"}
    assert sum(p["points"] for p in ann["tie_strength_parts"]) == pytest.approx(ann["tie_strength"], abs=1e-3)
    # A changed person comes back in the same shape as one read.
    status, changed = await api.patch(f"/api/people/{ids['ann']}", {"title": "Engineer"})
    assert status == 200 and changed["tie_strength_parts"] == ann["tie_strength_parts"]


async def test_people_show_prints_the_score_and_its_parts(data_dir: Path, clock: FixedClock) -> None:
    ctx = await AccountContext.open(load_config(data_dir, env={}), clock=clock, load_keys=False)
    try:
        ids = await _people(ctx.graph, clock)
    finally:
        await ctx.close()  # the CLI opens the folder itself, on the real clock
    result = await asyncio.to_thread(run_cli, "--data", data_dir, "people", "show", ids["ann"])
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    (total,) = [line for line in lines if line.strip().startswith("tie strength")]
    assert all(f"{name} " in total for name in PARTS)
    assert any("priority 3 of 3" in line for line in lines) and any(
        "5 interactions" in line for line in lines
    )
    shown = json.loads(
        (await asyncio.to_thread(run_cli, "--data", data_dir, "people", "show", ids["ann"], "--json")).out
    )
    assert [p["name"] for p in shown["tie_strength_parts"]] == PARTS
    listed = json.loads(
        (await asyncio.to_thread(run_cli, "--data", data_dir, "people", "list", "--json")).out
    )
    listed_ann = {p["id"]: p["tie_strength"] for p in listed["items"]}[ids["ann"]]
    assert listed_ann == pytest.approx(shown["tie_strength"], abs=1e-3)  # read a moment apart
