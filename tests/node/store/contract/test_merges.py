"""Merging people: nothing lost, evidence and decision recorded, undo restores both exactly; suggestions."""

from __future__ import annotations

from typing import Any

import pytest

from node.errors import Conflict, NotFound
from node.graph import Graph
from node.models import as_json
from tests.conftest import FixedClock

pytestmark = pytest.mark.part("merges", "people")


async def full(graph: Graph, person_id: str) -> dict[str, Any]:
    """Everything the owner can see of one person (but the tie strength, which is read against the clock)."""
    person = as_json(await graph.get_person(person_id))
    person.pop("tie_strength")
    person.pop("tie_strength_parts")
    return {
        "person": person,
        "notes": as_json(await graph.notes(person_id)),
        "relationships": sorted(as_json(await graph.relationships(person_id)), key=lambda r: r["id"]),
        "interactions": as_json((await graph.interactions(person_id, limit=500)).items),
    }


async def _pair(graph: Graph, clock: FixedClock) -> tuple[str, str, str]:
    s = await graph.create_person(
        {
            "display_name": "Robert Smith",
            "organization": "Acme",
            "identities": ["acct:bob@social.example", "mailto:bob@acme.example"],
            "cadence_days": 30,
            "circles": ["work"],
            "notes": ["met at the conference"],
        }
    )
    m = await graph.create_person(
        {
            "display_name": "Bob S.",
            "nickname": "Bobby",
            "birthday": "1980-02-03",
            "priority": 2,
            "identities": ["https://x.com/bobsmith", "tel:+12025550101"],
            "circles": ["friends", "work"],
            "notes": ["likes jazz", "has two cats"],
        }
    )
    other = await graph.create_person({"display_name": "Carol"})
    clock.advance(days=3)
    await graph.log_interaction({"people": [s.id], "channel": "email", "summary": "s only"})
    clock.advance(days=1)
    await graph.log_interaction(
        {"people": [m.id], "channel": "call", "initiated_by": "them", "summary": "m only"}
    )
    await graph.log_interaction(
        {"people": [s.id, m.id, other.id], "channel": "meeting", "summary": "all three"}
    )
    await graph.add_relationship(m.id, {"type": "friend", "since": "2001-01-01"})
    await graph.add_relationship(m.id, {"type": "colleague", "other_person_id": other.id})
    await graph.add_relationship(other.id, {"type": "sibling", "other_person_id": m.id})
    await graph.add_relationship(s.id, {"type": "customer"})
    await graph.add_relationship(s.id, {"type": "met", "other_person_id": m.id})
    clock.advance(days=1)
    return s.id, m.id, other.id


async def test_merge_keeps_everything_and_records_evidence(graph: Graph, clock: FixedClock) -> None:
    s, m, _other = await _pair(graph, clock)
    before_s, before_m = await full(graph, s), await full(graph, m)
    record = await graph.merge(s, m, evidence=[{"kind": "owner", "detail": "same Bob"}])
    assert record.survivor == s and record.merged == m and record.decided_by == "owner"
    assert record.evidence == ({"kind": "owner", "detail": "same Bob"},)
    merged_view = await graph.get_person(m)
    assert merged_view.status == "merged" and merged_view.merged_into == s
    survivor = await graph.get_person(s)
    uris = {i.uri for i in survivor.identities}
    assert uris == {i["uri"] for i in before_s["person"]["identities"]} | {
        i["uri"] for i in before_m["person"]["identities"]
    }
    assert set(survivor.circles) == {"work", "friends"}
    assert {n.body for n in await graph.notes(s)} == {"met at the conference", "likes jazz", "has two cats"}
    summaries = {i.summary for i in (await graph.interactions(s)).items}
    assert summaries == {"s only", "m only", "all three"}
    assert survivor.interaction_count == 3
    rel_types = {r.type for r in await graph.relationships(s)}
    assert {"friend", "colleague", "sibling", "customer", "met"} <= rel_types
    # Empty fields are filled from the merged person, set ones kept; the higher priority wins.
    assert survivor.display_name == "Robert Smith" and survivor.organization == "Acme"
    assert survivor.nickname == "Bobby" and survivor.birthday == "1980-02-03" and survivor.priority == 2
    # The merged person leaves lists and search but stays resolvable; the survivor is found by their words.
    assert m not in [p.id for p in (await graph.list_people(limit=100)).items]
    assert [p.id for p in (await graph.search("jazz")).items] == [s]
    assert [p.id for p in (await graph.search("bobsmith")).items] == [s]
    assert [r.id for r in await graph.merges(m)] == [record.id]
    with pytest.raises(NotFound):
        await graph.merge(s, m)  # already merged away
    with pytest.raises(Conflict):
        await graph.merge(s, s)


