"""People and what hangs on them, as every store must keep them (node/store/people.py): one transaction per
call, an identity belongs to one person, missing and merged people are NotFound, derived values follow their
rows, and nothing but a person's own fields can be set through ``fields``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from node.errors import Conflict, NotFound
from node.graph import Graph
from node.models import PERSON_FIELDS, Person
from node.store import GraphStore, IdentityInput, InteractionInput, RelationshipInput
from tests.conftest import T0, FixedClock

pytestmark = pytest.mark.part("people")


def ident(
    uri: str, kind: str = "acct", *, verification: str = "claimed", source: str = "owner"
) -> IdentityInput:
    return IdentityInput(
        uri=uri,
        kind=kind,
        display=uri.split(":", 1)[1],
        label=None,
        verification=verification,
        source=source,
        source_record_id=f"{source}-record",
    )


async def everyone(store: GraphStore, status: str = "active") -> list[Person]:
    page = await store.people.list_people(
        status=status, circle=None, order="created", offset=0, limit=500, now=T0
    )
    return list(page.items)


async def test_a_person_comes_back_as_written(store: GraphStore) -> None:
    p = await store.people.insert_person(
        person_id="p_ann",
        fields={"display_name": "Ann Example", "given_name": "Ann", "priority": 2, "birthday": "--04-01"},
        identities=[ident("acct:ann@ex.org"), ident("mailto:ann@ex.org", "email")],
        now=T0,
        circles=[("c_1", "friends")],
        notes=[("n_1", "likes tea")],
    )
    again = await store.people.get_person("p_ann")
    assert again == p
    assert (p.display_name, p.given_name, p.priority, p.birthday) == ("Ann Example", "Ann", 2, "--04-01")
    assert [i.uri for i in p.identities] == ["acct:ann@ex.org", "mailto:ann@ex.org"]
    assert p.circles == ("friends",) and p.status == "active" and p.created_at == "2026-11-22T12:00:00Z"
    assert [n.body for n in await store.people.list_notes("p_ann")] == ["likes tea"]
    changed = await store.people.update_person("p_ann", {"title": "Engineer", "priority": 3}, T0)
    assert (changed.title, changed.priority, changed.given_name) == ("Engineer", 3, "Ann")
    archived = await store.people.set_status("p_ann", "archived", T0)
    assert archived.status == "archived"
    assert [p.id for p in await everyone(store, "archived")] == ["p_ann"] and await everyone(store) == []


@pytest.mark.parametrize("key", ["pk", "id", "status", "merged_into", "due_at", "interaction_count", "x; --"])
async def test_only_a_persons_own_fields_can_be_set(store: GraphStore, key: str) -> None:
    """``fields`` names columns of the person: anything but PERSON_FIELDS (a row's key, its status, a value
    the store derives, an SQL fragment) is refused, not ignored and not written."""
    assert key not in PERSON_FIELDS
    with pytest.raises(ValueError):
        await store.people.insert_person(
            person_id="p_x", fields={"display_name": "X", key: "1"}, identities=[], now=T0
        )
    assert await everyone(store) == []
    await store.people.insert_person(person_id="p_x", fields={"display_name": "X"}, identities=[], now=T0)
    with pytest.raises(ValueError):
        await store.people.update_person("p_x", {key: "1"}, T0)
    assert (await store.people.get_person("p_x")).status == "active"


async def test_an_identity_belongs_to_one_person(store: GraphStore) -> None:
    await store.people.insert_person(
        person_id="p_a", fields={"display_name": "A"}, identities=[ident("acct:a@ex.org")], now=T0
    )
    # A new person naming it is refused whole: not the person, not the other identity.
    with pytest.raises(Conflict):
        await store.people.insert_person(
            person_id="p_b",
            fields={"display_name": "B"},
            identities=[ident("acct:fresh@ex.org"), ident("acct:a@ex.org")],
            now=T0,
        )
    assert await store.people.person_for_identity("acct:fresh@ex.org") is None
    assert [p.id for p in await everyone(store)] == ["p_a"]
    await store.people.insert_person(person_id="p_b", fields={"display_name": "B"}, identities=[], now=T0)
    with pytest.raises(Conflict):
        await store.people.add_identity("p_b", ident("acct:a@ex.org"), T0)
    holder = await store.people.person_for_identity("acct:a@ex.org")
    assert holder is not None and holder.id == "p_a"
    # The same person attaching it again: the stronger verification stays, the new source is added.
    signed = ident("acct:a@ex.org", verification="signed", source="peer")
    p = await store.people.add_identity("p_a", signed, T0 + timedelta(hours=1))
    (only,) = p.identities
    assert only.verification == "signed" and {pr.source for pr in only.provenance} == {"owner", "peer"}
    weaker = ident("acct:a@ex.org", verification="guessed", source="import")
    (only,) = (await store.people.add_identity("p_a", weaker, T0)).identities
    assert only.verification == "signed"


async def test_missing_and_merged_people_are_not_found(store: GraphStore) -> None:
    for pid in ("p_live", "p_gone"):
        await store.people.insert_person(person_id=pid, fields={"display_name": pid}, identities=[], now=T0)
    await store.merges.merge(
        merge_id="m_1", survivor_id="p_live", merged_id="p_gone", decided_by="owner", evidence=[], now=T0
    )
    calls: dict[str, Callable[[str], Awaitable[Any]]] = {
        "update": lambda pid: store.people.update_person(pid, {"title": "x"}, T0),
        "status": lambda pid: store.people.set_status(pid, "archived", T0),
        "identity": lambda pid: store.people.add_identity(pid, ident("acct:new@ex.org"), T0),
        "remove identity": lambda pid: store.people.remove_identity(pid, "acct:new@ex.org"),
        "note": lambda pid: store.people.add_note(pid, note_id="n_x", body="x", now=T0),
        "circle": lambda pid: store.people.set_membership(
            pid, circle_id="c_x", name="c", member=True, now=T0
        ),
        "relationship": lambda pid: store.people.add_relationship(
            rel_id="r_x",
            person_id=pid,
            other_person_id=None,
            relationship=RelationshipInput(type="friend", iri="x", direction="mutual"),
            now=T0,
        ),
        "interaction": lambda pid: store.people.add_interaction(
            interaction_id="i_x",
            person_ids=[pid],
            interaction=InteractionInput(occurred_at=T0, channel="call", initiated_by="owner"),
            now=T0,
        ),
        "delete": lambda pid: store.people.delete_person(pid),
    }
    for what, call in calls.items():
        for pid in ("p_nobody", "p_gone"):
            with pytest.raises(NotFound):
                await call(pid)
            assert what  # (named in the failure)
    assert (await store.people.get_person("p_gone")).status == "merged"  # readable, as history
    with pytest.raises(NotFound):
        await store.people.get_person("p_gone", include_merged=False)
    assert await store.people.list_notes("p_gone") == []  # a merged person's history stays readable


async def test_moments_are_datetimes_and_stored_in_utc(store: GraphStore) -> None:
    """Times in are aware datetimes, whatever their zone; text where a moment belongs is refused, not stored
    as it came (a store that kept it would sort and compare it wrongly)."""
    east = timezone(timedelta(hours=2))
    p = await store.people.insert_person(
        person_id="p_t",
        fields={"display_name": "T"},
        identities=[],
        now=datetime(2026, 1, 1, 2, 30, tzinfo=east),
    )
    assert p.created_at == "2026-01-01T00:30:00Z"
    with pytest.raises(TypeError):
        await store.people.add_note("p_t", note_id="n_t", body="x", now="2026-01-01T00:00:00Z")  # type: ignore[arg-type]
    assert await store.people.list_notes("p_t") == []


async def test_derived_values_follow_the_rows(store: GraphStore) -> None:
    """Counts, the last interaction, the effective cadence and the due date are the store's to keep."""
    for pid in ("p_a", "p_b"):
        await store.people.insert_person(person_id=pid, fields={"display_name": pid}, identities=[], now=T0)
    await store.people.ensure_circle(circle_id="c_w", name="weekly", now=T0)
    await store.people.set_circle_cadence("weekly", 7)
    p = await store.people.set_membership("p_a", circle_id="c_w", name="weekly", member=True, now=T0)
    assert (p.effective_cadence_days, p.due_at) == (7, "2026-11-29T12:00:00Z")
    p = await store.people.update_person("p_a", {"cadence_days": 30}, T0)
    assert p.effective_cadence_days == 30  # the person's own cadence wins over the circle's
    when = T0 + timedelta(days=2)
    talk = await store.people.add_interaction(
        interaction_id="i_1",
        person_ids=["p_a", "p_b"],
        interaction=InteractionInput(occurred_at=when, channel="call", initiated_by="them", summary="hi"),
        now=when,
    )
    assert talk.people == ("p_a", "p_b") and talk.occurred_at == "2026-11-24T12:00:00Z"
    a = await store.people.get_person("p_a")
    assert (a.interaction_count, a.last_interaction_at, a.due_at) == (
        1,
        "2026-11-24T12:00:00Z",
        "2026-12-24T12:00:00Z",
    )
    await store.people.delete_interaction("i_1")
    a = await store.people.get_person("p_a")
    assert (a.interaction_count, a.last_interaction_at, a.due_at) == (0, None, "2026-12-22T12:00:00Z")
    await store.people.update_person("p_a", {"cadence_days": None}, T0)
    await store.people.delete_circle("weekly")
    a = await store.people.get_person("p_a")
    assert (a.effective_cadence_days, a.due_at, a.circles) == (None, None, ())


