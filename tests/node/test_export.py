"""Export everything, restore everything: JSON -> restore into an empty node -> JSON again is identical, for a
node holding every kind of data; a restore checks every value by the API's rules, all or nothing; vCard 4.0
parses back."""

from __future__ import annotations

import asyncio
import copy
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bridges.base import ContactDraft
from bridges.vcard import VCardBridge
from node.capture.links import caldav_links, imap_links, password_of
from node.capture.proposals import list_proposals
from node.context import AccountContext
from node.errors import BadInput, Conflict
from node.exporting import TOKEN_LEFT_OUT, vcards
from node.graph import Graph
from node.link_secrets import open_secret
from node.owner_card import get_card, get_disclosure, set_card
from node.restore_rules import FED_SETTINGS, TABLE_RULES
from node.store.export import EXPORT_TABLES, EXPORTED_FED_SETTINGS, GRAPH_TABLES, LOOP_TABLES
from node.store.federation import FEDERATION_COLUMNS
from node.store.sqlite.db import SERVER_MIGRATIONS, Database
from node.store.sqlite.rows import fetch_all
from tests.conftest import Api, CliResult, FixedClock, run_cli
from tests.node.export_helpers import (
    BOB,
    CALENDAR,
    CAROL,
    MAILBOX,
    PASSPHRASE,
    account_graph,
    federation_rows,
    populate_everything,
    populate_graph,
)


@dataclass
class Source:
    graph: Graph
    ids: dict[str, str]
    doc: dict[str, Any]


@pytest.fixture
async def source(tmp_path: Path, clock: FixedClock) -> AsyncIterator[Source]:
    """A node holding every kind of data, and its export."""
    async with account_graph(tmp_path / "source", clock) as graph:
        ids = await populate_everything(graph, tmp_path, clock)
        yield Source(graph, ids, await graph.export_json())


_RICH_DOC: list[dict[str, Any]] = []