async def test_undo_restores_both_exactly(graph: Graph, clock: FixedClock) -> None:
    s, m, other = await _pair(graph, clock)
    before = {pid: await full(graph, pid) for pid in (s, m, other)}
    circles_before = as_json(await graph.circles())
    record = await graph.merge(s, m)
    clock.advance(days=2)
    undone = await graph.unmerge(record.id)
    assert undone.undone_at == "2026-11-29T12:00:00Z"
    after = {pid: await full(graph, pid) for pid in (s, m, other)}
    assert after == before
    assert as_json(await graph.circles()) == circles_before
    assert [p.id for p in (await graph.search("jazz")).items] == [m]
    assert [p.id for p in (await graph.search("conference")).items] == [s]
    with pytest.raises(Conflict):
        await graph.unmerge(record.id)
    with pytest.raises(NotFound):
        await graph.unmerge("m_nope")


async def test_after_merge_additions_stay_with_survivor(graph: Graph, clock: FixedClock) -> None:
    s, m, _ = await _pair(graph, clock)
    before_m = await full(graph, m)
    record = await graph.merge(s, m)
    clock.advance(days=1)
    later = await graph.log_interaction({"people": [s], "summary": "after the merge"})
    note = await graph.add_note(s, "written after the merge")
    await graph.add_identity(s, "acct:bob@second.example")
    await graph.unmerge(record.id)
    assert await full(graph, m) == before_m
    sv = await full(graph, s)
    assert later.id in [i["id"] for i in sv["interactions"]]
    assert note.id in [n["id"] for n in sv["notes"]]
    assert "acct:bob@second.example" in [i["uri"] for i in sv["person"]["identities"]]
    assert sv["person"]["last_interaction_at"] == later.occurred_at
    assert sv["person"]["interaction_count"] == 3  # s only, all three, after the merge


async def test_chained_merges_undo_in_order(graph: Graph, clock: FixedClock) -> None:
    a = (await graph.create_person({"display_name": "A", "identities": ["acct:a@x.example"]})).id
    b = (await graph.create_person({"display_name": "B", "identities": ["acct:b@x.example"]})).id
    c = (await graph.create_person({"display_name": "C", "identities": ["acct:c@x.example"]})).id
    before = {pid: await full(graph, pid) for pid in (a, b, c)}
    first = await graph.merge(b, a)  # a into b
    second = await graph.merge(c, b)  # b (holding a) into c
    assert {i.uri for i in (await graph.get_person(c)).identities} == {
        "acct:a@x.example",
        "acct:b@x.example",
        "acct:c@x.example",
    }
    with pytest.raises(Conflict) as info:
        await graph.unmerge(first.id)
    assert second.id in info.value.message
    await graph.unmerge(second.id)
    await graph.unmerge(first.id)
    assert {pid: await full(graph, pid) for pid in (a, b, c)} == before


