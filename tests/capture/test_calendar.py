"""Calendars: iCalendar files through `kith import` (bridges/ical.py) and CalDAV collections on a real Radicale:
meetings with each attendee, once; recurrence bounded however it is written; hostile files skipped event by
event, never the whole file."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bridges.base import InteractionDraft, Skipped
from bridges.ical import MAX_OCCURRENCES, calendar_items
from node.capture.caldav import sync_caldav
from node.capture.links import link_caldav
from node.config import write_config
from node.context import AccountContext
from node.errors import BadInput
from node.graph import iso
from node.importer import Importer
from tests.capture.servers import Radicale
from tests.conftest import T0, FixedClock, new_server_account, run_cli

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture
async def ctx(tmp_path: Path, clock: FixedClock, engine: str) -> AsyncIterator[AccountContext]:
    """The account, on each storage engine in turn (tests/support/engines.py)."""
    context = await new_server_account(tmp_path / "node", clock=clock)
    try:
        yield context
    finally:
        await context.close()


@pytest.fixture
def folder(tmp_path: Path, engine: str) -> Path:
    """A server folder with the account alice, as `kith init` leaves it (its kith.toml names its storage), on
    each storage engine in turn, and nothing holding it open: the commands open it themselves."""

    async def make() -> Path:
        context = await new_server_account(tmp_path / "node")
        write_config(context.config)
        await context.close()
        return context.config.data_dir

    return asyncio.run(make())


def ics(*events: str, extra: str = "") -> str:
    body = "".join(
        f"BEGIN:VEVENT\r\nDTSTAMP:20260101T000000Z\r\n{e.strip()}\r\nEND:VEVENT\r\n" for e in events
    )
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//kith tests//EN\r\n{extra}{body}END:VCALENDAR\r\n"


def items(
    text: str, owner: tuple[str, ...] = ("me@example.org",)
) -> tuple[list[InteractionDraft], list[Skipped]]:
    got = list(calendar_items(text, owner=owner, now=NOW))
    return [i for i in got if isinstance(i, InteractionDraft)], [i for i in got if isinstance(i, Skipped)]


ONE_ON_ONE = """UID:weekly-ada
DTSTART;TZID=Europe/Berlin:20260105T100000
RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=4
EXDATE;TZID=Europe/Berlin:20260112T100000
ORGANIZER;CN=Me:mailto:me@example.org
ATTENDEE;CN="Lovelace, Ada":mailto:ada@example.org"""


def test_meetings_with_each_attendee_and_no_one_else() -> None:
    drafts, skipped = items(
        ics(
            ONE_ON_ONE,
            """UID:team
