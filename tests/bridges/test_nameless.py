"""People without a name (issue 12 §4): a draft left out is left out entirely, and a placeholder is not a name.

Five Bluesky follows with invalid DIDs were reported "left out" yet became five "(no name)" people, who then
made ten merge suggestions among themselves. The same happens to any draft whose every address is refused, and
to any people whose shown name is only a placeholder: "(no name)" or one of their own addresses."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridges.base import ContactDraft, IdentityDraft
from node.graph import NO_NAME
from node.importer import Importer
from tests.bridges.carwriter import Repo
from tests.bridges.cli import Kith, kith
from tests.bridges.helpers import plc
from tests.node.import_helpers import Node, backend, node_on_each_engine

__all__ = ["backend", "kith", "node_on_each_engine"]  # fixtures, imported by name


@pytest.fixture
def node(node_on_each_engine: Node) -> Node:
    return node_on_each_engine


INVALID_DIDS = [
    "did:plc:x",
    "did:plc:" + "0" * 24,  # 0 is no base32 letter
    "did:web:",
    "did:key:z6Mk",
    "did:plc:" + "a" * 25,
]


def test_follows_with_invalid_dids_make_no_one_and_no_suggestions(kith: Kith, tmp_path: Path) -> None:
    repo = Repo(did=plc("me"))
    for i, did in enumerate(INVALID_DIDS):
        repo.put_record(f"app.bsky.graph.follow/3kbad{i}", {"$type": "app.bsky.graph.follow", "subject": did})
    for i in range(2):
        repo.put_record(f"app.bsky.graph.follow/3kgood{i}", {"$type": "app.bsky.graph.follow",
                                                             "subject": plc(f"good{i}")})  # fmt: skip
    repo.put_record("app.bsky.graph.block/3kblk", {"$type": "app.bsky.graph.block", "subject": "did:plc:x"})
    car = tmp_path / "repo.car"
    car.write_bytes(repo.car())
    doc = kith.json("import", "bluesky", car)
    assert doc["people_created"] == 2 and doc["blocks_added"] == 0
    reasons = [s["reason"] for s in doc["skipped"]]
    assert sum("is not a valid DID; left out" in r for r in reasons) == len(INVALID_DIDS) + 1
    assert {p["display_name"] for p in kith.people()} == {plc("good0"), plc("good1")}
    assert kith.json("suggest-merges")["new"] == 0


def test_a_card_whose_every_address_is_refused_and_has_no_name_is_left_out(
    kith: Kith, tmp_path: Path
) -> None:
    card = tmp_path / "cards.vcf"
    card.write_text(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nEMAIL:not an address\r\nTEL:call me maybe\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Named Nell\r\nEMAIL:also not an address\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:3.0\r\nORG:Acme Widgets\r\nEMAIL:still not one\r\nEND:VCARD\r\n",
        encoding="utf-8",
    )
    doc = kith.json("import", "vcard", card)
    # Nell has a name and Acme an organisation: each is someone. The first card is no one.
    assert sorted(p["display_name"] for p in kith.people()) == ["Acme Widgets", "Named Nell"]
    assert doc["people_created"] == 2
    left_out = [s for s in doc["skipped"] if s["severity"] == "skipped"]
    assert len(left_out) == 1
    assert "none of its addresses could be used and it has no name; left out" in left_out[0]["reason"]


async def test_placeholders_are_no_names_when_suggesting_merges(node: Node) -> None:
    graph = node.graph
    for _ in range(5):  # as earlier imports left nameless people
        await graph.create_person({"display_name": NO_NAME})
    # Named after their own addresses (create_person does that without a name): alike once folded.
    await graph.create_person({"identities": ["jane.doe@example.com"]})
    await graph.create_person({"identities": ["jane-doe@example.com"]})
    assert await graph.suggest_merges() == 0
    # Real names still make "ask" suggestions.
    await graph.create_person({"display_name": "Jane Doe"})
    await graph.create_person({"display_name": "Jane  Doe"})
    assert await graph.suggest_merges() == 1
    (suggestion,) = (await graph.suggestions()).items
    assert suggestion.tier == "ask" and {suggestion.a_name, suggestion.b_name} == {"Jane Doe", "Jane  Doe"}


async def test_a_placeholder_is_replaced_by_the_first_real_name(node: Node) -> None:
    did = plc("nameless")
    person = await node.graph.create_person({"display_name": NO_NAME, "identities": [did]})
    importer = Importer(node.store)
    draft = ContactDraft(
        source_record_id=f"following:{did}",
        display_name="Finally Named",
        identities=(IdentityDraft(address=did, kind="bluesky"),),
        follow="following",
    )
    await importer.import_items("bluesky", [draft], name="bluesky following")
    assert (await node.graph.get_person(person.id)).display_name == "Finally Named"
    # A name-only draft never matches a placeholder by its "name".
    fb = ContactDraft(source_record_id="friend:1", display_name=NO_NAME)
    summary = await importer.import_items("facebook", [fb], name="friends")
    assert summary.suggestions_made == 0
