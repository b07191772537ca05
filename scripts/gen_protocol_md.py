"""Write specs/PROTOCOL.md from specs/_src/PROTOCOL.template.md: examples are built and signed by the code
itself (fixed keys and times, so the output is stable) and the state diagrams come from protocol/states.py.

Usage: python scripts/gen_protocol_md.py [--check]   (--check: exit 1 if PROTOCOL.md is stale)
"""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from protocol import multikey, proofs, states  # noqa: E402
from protocol.records import (  # noqa: E402
    PUBLIC,
    Accept,
    FieldDisclosure,
    Follow,
    Move,
    Offer,
    ProfileCard,
    Relationship,
    Undo,
    Update,
)
from protocol.serialize import from_jsonld, to_jsonld  # noqa: E402

TEMPLATE = ROOT / "specs" / "_src" / "PROTOCOL.template.md"
TARGET = ROOT / "specs" / "PROTOCOL.md"

ALICE = "https://alice.example/users/alice"
BOB = "https://bob.example/users/bob"
CAROL = "https://mastodon.example/users/carol"
#: Alice signs with the W3C vc-di-eddsa test key; Bob with a seed anyone can recompute.
ALICE_SECRET = "z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq"
BOB_SEED = hashlib.sha256(b"kith example bob").digest()
OFFERED = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
ACCEPTED = datetime(2026, 11, 22, 10, 5, tzinfo=UTC)
ENDED = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)


def examples() -> dict[str, Any]:
    alice_key = multikey.decode_private_key(ALICE_SECRET)
    bob_key = Ed25519PrivateKey.from_private_bytes(BOB_SEED)
    relationship = Relationship(
        id=ALICE + "/relationships/7f3a",
        relationship_type="colleague",
        subject=ALICE,
        object=BOB,
        mutual=True,
        since=date(2019, 5, 1),
        how_we_met="At the 2019 mapping conference in Lyon",
    )
    by_alice = proofs.sign(
        to_jsonld(relationship),
        private_key=alice_key,
        verification_method=ALICE + "#ed25519-key",
        created=OFFERED,
    )
    offered = from_jsonld(by_alice)
    assert isinstance(offered, Relationship)
    offer = Offer(id=ALICE + "/offers/7f3a", actor=ALICE, object=offered, target=BOB, to=(BOB,))
    by_both = proofs.sign(
        by_alice, private_key=bob_key, verification_method=BOB + "#ed25519-key", created=ACCEPTED
    )
    confirmed = from_jsonld(by_both)
    assert isinstance(confirmed, Relationship)
    accept = Accept(id=BOB + "/accepts/91c2", actor=BOB, object=offer.id, result=confirmed, to=(ALICE,))
    ended = Relationship(
        id=relationship.id,
        relationship_type="colleague",
        subject=ALICE,
        object=BOB,
        mutual=True,
        since=date(2019, 5, 1),
        how_we_met="At the 2019 mapping conference in Lyon",
        status="ended",
    )
    ended_signed = from_jsonld(
        proofs.sign(
            to_jsonld(ended), private_key=bob_key, verification_method=BOB + "#ed25519-key", created=ENDED
        )
    )
    assert isinstance(ended_signed, Relationship)
    friends, work = ALICE + "/circles/friends", ALICE + "/circles/work"
    card = ProfileCard(
        id=ALICE + "/card",
        owner=ALICE,
        name="Alice Example",
        summary="Makes maps.",
        email=("alice@alice.example",),
        phone=("+441234567890",),
        website=("https://alice.example/",),
        organization="Mapmakers Ltd",
        title="Cartographer",
        identities=("acct:alice@mastodon.example", "https://bsky.app/profile/alice.example"),
        updated=OFFERED,
        disclosure=(
            FieldDisclosure(field="summary", visible_to=frozenset({PUBLIC})),
            FieldDisclosure(field="email", visible_to=frozenset({friends, work})),
            FieldDisclosure(field="phone", visible_to=frozenset({friends})),
            FieldDisclosure(field="organization", visible_to=frozenset({work})),
            FieldDisclosure(field="title", visible_to=frozenset({work})),
        ),
    )
    follow = Follow(id=ALICE + "/follows/2b1d", actor=ALICE, object=CAROL)
    return {
        "ACTOR": actor_document(alice_key),
        "CARD": to_jsonld(card),
        "OFFER": to_jsonld(offer),
        "ACCEPT": to_jsonld(accept),
        "END": to_jsonld(Update(id=BOB + "/updates/ee01", actor=BOB, object=ended_signed, to=(ALICE,))),
        "UPDATE": to_jsonld(
            Update(id=ALICE + "/updates/c81e", actor=ALICE, object=card.render_for([work]), to=(BOB,))
        ),
        "FOLLOW": to_jsonld(follow),
        "ACCEPTF": to_jsonld(Accept(id=CAROL + "#accepts/follows/123", actor=CAROL, object=follow)),
        "UNDO": to_jsonld(Undo(id=ALICE + "/follows/2b1d/undo", actor=ALICE, object=follow)),
        "MOVE": to_jsonld(
            Move(
                id=ALICE + "/moves/1",
                actor=ALICE,
                object=ALICE,
                target="https://new.example/users/alice",
                to=(ALICE + "/followers",),
            )
        ),
    }


def actor_document(ed25519: Ed25519PrivateKey) -> dict[str, Any]:
    # federation/ renders real actors; this example shows the shape the specification requires.
    return {
        "@context": [
            "https://www.w3.org/ns/activitystreams",
            "https://w3id.org/security/v1",
            "https://w3id.org/security/multikey/v1",
            "https://w3id.org/kith/v1",
        ],
        "id": ALICE,
        "type": "Person",
        "preferredUsername": "alice",
        "name": "Alice Example",
        "inbox": ALICE + "/inbox",
        "outbox": ALICE + "/outbox",
        "followers": ALICE + "/followers",
        "following": ALICE + "/following",
        "endpoints": {"sharedInbox": "https://alice.example/inbox"},
        "publicKey": {
            "id": ALICE + "#main-key",
            "owner": ALICE,
            "publicKeyPem": (
                "-----BEGIN PUBLIC KEY-----\n"
                "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA...\n"
                "-----END PUBLIC KEY-----\n"
            ),
        },
        "assertionMethod": [
            {
                "id": ALICE + "#ed25519-key",
                "type": "Multikey",
                "controller": ALICE,
                "publicKeyMultibase": multikey.encode_public_key(ed25519.public_key()),
            }
        ],
        "generator": {
            "type": "Application",
            "implements": [{"href": "https://w3id.org/kith/protocol/v1", "name": "Kith protocol v1"}],
        },
    }


def render() -> str:
    text = TEMPLATE.read_text(encoding="utf-8")
    for name, value in examples().items():
        text = text.replace("{" + name + "}", json.dumps(value, indent=2, ensure_ascii=False))
    for name, table in states.LIFECYCLES.items():
        text = text.replace(
            "{STATE:" + name + "}", f"<!-- lifecycle: {name} -->\n```mermaid\n{states.mermaid(table)}```"
        )
    if "{" + "STATE:" in text:
        raise SystemExit("template names a lifecycle protocol/states.py does not declare")
    return text


def main(argv: list[str]) -> int:
    rendered = render()
    if "--check" in argv:
        if not TARGET.exists() or TARGET.read_text(encoding="utf-8") != rendered:
            print(f"{TARGET} is stale: run python scripts/gen_protocol_md.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(rendered, encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
