"""The importer reads, resolves and writes two chunks in step (node/importer.py): the graph it leaves must not
depend on where the chunks break. Every sample export, and a run of rows that merge people across chunks, are
imported with one chunk for everything and with chunks of one, two and three rows; the graphs, read back by
what they hold rather than by their random ids, must be identical, and every reference must hold (imports write
with SQLite's own reference checks off). Each test runs on both engines (``backend``: SQLite, and PostgreSQL,
whose importer writes with COPY and unnest: node/store/postgres/imports.py), and the graph an import leaves
must be the same on both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from bridges.base import Bridge, ContactDraft, IdentityDraft, ImportItem
from bridges.facebook import FacebookBridge
from bridges.google import GoogleContactsBridge
from bridges.linkedin import LinkedInBridge
from bridges.mastodon import MastodonBridge
from bridges.vcard import VCardBridge
from bridges.x import XBridge
from node.importer import Importer, summary_json
from node.store.sqlite import driver
from node.store.sqlite.db import Database
from tests.node.import_helpers import SAMPLES, Node, backend, open_node

__all__ = ["backend"]  # the fixture, imported by name


class _Merging(Bridge):
    """Rows that find people made by earlier rows, so that merges and repeated addresses fall across chunks."""

    name: ClassVar[str] = "vcard"
    scheme: ClassVar[str] = "email"

    def parse_export(self, path: Path) -> Iterator[ImportItem]:
        def row(rid: str, name: str, *addresses: str, **kw: Any) -> ContactDraft:
            ids = tuple(IdentityDraft(address=a) for a in addresses)
            return ContactDraft(source_record_id=rid, display_name=name, identities=ids, **kw)

        yield row("1", "Ann", "ann@example.com")
        yield row("2", "Ann on X", "x:501")
        yield row("3", "", "ann@example.com", "x:501")  # both verified-grade: Ann and "Ann on X" merge
        yield row("4", "Bo", "bo@example.com", circles=("Friends",))
        yield row("5", "", "x:501", "https://bo.example/", notes=("met at the fair",))
        yield row("6", "Bo B", "bo@example.com", "https://www.linkedin.com/in/bo-b")
        yield row("7", "Cy", "https://www.linkedin.com/in/bo-b")  # a slug already Bo's: attaches to Bo
        yield row("1", "Ann Again", "ann@example.com")  # the same record again, changed


SOURCES: list[tuple[Bridge, Path]] = [
    (LinkedInBridge(), SAMPLES / "linkedin" / "export"),
    (XBridge(), SAMPLES / "x" / "archive"),
    (GoogleContactsBridge(), SAMPLES / "google" / "contacts.csv"),
    (VCardBridge(), SAMPLES / "vcard" / "apple_icloud.vcf"),
    (VCardBridge(), SAMPLES / "vcard" / "rfc6350.vcf"),
    (FacebookBridge(), SAMPLES / "facebook" / "export"),
    (MastodonBridge(), SAMPLES / "mastodon" / "export"),
    (_Merging(), SAMPLES),
]


async def _graph(node: Node) -> dict[str, Any]:
    """The graph by content: each person by their names and addresses, never by a random id or a key."""
    people = {
        pk: (name, org, status, tuple(sorted(u for (u,) in await node.rows(
            "SELECT uri FROM identity WHERE person_pk = ?", (pk,)))))
        for pk, name, org, status in await node.rows(
            "SELECT pk, display_name, organization, status FROM person")
    }  # fmt: skip

    def who(pk: Any) -> Any:
        return people.get(pk)

    async def by_person(sql: str) -> list[Any]:
        return sorted(((who(r[0]), *r[1:]) for r in await node.rows(sql)), key=repr)

    return {
        "people": sorted(people.values(), key=repr),
        "identities": sorted(await node.rows("SELECT uri, kind, display, label, verification FROM identity")),
        "provenance": sorted(await node.rows(
            "SELECT i.uri, p.source, p.source_record_id FROM provenance p JOIN identity i ON i.pk = p.identity_pk")),
        "records": await by_person("SELECT person_pk, source, record_id, digest, fields FROM source_record"),
        "relationships": await by_person("SELECT person_pk, type, direction, since FROM relationship"),
        "interactions": await by_person(
            "SELECT ip.person_pk, i.source, i.source_record_id, i.occurred_at, i.channel, i.summary "
            "FROM interaction i JOIN interaction_person ip ON ip.interaction_pk = i.pk"),
        "circles": await by_person(
            "SELECT m.person_pk, c.name FROM circle_member m JOIN circle c ON c.pk = m.circle_pk"),
        "notes": await by_person("SELECT person_pk, body FROM note"),
        "blocks": sorted(await node.rows("SELECT uri, source FROM blocked_address")),
        "merges": await by_person("SELECT survivor_pk, decided_by, evidence FROM merge_log"),
        "suggestions": sorted(
            (sorted((repr(who(a)), repr(who(b)))), tier)
            for a, b, tier in await node.rows("SELECT a_pk, b_pk, tier FROM merge_suggestion")),
        # SQLite keeps no text as NULL, PostgreSQL as '' (node/store/postgres/search.py): the same words
        "search": sorted(
            ((who(r[0]), *(v or "" for v in r[1:])) for r in await node.rows(node.SEARCH_ROWS)), key=repr
        ),
        "stats": await by_person(
            "SELECT pk, interaction_count, last_interaction_at, met_on, due_at FROM person"),
    }  # fmt: skip


async def _import_node(
    node: Node, chunk: int, *, off_loop: bool = False
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    importer = Importer(node.store, chunk=chunk, off_loop=off_loop)
    summaries = []
    for bridge, path in SOURCES:
        summary = await importer.run(bridge, path)
        # Imports write with SQLite's reference checks off (they assign every key themselves): check them.
        assert await node.broken_references() == [], bridge.name
        summaries.append({k: v for k, v in summary_json(summary).items() if k != "seconds"})
    return await _graph(node), summaries


async def _import_all(
    tmp_path: Path, chunk: int, module: Any = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    name = getattr(module, "__name__", "default")
    db = await Database.open(tmp_path / f"chunk{chunk}-{name}.sqlite3", module=module)
    try:
        return await _import_node(Node(db), chunk)
    finally:
        await db.close()


async def _import_on(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, chunk: int, *, off_loop: bool = False
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    node = await open_node(backend, request, tmp_path, f"chunk{chunk}{'_off' if off_loop else ''}")
    try:
        return await _import_node(node, chunk, off_loop=off_loop)
    finally:
        await node.db.close()


@pytest.mark.parametrize("chunk", [1, 2, 3])
async def test_the_graph_does_not_depend_on_where_chunks_break(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, chunk: int
) -> None:
    whole, whole_summaries = await _import_on(backend, request, tmp_path, 10_000)
    assert whole["merges"] and whole["people"] and whole["interactions"]  # the rows did merge and talk
    chunked, chunked_summaries = await _import_on(backend, request, tmp_path, chunk)
    for key in whole:
        assert chunked[key] == whole[key], key
    assert chunked_summaries == whole_summaries


async def test_an_import_off_the_callers_loop_leaves_the_same_graph(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """``off_loop`` (an import through the owner API): the importer runs on an event loop of its own thread; on
    PostgreSQL its statements go back to the loop that owns the connections. The graph is the same."""
    on_loop, on_summaries = await _import_on(backend, request, tmp_path, 2)
    off_loop, off_summaries = await _import_on(backend, request, tmp_path, 2, off_loop=True)
    assert on_loop["people"] and on_loop["merges"]
    for key in on_loop:
        assert off_loop[key] == on_loop[key], key
    assert off_summaries == on_summaries


async def test_an_import_leaves_the_same_graph_on_both_engines(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Every sample, with merges across chunks, imported on SQLite and on PostgreSQL: the same people,
    identities, provenance, records, relationships, interactions, circles, notes, blocks, merges, suggestions,
    search text and statistics, and the same summaries."""
    ours, our_summaries = await _import_on("sqlite", request, tmp_path, 2)
    theirs, their_summaries = await _import_on("postgres", request, tmp_path, 2)
    assert ours["people"] and ours["merges"] and ours["interactions"] and ours["search"]
    for key in ours:
        assert theirs[key] == ours[key], key
    assert their_summaries == our_summaries


