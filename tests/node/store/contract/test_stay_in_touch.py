"""Stay in touch: cadences (the person's own wins over circles), due ordering, fading, tie strength, layers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from node.errors import BadInput
from node.graph import Graph, iso
from tests.conftest import T0, FixedClock

pytestmark = pytest.mark.part("insights", "people")


async def test_interaction_resets_the_clock(graph: Graph, clock: FixedClock) -> None:
    p = await graph.create_person({"display_name": "Pat", "cadence_days": 14})
    assert p.due_at == iso(T0 + timedelta(days=14))
    clock.advance(days=20)
    due = await graph.due()
    assert [e.person.id for e in due.items] == [p.id]
    assert due.items[0].days_overdue == pytest.approx(6.0)
    await graph.log_interaction({"people": [p.id]})
    after = await graph.get_person(p.id)
    assert after.due_at == iso(clock() + timedelta(days=14))
    assert (await graph.due()).items == ()
    # An older interaction logged late does not move the clock back.
    await graph.log_interaction({"people": [p.id], "occurred_at": iso(T0)})
    assert (await graph.get_person(p.id)).due_at == after.due_at


async def test_person_cadence_wins_over_circle(graph: Graph) -> None:
    p = await graph.create_person({"display_name": "P", "circles": ["close"]})
    q = await graph.create_person({"display_name": "Q", "circles": ["close", "wide"]})
    assert p.due_at is None
    await graph.create_circle("close", 30)
    await graph.set_circle_cadence("wide", 7)
    p1, q1 = await graph.get_person(p.id), await graph.get_person(q.id)
    assert p1.effective_cadence_days == 30
    assert q1.effective_cadence_days == 7  # the shortest of their circles
    p2 = await graph.set_person_cadence(p.id, 90)
    assert p2.effective_cadence_days == 90 and p2.due_at == iso(T0 + timedelta(days=90))
    await graph.set_circle_cadence("close", 2)
    assert (await graph.get_person(p.id)).effective_cadence_days == 90
    cleared = await graph.set_person_cadence(p.id, None)
    assert cleared.effective_cadence_days == 2
    await graph.set_membership(p.id, "close", member=False)
    assert (await graph.get_person(p.id)).due_at is None
    await graph.delete_circle("wide")
    assert (await graph.get_person(q.id)).effective_cadence_days == 2
    with pytest.raises(BadInput) as info:
        await graph.set_circle_cadence("close", -3)
    assert info.value.field == "cadence_days"


async def test_due_ordering_and_window(graph: Graph, clock: FixedClock) -> None:
    # cadences 5, 10, 20, 40 days, all last touched at T0.
    people = {}
    for days in (20, 5, 40, 10):
        people[days] = (await graph.create_person({"display_name": f"every {days}", "cadence_days": days})).id
    await graph.create_person({"display_name": "no cadence"})
    clock.advance(days=15)
    due = await graph.due()
    assert [e.person.id for e in due.items] == [people[5], people[10]]  # most overdue first
    assert [e.days_overdue for e in due.items] == [10.0, 5.0]
    within = await graph.due(within_days=10)
    assert [e.person.id for e in within.items] == [people[5], people[10], people[20]]
    assert within.items[-1].days_overdue == -5.0
    everyone = await graph.due(within_days=365)
    assert [e.person.display_name for e in everyone.items] == ["every 5", "every 10", "every 20", "every 40"]
    page1 = await graph.due(within_days=365, limit=3)
    assert page1.next_offset == 3
    page2 = await graph.due(within_days=365, offset=3, limit=3)
    assert [e.person.id for e in page2.items] == [people[40]] and page2.next_offset is None
    with pytest.raises(BadInput) as info:
        await graph.due(within_days="soon")
    assert info.value.field == "within_days"


async def test_fading_with_generated_history(graph: Graph, clock: FixedClock) -> None:
    """Weekly contact for a year, then silence: fading. Weekly contact throughout: not. Rare contact: not."""
    start = T0 - timedelta(days=450)
    fading = (await graph.create_person({"display_name": "Faded"})).id
    steady = (await graph.create_person({"display_name": "Steady"})).id
    rare = (await graph.create_person({"display_name": "Rare"})).id
    slowing = (await graph.create_person({"display_name": "Slowing"})).id
    for week in range(64):
        when = start + timedelta(days=7 * week)
        if when > T0:
            break
        recent = when >= T0 - timedelta(days=90)
        people = [steady]
        if not recent:
            people.append(fading)
            people.append(slowing)
        elif week % 6 == 0:
            people.append(slowing)  # a few touches lately, far below the weekly past
        if week % 20 == 0:
            people.append(rare)
        await graph.log_interaction({"people": people, "occurred_at": iso(when)})
    entries = await graph.fading()
    ids = [e.person.id for e in entries]
    assert set(ids) == {fading, slowing}
    assert ids[0] == fading  # the biggest drop first
    first = entries[0]
    assert first.recent_rate == 0 and first.past_rate > 10
    # Only active people are listed: archiving someone takes them off.
    await graph.archive(slowing)
    assert [e.person.id for e in await graph.fading()] == [fading]
    await graph.archive(slowing, archived=False)
    # Contact again brings them back above the line.
    for _ in range(6):
        await graph.log_interaction({"people": [fading]})
    assert fading not in [e.person.id for e in await graph.fading()]


async def test_tie_strength_orders_people(graph: Graph, clock: FixedClock) -> None:
    close = (await graph.create_person({"display_name": "Close", "priority": 2})).id
    recent = (await graph.create_person({"display_name": "Recent"})).id
    old = (await graph.create_person({"display_name": "Old"})).id
    stranger = (await graph.create_person({"display_name": "Stranger"})).id
    for d in range(10):
        by = "them" if d % 2 else "owner"
        await graph.log_interaction(
            {"people": [close], "occurred_at": iso(T0 - timedelta(days=d)), "initiated_by": by}
        )
    await graph.log_interaction({"people": [recent], "occurred_at": iso(T0 - timedelta(days=1))})
    await graph.log_interaction({"people": [old], "occurred_at": iso(T0 - timedelta(days=400))})
    page = await graph.list_people()
    order = [p.id for p in page.items]
    assert order == [close, recent, old, stranger]
    strengths = [p.tie_strength for p in page.items]
    assert strengths == sorted(strengths, reverse=True)  # type: ignore[type-var]
    assert all(s is not None and 0 <= s <= 1 for s in strengths)
    assert page.items[-1].tie_strength == 0
    # Priority alone moves a person up.
    await graph.update_person(stranger, {"priority": 3})
    order = [p.id for p in (await graph.list_people()).items]
    assert order.index(stranger) < order.index(old)


async def test_dunbar_layers_warn_over_budget(graph: Graph) -> None:
    for i in range(6):
        await graph.create_person({"display_name": f"Inner {i}", "cadence_days": 7})
    for i in range(3):
        await graph.create_person({"display_name": f"Mid {i}", "cadence_days": 30})
    await graph.create_person({"display_name": "Outer", "cadence_days": 200})
    archived = await graph.create_person({"display_name": "Gone", "cadence_days": 7})
    await graph.archive(archived.id)
    layers = {layer.name: layer for layer in await graph.layers()}
    assert [layer.budget for layer in layers.values()] == [5, 15, 50, 150]
    inner = layers["support clique"]
    assert inner.count == 6 and inner.over_budget
    assert layers["sympathy group"].count == 9 and not layers["sympathy group"].over_budget
    assert layers["active network"].count == 10
