"""Typed intake (issue #13 "Contracts"): what an inbox takes is read into the records of protocol/records.py
(federation/received.py), one that does not make a valid record is refused at the door naming what is wrong,
and every record the parse can produce has its entry in federation/process.py's HANDLERS.

As an attacker: activities shaped to pass the intake's cheap checks but to mean nothing valid -- two objects,
someone else's relationship offered, a card of another actor, a Move onto itself -- are answered 400, name
the field and store nothing; the shapes real servers send (Mastodon's Accept of our Follow cut down to its
id, Undo of a Like, an actor's Delete with its Tombstone) still read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from federation.process import HANDLERS
from federation.received import Received, Wire, parse
from protocol.errors import MalformedInput
from protocol.records import Accept, Block, Delete, Follow, Move, Offer, ProfileCard, Undo, Update
from tests.federation.backends import backend  # noqa: F401  (each test on SQLite and on PostgreSQL)

from .actors import remote_actor
from .nodes import FakeClock, start_node

PEER = "https://peer.example/users/bob"
CARD = {"id": "https://peer.example/card", "type": "ProfileCard", "attributedTo": PEER, "name": "Bob"}
US = "https://kith.example/users/alice"


def _act(kind: str, obj: Any, n: int = 1, **over: Any) -> dict[str, Any]:
    return {"@context": "https://www.w3.org/ns/activitystreams", "id": f"{PEER}/activities/{n}", "type": kind,
            "actor": PEER, "object": obj, **over}  # fmt: skip


def _relationship(subject: str = PEER, obj: str = US) -> dict[str, Any]:
    return {"id": "https://peer.example/relationships/1", "type": "Relationship", "subject": subject,
            "relationship": "friend", "object": obj, "mutual": True, "status": "active"}  # fmt: skip


# -- the parse step ---------------------------------------------------------------------------------------


def test_the_shapes_real_servers_send_read_into_records() -> None:
    # Mastodon's Accept embeds our Follow; the intake cut it (another origin) down to its id and type
    accept = parse(_act("Accept", {"id": US + "/follows/1", "type": "Follow"}))
    assert isinstance(accept.record, Accept) and accept.record.object == US + "/follows/1"
    # Undo of the actor's own Follow, Block and Accept: the records; of a Like, of an Offer: their ids
    for kind, cls in (("Follow", Follow), ("Block", Block)):
        undo = parse(_act("Undo", {"id": PEER + "/x", "type": kind, "actor": PEER, "object": US}))
        assert isinstance(undo.record, Undo) and isinstance(undo.record.object, cls)
    undo = parse(_act("Undo", {"id": PEER + "/a", "type": "Accept", "actor": PEER, "object": US + "/f/1"}))
    assert isinstance(undo.record, Undo) and isinstance(undo.record.object, Accept)
    for kind in ("Like", "Offer", "Announce"):
        undo = parse(_act("Undo", {"id": PEER + "/l", "type": kind, "actor": PEER, "object": US + "/n"}))
        assert isinstance(undo.record, Undo) and undo.record.object == PEER + "/l"
    # someone else's Follow inside our peer's Undo is read by its id only: the handler finds it is not theirs
    hijack = parse(_act("Undo", {"id": PEER + "/f", "type": "Follow", "actor": PEER + "2", "object": US}))
    assert isinstance(hijack.record, Undo) and hijack.record.object == PEER + "/f"
    # an actor's Delete, its object an id or its Tombstone; an Update of the actor itself
    for obj in (PEER, {"id": PEER, "type": "Tombstone"}, [PEER]):
        deleted = parse(_act("Delete", obj))
        assert isinstance(deleted.record, Delete) and deleted.record.object == PEER
        assert deleted.key == ("Delete", None)
    update = parse(_act("Update", {"id": PEER, "type": ["Person", "Service"], "name": "Bob"}))
    assert isinstance(update.record, Update) and update.key == ("Update", None)
    # the usual compacted variations: @id and @type, the public collection as a bare term
    follow = parse({"@id": PEER + "/f/2", "type": "Follow", "actor": [PEER], "object": {"id": US},
                    "to": ["as:Public", "as:Public"]})  # fmt: skip
    assert follow.record == Follow(id=PEER + "/f/2", actor=PEER, object=US)
    move = parse(_act("Move", PEER, target="https://new.example/users/bob"))
    assert isinstance(move.record, Move) and move.record.target == "https://new.example/users/bob"


def test_signed_records_are_typed_and_their_document_kept_beside_them() -> None:
    doc = _act("Offer", _relationship(), target=US)
    offer = parse(doc)
    assert isinstance(offer.record, Offer) and offer.record.object.mutual
    assert offer.raw is doc  # the proof is verified over the record as received, not a re-serialisation
    card = {"id": "https://peer.example/card", "type": "ProfileCard", "attributedTo": PEER, "name": "Bob"}
    update = parse(_act("Update", card))
    assert isinstance(update.record, Update) and isinstance(update.record.object, ProfileCard)
    assert update.key == ("Update", "ProfileCard")
    # an organisation's activity and a direct message are wire activities, read by their modules
    membership = parse(_act("Offer", {"id": PEER + "/m", "type": "Membership"}))
    assert membership.record == Wire(type="Offer", object_type="Membership")
    note = parse(_act("Create", {"id": PEER + "/n", "type": "Note", "content": "hi"}))
    assert note.record == Wire(type="Create", object_type="Note") and note.actor == PEER


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (_act("Follow", [US, US + "2"]), "object"),  # two objects
        (_act("Follow", PEER), "object"),  # itself
        (_act("Follow", 42), "object"),
        ({**_act("Follow", US), "actor": {"name": "no id"}}, "actor"),
        ({**_act("Follow", US), "id": "not an iri"}, "id"),
        (_act("Block", None), "object"),
        (_act("Offer", _relationship(subject="https://peer.example/users/carol"), target=US), "target"),
        (_act("Offer", "https://peer.example/relationships/1", target=US), "object"),
        (_act("Offer", {**_relationship(), "since": "yesterday"}, target=US), "since"),
        (_act("Accept", 7), "object"),
        (_act("Accept", US + "/offers/1", result={**_relationship(), "mutual": "yes"}), "mutual"),
        (_act("Update", {**CARD, "attributedTo": "https://peer.example/users/carol"}), "object"),
        (_act("Update", {"id": PEER + "/notes/1", "type": "Note"}), "object"),
        (_act("Update", "https://peer.example/users/carol"), "object"),
        (_act("Delete", "https://elsewhere.example/users/bob"), "object"),
        (_act("Move", PEER, target=PEER), "target"),
        (_act("Move", "https://peer.example/users/carol", target="https://new.example/c"), "object"),
        (_act("Create", {"id": PEER + "/q", "type": "Question"}), "object"),
        (_act("Like", US + "/n"), "type"),
    ],
)
def test_what_makes_no_valid_record_is_refused_naming_the_field(doc: dict[str, Any], field: str) -> None:
    with pytest.raises(MalformedInput) as caught:
        parse(doc)
    assert caught.value.field == field, caught.value.message


def test_every_record_the_parse_reads_has_its_handler() -> None:
    docs = [
        _act("Follow", US), _act("Block", US), _act("Accept", US + "/f"), _act("Reject", US + "/f"),
        _act("Undo", PEER + "/f"), _act("Update", {"id": PEER, "type": "Person"}), _act("Delete", PEER),
        _act("Move", PEER, target="https://new.example/b"), _act("Offer", _relationship(), target=US),
        _act("Update", {**_relationship(), "status": "ended"}),
        _act("Update", {"id": "https://peer.example/card", "type": "ProfileCard", "attributedTo": PEER,
                        "name": "Bob"}),
        _act("Create", {"id": PEER + "/n", "type": "Note"}),
    ]  # fmt: skip
    for wire_type, obj_type in (("Offer", "Membership"), ("Update", "Membership"),
                                ("Update", "OrganizationInfo"), ("Offer", "Introduction"),
                                ("Update", "Introduction"), ("Add", "SharedContact"),
                                ("Remove", "Tombstone")):  # fmt: skip
        docs.append(_act(wire_type, {"id": PEER + "/o", "type": obj_type}))
    docs.append(_act("Delete", {"id": PEER + "/s", "type": "Tombstone", "formerType": "SharedContact"}))
    # several records in one Add (what a member shares is sent in batches)
    shared = [{"id": PEER + f"/s/{i}", "type": "SharedContact"} for i in range(3)]
    assert parse(_act("Add", shared)).key == ("Add", "SharedContact")
    keys = {parse(doc).key for doc in docs}
    assert keys == set(HANDLERS), set(HANDLERS) ^ keys


def test_received_names_its_actor_whatever_the_record() -> None:
    assert Received(Wire(type="Add", object_type="SharedContact"), {"actor": [PEER]}).actor == PEER
    assert parse(_act("Follow", US)).actor == PEER


# -- at a real node's inbox -------------------------------------------------------------------------------


async def test_an_activity_that_makes_no_valid_record_is_refused_at_the_inbox_and_nothing_stored(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    async with start_node(tmp_path, "alice", clock) as node, remote_actor() as m:
        me, peer = node.actor, m.actor
        inbox = node.actor + "/inbox"  # its personal inbox: it concerns alice whatever it names
        other = m.actor.rsplit("/", 1)[0] + "/carol"  # another actor of the sender's own server

        def act(kind: str, obj: Any, n: int, **over: Any) -> dict[str, Any]:
            return {"@context": "https://www.w3.org/ns/activitystreams", "id": f"{peer}/bad/{n}",
                    "type": kind, "actor": peer, "object": obj, **over}  # fmt: skip

        relationship = {"@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/kith/v1"],
                        "id": f"{peer}/relationships/1", "type": "Relationship", "subject": other,
                        "relationship": "friend", "object": me, "mutual": True, "status": "active"}  # fmt: skip
        hostile = [
            (act("Undo", 42, 1), "object must be an IRI"),
            (
                act("Offer", relationship, 2, target=me),
                "relationship's subject",
            ),  # carol's relationship, offered by bob
            (act("Move", peer, 3, target=peer), "different target"),
            # a card of another actor of the sender's server
            (
                act(
                    "Update",
                    {"id": other + "/card", "type": "ProfileCard", "attributedTo": other, "name": "C"},
                    4,
                ),
                "own card",
            ),
            (
                act("Accept", me + "/offers/1", 5, result={**relationship, "subject": peer, "mutual": "yes"}),
                "mutual must be true or false",
            ),
        ]
        for n, (doc, says) in enumerate(hostile):
            body = json.dumps(doc).encode()
            headers = m.signed_headers(inbox, body, clock())
            async with (
                aiohttp.ClientSession() as http,
                http.post(inbox, data=body, headers=headers) as r,
            ):
                assert r.status == 400, (n, r.status, await r.text())
                assert says in await r.text(), (n, await r.text())
        assert await node.fed.store.inbox_count() == 0
        # a valid one after them is taken: the refusals cost the sender nothing but those requests
        good = json.dumps(act("Follow", me, 9)).encode()
        async with (
            aiohttp.ClientSession() as http,
            http.post(inbox, data=good, headers=m.signed_headers(inbox, good, clock())) as r,
        ):
            assert r.status == 202
        assert await node.fed.store.inbox_count() == 1


async def test_an_object_whose_type_is_not_one_string_is_answered_never_a_server_error(
    tmp_path: Path,
) -> None:
    # the inbox's triage looked an object's type up in a set before any key was fetched: a list there raised
    # (a 500 for anyone who sent a request with any signature header). Each activity Kith reads, with object
    # types written as lists and objects, is answered with a status of the sender's making.
    clock = FakeClock()
    async with start_node(tmp_path, "alice", clock) as node, remote_actor() as m:
        n = 0
        for kind in (
            "Update",
            "Offer",
            "Add",
            "Remove",
            "Delete",
            "Create",
            "Accept",
            "Undo",
            "Follow",
            "Block",
        ):
            for obj_type in (["ProfileCard"], ["Membership", "Note"], {"id": "x"}, ["Relationship"]):
                n += 1
                doc = {"id": f"{m.actor}/odd/{n}", "type": kind, "actor": m.actor,
                       "object": {"id": f"{m.actor}/objects/{n}", "type": obj_type}}  # fmt: skip
                body = json.dumps(doc).encode()
                headers = m.signed_headers(node.base + "/inbox", body, clock())
                async with (
                    aiohttp.ClientSession() as http,
                    http.post(node.base + "/inbox", data=body, headers=headers) as r,
                ):
                    assert r.status < 500, (kind, obj_type, r.status, await r.text())


async def test_a_key_whose_actor_document_has_a_list_for_its_type_is_refused_never_a_server_error(
    tmp_path: Path,
) -> None:
    # the key fetch looked the fetched document's type up in a set: a list there raised (500) for anyone
    # serving their own actor document so; now it is no actor, so the signature is not verified (401)
    clock = FakeClock()
    for odd in (["Person", "Service"], {"id": "Person"}, ["Person"]):
        async with (
            start_node(tmp_path / str(len(str(odd))), "alice", clock) as node,
            remote_actor(type=odd) as m,
        ):
            doc = {"id": m.actor + "/follows/1", "type": "Follow", "actor": m.actor, "object": node.actor}
            body = json.dumps(doc).encode()
            headers = m.signed_headers(node.base + "/inbox", body, clock())
            async with (
                aiohttp.ClientSession() as http,
                http.post(node.base + "/inbox", data=body, headers=headers) as r,
            ):
                assert r.status == 401, (odd, r.status, await r.text())
            assert await node.fed.store.inbox_count() == 0