async def test_suggestions_tiers_and_evidence(graph: Graph) -> None:
    # Same handle on two silos: suggested, with evidence naming the handle.
    x = await graph.create_person({"display_name": "Dana Q", "identities": ["https://x.com/danaquinn"]})
    f = await graph.create_person({"display_name": "D.", "identities": ["acct:danaquinn@mastodon.example"]})
    # Names alone: only ever "ask".
    n1 = await graph.create_person({"display_name": "Jordan Example"})
    n2 = await graph.create_person({"display_name": "jordan  EXAMPLE", "organization": "Other"})
    # A one-word name is not even asked about.
    await graph.create_person({"display_name": "Sam"})
    await graph.create_person({"display_name": "Sam"})
    new = await graph.suggest_merges()
    page = await graph.suggestions()
    by_pair = {frozenset((s.a, s.b)): s for s in page.items}
    assert new == len(page.items) == 2
    handle = by_pair[frozenset((x.id, f.id))]
    assert handle.tier == "suggested"
    assert {"kind": "handle", "detail": "danaquinn"} in handle.evidence
    names = by_pair[frozenset((n1.id, n2.id))]
    assert names.tier == "ask" and [e["kind"] for e in names.evidence] == ["name"]
    assert all(s.tier != "automatic" for s in page.items)
    # Suggestions come strongest first.
    assert [s.tier for s in page.items] == ["suggested", "ask"]
    # Running again finds nothing new and keeps the queue as it was.
    assert await graph.suggest_merges() == 0
    assert [s.id for s in (await graph.suggestions()).items] == [s.id for s in page.items]
    # Dismissed stays dismissed; accepting merges with the evidence recorded.
    await graph.dismiss_suggestion(names.id)
    await graph.suggest_merges()
    assert [s.id for s in (await graph.suggestions()).items] == [handle.id]
    record = await graph.accept_suggestion(handle.id)
    assert {"kind": "suggestion", "detail": handle.id} in record.evidence
    assert {"kind": "handle", "detail": "danaquinn"} in record.evidence
    assert (await graph.suggestions(status="merged")).items[0].id == handle.id
    with pytest.raises(Conflict):
        await graph.accept_suggestion(handle.id)
    # Undo reopens it.
    await graph.unmerge(record.id)
    assert [s.id for s in (await graph.suggestions()).items] == [handle.id]


async def test_names_alone_never_reach_suggested(graph: Graph) -> None:
    for i in range(3):
        await graph.create_person({"display_name": "Alex Morgan", "organization": f"Org {i}"})
    await graph.suggest_merges()
    page = await graph.suggestions()
    assert len(page.items) == 3
    assert {s.tier for s in page.items} == {"ask"}


async def test_undo_does_not_take_rows_that_reuse_a_deleted_rows_id(graph: Graph) -> None:
    """SQLite reuses the highest row id after a delete: undo must follow the rows, not their row ids."""
    a = (await graph.create_person({"display_name": "A"})).id
    b = (
        await graph.create_person(
            {"display_name": "B", "notes": ["b's note"], "identities": ["acct:b@x.example"]}
        )
    ).id
    only_b = await graph.log_interaction({"people": [b], "summary": "b alone"})
    record = await graph.merge(a, b)
    (moved,) = [n for n in await graph.notes(a) if n.body == "b's note"]
    await graph.delete_note(moved.id)
    await graph.remove_identity(a, "acct:b@x.example")
    await graph.delete_interaction(only_b.id)
    new_note = await graph.add_note(a, "written after the merge")
    await graph.add_identity(a, "acct:new@x.example")
    new_item = await graph.log_interaction({"people": [a], "summary": "after the merge"})
    await graph.unmerge(record.id)
    assert [n.id for n in await graph.notes(a)] == [new_note.id]
    assert [i.uri for i in (await graph.get_person(a)).identities] == ["acct:new@x.example"]
    assert [i.id for i in (await graph.interactions(a)).items] == [new_item.id]
    assert await graph.notes(b) == []
    assert (await graph.get_person(b)).identities == ()
    assert (await graph.interactions(b)).items == ()
