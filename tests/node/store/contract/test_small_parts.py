"""The graph store's small parts on every backend (node/store/misc.py, links.py, peers.py): meta rows and the
change record written with them, blocks, links and sync cursors, and what federation's graph port reads."""

from __future__ import annotations

from datetime import timedelta

import pytest

from node.errors import NotFound
from node.store import GraphStore, IdentityInput, RelationshipInput
from node.store.links import KEEP
from tests.conftest import T0


@pytest.mark.part("misc")
async def test_a_change_and_its_record_are_one_write(store: GraphStore) -> None:
    """meta_change writes the values and the record that they must be sent on together, or neither."""
    new = await store.misc.meta_change({"card": "v1"}, record="card_version", advance=lambda old: f"{old}+1")
    assert new == "None+1" and await store.misc.meta_get("card") == "v1"

    def refuse(old: str | None) -> str:
        raise RuntimeError("the record could not be made")

    with pytest.raises(RuntimeError):
        await store.misc.meta_change({"card": "v2"}, record="card_version", advance=refuse)
    assert await store.misc.meta_get("card") == "v1" and await store.misc.meta_get("card_version") == "None+1"
    await store.misc.meta_set("card", "v3")
    assert await store.misc.meta_get("card") == "v3" and await store.misc.meta_get("missing") is None


@pytest.mark.part("misc")
async def test_blocks(store: GraphStore) -> None:
    assert await store.misc.block("acct:b@spam.example", "owner", T0)
    assert not await store.misc.block("acct:b@spam.example", "import", T0)  # already blocked: kept as it was
    assert await store.misc.block("acct:a@spam.example", "import", T0)
    blocked = await store.misc.blocked()
    assert [(b.uri, b.source, b.created_at) for b in blocked] == [
        ("acct:a@spam.example", "import", "2026-11-22T12:00:00Z"),
        ("acct:b@spam.example", "owner", "2026-11-22T12:00:00Z"),
    ]
    assert await store.misc.unblock("acct:a@spam.example")
    assert not await store.misc.unblock("acct:a@spam.example")
    assert [b.uri for b in await store.misc.blocked()] == ["acct:b@spam.example"]


@pytest.mark.part("links")
async def test_links_and_where_syncs_resume(store: GraphStore) -> None:
    links = store.links
    await links.put(source="mastodon", account="ann", base_url="https://m.example", secret="s1", now=T0)
    await links.put(
        source="mastodon", account="bob", base_url="https://m.example", secret="s2", now=T0 + timedelta(1)
    )
    assert [r.account for r in await links.get("mastodon", None)] == ["ann", "bob"]  # oldest first
    later = T0 + timedelta(hours=3)
    await links.update("mastodon", "ann", T0, status="revoked", resume_at=later, last_error="401")
    (ann,) = await links.get("mastodon", "ann")
    assert (ann.status, ann.resume_at, ann.last_error, ann.secret) == (
        "revoked",
        "2026-11-22T15:00:00Z",
        "401",
        "s1",
    )
    await links.update("mastodon", "ann", T0, last_error=None, secret=KEEP)  # None clears, KEEP keeps
    (ann,) = await links.get("mastodon", "ann")
    assert (ann.last_error, ann.secret, ann.resume_at) == (None, "s1", "2026-11-22T15:00:00Z")
    with pytest.raises(ValueError):
        await links.update("mastodon", "ann", T0)  # nothing to change
    # A new secret makes a revoked link active again and forgets its limits.
    await links.put(source="mastodon", account="ann", base_url="https://n.example", secret="s3", now=T0)
    (ann,) = await links.get("mastodon", "ann")
    assert (ann.status, ann.resume_at, ann.last_error, ann.base_url, ann.secret) == (
        "active",
        None,
        None,
        "https://n.example",
        "s3",
    )
    assert await links.get("bluesky", None) == []
    assert await links.cursor("mastodon", "ann", "following") is None
    await links.set_cursor("mastodon", "ann", "following", {"max_id": "42", "deep": [1, {"x": None}]}, T0)
    assert await links.cursor("mastodon", "ann", "following") == {"max_id": "42", "deep": [1, {"x": None}]}
    assert await links.cursor("mastodon", "ann", "followers") is None
    await links.set_cursor("mastodon", "ann", "following", None, T0)  # read to its end: forgotten
    assert await links.cursor("mastodon", "ann", "following") is None


def _actor(uri: str, source: str, record: str) -> IdentityInput:
    return IdentityInput(
        uri=uri,
        kind="url",
        display=uri,
        label=None,
        verification="claimed",
        source=source,
        source_record_id=record,
    )