DTSTART:20260301T150000Z
ORGANIZER:mailto:bob@example.org
ATTENDEE;PARTSTAT=ACCEPTED:mailto:me+cal@Example.org
ATTENDEE;PARTSTAT=DECLINED:mailto:carol@example.org
ATTENDEE;CUTYPE=ROOM;CN=Room 1:mailto:room1@example.org
ATTENDEE:mailto:dan@example.org""",
            "UID:cancelled\r\nDTSTART:20260302T150000Z\r\nSTATUS:CANCELLED\r\nATTENDEE:mailto:bob@example.org",
            "UID:future\r\nDTSTART:20990101T150000Z\r\nATTENDEE:mailto:bob@example.org",
            "UID:alone\r\nDTSTART:20260303T150000Z\r\nORGANIZER:mailto:me@example.org",
        )
    )
    assert skipped == []
    by_id = {d.source_record_id: d for d in drafts}
    # Weekly on Mondays, four times, one excepted: 10:00 in Berlin is 09:00 UTC in winter.
    assert sorted(k for k in by_id if k.startswith("weekly-ada")) == [
        "weekly-ada@20260105T090000Z",
        "weekly-ada@20260119T090000Z",
        "weekly-ada@20260126T090000Z",
    ]
    ada = by_id["weekly-ada@20260105T090000Z"]
    assert (ada.channel, ada.initiated_by) == ("meeting", "owner")
    assert [(p.address, p.label) for p in ada.participants] == [("ada@example.org", "Lovelace, Ada")]
    team = by_id["team@20260301T150000Z"]
    assert team.initiated_by == "them"
    assert sorted(p.address for p in team.participants) == ["bob@example.org", "dan@example.org"]
    assert not any(k.startswith(("cancelled", "future", "alone")) for k in by_id)


def test_recurrence_without_end_or_that_no_date_satisfies_stays_bounded() -> None:
    drafts, skipped = items(
        ics(
            "UID:forever\r\nDTSTART:19000101T090000Z\r\nRRULE:FREQ=DAILY\r\nATTENDEE:mailto:ada@example.org",
            "UID:never\r\nDTSTART:20000101T090000Z\r\nRRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30\r\n"
            "ATTENDEE:mailto:bob@example.org",
            "UID:never-monthly\r\nDTSTART:20000131T090000Z\r\nRRULE:FREQ=MONTHLY;BYMONTH=2;BYMONTHDAY=31;INTERVAL=1\r\n"
            "ATTENDEE:mailto:bob@example.org",
            "UID:seconds\r\nDTSTART:20260101T090000Z\r\nRRULE:FREQ=SECONDLY\r\nATTENDEE:mailto:carol@example.org",
            "UID:huge-interval\r\nDTSTART:20260101T090000Z\r\nRRULE:FREQ=YEARLY;INTERVAL=9999\r\n"
            "ATTENDEE:mailto:dan@example.org",
            "UID:setpos\r\nDTSTART:20260101T090000Z\r\nRRULE:FREQ=MONTHLY;BYDAY=MO,TU;BYSETPOS=-1\r\n"
            "ATTENDEE:mailto:erin@example.org",
        )
    )
    forever = [d for d in drafts if d.source_record_id.startswith("forever@")]
    assert len(forever) == MAX_OCCURRENCES
    assert max(d.occurred_at for d in forever) == datetime(2026, 11, 22, 9, 0, tzinfo=UTC)  # the latest kept
    assert not [d for d in drafts if d.source_record_id.startswith("never")]
    assert [d.source_record_id for d in drafts if d.source_record_id.startswith(("seconds", "setpos"))] == [
        "seconds@20260101T090000Z",
        "setpos@20260101T090000Z",
    ]
    assert [d.source_record_id for d in drafts if d.source_record_id.startswith("huge")] == [
        "huge-interval@20260101T090000Z"
    ]
    reasons = " ".join(s.reason for s in skipped)
    assert f"only its latest {MAX_OCCURRENCES} occurrences" in reasons
    assert reasons.count("not understood; only the first occurrence") == 2


def test_moved_and_cancelled_occurrences_follow_their_overrides() -> None:
    drafts, _ = items(
        ics(
            ONE_ON_ONE,
            # The 19 January meeting moved to the Tuesday with Bob too; the 26th cancelled.
            """UID:weekly-ada
RECURRENCE-ID;TZID=Europe/Berlin:20260119T100000
DTSTART;TZID=Europe/Berlin:20260120T110000
ORGANIZER:mailto:me@example.org
ATTENDEE:mailto:ada@example.org
ATTENDEE:mailto:bob@example.org""",
            """UID:weekly-ada
