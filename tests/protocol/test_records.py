from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from referencing import Registry, Resource

from protocol import jsonld, proofs
from protocol.errors import InvalidRecord, MalformedInput, ProofError
from protocol.records import (
    PUBLIC,
    Accept,
    Acct,
    ActorRef,
    Block,
    Delete,
    FieldDisclosure,
    Follow,
    Move,
    Offer,
    ProfileCard,
    Reject,
    Relationship,
    Undo,
    Update,
)
from protocol.serialize import KITH_CONTEXT, MASTODON_CONTEXT, from_jsonld, to_jsonld

SCHEMAS = Path(__file__).resolve().parents[2] / "specs" / "schemas"
ALICE = "https://a.example/users/alice"
BOB = "https://b.example/users/bob"
FRIENDS = "https://a.example/users/alice/circles/friends"
WORK = "https://a.example/users/alice/circles/work"
NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def _schema(name: str) -> jsonschema.Draft202012Validator:
    resources = []
    for path in SCHEMAS.glob("*.json"):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resources.append((contents["$id"], Resource.from_contents(contents)))
    registry: Registry[Any] = Registry().with_resources(resources)
    schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(
        schema, registry=registry, format_checker=jsonschema.FormatChecker()
    )


def _card(**changes: Any) -> ProfileCard:
    fields: dict[str, Any] = {
        "id": ALICE + "/card",
        "owner": ALICE,
        "name": "Alice Example",
        "summary": "Makes maps.",
        "email": ("alice@a.example",),
        "phone": ("+441234567890",),
        "website": ("https://alice.example/",),
        "organization": "Mapmakers Ltd",
        "title": "Cartographer",
        "photo": "https://a.example/media/alice.png",
        "identities": ("acct:alice@mastodon.example", "https://bsky.app/profile/alice.example"),
        "updated": NOW,
        "disclosure": (
            FieldDisclosure(field="summary", visible_to=frozenset({PUBLIC})),
            FieldDisclosure(field="email", visible_to=frozenset({FRIENDS, WORK})),
            FieldDisclosure(field="phone", visible_to=frozenset({FRIENDS})),
            FieldDisclosure(field="organization", visible_to=frozenset({WORK})),
        ),
    }
    fields.update(changes)
    return ProfileCard(**fields)


def _relationship(**changes: Any) -> Relationship:
    fields: dict[str, Any] = {
        "id": ALICE + "/relationships/1",
        "relationship_type": "colleague",
        "subject": ALICE,
        "object": BOB,
        "mutual": True,
        "since": date(2019, 5, 1),
        "how_we_met": "At the 2019 mapping conference in Lyon",
    }
    fields.update(changes)
    return Relationship(**fields)


_PROOF = proofs.DataIntegrityProof(
    cryptosuite="eddsa-jcs-2022",
    verification_method=ALICE + "#k",
    proof_purpose="assertionMethod",
    proof_value="z1",
)


def _keys() -> tuple[Ed25519PrivateKey, Ed25519PrivateKey]:
    return Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()


# -- round trips ---------------------------------------------------------------------------------------------

FOLLOW = Follow(id=ALICE + "/follows/1", actor=ALICE, object=BOB)


def _records() -> list[Any]:
    rel = _relationship()
    offer = Offer(id=ALICE + "/offers/1", actor=ALICE, object=rel, target=BOB, to=(BOB,))
    return [
        _card(),
        _card(
            disclosure=(),
            summary=None,
            email=(),
            phone=(),
            website=(),
            photo=None,
            identities=(),
            updated=None,
        ),
        rel,
        _relationship(mutual=False, relationship_type="mentor", since=None, how_we_met=None),
        FOLLOW,
        Accept(id=BOB + "/accepts/1", actor=BOB, object=FOLLOW, to=(ALICE,)),
        Accept(id=BOB + "/accepts/2", actor=BOB, object=FOLLOW.id),
        Reject(id=BOB + "/rejects/1", actor=BOB, object=FOLLOW),
        Undo(id=ALICE + "/undo/1", actor=ALICE, object=FOLLOW),
        Block(id=ALICE + "/blocks/1", actor=ALICE, object=BOB),
        Undo(
            id=ALICE + "/undo/2", actor=ALICE, object=Block(id=ALICE + "/blocks/1", actor=ALICE, object=BOB)
        ),
        Update(id=ALICE + "/updates/1", actor=ALICE, object=_card().render_for([FRIENDS]), to=(BOB,)),
        Update(id=ALICE + "/updates/2", actor=ALICE, object={"id": ALICE, "type": "Person", "name": "Alice"}),
        Update(
            id=BOB + "/updates/3",
            actor=BOB,
            object=_relationship(status="ended", proofs=()),
            to=(ALICE,),
        ),
        Delete(id=ALICE + "/deletes/1", actor=ALICE, object=ALICE, to=(PUBLIC,)),
        Move(id=ALICE + "/moves/1", actor=ALICE, object=ALICE, target="https://c.example/users/alice"),
        offer,
        Accept(id=BOB + "/accepts/3", actor=BOB, object=offer, result=rel, to=(ALICE,)),
        Reject(id=BOB + "/rejects/2", actor=BOB, object=offer.id, to=(ALICE,)),
    ]