async def test_deleting_a_person_takes_what_was_theirs_alone(store: GraphStore) -> None:
    for pid in ("p_a", "p_b", "p_c"):
        await store.people.insert_person(
            person_id=pid, fields={"display_name": pid}, identities=[ident(f"acct:{pid}@ex.org")], now=T0
        )
    await store.merges.merge(
        merge_id="m_1", survivor_id="p_a", merged_id="p_c", decided_by="owner", evidence=[], now=T0
    )
    for iid, people in (("i_alone", ["p_a"]), ("i_shared", ["p_a", "p_b"])):
        await store.people.add_interaction(
            interaction_id=iid,
            person_ids=people,
            interaction=InteractionInput(occurred_at=T0, channel="call", initiated_by="owner"),
            now=T0,
        )
    await store.people.add_relationship(
        rel_id="r_1",
        person_id="p_b",
        other_person_id="p_a",
        relationship=RelationshipInput(type="friend", iri="x", direction="mutual"),
        now=T0,
    )
    await store.people.delete_person("p_a")
    for pid in ("p_a", "p_c"):  # the merged-in person goes with the survivor
        with pytest.raises(NotFound):
            await store.people.get_person(pid)
        assert await store.people.person_for_identity(f"acct:{pid}@ex.org") is None
    assert [i.id for i in (await store.people.list_interactions(None, offset=0, limit=50)).items] == [
        "i_shared"
    ]
    assert (await store.people.get_person("p_b")).interaction_count == 1
    assert await store.people.list_relationships(None) == []
    assert await store.merges.list_merges(None) == []