@pytest.fixture
async def rich_doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The export of a node holding every kind of data, made once for the tests that only change copies of it."""
    if not _RICH_DOC:
        folder = tmp_path_factory.mktemp("rich")
        clock = FixedClock()
        async with account_graph(folder / "rich", clock) as graph:
            await populate_everything(graph, folder, clock)
            _RICH_DOC.append(await graph.export_json())
    return copy.deepcopy(_RICH_DOC[0])


@pytest.fixture
async def empty(tmp_path: Path, clock: FixedClock) -> AsyncIterator[Graph]:
    """A new account, as `kith account add` leaves it, to restore into."""
    async with account_graph(tmp_path / "empty", FixedClock(clock())) as graph:
        yield graph


def _strip(doc: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    out.pop("exported_at")
    return out


async def assert_nothing_written(graph: Graph) -> None:
    doc = await graph.export_json()
    assert {t: spec["rows"] for t, spec in doc["tables"].items() if spec["rows"]} == {}
    assert doc["card"] == {} and doc["disclosure"] == {} and doc["digest"] == {} and doc["capture"] == {}


async def test_json_round_trip_is_lossless(source: Source, empty: Graph) -> None:
    first = source.doc
    tables = first["tables"]
    assert first["format"] == "kith-export" and first["version"] == 3
    # Everything is in it: the graph, signed records, follows both ways, the card and its rules, links.
    assert {r[1] for r in tables["fed_follows"]["rows"]} == {"in", "out"}
    finals = [json.loads(r[5]) for r in tables["fed_offers"]["rows"] if r[5]]
    assert len(finals) == 1 and len(finals[0]["proof"]) == 2
    signed = [
        r for r in tables["relationship"]["rows"] if r[tables["relationship"]["columns"].index("record_json")]
    ]
    assert len(signed) == 1
    assert first["card"]["identities"] == ["acct:alice@social.example"]  # entered as @alice@social.example
    assert first["disclosure"]["email"] == ["friends"]
    assert len(tables["bridge_link"]["rows"]) == 4 and len(tables["sync_cursor"]["rows"]) == 3
    # The loop's: mail headers and correspondents, reminders, a preferred channel, the links' and digest's settings.
    assert all(tables[t]["rows"] for t in LOOP_TABLES) and "digest_sent" not in tables
    assert set(first["capture"]) == {f"imap:{MAILBOX}", f"caldav:{CALENDAR}"}
    assert first["digest"] == {"every": "weekly", "to": "alice@example.org", "hour": 8, "weekday": 4}
    assert {r[0] for r in tables["fed_blocks"]["rows"]} == {"actor", "domain"}
    assert tables["fed_blocked_by"]["rows"] and len(tables["fed_settings"]["rows"]) == 2
    assert all(
        tables[t]["rows"] for t in ("source_record", "merge_log", "merge_suggestion", "blocked_address")
    )

    counts = await empty.import_json(copy.deepcopy(first))
    assert counts["person"] == len(tables["person"]["rows"]) and counts["card"] == 1
    empty.clock.advance(days=3)  # type: ignore[attr-defined]
    second = await empty.export_json()
    assert _strip(second) == _strip(first)

    # The restored node works: search, the merge's undo, the card, federation's rows, the sealed token.
    assert [p.id for p in (await empty.search("poetry")).items] == [source.ids["a"]]
    await empty.unmerge(source.ids["merge"])
    assert [p.id for p in (await empty.search("away")).items] == [source.ids["m"]]
    assert (await get_card(empty.store))["name"] == "Alice Example"
    assert (await get_disclosure(empty.store))["identities"] == ["*"]
    fed = federation_rows(empty)
    assert [f.actor_id for f in await fed.follows("in", ["accepted"])] == [BOB]
    assert [f.actor_id for f in await fed.follows("in", ["pending"])] == [CAROL]
    assert await fed.is_blocked("https://www.spam.example/users/x") and await fed.is_blocked_by(
        "https://grump.example/users/grump"
    )
    assert await fed.setting("moved_to") == "https://new.example/users/alice"
    links = {r.source: r for r in await empty.store.links.get("mastodon", None)}
    assert open_secret(
        links["mastodon"].secret, passphrase=PASSPHRASE, source="mastodon", account="alice"
    ) == {"access_token": "t-sealed"}
    # The loop's state works in the restored node: the mailbox with its settings and sealed password, where
    # it resumes, the calendar left revoked (its password was in the clear), proposals, reminders, preference.
    [mailbox] = await imap_links(empty.store)
    assert (mailbox.account, mailbox.folders, mailbox.subjects) == (MAILBOX, ("INBOX", "Archive"), True)
    assert mailbox.me == ("mailto:alice@example.org",)
    assert await password_of(empty.store, "imap", MAILBOX, PASSPHRASE) == "imap-secret"
    assert await empty.store.links.cursor("imap", MAILBOX, "INBOX") == {"uidvalidity": 7, "uid": 3}
    [calendar] = await caldav_links(empty.store)
    assert calendar.status == "revoked" and calendar.url == "https://dav.example.org/cal/alice/"
    assert [p.address for p in await list_proposals(empty)] == ["mailto:carol@example.net"]
    outreach = empty.store.outreach
    assert await outreach.hidden(source.graph.now()) == {  # the restored clock is three days on
        f"due:{source.ids['b']}:2026-11-30",
        f"birthday:{source.ids['a']}:2026",
    }
    assert await outreach.preferred(source.ids["a"]) == "mailto:ada@engines.example"
    assert await outreach.digests() == []  # which digests went out is the old node's, not the restored one's
    # A second restore into a node that now holds data is refused, whole.
    with pytest.raises(Conflict):
        await empty.import_json(first)


async def test_an_export_carries_no_secret_in_the_clear(source: Source) -> None:
    text = json.dumps(source.doc)
    assert "t-plain" not in text and "t-sealed" not in text  # one token left out, the other sealed
    (bluesky,) = [r for r in source.doc["tables"]["bridge_link"]["rows"] if r[0] == "bluesky"]
    assert bluesky[3:5] == ["", "revoked"] and bluesky[7] == TOKEN_LEFT_OUT
    assert "owner_token_sha256" not in text and "fed_inbox" not in source.doc["tables"]
    assert any("Left out on purpose" in note for note in source.doc["notes"])


async def test_derived_values_are_computed_again_not_taken(source: Source, empty: Graph) -> None:
    doc = copy.deepcopy(source.doc)
    spec = doc["tables"]["person"]
    cols = spec["columns"]
    for row in spec["rows"]:
        if row[cols.index("status")] != "merged":
            row[cols.index("interaction_count")] = 10**6
            row[cols.index("initiated_by_them")] = 10**6
            row[cols.index("last_interaction_at")] = "2000-01-01T00:00:00Z"
            row[cols.index("due_at")] = None
    await empty.import_json(doc)
    assert _strip(await empty.export_json()) == _strip(source.doc)


async def test_a_version_1_export_still_restores(source: Source, empty: Graph) -> None:
    """Version 1 carried the contact graph's tables only."""
    old = {
        "format": "kith-export",
        "version": 1,
        "schema": 5,
        "exported_at": "2026-01-01T00:00:00Z",
        "tables": {t: spec for t, spec in source.doc["tables"].items() if t in GRAPH_TABLES},
    }
    await empty.import_json(old)
    assert (await empty.list_people()).total == (await source.graph.list_people()).total
    assert await get_card(empty.store) == {}


