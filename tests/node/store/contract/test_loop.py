"""The stay-in-touch loop's parts of the graph store on every backend (node/store/capture.py, messages.py,
outreach.py): what mail capture, fediverse messages, digests and reaching out rely on."""

from __future__ import annotations

from datetime import timedelta

import pytest

from node.errors import NotFound
from node.graph import Graph, iso, new_ids
from node.store import GraphStore
from node.store.capture import MailRow
from node.store.outreach import MAX_ATTEMPTS
from tests.conftest import T0, FixedClock

NOW = iso(T0)
ME_INBOX = ("imap", "alice@example.org@imap.example.org", "INBOX")


def mail(number: int, who: str, *, mine: bool, reply_to: str | None = None, bulk: bool = False) -> MailRow:
    return MailRow(
        message_id=f"<m{number}@example.org>",
        occurred_at=iso(T0 + timedelta(hours=number)),
        from_owner=mine,
        participants=((f"mailto:{who}", who.split("@")[0].title()),),
        broadcast=False,
        personal=not bulk,
        bulk=bulk,
        in_reply_to=reply_to,
        subject=f"Subject {number}",
    )


async def record(store: GraphStore, rows: list[MailRow], uid: int) -> tuple[int, int, int]:
    batch = await store.capture.record_mail(
        rows,
        people=await store.capture.email_people(),
        interaction_ids=new_ids("i", len(rows)),
        cursor=(*ME_INBOX, {"uidvalidity": 7, "uid": uid}),
        now=NOW,
    )
    return batch.messages, batch.interactions_added, batch.people_proposed


@pytest.mark.part("capture", "people", "links")
async def test_capture_resumes_where_its_last_batch_ended_and_counts_a_message_once(
    store: GraphStore, graph: Graph
) -> None:
    """A batch and the folder's resume point are one write; a Message-ID seen again (a folder read twice, the
    same message in another folder) adds nothing, yet the cursor still moves."""
    ada = await graph.create_person({"display_name": "Ada", "identities": ["Ada+news@Engines.example"]})
    assert list(await store.capture.email_people()) == ["mailto:ada@engines.example"]  # folded
    assert await store.links.cursor(*ME_INBOX) is None
    first = [mail(1, "ada@engines.example", mine=False), mail(2, "ada@engines.example", mine=True)]
    assert await record(store, first, uid=2) == (2, 2, 0)
    assert await store.links.cursor(*ME_INBOX) == {"uidvalidity": 7, "uid": 2}
    # the same messages again, with one new one and a bulk mailing (which makes no interaction)
    again = [
        *first,
        mail(3, "ada@engines.example", mine=False),
        mail(4, "ada@engines.example", mine=False, bulk=True),
    ]
    assert await record(store, again, uid=4) == (2, 1, 0)
    assert await store.links.cursor(*ME_INBOX) == {"uidvalidity": 7, "uid": 4}
    assert await record(store, again, uid=5) == (0, 0, 0)  # nothing new, still moved on
    assert await store.links.cursor(*ME_INBOX) == {"uidvalidity": 7, "uid": 5}
    assert await store.capture.messages_seen() == 4
    person = await graph.get_person(ada.id)
    assert person.interaction_count == 3 and person.last_interaction_at == iso(T0 + timedelta(hours=3))


@pytest.mark.part("capture", "people")
async def test_two_way_mail_proposes_a_person_and_accepting_links_the_mail(
    store: GraphStore, graph: Graph
) -> None:
    rows = [
        mail(1, "carol@example.net", mine=False),
        mail(2, "dan@example.net", mine=False),  # one way only: seen, not proposed
        mail(3, "carol@example.net", mine=True, reply_to="<m1@example.org>"),
    ]
    assert await record(store, rows, uid=3) == (3, 0, 1)
    [carol] = await store.capture.proposals()
    assert (carol.address, carol.name, carol.sent, carol.received, carol.status) == (
        "mailto:carol@example.net",
        "Carol",
        1,
        1,
        "proposed",
    )
    assert carol.first_at == iso(T0 + timedelta(hours=1)) and carol.last_at == iso(T0 + timedelta(hours=3))
    assert await store.capture.participant_count("mailto:carol@example.net") == 2
    with pytest.raises(NotFound):
        await store.capture.proposal("mailto:nobody@example.net")
    person = await graph.create_person({"display_name": "Carol", "identities": ["carol@example.net"]})
    assert await store.capture.proposals() == []  # her address is a person's now
    linked = await store.capture.backfill(
        "mailto:carol@example.net", person.id, interaction_ids=new_ids("i", 2), now=NOW
    )
    assert linked == 2
    assert (await store.capture.proposal("mailto:carol@example.net")).status == "accepted"
    assert (await graph.get_person(person.id)).interaction_count == 2
    await store.capture.set_proposal_status("mailto:dan@example.net", "dismissed")
    [dan] = await store.capture.proposals(status="dismissed")
    assert dan.address == "mailto:dan@example.net"