async def test_lists_are_counted_pages_in_a_fixed_order(graph: Graph, clock: FixedClock) -> None:
    names = ["beth", "Anna", "carl", "Dora", "anna"]
    made = [await graph.create_person({"display_name": n, "priority": k % 4}) for k, n in enumerate(names)]
    clock.advance(days=1)
    await graph.log_interaction({"people": [made[2].id]})
    for order in ("name", "recent", "created", "strength"):
        whole = await graph.list_people(order=order, limit=500)
        assert whole.total == 5
        paged: list[str] = []
        offset: int | None = 0
        while offset is not None:
            page = await graph.list_people(order=order, limit=2, offset=offset)
            assert page.total == 5
            paged += [p.id for p in page.items]
            offset = page.next_offset
        assert paged == [p.id for p in whole.items], order
    by_name = [p.display_name for p in (await graph.list_people(order="name")).items]
    assert [n.casefold() for n in by_name] == sorted(n.casefold() for n in names)
    assert (await graph.list_people(order="recent")).items[0].id == made[2].id
    assert [p.id for p in (await graph.list_people(order="created")).items] == [p.id for p in reversed(made)]
    strengths = [p.tie_strength for p in (await graph.list_people(order="strength")).items]
    assert strengths == sorted(strengths, reverse=True)