@pytest.mark.parametrize("record", _records(), ids=lambda r: type(r).__name__)
def test_round_trip(record: Any) -> None:
    written = to_jsonld(record)
    assert from_jsonld(written) == record
    assert to_jsonld(from_jsonld(json.loads(json.dumps(written)))) == written


def test_mastodon_shapes() -> None:
    accept = to_jsonld(Accept(id=BOB + "/accepts/1", actor=BOB, object=FOLLOW))
    assert accept == {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": BOB + "/accepts/1",
        "type": "Accept",
        "actor": BOB,
        "object": {"id": FOLLOW.id, "type": "Follow", "actor": ALICE, "object": BOB},
    }
    assert to_jsonld(FOLLOW)["@context"] == MASTODON_CONTEXT
    assert to_jsonld(_relationship())["@context"] == list(KITH_CONTEXT)


def test_tolerant_reading_of_compacted_variations() -> None:
    follow = from_jsonld(
        {
            "@context": ["https://www.w3.org/ns/activitystreams", {"toot": "http://joinmastodon.org/ns#"}],
            "@id": FOLLOW.id,
            "type": ["Follow"],
            "actor": {"id": ALICE, "type": "Person"},
            "object": [BOB],
        }
    )
    assert follow == FOLLOW
    accept = from_jsonld({"id": BOB + "/a", "type": "Accept", "actor": BOB, "object": FOLLOW.id, "to": ALICE})
    assert isinstance(accept, Accept) and accept.object == FOLLOW.id and accept.to == (ALICE,)
    rel = from_jsonld({**to_jsonld(_relationship()), "mutual": {"@value": True}, "since": ["2019-05-01"]})
    assert rel == _relationship()
    assert from_jsonld({**to_jsonld(_relationship()), "relationship": "http://gmpg.org/xfn/11#colleague"})


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"type": "Follow", "id": ALICE + "/f", "actor": ALICE, "object": [BOB, ALICE]}, "object"),
        ({"type": "Follow", "id": ALICE + "/f", "actor": ALICE, "object": ALICE}, "object"),
        ({"type": "Follow", "id": "not an iri", "actor": ALICE, "object": BOB}, "id"),
        ({"type": "Note", "id": ALICE + "/n"}, "type"),
        ({**{k: v for k, v in to_jsonld(_relationship()).items()}, "relationship": "enemy"}, "type"),
        ({**to_jsonld(_relationship()), "relationship": "http://gmpg.org/xfn/11#parent"}, "mutual"),
        ({**to_jsonld(_relationship()), "since": "last spring"}, "since"),
        ({**to_jsonld(_relationship()), "object": ALICE}, "object"),
        ({**to_jsonld(_relationship()), "id": "https://evil.example/r/1"}, "id"),
        ({"type": "Update", "id": ALICE + "/u", "actor": ALICE, "object": BOB}, "object"),
    ],
)
def test_hostile_input_is_refused_naming_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(MalformedInput) as caught:
        from_jsonld(data)
    assert caught.value.field == field
    assert caught.value.status_hint == 400


def test_records_validate_themselves() -> None:
    with pytest.raises(InvalidRecord, match="directed"):
        _relationship(relationship_type="mentor")
    with pytest.raises(InvalidRecord, match="at most 1 proofs"):
        _relationship(mutual=False, relationship_type="mentor", proofs=(_PROOF, _PROOF))
    with pytest.raises(InvalidRecord, match="status"):
        _relationship(status="confirmed")
    with pytest.raises(InvalidRecord, match="public"):
        Offer(id=ALICE + "/o", actor=ALICE, object=_relationship(), target=BOB, to=(PUBLIC,))
    with pytest.raises(InvalidRecord, match="render the card"):
        Update(id=ALICE + "/u", actor=ALICE, object=_card(), to=(BOB,))
    with pytest.raises(InvalidRecord, match=r"E\.164"):
        _card(phone=("01234 567890",))
    with pytest.raises(InvalidRecord, match="only the followed actor"):
        Accept(id=ALICE + "/a", actor=ALICE, object=FOLLOW)
    with pytest.raises(InvalidRecord, match="own activities"):
        Undo(id=BOB + "/u", actor=BOB, object=FOLLOW)
    with pytest.raises(InvalidRecord, match="timezone"):
        _card(updated=datetime(2026, 1, 1))
    with pytest.raises(AttributeError):
        FOLLOW.actor = BOB  # type: ignore[misc]
    assert (
        _relationship(relationship_type="colleague").relationship_type == "http://gmpg.org/xfn/11#colleague"
    )