async def test_a_version_2_export_still_restores(source: Source, empty: Graph) -> None:
    """Version 2 had no stay-in-touch loop: no captured mail, reminders, preferences, digest or link settings,
    and only the silos' links."""
    old = copy.deepcopy(source.doc)
    old["version"] = 2
    del old["digest"], old["capture"]
    for table in LOOP_TABLES:
        del old["tables"][table]
    for table in ("bridge_link", "sync_cursor"):
        old["tables"][table]["rows"] = [
            r for r in old["tables"][table]["rows"] if r[0] not in ("imap", "caldav")
        ]
    await empty.import_json(old)
    assert (await empty.list_people()).total == (await source.graph.list_people()).total
    assert await imap_links(empty.store) == [] and len(await empty.store.links.get("mastodon", None)) == 1


async def test_line_breaks_written_otherwise_are_line_breaks(rich_doc: dict[str, Any], empty: Graph) -> None:
    """Imports keep text as the exporting system wrote it (CR LF in a note, say); the API's text rule keeps line
    breaks as LF, so such a note is restored, not refused, and the rest is unchanged."""
    _cell("note", "body", "first line\r\nsecond line")(rich_doc)
    await empty.import_json(rich_doc)
    doc = await empty.export_json()
    notes = doc["tables"]["note"]
    assert notes["rows"][0][notes["columns"].index("body")] == "first line\nsecond line"
    _cell("note", "body", "first line\nsecond line")(rich_doc)
    assert _strip(doc) == _strip(rich_doc)


# -- hostile documents: each value the API refuses, the same value in a restore ----------------------------------
def _cell(table: str, column: str, value: Any, row: int = 0) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        spec = doc["tables"][table]
        spec["rows"][row][spec["columns"].index(column)] = value

    return mutate