async def test_relationships_either_way_and_signed_ones_kept(store: GraphStore) -> None:
    for pid in ("p_a", "p_b"):
        await store.people.insert_person(person_id=pid, fields={"display_name": pid}, identities=[], now=T0)
    mentor = RelationshipInput(
        type="mentor", iri="http://purl.org/vocab/relationship/mentorOf", direction="outgoing"
    )
    r = await store.people.add_relationship(
        rel_id="r_m", person_id="p_a", other_person_id="p_b", relationship=mentor, now=T0
    )
    assert (r.person_id, r.other_person_id, r.type, r.status) == ("p_a", "p_b", "mentor", "local")
    assert [x.id for x in await store.people.list_relationships("p_b")] == ["r_m"]  # either way round
    await store.peers.upsert_record_relationship(
        rel_id="r_s",
        person_id="p_a",
        record={"id": "https://peer.example/records/1"},
        relationship=RelationshipInput(type="friend", iri="x", direction="mutual", status="accepted"),
        now=T0,
    )
    with pytest.raises(Conflict):
        await store.people.delete_relationship("r_s", local_only=True)
    await store.people.delete_relationship("r_m", local_only=True)
    assert [x.id for x in await store.people.list_relationships(None)] == ["r_s"]
    with pytest.raises(NotFound):
        await store.people.delete_relationship("r_m")


async def test_circles_and_notes(store: GraphStore) -> None:
    await store.people.insert_person(person_id="p_a", fields={"display_name": "A"}, identities=[], now=T0)
    first = await store.people.ensure_circle(circle_id="c_1", name="Friends", now=T0)
    again = await store.people.ensure_circle(circle_id="c_2", name="Friends", now=T0)
    assert first.id == again.id == "c_1"
    await store.people.set_membership("p_a", circle_id="c_3", name="Friends", member=True, now=T0)
    await store.people.set_membership("p_a", circle_id="c_4", name="alpha", member=True, now=T0)
    assert [(c.name, c.members) for c in await store.people.list_circles()] == [("alpha", 1), ("Friends", 1)]
    await store.people.set_membership("p_a", circle_id="c_3", name="Friends", member=False, now=T0)
    with pytest.raises(NotFound):
        await store.people.set_membership("p_a", circle_id="c_3", name="Friends", member=False, now=T0)
    with pytest.raises(NotFound):
        await store.people.set_circle_cadence("nobody's", 7)
    n = await store.people.add_note("p_a", note_id="n_1", body="first", now=T0)
    await store.people.add_note("p_a", note_id="n_2", body="second", now=T0 + timedelta(seconds=1))
    assert [x.body for x in await store.people.list_notes("p_a")] == ["first", "second"]
    await store.people.delete_note(n.id)
    with pytest.raises(NotFound):
        await store.people.delete_note(n.id)
    assert [x.body for x in await store.people.list_notes("p_a")] == ["second"]


async def test_identity_states(store: GraphStore) -> None:
    await store.people.insert_person(
        person_id="p_a", fields={"display_name": "A"}, identities=[ident("acct:old@ex.org")], now=T0
    )
    assert await store.people.set_identity_state(
        "acct:old@ex.org", state="moved", moved_to="acct:new@ex.org", verification="two-way", now=T0
    )
    (i,) = (await store.people.get_person("p_a")).identities
    assert (i.state, i.moved_to, i.verification) == ("moved", "acct:new@ex.org", "two-way")
    assert not await store.people.set_identity_state(
        "acct:nobody@ex.org", state="gone", moved_to=None, verification=None, now=T0
    )


async def test_tie_strength_is_read_at_the_moment_asked(store: GraphStore) -> None:
    await store.people.insert_person(
        person_id="p_a", fields={"display_name": "A", "priority": 3}, identities=[], now=T0
    )
    await store.people.add_interaction(
        interaction_id="i_1",
        person_ids=["p_a"],
        interaction=InteractionInput(occurred_at=T0, channel="call", initiated_by="owner"),
        now=T0,
    )
    soon = await store.people.get_person("p_a", strength_at=T0)
    later = await store.people.get_person("p_a", strength_at=T0 + timedelta(days=60))
    assert soon.tie_strength is not None and later.tie_strength is not None
    assert soon.tie_strength > later.tie_strength
    assert soon.tie_strength_parts is not None
    assert round(sum(part.points for part in soon.tie_strength_parts), 3) == round(soon.tie_strength, 3)
    assert (await store.people.get_person("p_a")).tie_strength_parts is None
    utc_again = datetime(2026, 11, 22, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert (await store.people.get_person("p_a", strength_at=utc_again)).tie_strength == soon.tie_strength
    assert UTC  # (the fixed clock's zone)