def test_acct_and_actor_ref() -> None:
    assert str(Acct.parse("@Alice@A.Example")) == "acct:Alice@a.example"
    assert Acct.parse("acct:bob@b.example") == Acct(user="bob", host="b.example")
    assert Acct.parse("bob@bücher.example").host == "xn--bcher-kva.example"
    for bad in ("bob", "acct:@b.example", "bob@", "bo b@b.example"):
        with pytest.raises(InvalidRecord):
            Acct.parse(bad)
    assert ActorRef(id=ALICE, kind="Organization", acct=Acct.parse("alice@a.example")).kind == "Organization"
    with pytest.raises(InvalidRecord):
        ActorRef(id=ALICE, kind="Robot")  # type: ignore[arg-type]


# -- disclosure ----------------------------------------------------------------------------------------------


def test_card_disclosure_per_circle() -> None:
    card = _card()
    stranger = card.render_for([])
    assert (stranger.name, stranger.summary, stranger.email, stranger.phone, stranger.organization) == (
        "Alice Example",
        "Makes maps.",
        (),
        (),
        None,
    )
    friend = card.render_for([FRIENDS])
    assert friend.email == ("alice@a.example",) and friend.phone == ("+441234567890",)
    assert friend.organization is None and friend.disclosure == ()
    colleague = card.render_for([WORK])
    assert colleague.organization == "Mapmakers Ltd" and colleague.phone == ()
    assert card.visible_fields([FRIENDS, WORK]) == {"summary", "email", "phone", "organization"}
    # Fields with no rule (website, title, photo, identities) are private by default.
    assert card.render_for([FRIENDS, WORK]).website == ()
    written = to_jsonld(friend)
    assert "disclosure" not in written and "phone" in written and "organization" not in written


# -- schemas -------------------------------------------------------------------------------------------------


def test_serialised_records_match_their_schemas() -> None:
    alice_key, bob_key = _keys()
    rel_doc = to_jsonld(_relationship())
    signed = proofs.sign(rel_doc, private_key=alice_key, verification_method=ALICE + "#ed25519", created=NOW)
    signed = proofs.sign(signed, private_key=bob_key, verification_method=BOB + "#ed25519", created=NOW)
    relationship = from_jsonld(signed)
    assert isinstance(relationship, Relationship)
    _schema("relationship.json").validate(to_jsonld(relationship))
    _schema("relationship.json").validate(rel_doc)
    _schema("profile-card.json").validate(to_jsonld(_card()))
    _schema("profile-card.json").validate(to_jsonld(_card().render_for([WORK])))
    offer = Offer(id=ALICE + "/offers/1", actor=ALICE, object=relationship, target=BOB, to=(BOB,))
    _schema("offer.json").validate(to_jsonld(offer))
    with pytest.raises(jsonschema.ValidationError):
        _schema("offer.json").validate({**to_jsonld(offer), "to": [PUBLIC]})
    with pytest.raises(jsonschema.ValidationError):
        _schema("relationship.json").validate({**rel_doc, "relationship": "https://evil.example/#enemy"})


# -- the mutual relationship, end to end ---------------------------------------------------------------------