def _json_cell(table: str, column: str, change: Callable[[Any], Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        spec = doc["tables"][table]
        at = spec["columns"].index(column)
        row = next(r for r in spec["rows"] if r[at] is not None)
        row[at] = json.dumps(change(json.loads(row[at])))

    return mutate


def _snapshot_row(column: str, value: Any) -> Callable[[Any], Any]:
    def change(snap: Any) -> Any:
        snap["merged"]["row"][column] = value
        return snap

    return change


def _set_all(table: str, column: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        spec = doc["tables"][table]
        at = spec["columns"].index(column)
        for r in spec["rows"]:
            r[at] = value

    return mutate


HOSTILE: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    # text the API refuses: NUL and other control characters, lone surrogates, a megabyte of name, not text
    ("NUL in a name", _cell("person", "display_name", "Ann\x00Lee"), "person.display_name"),
    ("escape sequence", _cell("person", "organization", "\x1b[31mred"), "person.organization"),
    ("lone surrogate", _cell("person", "given_name", "Ann\ud800"), "person.given_name"),
    ("1 MB name", _cell("person", "display_name", "A" * 1_000_000), "person.display_name"),
    ("a number for a name", _cell("person", "family_name", 42), "person.family_name"),
    ("javascript photo", _cell("person", "photo_url", "javascript:alert(1)"), "person.photo_url"),
    ("bad birthday", _cell("person", "birthday", "1990-13-45"), "person.birthday"),
    ("garbage last touch", _cell("person", "last_interaction_at", "garbage"), "person.last_interaction_at"),
    ("garbage due", _cell("person", "due_at", "garbage"), "person.due_at"),
    ("garbage created", _cell("person", "created_at", "yesterday"), "person.created_at"),
    ("priority 7", _cell("person", "priority", 7), "person.priority"),
    ("priority true", _cell("person", "priority", True), "person.priority"),
    ("cadence 0", _cell("person", "cadence_days", 0), "person.cadence_days"),
    ("negative count", _cell("person", "interaction_count", -1), "person.interaction_count"),
    ("unknown status", _cell("person", "status", "deleted"), "person.status"),
    ("an id with a path", _cell("person", "id", "p_../../etc"), "person.id"),
    ("a row id past SQLite's integers", _cell("person", "pk", 2**70), "person.pk"),
    ("merged into nobody's status", _set_all("person", "merged_into", 1), "person.merged_into"),
    ("not an address", _cell("identity", "uri", "javascript:alert(1)"), "identity.uri"),
    ("unknown identity kind", _cell("identity", "kind", "carrier-pigeon"), "identity.kind"),
    ("unknown verification", _cell("identity", "verification", "trust-me"), "identity.verification"),
    ("label with a bell", _cell("identity", "label", "work\x07"), "identity.label"),
    ("provenance time", _cell("provenance", "seen_at", "soon"), "provenance.seen_at"),
    ("fields not an object", _cell("source_record", "fields", "[1, 2]"), "source_record.fields"),
    ("empty circle name", _cell("circle", "name", "  "), "circle.name"),
    ("unknown relationship type", _cell("relationship", "type", "nemesis"), "relationship.type"),
    (
        "type and iri disagree",
        _cell("relationship", "iri", "http://gmpg.org/xfn/11#spouse"),
        "relationship.iri",
    ),
    ("relationship since", _cell("relationship", "since", "garbage"), "relationship.since"),
    (
        "record a bare string",
        _json_cell("relationship", "record_json", lambda r: "x"),
        "relationship.record_json",
    ),
    (
        "record not a relationship",
        _json_cell("relationship", "record_json", lambda r: {"type": "Note", "id": r["id"]}),
        "relationship.record_json",
    ),
    ("interaction time", _cell("interaction", "occurred_at", "garbage"), "interaction.occurred_at"),
    (
        "interaction in 2999",
        _cell("interaction", "occurred_at", "2999-01-01T00:00:00Z"),
        "interaction.occurred_at",
    ),
    ("unknown channel", _cell("interaction", "channel", "telepathy"), "interaction.channel"),
    ("summary with a lone surrogate", _cell("interaction", "summary", "\udc00"), "interaction.summary"),
    ("empty note", _cell("note", "body", ""), "note.body"),
    ("note with NUL", _cell("note", "body", "a\x00b"), "note.body"),
    ("evidence not a list", _cell("merge_log", "evidence", '"x"'), "merge_log.evidence"),
    (
        "snapshot row with NUL",
        _json_cell("merge_log", "snapshot", _snapshot_row("display_name", "x\x00")),
        "merge_log.snapshot",
    ),
    (
        "snapshot row with a garbage date",
        _json_cell("merge_log", "snapshot", _snapshot_row("last_interaction_at", "garbage")),
        "merge_log.snapshot",
    ),
    (
        "snapshot of another person",
        _json_cell("merge_log", "snapshot", _snapshot_row("pk", 99)),
        "merge_log.snapshot",
    ),
    ("suggestion evidence", _cell("merge_suggestion", "evidence", "[1]"), "merge_suggestion.evidence"),
    ("blocked garbage", _cell("blocked_address", "uri", "not an address"), "blocked_address.uri"),
    ("token in the clear", _cell("bridge_link", "secret", '{"access_token": "t"}', 1), "bridge_link.secret"),
    ("damaged sealed token", _cell("bridge_link", "secret", "enc:v1:!!", 1), "bridge_link.secret"),
    (
        "a file URL for a server",
        _cell("bridge_link", "base_url", "file:///etc/passwd"),
        "bridge_link.base_url",
    ),
    ("link left active without a token", _cell("bridge_link", "status", "active"), "bridge_link.status"),
    ("cursor not an object", _cell("sync_cursor", "cursor", "7"), "sync_cursor.cursor"),
    ("follow of javascript", _cell("fed_follows", "actor_id", "javascript:alert(1)"), "fed_follows.actor_id"),
    ("unknown follow state", _cell("fed_follows", "state", "friends-forever"), "fed_follows.state"),
    ("follow time NaN", _cell("fed_follows", "created_at", float("nan")), "fed_follows.created_at"),
    ("offer of a note", _cell("fed_offers", "record", '{"type": "Note"}'), "fed_offers.record"),
    ("offer type", _cell("fed_offers", "rel_type", "nemesis"), "fed_offers.rel_type"),
    ("blocked domain", _cell("fed_blocks", "value", "not a domain!"), "fed_blocks.value"),
    ("aliases", _cell("fed_settings", "value", '["not a url"]'), "fed_settings.value"),
    ("unknown setting", _cell("fed_settings", "key", "admin"), "fed_settings.key"),
    # the card: the API's rules for it (an identity must be an address, a photo a URL)
    ("card identity", lambda d: d["card"].update(identities=["not an address at all"]), "card.identities"),
    ("card photo", lambda d: d["card"].update(photo="javascript:alert(1)"), "card.photo"),
    ("card local phone", lambda d: d["card"].update(phone=["0123 456 789"]), "card.phone"),
    ("card name lone surrogate", lambda d: d["card"].update(name="Alice\ud800"), "card.name"),
    ("card summary NUL", lambda d: d["card"].update(summary="a\x00b"), "card.summary"),
    ("card without a name", lambda d: d["card"].pop("name"), "card.name"),
    ("disclosure of no field", lambda d: d["disclosure"].update(password=["*"]), "card.password"),
    # the document's shape
    ("not an export", lambda d: d.update(format="something-else"), "format"),
    (
        "a table we do not restore",
        lambda d: d["tables"].update(sqlite_master={"columns": [], "rows": []}),
        "tables",
    ),
    (
        "an unknown column",
        lambda d: d["tables"]["person"]["columns"].append("evil; DROP TABLE person"),
        "person",
    ),
    ("a column twice", lambda d: d["tables"]["note"]["columns"].__setitem__(1, "pk"), "note"),
    ("a short row", lambda d: d["tables"]["person"]["rows"][0].pop(), "person"),
    ("a nested value", _cell("note", "body", {"nested": 1}), "note"),
    (
        "a duplicate identity",
        lambda d: d["tables"]["identity"]["rows"].append(list(d["tables"]["identity"]["rows"][0])),
        "identity",
    ),
    ("a dangling reference", _set_all("identity", "person_pk", 999_999), "identity"),
    ("an unknown key", lambda d: d.update(extra=1), "document"),
    # the stay-in-touch loop's tables, links and settings
    ("message id with NUL", _cell("mail_message", "message_id", "<a\x00b@x>"), "mail_message.message_id"),
    ("message from_owner 2", _cell("mail_message", "from_owner", 2), "mail_message.from_owner"),
    ("message in 2999", _cell("mail_message", "occurred_at", "garbage"), "mail_message.occurred_at"),
    ("subject escape", _cell("mail_message", "subject", "\x1b[2Jhi"), "mail_message.subject"),
    (
        "participant not folded",
        _cell("mail_participant", "address", "mailto:Carol+x@Example.NET"),
        "mail_participant.address",
    ),
    (
        "participant script",
        _cell("mail_participant", "address", "javascript:alert(1)"),
        "mail_participant.address",
    ),
    ("correspondent status", _cell("mail_correspondent", "status", "friend"), "mail_correspondent.status"),
    ("correspondent count", _cell("mail_correspondent", "sent", -1), "mail_correspondent.sent"),
    ("a dangling participant", _set_all("mail_participant", "message_pk", 999_999), "mail_participant"),
    ("reminder key", _cell("reminder_state", "item", "due:p_x;drop table"), "reminder_state.item"),
    ("snoozed forever", _set_all("reminder_state", "until", None), "reminder_state.until"),
    ("preferred garbage", _cell("reach_preference", "uri", "not an address"), "reach_preference.uri"),
    (
        "mailbox at a web address",
        lambda d: _link_cell(d, "imap", "base_url", "https://imap.example.org"),
        "bridge_link.base_url",
    ),
    (
        "silo at a mailbox address",
        lambda d: _link_cell(d, "mastodon", "base_url", "imaps://social.example:993"),
        "bridge_link.base_url",
    ),
    ("link of no source", lambda d: _link_cell(d, "imap", "source", "pop3"), "bridge_link.source"),
    (
        "calendar cursor to a file",
        _cell("sync_cursor", "direction", "file:///etc/passwd"),
        "sync_cursor.direction",
    ),
    ("silo cursor sideways", _cell("sync_cursor", "direction", "sideways", 2), "sync_cursor.direction"),
    (
        "mailbox in the clear",
        lambda d: d["capture"][f"imap:{MAILBOX}"].update(security="plain"),
        "capture.security",
    ),
    ("mailbox port true", lambda d: d["capture"][f"imap:{MAILBOX}"].update(port=True), "capture.port"),
    (
        "settings with a password",
        lambda d: d["capture"][f"imap:{MAILBOX}"].update(password="x"),
        "capture.imap",
    ),
    (
        "settings filed under another link",
        lambda d: d["capture"].update({"imap:eve@evil.example": d["capture"].pop(f"imap:{MAILBOX}")}),
        "capture.account",
    ),
    ("a link without its settings", lambda d: d["capture"].pop(f"caldav:{CALENDAR}"), "capture"),
    (
        "settings without their link",
        lambda d: _link_cell(d, "caldav", "account", "alice@other.example"),
        "capture",
    ),
    ("capture not an object", lambda d: d.update(capture=["imap"]), "capture"),
    ("digest to a list", lambda d: d["digest"].update(to="a@b.example, eve@evil.example"), "digest.to"),
    ("digest on without an address", lambda d: d["digest"].update(to=""), "digest.to"),
    ("digest at 25 o'clock", lambda d: d["digest"].update(hour=25), "digest.hour"),
    ("digest of no frequency", lambda d: d["digest"].update(every="hourly"), "digest.every"),
]


def _link_cell(doc: dict[str, Any], source: str, column: str, value: Any) -> None:
    spec = doc["tables"]["bridge_link"]
    row = next(r for r in spec["rows"] if r[spec["columns"].index("source")] == source)
    row[spec["columns"].index(column)] = value


@pytest.mark.parametrize(("mutate", "field"), [(m, f) for _, m, f in HOSTILE], ids=[n for n, _, _ in HOSTILE])
async def test_hostile_restore_is_refused_whole(
    rich_doc: dict[str, Any], empty: Graph, mutate: Callable[[dict[str, Any]], None], field: str
) -> None:
    doc = rich_doc
    mutate(doc)
    with pytest.raises(BadInput) as info:
        await empty.import_json(doc)
    assert info.value.field == field
    assert "nothing was written" in info.value.message or "." not in field
    if "." in field and not field.startswith(("card.", "digest.", "capture.")):
        assert "row " in info.value.message and "nothing was written" in info.value.message
    await assert_nothing_written(empty)


async def test_restore_refuses_a_node_that_holds_anything(source: Source, empty: Graph) -> None:
    await set_card(empty.store, {"name": "Someone Else"})
    with pytest.raises(Conflict, match="card"):
        await empty.import_json(source.doc)
    assert (await empty.list_people()).total == 0 and await empty.circles() == []
    assert (await get_card(empty.store)) == {"name": "Someone Else"}


@pytest.mark.parametrize("key", ["digest.settings", f"capture:imap:{MAILBOX}"])
async def test_restore_refuses_a_node_with_settings_of_its_own(
    source: Source, empty: Graph, key: str
) -> None:
    """The loop's settings are meta rows like the card: a node that has its own is not empty, and the restore
    says so whole (a second row under the same key was a database error)."""
    await empty.store.misc.meta_set(key, "{}")
    with pytest.raises(Conflict, match=re.escape(key)):
        await empty.import_json(source.doc)
    assert (await empty.list_people()).total == 0 and await empty.store.misc.meta_get(key) == "{}"


async def test_restore_refuses_a_node_with_a_follower(source: Source, empty: Graph) -> None:
    await federation_rows(empty).add_follow(
        follow_id="https://x.example/f/1",
        direction="in",
        actor_id="https://x.example/u",
        state="pending",
        now=1.0,
    )
    with pytest.raises(Conflict, match="fed_follows"):
        await empty.import_json(source.doc)
    assert (await empty.list_people()).total == 0


async def test_vcard_export_parses_back(ctx: AccountContext, clock: FixedClock, tmp_path: Path) -> None:
    ids = await populate_graph(ctx.graph, tmp_path, clock)
    text = await vcards(ctx.graph)
    assert "VERSION:4.0" in text
    path = tmp_path / "people.vcf"
    path.write_text(text, encoding="utf-8")
    cards = {c.display_name: c for c in VCardBridge().parse_export(path) if isinstance(c, ContactDraft)}
    # active people only: Ada (with Merged Away inside), Charles, and the two Graces
    assert set(cards) == {"Ada Lovelace", "Charles Babbage", "Grace Hopper", "Amazing Grace"}
    ada = cards["Ada Lovelace"]
    assert ada.given_name == "Ada" and ada.family_name == "Lovelace"
    assert ada.organization == "Engines Ltd" and ada.title == "Analyst"
    assert ada.birthday == date(1815, 12, 10)
    assert set(ada.circles) == {"science", "friends"}
    assert set(ada.notes) == {"likes poetry", "old note"}
    person = await ctx.graph.get_person(ids["a"])
    exported = {ctx.graph.normalize(i.address, i.kind).uri for i in ada.identities}
    assert exported == {i.uri for i in person.identities}
    charles = cards["Charles Babbage"]
    assert charles.birthday is not None and (charles.birthday.month, charles.birthday.day) == (2, 29)


async def test_failed_import_spares_writes_batched_with_it(source: Source, empty: Graph) -> None:
    doc = copy.deepcopy(source.doc)
    _set_all("note", "person_pk", 424_242)(doc)
    results = await asyncio.gather(
        empty.import_json(doc),
        empty.store.misc.meta_set("written beside a failing import", "yes"),
        return_exceptions=True,
    )
    assert isinstance(results[0], BadInput) and results[0].field == "note"
    assert await empty.store.misc.meta_get("written beside a failing import") == "yes"
    await assert_nothing_written(empty)
    # Foreign keys are enforced again after the import.
    with pytest.raises(Exception, match="FOREIGN KEY"):
        await empty.store.db.write(_orphan_note)


async def _orphan_note(conn: Any) -> None:
    await conn.execute(
        "INSERT INTO note (id, person_pk, body, created_at, updated_at) VALUES ('n', 77, 'b', 't', 't')"
    )


# -- the same restore through the owner API and the CLI ---------------------------------------------------------
async def test_restore_over_the_api_checks_everything_then_takes_it_whole(
    api: Api, rich_doc: dict[str, Any]
) -> None:
    for mutate, field in (
        (_cell("person", "display_name", "Ann\x00"), "person.display_name"),
        (_cell("person", "last_interaction_at", "garbage"), "person.last_interaction_at"),
        (_cell("person", "photo_url", "javascript:alert(1)"), "person.photo_url"),
        (lambda d: d["card"].update(identities=["no address"]), "card.identities"),
    ):
        doc = copy.deepcopy(rich_doc)
        mutate(doc)
        status, body = await api.post("/api/import/json", doc)
        assert status == 400 and body["error"]["field"] == field, body
    # A lone surrogate, as JSON can carry it: refused with a 400, not a 500.
    text = json.dumps(rich_doc).replace('"Ada Lovelace"', '"Ada \\ud800"', 1)
    status, body = await api.call(
        "POST", "/api/import/json", data=text.encode(), headers={"Content-Type": "application/json"}
    )
    assert status == 400 and body["error"]["field"] == "person.display_name"
    await assert_nothing_written(api.ctx.graph)

    status, body = await api.post("/api/import/json", rich_doc)
    assert status == 201 and body["imported"]["person"] == len(rich_doc["tables"]["person"]["rows"])
    status, again = await api.get("/api/export?format=json")
    assert status == 200 and _strip(again) == _strip(rich_doc)
    status, body = await api.post("/api/import/json", rich_doc)
    assert status == 409


async def test_restore_from_the_cli_says_what_is_wrong_in_one_line(
    data_dir: Path, tmp_path: Path, rich_doc: dict[str, Any]
) -> None:
    async def restore(text: str) -> CliResult:
        path = tmp_path / "export.json"
        path.write_text(text, encoding="utf-8")
        return await asyncio.to_thread(run_cli, "--data", data_dir, "restore", path)

    hostile = {
        "lone surrogate": json.dumps(rich_doc).replace('"Ada Lovelace"', '"Ada \\udfff"', 1),
        "megabyte name": json.dumps(rich_doc).replace('"Ada Lovelace"', json.dumps("A" * 1_000_000), 1),
        "garbage date": json.dumps(rich_doc).replace('"2026-11-22T12:00:00Z"', '"garbage"', 1),
        "nested too deep": "[" * 100_000 + "]" * 100_000,
        "not JSON": "{ nope",
        "a list": "[]",
    }
    for what, text in hostile.items():
        result = await restore(text)
        lines = result.err.strip().splitlines()
        assert result.code == 1 and len(lines) == 1 and lines[0].startswith("kith: "), (what, result.err)
        assert "Traceback" not in result.err
    export = await asyncio.to_thread(run_cli, "--data", data_dir, "export")
    assert all(not spec["rows"] for spec in json.loads(export.out)["tables"].values())

    result = await restore(json.dumps(rich_doc))
    assert result.code == 0, result.err
    assert result.out.startswith(f"restored {len(rich_doc['tables']['person']['rows'])} people, ")
    assert "your card" in result.out and "live-sync links" in result.out
    export = await asyncio.to_thread(run_cli, "--data", data_dir, "export")
    assert _strip(json.loads(export.out)) == _strip(rich_doc)


# -- the rules keep up with the schema ---------------------------------------------------------------------------
async def test_every_exported_column_has_a_restore_rule(tmp_path: Path) -> None:
    """A column added by a migration must get a rule here, or its exports could not be restored. Federation's
    tables are in the server database, with the account in every row; an export carries their other columns."""
    db = await Database.open(tmp_path / "schema.sqlite3")
    server = await Database.open(tmp_path / "server.sqlite3", schema=SERVER_MIGRATIONS)
    try:
        for table in EXPORT_TABLES:
            where = server if table in FEDERATION_COLUMNS else db
            cols = await where.read(lambda conn, t=table: fetch_all(conn, f"PRAGMA table_info({t})"))
            names = [c[1] for c in cols]
            if table in FEDERATION_COLUMNS:  # the account is the document's; record_id derives from record
                names = [n for n in names if n not in ("account", "record_id")]
            assert names == list(TABLE_RULES[table]), table
            if table in FEDERATION_COLUMNS:
                assert names == list(FEDERATION_COLUMNS[table]), table
    finally:
        await db.close()
        await server.close()
    assert list(TABLE_RULES) == list(EXPORT_TABLES)


def test_every_federation_setting_has_a_restore_rule() -> None:
    """What each of federation's settings holds is checked at restore: a new setting needs its rule."""
    written: set[str] = set()
    for path in (Path(__file__).resolve().parents[2] / "federation").glob("*.py"):
        written |= set(re.findall(r'set_setting\(\s*"([^"]+)"', path.read_text(encoding="utf-8")))
    assert written and written <= set(FED_SETTINGS)
    assert set(FED_SETTINGS) == set(EXPORTED_FED_SETTINGS)