@pytest.mark.part("people", "peers")
async def test_who_may_see_the_card(store: GraphStore) -> None:
    """Only an actor's own document (its source) ties it to a person when disclosure depends on it."""
    people = store.people
    await people.insert_person(
        person_id="p_f",
        fields={"display_name": "Friend"},
        identities=[_actor("https://a.example/u/f", "fediverse", "https://a.example/u/f")],
        now=T0,
        circles=[("c_f", "friends")],
    )
    await people.insert_person(
        person_id="p_c",
        fields={"display_name": "Claimed"},
        identities=[_actor("https://a.example/u/c", "peer", "https://x.example/card")],
        now=T0,
        circles=[("c_f", "friends")],
    )
    await people.insert_person(
        person_id="p_w",
        fields={"display_name": "Work"},
        identities=[_actor("https://a.example/u/w", "fediverse", "https://a.example/u/w")],
        now=T0,
        circles=[("c_w", "work")],
    )
    peers = store.peers
    assert await peers.circles_of_identity("https://a.example/u/f", source="fediverse") == ["friends"]
    assert await peers.circles_of_identity("https://a.example/u/c", source="fediverse") is None
    assert await peers.circles_of_identity("https://a.example/u/c") == ["friends"]
    assert await peers.circles_of_identity("https://nobody.example/") is None
    assert await peers.identities_from_source("fediverse", "url", ["friends"]) == ["https://a.example/u/f"]
    assert await peers.identities_from_source("fediverse", "url", None) == [
        "https://a.example/u/f",
        "https://a.example/u/w",
    ]
    assert await peers.identities_from_source("fediverse", "url", []) == []
    await people.set_status("p_w", "archived", T0)  # only active people, with active identities
    await people.set_identity_state(
        "https://a.example/u/f", state="gone", moved_to=None, verification=None, now=T0
    )
    assert await peers.identities_from_source("fediverse", "url", None) == []


@pytest.mark.part("people", "peers")
async def test_a_peers_card_replaces_what_it_said_before(store: GraphStore) -> None:
    card = "https://peer.example/users/p"

    def said(uri: str, kind: str = "email") -> IdentityInput:
        return IdentityInput(
            uri=uri,
            kind=kind,
            display=uri,
            label=None,
            verification="signed",
            source="peer",
            source_record_id=card,
        )

    await store.people.insert_person(
        person_id="p_p",
        fields={"display_name": "Peer"},
        identities=[
            _actor(card, "fediverse", card),
            IdentityInput(
                uri="mailto:both@ex.org",
                kind="email",
                display="both@ex.org",
                label=None,
                verification="claimed",
                source="owner",
                source_record_id="",
            ),
        ],
        now=T0,
    )
    await store.peers.replace_from_record(
        "p_p",
        source="peer",
        source_record_id=card,
        identities=[said("mailto:old@ex.org"), said("mailto:both@ex.org")],
        fields={"organization": "Old Org", "title": ""},
        now=T0,
    )
    p = await store.people.get_person("p_p")
    assert {i.uri for i in p.identities} == {card, "mailto:old@ex.org", "mailto:both@ex.org"}
    assert p.organization == "Old Org" and p.title is None  # an empty value sets nothing
    await store.peers.replace_from_record(
        "p_p",
        source="peer",
        source_record_id=card,
        identities=[said("mailto:new@ex.org")],
        fields={"organization": "New Org"},
        now=T0,
    )
    p = await store.people.get_person("p_p")
    # old@ goes (only the card vouched for it); both@ stays (the owner typed it too), without the card's word.
    assert {i.uri for i in p.identities} == {card, "mailto:new@ex.org", "mailto:both@ex.org"}
    both = next(i for i in p.identities if i.uri == "mailto:both@ex.org")
    assert [pr.source for pr in both.provenance] == ["owner"] and p.organization == "New Org"


@pytest.mark.part("people", "peers")
async def test_signed_records_are_kept_by_their_id(store: GraphStore) -> None:
    await store.people.insert_person(person_id="p_p", fields={"display_name": "P"}, identities=[], now=T0)
    record = {"id": "https://peer.example/records/1", "relationship": "friend"}
    friend = RelationshipInput(type="friend", iri="x", direction="mutual", status="accepted")
    await store.peers.upsert_record_relationship(
        rel_id="r_1", person_id="p_p", record=record, relationship=friend, now=T0
    )
    colleague = RelationshipInput(type="colleague", iri="y", direction="mutual", status="accepted")
    await store.peers.upsert_record_relationship(
        rel_id="r_2", person_id="p_p", record=record, relationship=colleague, now=T0
    )
    (r,) = await store.people.list_relationships("p_p")
    assert (r.id, r.type, r.status) == ("r_1", "colleague", "accepted")
    await store.peers.set_record_status("https://peer.example/records/1", "revoked", T0)
    assert (await store.people.list_relationships("p_p"))[0].status == "revoked"
    with pytest.raises(NotFound):
        await store.peers.set_record_status("https://peer.example/records/none", "revoked", T0)