def test_mutual_relationship_signed_by_both_owners_in_either_order() -> None:
    alice_key, bob_key = _keys()
    owners = [
        proofs.OwnerKeys(owner=ALICE, keys={ALICE + "#ed25519": alice_key.public_key()}),
        proofs.OwnerKeys(owner=BOB, keys={BOB + "#ed25519": bob_key.public_key()}),
    ]
    proposed = to_jsonld(_relationship())
    by_alice = proofs.sign(
        proposed, private_key=alice_key, verification_method=ALICE + "#ed25519", created=NOW
    )

    # Alice offers; Bob reads the offer and checks Alice's proof on the embedded record as received.
    offer = Offer(id=ALICE + "/offers/1", actor=ALICE, object=from_jsonld(by_alice), target=BOB, to=(BOB,))  # type: ignore[arg-type]
    wire = json.loads(json.dumps(to_jsonld(offer)))
    received = from_jsonld(wire)
    assert isinstance(received, Offer)
    proofs.verify(wire["object"], owner=owners[0], now=NOW)
    with pytest.raises(ProofError, match=r"lacks a proof by https://b\.example"):
        proofs.verify_all(wire["object"], owners=owners, now=NOW)

    # Bob countersigns the very record he was offered and accepts; the result carries both proofs.
    both = proofs.sign(wire["object"], private_key=bob_key, verification_method=BOB + "#ed25519", created=NOW)
    with pytest.raises(ProofError):  # status is signed: it cannot be flipped after signing
        proofs.verify_all({**both, "status": "ended"}, owners=owners, now=NOW)
    result = from_jsonld(both)
    assert isinstance(result, Relationship) and len(result.proofs) == 2
    accept = Accept(id=BOB + "/accepts/1", actor=BOB, object=received.id, result=result, to=(ALICE,))
    accepted_wire = json.loads(json.dumps(to_jsonld(accept)))
    verified = proofs.verify_all(accepted_wire["result"], owners=owners, now=NOW)
    assert {p.verification_method for p in verified} == {ALICE + "#ed25519", BOB + "#ed25519"}
    assert from_jsonld(accepted_wire) == accept

    # A stranger's extra proof makes the set invalid; so does a proof by a key Bob does not list.
    eve = Ed25519PrivateKey.generate()
    crowded = proofs.sign(
        accepted_wire["result"], private_key=eve, verification_method="https://e.example/eve#k", created=NOW
    )
    with pytest.raises(ProofError, match="not by any of the record's owners"):
        proofs.verify_all(crowded, owners=owners, now=NOW)
    forged = proofs.sign(proposed, private_key=eve, verification_method=BOB + "#ed25519", created=NOW)
    with pytest.raises(ProofError, match="does not verify"):
        proofs.verify(forged, owner=owners[1], now=NOW)


def test_proof_time_checks() -> None:
    key = Ed25519PrivateKey.generate()
    owner = proofs.OwnerKeys(owner=ALICE, keys={ALICE + "#k": key.public_key()})
    doc = proofs.sign(
        to_jsonld(_relationship()), private_key=key, verification_method=ALICE + "#k", created=NOW
    )
    assert proofs.verify(doc, owner=owner, now=NOW)
    with pytest.raises(ProofError, match="future"):
        proofs.verify(doc, owner=owner, now=datetime(2026, 11, 21, tzinfo=UTC))


def test_relationship_signed_with_eddsa_rdfc_2022() -> None:
    key = Ed25519PrivateKey.generate()
    owner = proofs.OwnerKeys(owner=ALICE, keys={ALICE + "#k": key.public_key()})
    doc = to_jsonld(_relationship(mutual=False, relationship_type="mentor"))
    signed = proofs.sign(
        doc,
        private_key=key,
        verification_method=ALICE + "#k",
        created=NOW,
        cryptosuite=proofs.EDDSA_RDFC_2022,
    )
    assert proofs.verify(signed, owner=owner, now=NOW).cryptosuite == "eddsa-rdfc-2022"
    # Key order and compacted spelling do not matter to RDFC; meaning does.
    reordered = dict(reversed(list(signed.items())))
    assert proofs.verify(reordered, owner=owner, now=NOW)
    with pytest.raises(ProofError):
        proofs.verify({**signed, "since": "2019-05-02"}, owner=owner, now=NOW)
    # A property no context defines would vanish from the RDF graph; RDFC refuses it rather than ignore it.
    with pytest.raises(MalformedInput, match="smuggled"):
        proofs.verify({**signed, "smuggled": "not signed"}, owner=owner, now=NOW)


@pytest.mark.parametrize(
    "record",
    [
        _card(),
        _card().render_for([WORK]),
        _relationship(),
        FOLLOW,
        Block(id=ALICE + "/b", actor=ALICE, object=BOB),
    ],
    ids=lambda r: type(r).__name__,
)
def test_what_kith_writes_is_already_compacted_json_ld(record: Any) -> None:
    # The serialiser writes by hand what a JSON-LD processor would produce from the same contexts, so peers
    # that do run JSON-LD read exactly what Kith meant (and strict expansion proves every term is defined).
    written = to_jsonld(record)
    expanded = jsonld.expand(written, strict=True)
    compacted = jsonld.compact(expanded[0], written["@context"])
    # The one licensed difference: compaction spells the public collection "as:Public"; Kith (like Mastodon)
    # writes the full IRI, and reads either.
    assert json.loads(json.dumps(compacted).replace('"as:Public"', json.dumps(PUBLIC))) == written
    assert from_jsonld(compacted) == record