@pytest.mark.skipif(len(driver.modules()) < 2, reason="this machine has one SQLite library, the standard one")
async def test_the_graph_does_not_depend_on_the_sqlite_library(tmp_path: Path) -> None:
    # The bundled SQLite reads a chunk with jsonb_each, the standard library's with json_each (driver.py).
    bundled, stdlib = driver.modules()
    assert driver.has_jsonb_each(bundled.sqlite_version)
    ours, our_summaries = await _import_all(tmp_path, 2, bundled)
    theirs, their_summaries = await _import_all(tmp_path, 2, stdlib)
    assert ours["people"] and ours["interactions"] and ours["search"]
    for key in ours:
        assert theirs[key] == ours[key], key
    assert their_summaries == our_summaries


async def test_an_import_sees_a_write_queued_just_before_it(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Look-ups read a snapshot: the import's transaction must not share a group commit with earlier writes
    (SQLite), and must begin after a write that waited for the graph's lock before it (PostgreSQL)."""
    import asyncio

    from bridges.base import ContactDraft, IdentityDraft

    node = await open_node(backend, request, tmp_path, "queued")
    db: Any = node.db
    try:
        gate = asyncio.Event()

        async def hold(_conn: Any) -> None:
            await gate.wait()

        blocker = asyncio.ensure_future(db.write(hold))  # the writer is busy: what follows queues up
        await asyncio.sleep(0.05)
        made = asyncio.ensure_future(
            node.graph.create_person({"display_name": "Ann", "identities": ["mailto:ann@example.com"]})
        )
        await asyncio.sleep(0.05)
        draft = ContactDraft(
            source_record_id="1", display_name="Ann B", identities=(IdentityDraft(address="ann@example.com"),)
        )
        imported = asyncio.ensure_future(Importer(node.store).import_items("vcard", [draft], name="page"))
        await asyncio.sleep(0.05)
        gate.set()
        await blocker
        person = await made
        summary = await imported
        assert (summary.people_created, summary.people_updated) == (0, 0)
        assert (await node.person_of("mailto:ann@example.com"))[1] == person.id
    finally:
        await db.close()


async def test_imported_search_rows_are_what_the_view_would_write(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Imports build search rows in bulk for speed; every other write copies them from the person_search_text
    view. The two must agree, or a person's row would change on their next edit."""
    node = await open_node(backend, request, tmp_path, "search")
    try:
        importer = Importer(node.store, chunk=3)
        for bridge, path in SOURCES:
            await importer.run(bridge, path)
        imported = sorted(await node.rows(node.SEARCH_ROWS))
        viewed = sorted(
            await node.rows("SELECT pk, names, organization, identities, notes FROM person_search_text")
        )
        assert len(imported) > 20
        assert imported == viewed
    finally:
        await node.db.close()


async def test_a_reimport_reads_only_what_changed_and_stays_exact(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Unchanged records are skipped before their addresses or people are read. A record named twice in one
    chunk (the first row changing it, the second putting it back) is still read in full: nothing is added
    twice. A circle the owner removed is not made again by a record that has not changed."""
    node = await open_node(backend, request, tmp_path, "again")

    def card(rid: str, org: str, circles: tuple[str, ...] = (), web: bool = True) -> ContactDraft:
        ids = (IdentityDraft(address=f"{rid}@example.com"), IdentityDraft(address=f"https://{rid}.example/"))
        return ContactDraft(source_record_id=rid, display_name=rid.title(), organization=org,
                            identities=ids if web else ids[:1], circles=circles)  # fmt: skip

    try:
        importer = Importer(node.store, chunk=10)
        first = [card("ann", "Acme", ("Friends",)), card("bo", "Globex")]
        await importer.import_items("vcard", first, name="cards")
        await node.graph.delete_circle("Friends")
        before = await _graph(node)

        again = await importer.import_items("vcard", first, name="cards")
        assert (again.records_unchanged, again.people_updated, again.identities_added) == (2, 0, 0)
        assert await _graph(node) == before  # the removed circle stays removed
        assert await node.count("circle") == 0

        # "ann" twice in one chunk: changed by the first row (which lacks her web site), put back by the second.
        twice = [
            card("ann", "Initech", ("Friends",), web=False),
            card("ann", "Acme", ("Friends",)),
            card("bo", "Globex"),
        ]
        summary = await importer.import_items("vcard", twice, name="cards")
        assert (summary.identities_added, summary.records_unchanged) == (0, 1)
        assert (await node.count("identity"), await node.count("person")) == (4, 2)
        assert (await node.rows("SELECT organization FROM person WHERE display_name = 'Ann'"))[0][0] == "Acme"
        assert await node.broken_references() == []
    finally:
        await node.db.close()
