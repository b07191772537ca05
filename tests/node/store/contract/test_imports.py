"""Imports as every store must take them (node/store/imports.py): a chunk's rows written in one transaction that
leaves nothing if it fails, the new people found by search from the chunk's own rows, look-ups that see what
was there before, counts of what was really added, and runs recorded and swept."""

from __future__ import annotations

from datetime import timedelta

import pytest

from node.graph import Graph
from node.store import GraphStore
from node.store.imports import INTERRUPTED, PERSON_IMPORT_FIELDS, ChunkRows, ImportSession
from tests.conftest import T0

pytestmark = pytest.mark.part("imports", "people")


def person_row(pk: int, pid: str, **fields: str) -> tuple[object, ...]:
    values = {f: None for f in PERSON_IMPORT_FIELDS} | {"met_on": None} | fields
    return (pk, pid, *[values[f] for f in PERSON_IMPORT_FIELDS], values["met_on"])


async def _ann_and_bob(session: ImportSession) -> tuple[int, int]:
    """Two new people in one chunk: Ann (an organisation, a title, two identities, a note) and Bob."""
    person, identity, _interaction = await session.next_keys()
    ann, bob = person, person + 1
    rows = ChunkRows()
    rows.people += [
        person_row(ann, "p_ann", display_name="Ann Lee", given_name="Ann", family_name="Lee", organization="Acme",
                   title="Welder"),
        person_row(bob, "p_bob", display_name="Bob Quux", nickname="Bobby"),
    ]  # fmt: skip
    rows.identities += [
        (identity, ann, "mailto:ann@lee.example", "email", "ann@lee.example", None, "claimed"),
        (identity + 1, ann, "https://x.com/annlee", "x", "@annlee", "Ann on X", "claimed"),
        (identity + 2, bob, "acct:bob@quux.example", "acct", "@bob@quux.example", None, "claimed"),
    ]
    rows.provenance += [(identity + k, "vcard", f"card{k}") for k in range(3)]
    rows.records += [("vcard", "card0", ann, "d" * 32, "{}"), ("vcard", "card2", bob, "e" * 32, "{}")]
    rows.notes += [("n_imp1", ann, "plays the theremin"), ("n_imp2", bob, "")]
    await session.write(rows)
    return ann, bob


async def names(graph: Graph, text: str) -> list[str]:
    return sorted(p.display_name for p in (await graph.search(text)).items)


async def test_a_chunks_new_people_are_found_by_what_it_says_of_them(store: GraphStore, graph: Graph) -> None:
    await store.imports.transaction(T0, _ann_and_bob)
    for text, who in [
        ("ann lee", ["Ann Lee"]),
        ("acme", ["Ann Lee"]),
        ("welder", ["Ann Lee"]),
        ("lee.example", ["Ann Lee"]),  # an e-mail address
        ("mailto:ann@lee.example", ["Ann Lee"]),
        ("annlee", ["Ann Lee"]),
        ("theremin", ["Ann Lee"]),  # a note
        ("bobby", ["Bob Quux"]),  # a nickname
        ("quux.example", ["Bob Quux"]),
        ("nobody", []),
    ]:
        assert await names(graph, text) == who, text
    (ann,) = (await graph.search("acme")).items
    assert [i.uri for i in ann.identities] == ["mailto:ann@lee.example", "https://x.com/annlee"]
    assert [i.provenance[0].source for i in ann.identities] == ["vcard", "vcard"]


async def test_people_written_before_are_found_by_what_a_chunk_changed(
    store: GraphStore, graph: Graph
) -> None:
    ann, _bob = await store.imports.transaction(T0, _ann_and_bob)

    async def change(session: ImportSession) -> None:
        _person, identity, _i = await session.next_keys()
        rows = ChunkRows()
        rows.person_updates.append((ann, {"display_name": "Annabel Lee", "title": "Poet"}))
        rows.identities.append(
            (identity, ann, "acct:annabel@verse.example", "acct", "@annabel", None, "claimed")
        )
        rows.provenance.append((identity, "vcard", "card9"))
        rows.notes.append(("n_imp3", ann, "kingdom by the sea"))
        rows.refresh.append(ann)
        await session.write(rows)

    await store.imports.transaction(T0 + timedelta(days=1), change)
    for text in ("annabel", "poet", "verse.example", "kingdom", "theremin"):
        assert await names(graph, text) == ["Annabel Lee"], text
    assert await names(graph, "welder") == []  # what it said before is no longer there