RECURRENCE-ID;TZID=Europe/Berlin:20260126T100000
DTSTART;TZID=Europe/Berlin:20260126T100000
STATUS:CANCELLED
ATTENDEE:mailto:ada@example.org""",
        )
    )
    got = {d.source_record_id: (d.occurred_at, len(d.participants)) for d in drafts}
    assert got == {
        "weekly-ada@20260105T090000Z": (datetime(2026, 1, 5, 9, 0, tzinfo=UTC), 1),
        "weekly-ada@20260119T090000Z": (datetime(2026, 1, 20, 10, 0, tzinfo=UTC), 2),
    }


def test_hostile_events_are_skipped_one_by_one() -> None:
    crowd = "\r\n".join(f"ATTENDEE:mailto:p{i}@crowd.example" for i in range(5000))
    drafts, skipped = items(
        ics(
            "UID:no-start\r\nATTENDEE:mailto:ada@example.org",
            "UID:bad-start\r\nDTSTART:2026-13-45\r\nATTENDEE:mailto:ada@example.org",
            "UID:bad-zone\r\nDTSTART;TZID=../../etc/passwd:20260101T100000\r\nATTENDEE:mailto:ada@example.org",
            "UID:bad-rule\r\nDTSTART:20260101T100000Z\r\nRRULE:FREQ=WEEKLY;BYDAY=XX\r\nATTENDEE:mailto:ada@example.org",
            f"UID:all-hands\r\nDTSTART:20260101T100000Z\r\n{crowd}",
            "UID:junk-attendee\r\nDTSTART:20260101T100000Z\r\nATTENDEE:javascript:alert(1)\r\n"
            "ATTENDEE:mailto:<script>@x\r\nATTENDEE:mailto:ada@example.org",
            "UID:ok\r\nDTSTART:20260102T100000Z\r\nATTENDEE:mailto:ada@example.org",
        )
        + "BEGIN:VCALENDAR\r\nGARBAGE\x00\x01 line\r\n"
    )
    assert sorted(d.source_record_id for d in drafts) == [
        "bad-rule@20260101T100000Z",  # read as a single event, with the reason
        "junk-attendee@20260101T100000Z",
        "ok@20260102T100000Z",
    ]
    junk = next(d for d in drafts if d.source_record_id.startswith("junk"))
    assert [p.address for p in junk.participants] == ["ada@example.org"]
    reasons = [s.reason for s in skipped]
    assert any("no-start" in r and "no DTSTART" in r for r in reasons)
    assert any("bad-start" in r for r in reasons)
    assert any("bad-zone" in r and "time zone" in r for r in reasons)
    assert any("all-hands" in r and "crowd" in r for r in reasons)


def test_kith_import_calendar_file_is_idempotent_and_leaves_the_owner_out(
    folder: Path, tmp_path: Path
) -> None:
    path = tmp_path / "calendar.ics"
    path.write_text(
        ics(
            ONE_ON_ONE,
            "UID:lunch\r\nDTSTART:20260210T120000Z\r\nORGANIZER:mailto:bob@example.org\r\n"
            "ATTENDEE:mailto:me@example.org\r\nATTENDEE:mailto:bob@example.org",
        )
    )
    first = run_cli("--data", folder, "import", path, "--json")
    assert first.code == 0, first.err
    summary = json.loads(first.out)
    assert (summary["source"], summary["interactions_added"], summary["people_created"]) == ("ical", 4, 2)
    people = json.loads(run_cli("--data", folder, "people", "list", "--order", "name", "--json").out)["items"]
    assert [p["display_name"] for p in people] == ["bob@example.org", "Lovelace, Ada"]  # never the owner
    again = json.loads(run_cli("--data", folder, "import", path, "--json").out)
    assert (again["interactions_added"], again["interactions_known"], again["people_created"]) == (0, 4, 0)


async def _calendar(radicale: Radicale, http: aiohttp.ClientSession) -> tuple[str, str, dict[str, str]]:
    user, password = radicale.new_user()
    auth = {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
    url = f"{radicale.url}/{user}/work/"
    async with http.request("MKCALENDAR", url, headers=auth) as resp:
        assert resp.status == 201, await resp.text()
    return user, url, auth


async def _put(http: aiohttp.ClientSession, url: str, auth: dict[str, str], name: str, text: str) -> None:
    async with http.put(
        url + name, data=text.encode(), headers={**auth, "Content-Type": "text/calendar"}
    ) as r:
        assert r.status in (201, 204), await r.text()


async def test_caldav_sync_from_radicale(ctx: AccountContext, radicale: Radicale) -> None:
    importer = Importer(ctx.store, clock=ctx.graph.clock)
    async with aiohttp.ClientSession() as http:
        user, url, auth = await _calendar(radicale, http)
        await _put(http, url, auth, "ada.ics", ics(ONE_ON_ONE))
        await _put(
            http,
            url,
            auth,
            "lunch.ics",
            ics(
                "UID:lunch\r\nDTSTART:20260210T120000Z\r\nORGANIZER:mailto:bob@example.org\r\n"
                "ATTENDEE:mailto:me@example.org\r\nATTENDEE;CN=Bob:mailto:bob@example.org"
            ),
        )
        with pytest.raises(BadInput, match="https"):
            await link_caldav(
                ctx.store,
                url="http://cal.example.org/x/",
                user=user,
                password="p",
                passphrase=None,
                now=iso(T0),
            )
        await link_caldav(
            ctx.store,
            url=url,
            user=user,
            password=radicale.users[user],
            me=["me@example.org"],
            passphrase=None,
            now=iso(T0),
        )

        async def sync() -> Any:
            [r] = await sync_caldav(ctx.store, importer, session=http, passphrase=None, clock=ctx.graph.clock)
            return r

        first = await sync()
        assert (first.status, first.messages, first.interactions_added, first.people_proposed) == (
            "complete",
            2,
            4,
            2,
        )
        again = await sync()  # only the recurring event is read again; nothing new is added
        assert (again.messages, again.interactions_added) == (1, 0)
        await _put(
            http,
            url,
            auth,
            "lunch.ics",
            ics(
                "UID:lunch\r\nDTSTART:20260210T120000Z\r\nORGANIZER:mailto:bob@example.org\r\n"
                "ATTENDEE:mailto:bob@example.org\r\nATTENDEE:mailto:erin@example.org"
            ),
        )
        async with http.delete(url + "ada.ics", headers=auth) as r:
            assert r.status in (200, 204)
        changed = await sync()
        assert (changed.messages, changed.interactions_added) == (1, 0)  # the same meeting (UID and time)
        cursor = await ctx.store.links.cursor("caldav", first.account, url)
        assert cursor is not None and list(cursor["etags"]) == [f"/{user}/work/lunch.ics"]

        await link_caldav(ctx.store, url=url, user=user, password="wrong", passphrase=None, now=iso(T0))
        refused = await sync()
        assert refused.status == "failed" and "refused the login" in refused.message
