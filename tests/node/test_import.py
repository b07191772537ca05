"""Imports resolved against a real node database: identity resolution across sources, re-imports, updates,
merges and suggestions, interactions, circles, blocks, dry runs and all-or-nothing failure. Every test runs on
both engines (SQLite, and PostgreSQL: node/store/postgres/imports.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from bridges.base import Bridge, ContactDraft, ExportError, IdentityDraft, ImportItem, InteractionDraft
from bridges.facebook import FacebookBridge
from bridges.google import GoogleContactsBridge
from bridges.linkedin import LinkedInBridge
from bridges.mastodon import MastodonBridge
from bridges.vcard import VCardBridge
from bridges.x import XBridge
from node.importer import Importer, is_verified_grade
from protocol.addresses import normalize
from tests.node.import_helpers import (
    SAMPLES,
    Node,
    backend,
    node_on_each_engine,
    write_connections,
    write_vcard,
    write_x_archive,
)

__all__ = ["backend", "node_on_each_engine"]  # the fixtures, imported by name


@pytest.fixture
def node(node_on_each_engine: Node) -> Node:
    return node_on_each_engine


JANE = "mailto:jane.doe@example.com"
JANE_X = "https://x.com/i/user/2001"


async def test_one_person_from_linkedin_x_google_and_vcard(node: Node, tmp_path: Path) -> None:
    imp = Importer(node.store)
    # X first: the archive knows only a numeric id, so it makes a person of its own.
    x = await imp.run(XBridge(), write_x_archive(tmp_path / "x", following=["2001", "2002"]))
    assert x.people_created == 2
    li = await imp.run(LinkedInBridge(), SAMPLES / "linkedin" / "export")
    google = await imp.run(GoogleContactsBridge(), SAMPLES / "google" / "contacts.csv")
    assert google.people_updated == 1 and google.merged_automatically == 0  # joined Jane through her e-mail
    x_person = await node.person_of(JANE_X)
    li_person = await node.person_of(JANE)
    assert x_person[0] != li_person[0]
    # A card that holds both her e-mail and her X id: two verified-grade links, so one person.
    card = write_vcard(
        tmp_path / "jane.vcf",
        [
            [
                "FN:Jane Doe",
                "EMAIL:jane.doe@example.com",
                "X-SOCIALPROFILE;type=twitter:https://x.com/i/user/2001",
            ]
        ],
    )
    vc = await imp.run(VCardBridge(), card)
    assert vc.merged_automatically == 1
    pk, pid, name, status = await node.person_of(JANE_X)
    assert (await node.person_of(JANE))[0] == pk and status == "active" and name == "Jane Doe"
    sources = {
        r[0]
        for r in await node.rows(
            "SELECT pr.source FROM provenance pr JOIN identity i ON i.pk = pr.identity_pk WHERE i.person_pk = ?",
            (pk,),
        )
    }
    assert sources == {"linkedin", "x", "google", "vcard"}
    assert li.people_created == 5
    # The merge is on record with its evidence and can be undone.
    merges = await node.graph.merges(pid)
    assert len(merges) == 1 and merges[0].decided_by == "automatic"
    kinds = {e["kind"] for e in merges[0].evidence}
    assert {"x", "import"} <= kinds or {"email", "import"} <= kinds
    # Her LinkedIn messages landed on her, with statistics recomputed.
    jane = await node.graph.get_person(pid)
    assert jane.interaction_count >= 1 and jane.last_interaction_at is not None
    await node.graph.unmerge(merges[0].id)
    assert (await node.person_of(JANE_X))[0] != (await node.person_of(JANE))[0]


async def test_reimport_changes_nothing(node: Node) -> None:
    imp = Importer(node.store)
    paths: list[tuple[Bridge, Path]] = [
        (LinkedInBridge(), SAMPLES / "linkedin" / "export"),
        (GoogleContactsBridge(), SAMPLES / "google" / "contacts.csv"),
        (VCardBridge(), SAMPLES / "vcard" / "apple_icloud.vcf"),
        (MastodonBridge(), SAMPLES / "mastodon" / "export"),
        (FacebookBridge(), SAMPLES / "facebook" / "export"),
    ]
    for bridge, path in paths:
        await imp.run(bridge, path)
    before = await node.snapshot()
    for bridge, path in paths:
        again = await imp.run(bridge, path)
        assert again.people_created == again.identities_added == again.interactions_added == 0
        assert again.records_unchanged > 0 or again.blocks_added == 0
    assert await node.snapshot() == before


async def test_newer_export_updates_what_changed_and_keeps_owner_edits(node: Node, tmp_path: Path) -> None:
    imp = Importer(node.store)
    v1 = write_connections(
        tmp_path / "Connections.csv",
        [
            "Jane,Doe,https://www.linkedin.com/in/jane-doe,,Acme,Engineer,08 Feb 2026",
            "Raf,Nunez,https://www.linkedin.com/in/rafanunez,,Globex,Engineer,15 Mar 2024",
        ],
    )
    await imp.run(LinkedInBridge(), v1)
    raf = (await node.person_of("https://www.linkedin.com/in/rafanunez"))[1]
    await node.graph.update_person(raf, {"title": "Staff engineer (my note)"})
    v2 = write_connections(
        tmp_path / "Connections.csv",
        [
            "Jane,Doe,https://www.linkedin.com/in/jane-doe,jane@new.example,Initech,CTO,08 Feb 2026",
            "Raf,Nunez,https://www.linkedin.com/in/rafanunez,,Globex,Principal,15 Mar 2024",
            "New,Person,https://www.linkedin.com/in/new-person,,,,01 Jan 2026",
        ],
    )
    s = await imp.run(LinkedInBridge(), v2)
    assert (s.people_created, s.people_updated, s.identities_added) == (1, 1, 2)  # Raf: nothing to change
    jane = await node.graph.get_person((await node.person_of("https://www.linkedin.com/in/jane-doe"))[1])
    assert (jane.organization, jane.title) == ("Initech", "CTO")
    assert "mailto:jane@new.example" in {i.uri for i in jane.identities}
    kept = await node.graph.get_person(raf)
    assert kept.title == "Staff engineer (my note)"  # the owner's edit wins over the silo
    assert await node.count("person") == 3


async def test_weak_link_suggests_and_never_merges(node: Node, tmp_path: Path) -> None:
    imp = Importer(node.store)
    await imp.run(
        LinkedInBridge(),
        write_connections(
            tmp_path / "Connections.csv", ["Sam,Lee,https://www.linkedin.com/in/samlee,,,,01 Jan 2026"]
        ),
    )
    await imp.run(
        VCardBridge(), write_vcard(tmp_path / "a.vcf", [["FN:Samuel Lee", "EMAIL:sam@lee.example"]])
    )
    # This card shares the e-mail (verified-grade) with one person and only a LinkedIn slug with the other.
    s = await imp.run(
        VCardBridge(),
        write_vcard(
            tmp_path / "b.vcf",
            [
                [
                    "FN:Sam Lee",
                    "EMAIL:sam@lee.example",
                    "X-SOCIALPROFILE;type=linkedin:https://linkedin.com/in/SamLee",
                ]
            ],
        ),
    )
    assert (s.merged_automatically, s.suggestions_made, s.people_created) == (0, 1, 0)
    assert await node.count("person", "status = 'active'") == 2
    page = await node.graph.suggestions()
    (sug,) = page.items
    assert sug.tier == "suggested"
    assert {"kind": "linkedin", "detail": "https://www.linkedin.com/in/samlee"} in sug.evidence


async def test_undone_merge_is_not_redone_by_a_newer_export(node: Node, tmp_path: Path) -> None:
    imp = Importer(node.store)
    await imp.run(XBridge(), write_x_archive(tmp_path / "x", following=["2001"]))
    await imp.run(VCardBridge(), write_vcard(tmp_path / "a.vcf", [["FN:Jane", "EMAIL:jane.doe@example.com"]]))
    both = ["EMAIL:jane.doe@example.com", "X-SOCIALPROFILE;type=twitter:https://x.com/i/user/2001"]
    s1 = await imp.run(VCardBridge(), write_vcard(tmp_path / "b.vcf", [["FN:Jane Doe", *both]]))
    assert s1.merged_automatically == 1
    (merge,) = await node.graph.merges()
    await node.graph.unmerge(merge.id)
    s2 = await imp.run(VCardBridge(), write_vcard(tmp_path / "c.vcf", [["FN:Jane D.", *both, "NOTE:new"]]))
    assert s2.merged_automatically == 0 and s2.suggestions_made == 1
    assert (await node.person_of(JANE))[0] != (await node.person_of(JANE_X))[0]


async def test_name_only_people_get_an_ask_suggestion(node: Node) -> None:
    await node.graph.create_person({"display_name": "Plain Name", "identities": ["plain@example.com"]})
    s = await Importer(node.store).run(FacebookBridge(), SAMPLES / "facebook" / "export")
    assert s.suggestions_made == 1 and s.merged_automatically == 0
    (sug,) = (await node.graph.suggestions()).items
    assert sug.tier == "ask" and sug.evidence == ({"kind": "name", "detail": "Plain Name"},)


async def test_interactions_circles_blocks_notes(node: Node, tmp_path: Path) -> None:
    imp = Importer(node.store)
    x = await imp.run(
        XBridge(),
        write_x_archive(
            tmp_path / "x",
            following=["2001"],
            dms=[
                ("11", "9000", "2001", "2024-01-02T08:00:00.000Z"),
                ("12", "2001", "9000", "2024-01-03T08:00:00.000Z"),
                ("13", "3001", "9000", "2024-02-01T08:00:00.000Z"),  # someone not followed: a new person
            ],
        ),
    )
    assert (x.interactions_added, x.people_created) == (3, 2)
    pk, pid, *_ = await node.person_of(JANE_X)
    p = await node.graph.get_person(pid)
    assert p.interaction_count == 2 and p.last_interaction_at == "2024-01-03T08:00:00Z"
    rows = await node.rows(
        "SELECT initiated_by FROM interaction i JOIN interaction_person ip ON ip.interaction_pk = i.pk "
        "WHERE ip.person_pk = ? ORDER BY occurred_at",
        (pk,),
    )
    assert rows == [("owner",), ("them",)]
    again = await imp.run(XBridge(), tmp_path / "x")
    assert (again.interactions_added, again.interactions_known) == (0, 3)

    m = await imp.run(MastodonBridge(), SAMPLES / "mastodon" / "export")
    assert m.blocks_added == await node.count("blocked_address") > 0
    g = await imp.run(GoogleContactsBridge(), SAMPLES / "google" / "contacts.csv")
    jane = await node.graph.get_person((await node.person_of(JANE))[1])
    assert {"Work", "Conference 2025"} <= set(jane.circles)
    assert g.notes_added >= 1 and any("PyCon" in n.body for n in await node.graph.notes(jane.id))
    # Search finds imported people by name and by address.
    hits = await node.graph.search("Jane")
    assert jane.id in {h.id for h in hits.items}


async def test_dry_run_writes_nothing_and_predicts_the_import(node: Node) -> None:
    imp = Importer(node.store)
    before = await node.snapshot()
    dry = await imp.run(LinkedInBridge(), SAMPLES / "linkedin" / "export", dry_run=True)
    assert dry.dry_run and dry.preview["contacts"] == 5
    assert await node.snapshot() == before
    assert await node.count("import_run") == 0
    real = await imp.run(LinkedInBridge(), SAMPLES / "linkedin" / "export")
    assert (dry.people_created, dry.interactions_added, dry.skipped_count) == (
        real.people_created,
        real.interactions_added,
        real.skipped_count,
    )


class _Breaks(Bridge):
    """A bridge whose export turns out to be broken after many good rows (as a truncated ZIP would)."""

    name: ClassVar[str] = "linkedin"
    scheme: ClassVar[str] = "linkedin"

    def parse_export(self, path: Path) -> Iterator[ImportItem]:
        yield from LinkedInBridge().parse_export(path)
        for i in range(50):
            yield ContactDraft(
                source_record_id=f"extra{i}",
                display_name=f"Extra {i}",
                identities=(IdentityDraft(address=f"e{i}@x.example"),),
            )
        raise ExportError("the ZIP ends in the middle of messages.csv; download the export again")


async def test_an_error_part_way_leaves_nothing(node: Node) -> None:
    await Importer(node.store).run(GoogleContactsBridge(), SAMPLES / "google" / "contacts.csv")
    before = await node.snapshot()
    with pytest.raises(ExportError, match="download the export again"):
        # Small chunks: several were written inside the transaction before the error.
        await Importer(node.store, chunk=7).run(_Breaks(), SAMPLES / "linkedin" / "export")
    assert await node.snapshot() == before
    runs = await node.rows("SELECT source, status, error FROM import_run ORDER BY pk")
    assert runs[-1][:2] == ("linkedin", "failed") and "download the export again" in runs[-1][2]
    run = await node.store.imports.get_run((await node.rows("SELECT id FROM import_run ORDER BY pk"))[-1][0])
    assert run is not None and run.status == "failed"


async def test_runs_are_recorded_with_their_summary(node: Node) -> None:
    s = await Importer(node.store).run(LinkedInBridge(), SAMPLES / "linkedin" / "export", run_id="imp_test")
    run = await node.store.imports.get_run("imp_test")
    assert run is not None and run.status == "done" and run.finished_at and run.summary is not None
    assert run.summary["people_created"] == s.people_created
    assert json.loads(json.dumps(run.summary))["skipped"][0]["file"].endswith("Connections.csv")


def test_verified_grade_identifiers() -> None:
    strong = ["jane@example.com", "acct:bob@example.social", "did:plc:abcdefghijklmnopqrstuvwx", "x:2001"]
    weak = ["https://www.linkedin.com/in/jane", "https://x.com/jane", "+14155550100", "https://jane.example/"]
    assert all(is_verified_grade(normalize(a), "claimed") for a in strong)
    assert not any(is_verified_grade(normalize(a), "claimed") for a in weak)
    assert not is_verified_grade(normalize("jane@example.com"), "guessed")


async def test_unusable_addresses_are_reported_not_fatal(node: Node, tmp_path: Path) -> None:
    class Odd(Bridge):
        name: ClassVar[str] = "vcard"
        scheme: ClassVar[str] = "email"

        def parse_export(self, path: Path) -> Iterator[ImportItem]:
            yield ContactDraft(
                source_record_id="r1",
                display_name="Odd",
                identities=(
                    IdentityDraft(address="not an address", kind="email"),
                    IdentityDraft(address="odd@example.com"),
                ),
            )
            yield InteractionDraft(
                source_record_id="t1",
                occurred_at=__import__("datetime").datetime(2024, 1, 1, tzinfo=__import__("datetime").UTC),
                channel="message",
                initiated_by="them",
                participants=(IdentityDraft(address="@@@", kind="x"),),
            )

    s = await Importer(node.store).run(Odd(), tmp_path)
    assert (s.people_created, s.identities_added, s.interactions_added) == (1, 1, 0)
    reasons = [r["reason"] for r in s.skipped]
    assert any("'not an address' left out" in r for r in reasons)
    assert any("no participant" in r for r in reasons)