@pytest.mark.part("messages", "people")
async def test_a_fediverse_note_is_one_interaction_and_a_reply_joins_its_conversation(
    store: GraphStore, graph: Graph
) -> None:
    ada = await graph.create_person({"display_name": "Ada"})
    note = "https://engines.example/users/ada/statuses/1"
    answer = "https://alice.example/notes/1"

    async def send(
        object_id: str, direction: str, reply_to: str | None, interaction_id: str
    ) -> tuple[str, bool]:
        row, new = await store.messages.record(
            person_id=ada.id,
            interaction_id=interaction_id,
            object_id=object_id,
            direction=direction,
            actor_id="https://engines.example/users/ada",
            url=object_id,
            in_reply_to=reply_to,
            private=True,
            occurred_at=NOW,
            now=NOW,
        )
        assert row.object_id == object_id and row.direction == direction
        return row.conversation, new

    assert await send(note, "in", None, "i1") == (note, True)
    assert await send(note, "in", None, "i2") == (note, False)  # delivered twice: once
    assert await send(answer, "out", note, "i3") == (note, True)
    lone = "https://elsewhere.example/notes/9"
    assert await send(lone, "in", "https://unknown.example/notes/0", "i4") == (lone, True)  # parent unknown
    thread = await store.messages.conversation(note)
    assert [(m.object_id, m.interaction_id, m.in_reply_to) for m in thread] == [
        (note, "i1", None),
        (answer, "i3", note),
    ]
    assert (await graph.get_person(ada.id)).interaction_count == 3


@pytest.mark.part("outreach", "people")
async def test_reminders_digests_and_preferred_channels(
    store: GraphStore, graph: Graph, clock: FixedClock
) -> None:
    ada = await graph.create_person({"display_name": "Ada", "birthday": "1815-12-10"})
    later = iso(T0 + timedelta(days=3))
    await store.outreach.set_reminder("due:a:2026-11-30", "snoozed", later, NOW)
    await store.outreach.set_reminder("birthday:a:2026", "done", None, NOW)
    assert await store.outreach.hidden(NOW) == {"due:a:2026-11-30", "birthday:a:2026"}
    assert await store.outreach.hidden(iso(T0 + timedelta(days=4))) == {"birthday:a:2026"}  # snooze over
    # A period is claimed once; a failed send is retried (no sooner than retry_before), a crash mid-send never.
    assert await store.outreach.claim_digest("day:2026-11-22", NOW, NOW)
    assert not await store.outreach.claim_digest("day:2026-11-22", NOW, NOW)
    await store.outreach.finish_digest("day:2026-11-22", error="no mail server", now=NOW)
    assert not await store.outreach.claim_digest("day:2026-11-22", NOW, NOW)  # too soon
    tries = 1
    while await store.outreach.claim_digest("day:2026-11-22", NOW, later):
        tries += 1
        await store.outreach.finish_digest("day:2026-11-22", error="no mail server", now=NOW)
    assert tries == MAX_ATTEMPTS  # in all, the first try among them
    assert await store.outreach.claim_digest("day:2026-11-23", NOW, NOW)
    await store.outreach.finish_digest("day:2026-11-23", error=None, now=later)
    [sent, failed] = await store.outreach.digests()
    assert (sent.period, sent.state, sent.error) == ("day:2026-11-23", "sent", None)
    assert (failed.period, failed.state, failed.error) == ("day:2026-11-22", "failed", "no mail server")
    # preferred channel
    assert await store.outreach.preferred(ada.id) is None
    await store.outreach.set_preferred(ada.id, "mailto:ada@engines.example", NOW)
    assert await store.outreach.preferred(ada.id) == "mailto:ada@engines.example"
    await store.outreach.set_preferred(ada.id, None, NOW)
    assert await store.outreach.preferred(ada.id) is None
    with pytest.raises(NotFound):
        await store.outreach.set_preferred("p-nobody", "mailto:x@example.org", NOW)
    assert await store.outreach.birthdays() == [(ada.id, "Ada", "1815-12-10")]


@pytest.mark.part("outreach", "people")
async def test_rhythms_read_the_days_people_were_in_touch(store: GraphStore, graph: Graph) -> None:
    ada = await graph.create_person({"display_name": "Ada"})
    await graph.create_person({"display_name": "Bob", "cadence_days": 7})  # a cadence of their own: left out
    for day in (1, 3, 3, 5, 8):
        await graph.log_interaction({"people": [ada.id], "occurred_at": iso(T0 - timedelta(days=day))})
    [rhythm] = await store.outreach.rhythms(since=iso(T0 - timedelta(days=30)), min_count=4, limit=10, days=3)
    assert (rhythm.person_id, rhythm.name, rhythm.cadence_days) == (ada.id, "Ada", None)
    assert rhythm.days == [iso(T0 - timedelta(days=d))[:10] for d in (1, 3, 5)]
    assert (
        await store.outreach.rhythms(since=iso(T0 - timedelta(days=30)), min_count=6, limit=10, days=3) == []
    )