async def test_nothing_of_a_failed_import_remains(store: GraphStore, graph: Graph) -> None:
    async def half(session: ImportSession) -> None:
        await _ann_and_bob(session)
        await session.run_finished(run_id="imp_x", status="done", summary={}, error=None, now=T0)
        raise RuntimeError("the export ended part-way")

    with pytest.raises(RuntimeError):
        await store.imports.transaction(T0, half)
    assert await names(graph, "ann") == [] and (await graph.list_people()).total == 0
    assert await store.people.person_for_identity("mailto:ann@lee.example") is None

    async def never_empties(session: ImportSession) -> None:
        ann, _bob = await _ann_and_bob(session)
        rows = ChunkRows()
        rows.person_updates.append((ann, {"title": None}))  # an import never empties a field
        await session.write(rows)

    with pytest.raises(ValueError):
        await store.imports.transaction(T0, never_empties)
    assert (await graph.list_people()).total == 0


async def test_look_ups_and_counts_of_what_was_added(store: GraphStore) -> None:
    ann, bob = await store.imports.transaction(T0, _ann_and_bob)
    await store.people.ensure_circle(circle_id="c_1", name="friends", now=T0)

    async def again(session: ImportSession) -> dict[str, int]:
        known = await session.identities(["mailto:ann@lee.example", "acct:nobody@ex.org"])
        assert list(known) == ["mailto:ann@lee.example"] and known["mailto:ann@lee.example"].person_pk == ann
        records = await session.records("vcard", ["card0", "card1", "card2"])
        assert {k: r.person_pk for k, r in records.items()} == {"card0": ann, "card2": bob}
        people = await session.people([ann, bob])
        assert people[ann].fields["organization"] == "Acme" and set(people[ann].fields) == {
            *PERSON_IMPORT_FIELDS,
            "met_on",
        }
        assert not people[ann].placeholder
        assert await session.people_named(["Ann Lee", "Nobody"]) == {"Ann Lee": [ann]}
        circle, has_cadence = await session.circle("c_2", "friends")
        assert not has_cadence
        rows = ChunkRows()
        identity = known["mailto:ann@lee.example"].pk
        rows.provenance += [(identity, "vcard", "card0"), (identity, "vcard", "card7")]  # one known, one new
        rows.notes += [("n_imp1", ann, "plays the theremin"), ("n_imp9", bob, "new")]
        rows.circle_members += [(circle, ann), (circle, ann)]
        rows.blocks += [("acct:spam@ex.org", "vcard"), ("acct:spam@ex.org", "vcard")]
        rows.relationships.append(("r_imp1", ann, "friend", "x", "mutual", None))
        await session.write(rows)
        # Look-ups read the graph as the import found it, until the importer asks for its own writes.
        assert await session.relationship_types([ann, bob]) == set()
        session.snapshot = False
        assert await session.relationship_types([ann, bob]) == {(ann, "friend")}
        return await session.added()

    added = await store.imports.transaction(T0, again)
    assert added == {"provenance": 1, "notes": 1, "circle_members": 1, "blocks": 1, "relationships": 1}


async def test_runs_are_recorded_and_left_behind_ones_swept(store: GraphStore) -> None:
    imports = store.imports
    held = await imports.claim("imp_held")
    with pytest.raises(RuntimeError):
        await imports.claim("imp_held")  # one owner at a time
    await imports.start_run(run_id="imp_held", source="linkedin", name="a.csv", now=T0)
    gone = await imports.claim("imp_gone")
    await imports.start_run(run_id="imp_gone", source="x", name="b.zip", now=T0 + timedelta(seconds=1))
    gone.release(remove=False)  # as when its process dies: the claim goes with it, the record stays
    await imports.finish_run(
        run_id="imp_done", status="done", summary=None, error=None, now=T0
    )  # unknown: no-op
    assert await imports.sweep(T0 + timedelta(minutes=5)) == ["imp_gone"]
    swept = await imports.get_run("imp_gone")
    assert swept is not None and (swept.status, swept.error, swept.finished_at) == (
        "failed",
        INTERRUPTED,
        "2026-11-22T12:05:00Z",
    )
    running = await imports.get_run("imp_held")
    assert running is not None and running.status == "running" and running.finished_at is None
    await imports.finish_run(run_id="imp_held", status="done", summary={"rows": 3}, error=None, now=T0)
    held.release()
    assert [(r.id, r.status, r.summary) for r in await imports.recent_runs(10)] == [
        ("imp_gone", "failed", None),
        ("imp_held", "done", {"rows": 3}),
    ]
    assert await imports.get_run("imp_none") is None
    assert await imports.sweep(T0) == []
