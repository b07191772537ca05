"""vCard RELATED (and Apple's related names, Google's "Relation") in and out (issue 12 §7, RFC 6350 §6.6.6).

Imported, each becomes a relationship between the card's person and the one it names (by another card's UID,
by an address someone holds, or by a name exactly one person has); anything else is kept as a note that says
why it was not linked. Exported, relationships between two people come back as RELATED with the right TYPE,
and the file imported into a new node gives the same relationships."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bridges.vcard import VCardBridge
from node.store.sqlite.driver import sqlite
from tests.bridges.cli import Kith, kith

__all__ = ["kith"]  # a fixture, imported by name

FAMILY = """BEGIN:VCARD
VERSION:4.0
UID:urn:uuid:alice
FN:Alice Archer
EMAIL:alice@example.com
RELATED;TYPE=spouse:urn:uuid:bob
RELATED;TYPE=parent:mailto:carol@example.com
RELATED;TYPE=friend;VALUE=text:Dana Dell
RELATED;TYPE=co-worker;VALUE=text:Erin Eve
RELATED;TYPE=colleague:https://frank.example/
RELATED;TYPE=x-kith-mentor:urn:uuid:bob
RELATED;TYPE=manager:urn:uuid:bob
RELATED;TYPE=me:urn:uuid:alice
RELATED;VALUE=text:Please contact my assistant Gil\\, any day.
END:VCARD
BEGIN:VCARD
VERSION:4.0
UID:urn:uuid:bob
FN:Bob Archer
RELATED;TYPE=spouse:urn:uuid:alice
END:VCARD
BEGIN:VCARD
VERSION:3.0
FN:Carol Archer
EMAIL:carol@example.com
item1.X-ABRELATEDNAMES:Alice Archer
item1.X-ABLabel:_$!<Child>!$_
END:VCARD
"""


def _relationships(data: Path) -> set[tuple[str, str, str, str]]:
    """(person, type, other, direction): "person is type of other", by display names."""
    conn = sqlite.connect(data / "accounts" / "me.sqlite3")
    try:
        rows = conn.execute(
            "SELECT p.display_name, r.type, o.display_name, r.direction FROM relationship r "
            "JOIN person p ON p.pk = r.person_pk JOIN person o ON o.pk = r.other_pk"
        ).fetchall()
    finally:
        conn.close()
    return {tuple(r) for r in rows}  # type: ignore[misc]


def _notes(kith: Kith, name: str) -> list[str]:
    (person,) = [p for p in kith.people() if p["display_name"] == name]
    return sorted(n["body"] for n in kith.json("note", "list", person["id"])["items"])


FACTS = {
    ("Bob Archer", "spouse", "Alice Archer", "mutual"),
    ("Carol Archer", "parent", "Alice Archer", "outgoing"),
    ("Dana Dell", "friend", "Alice Archer", "mutual"),
    ("Bob Archer", "mentor", "Alice Archer", "outgoing"),
}


@pytest.fixture
def family(kith: Kith, tmp_path: Path) -> Path:
    for name in ("Dana Dell", "Erin Eve", "Erin Eve"):
        code, _out, err = kith("people", "add", name)
        assert code == 0, err
    path = tmp_path / "family.vcf"
    path.write_text(FAMILY.replace("\n", "\r\n"), encoding="utf-8")
    return path


def test_related_lines_become_relationships_or_notes_that_say_why(kith: Kith, family: Path) -> None:
    doc = kith.json("import", "vcard", family)
    # Bob's spouse line and Carol's "child" name the facts Alice's card states: they are not added twice.
    assert doc["relationships_added"] == 4
    assert _relationships(kith.data) == FACTS
    assert _notes(kith, "Alice Archer") == [
        "co-worker: Erin Eve (not linked to a person: 2 people are named 'Erin Eve')",
        "colleague: https://frank.example/ (not linked to a person: no one in the graph is at that address)",
        "manager: urn:uuid:bob (not linked to a person: 'manager' is no relationship type Kith knows)",
        "related: Please contact my assistant Gil, any day. (not linked to a person: no one in the graph is "
        "named 'Please contact my assistant Gil, any day.')",
    ]
    assert doc["notes_added"] == 4
    # The same file again changes nothing; a changed card is read again and still adds nothing twice.
    again = kith.json("import", "vcard", family)
    assert again["relationships_added"] == 0 and again["notes_added"] == 0
    family.write_text(family.read_text().replace("FN:Alice Archer", "FN:Alice B. Archer"), encoding="utf-8")
    changed = kith.json("import", "vcard", family)
    assert changed["records_unchanged"] == 2 and changed["relationships_added"] == 0
    assert changed["notes_added"] == 0
    assert len(_relationships(kith.data)) == 4


def test_relationships_are_exported_as_related_and_come_back(
    kith: Kith, family: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kith.json("import", "vcard", family)
    ids = {p["display_name"]: p["id"] for p in kith.people()}
    out = tmp_path / "export.vcf"
    code, _out, err = kith("export", "--format", "vcard", "--output", out)
    assert code == 0, err
    text = out.read_bytes().decode("utf-8")  # as written: CRLF line ends
    cards = {
        re.search(r"\r\nFN:(.*?)\r\n", card).group(1): card  # type: ignore[union-attr]
        for card in text.split("END:VCARD\r\n")
        if "FN:" in card
    }

    def related(name: str) -> set[str]:
        return set(re.findall(r"\r\n(RELATED;[^\r]*)", cards[name]))

    uid = {name: f"urn:kith:{pid}" for name, pid in ids.items()}
    # On each card, who is what of theirs; terms outside RFC 6350's list as x-kith-.
    assert related("Alice Archer") == {
        f"RELATED;TYPE=spouse:{uid['Bob Archer']}",
        f"RELATED;TYPE=parent:{uid['Carol Archer']}",
        f"RELATED;TYPE=friend:{uid['Dana Dell']}",
        f"RELATED;TYPE=x-kith-mentor:{uid['Bob Archer']}",
    }
    assert related("Bob Archer") == {
        f"RELATED;TYPE=spouse:{uid['Alice Archer']}",
        f"RELATED;TYPE=x-kith-mentee:{uid['Alice Archer']}",
    }
    assert related("Carol Archer") == {f"RELATED;TYPE=child:{uid['Alice Archer']}"}
    assert related("Dana Dell") == {f"RELATED;TYPE=friend:{uid['Alice Archer']}"}
    assert related("Erin Eve") == set()
    # Into a new node: the same facts, each once.
    fresh = Kith(tmp_path / "fresh", capsys)
    doc = fresh.json("import", "vcard", out)
    assert doc["relationships_added"] == 4
    assert _relationships(fresh.data) == FACTS


def test_google_relations_link_by_name(kith: Kith, tmp_path: Path) -> None:
    csv = tmp_path / "contacts.csv"
    csv.write_text(
        "First Name,Last Name,E-mail 1 - Value,Relation 1 - Label,Relation 1 - Value,Relation 2 - Label,"
        "Relation 2 - Value\r\n"
        "Alice,Archer,alice@example.com,Spouse,Bob Archer,Partner,Pat Doe\r\n"
        "Bob,Archer,bob@example.com,Mother,Carol Archer,,\r\n",
        encoding="utf-8",
    )
    doc = kith.json("import", "google", csv)
    assert doc["relationships_added"] == 1
    assert _relationships(kith.data) == {("Bob Archer", "spouse", "Alice Archer", "mutual")}
    # "Partner" is not Kith's business partner; Bob's mother is no one in the graph yet.
    assert _notes(kith, "Alice Archer") == [
        "partner: Pat Doe (not linked to a person: no one in the graph is named 'Pat Doe')"
    ]
    assert _notes(kith, "Bob Archer") == [
        "mother: Carol Archer (not linked to a person: no one in the graph is named 'Carol Archer')"
    ]


def test_related_drafts_say_what_the_card_says(tmp_path: Path) -> None:
    path = tmp_path / "family.vcf"
    path.write_text(FAMILY.replace("\n", "\r\n"), encoding="utf-8")
    alice, bob, carol = VCardBridge().parse_export(path)
    assert [(r.type, r.label, r.value, r.text, r.record) for r in alice.related][:4] == [  # type: ignore[union-attr]
        ("spouse", "spouse", "urn:uuid:bob", False, "vcard:urn:uuid:bob"),
        ("parent", "parent", "mailto:carol@example.com", False, "vcard:mailto:carol@example.com"),
        ("friend", "friend", "Dana Dell", True, None),
        ("co-worker", "co-worker", "Erin Eve", True, None),
    ]
    assert [(r.type, r.value) for r in carol.related] == [("child", "Alice Archer")]  # type: ignore[union-attr]
    assert bob.notes == () and carol.notes == ()  # type: ignore[union-attr]
