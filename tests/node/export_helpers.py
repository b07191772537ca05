"""A node holding every kind of data an export carries, for the export and restore tests.

``populate_graph`` fills the contact graph through the graph's own operations; ``populate_everything`` adds
what the rest of the node keeps: the owner's card and its disclosure rules, live-sync links (one token sealed
with a passphrase, one stored in the clear), a sync cursor, and federation's rows (follows both ways, offers
with records signed by real Ed25519 keys, blocks both ways, aliases and a move) written through
federation's own store and the graph port, as federation writes them."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bridges.vcard import VCardBridge
from federation.store import AccountStore
from node.capture.links import link_caldav, link_imap
from node.digest import restored_settings as digest_settings
from node.federation_port import NodeGraphPort
from node.graph import Clock, Graph, iso, new_ids
from node.importer import Importer
from node.link_secrets import seal
from node.owner_card import set_card, set_disclosure
from node.store.capture import MailRow
from node.store.sqlite.federation import SqliteFederation
from node.store.sqlite.federation_rows import AccountFederationRows
from protocol import proofs
from protocol.records import Relationship
from protocol.serialize import to_jsonld
from tests.conftest import FixedClock
from tests.federation.nodes import keyring, make_config, open_account

PASSPHRASE = "correct horse battery staple"
ALICE = "https://kith.test/users/alice"
BOB = "https://bob.example/users/bob"
CAROL = "https://carol.example/users/carol"


@asynccontextmanager
async def account_graph(folder: Path, clock: Clock, name: str = "alice") -> AsyncIterator[Graph]:
    """The graph of a server's one account (its federation rows in the server database), on ``clock``."""
    ctx = await open_account(make_config(folder, 1, name), name, keyring(0))
    try:
        yield Graph(ctx.store, clock, federation=ctx.server.store.account_federation(name))
    finally:
        await ctx.close()


def federation_rows(graph: Graph) -> AccountStore:
    """The federation store of the account ``graph`` belongs to (account_graph's)."""
    rows = graph.federation
    assert isinstance(rows, AccountFederationRows)
    return AccountStore(SqliteFederation(rows.db), rows.account)


VCARDS = """BEGIN:VCARD\r
VERSION:4.0\r
FN:Grace Hopper\r
EMAIL:grace@navy.example\r
URL:https://x.com/gracehopper\r
NOTE:compiler pioneer\r
CATEGORIES:science\r
END:VCARD\r
"""


async def populate_graph(graph: Graph, tmp: Path, clock: FixedClock | None = None) -> dict[str, str]:
    """People (one merged, one archived, one imported from a vCard), identities with provenance, circles,
    notes, interactions, relationships between people and with the owner, a merge suggestion and a blocked
    address."""
    # The survivor is created after the merged person, so its row id is the higher one.
    m = await graph.create_person(
        {"display_name": "Merged Away", "identities": ["acct:away@ex.org"], "notes": ["old note"]}
    )
    a = await graph.create_person(
        {
            "display_name": "Ada Lovelace",
            "given_name": "Ada",
            "family_name": "Lovelace",
            "organization": "Engines Ltd",
            "title": "Analyst",
            "birthday": "1815-12-10",
            "photo_url": "https://ada.example/me.png",
            "identities": [
                "acct:ada@math.example",
                "mailto:ada@engines.example",
                "tel:+442079460958",
                "https://ada.example/",
                "https://x.com/ada",
            ],
            "circles": ["science", "friends"],
            "notes": ["likes poetry"],
            "cadence_days": 30,
            "priority": 2,
        }
    )
    b = await graph.create_person({"display_name": "Charles Babbage", "birthday": "--02-29"})
    await graph.add_identity(
        b.id, "acct:cb@math.example", verification="two-way", source="mastodon", source_record_id="9"
    )
    if clock is not None:
        clock.advance(days=1)
    await graph.log_interaction({"people": [a.id, b.id], "channel": "meeting", "summary": "engine talk"})
    await graph.log_interaction({"people": [b.id], "initiated_by": "them", "summary": "a letter"})
    await graph.add_relationship(a.id, {"type": "colleague", "other_person_id": b.id, "since": "1833-06-05"})
    await graph.add_relationship(b.id, {"type": "mentor", "how_we_met": "a soirée"})
    await graph.create_circle("empty circle", 90)
    rec = await graph.merge(a.id, m.id)
    await graph.suggest_merges()
    await graph.block("acct:spam@bad.example")
    archived = await graph.create_person({"display_name": "Archived One"})
    await graph.archive(archived.id)
    (tmp / "contacts.vcf").write_text(VCARDS, encoding="utf-8", newline="")
    await Importer(graph.store, clock=graph.clock).run(VCardBridge(), tmp / "contacts.vcf")
    await graph.create_person(
        {"display_name": "Amazing Grace", "identities": ["acct:gracehopper@hachyderm.io"]}
    )
    assert await graph.suggest_merges() == 1
    return {"a": a.id, "b": b.id, "m": m.id, "merge": rec.id}


def _signed(record: dict[str, Any], key: Ed25519PrivateKey, actor: str) -> dict[str, Any]:
    return proofs.sign(
        record,
        private_key=key,
        verification_method=actor + "#ed25519-key",
        created=datetime(2026, 11, 1, tzinfo=UTC),
    )


def relationship_record(number: int, subject: str, obj: str, *, signers: int) -> dict[str, Any]:
    """A mutual relationship record from ``subject`` to ``obj`` (its id on the subject's server), signed by
    ``signers`` of its two owners, each with a key of its own."""
    record = to_jsonld(
        Relationship(
            id=f"{subject.split('/users/', 1)[0]}/relationships/{number}",
            relationship_type="colleague",
            subject=subject,
            object=obj,
            mutual=True,
            since=date(2024, 5, 1),
            how_we_met="PyCon",
        )
    )
    for actor in (subject, obj)[:signers]:
        record = _signed(record, Ed25519PrivateKey.generate(), actor)
    return record


async def populate_everything(graph: Graph, tmp: Path, clock: FixedClock) -> dict[str, str]:
    ids = await populate_graph(graph, tmp, clock)
    store, now = graph.store, clock()
    await set_card(
        store,
        {
            "name": "Alice Example",
            "summary": "Engines and poetry",
            "email": ["alice@example.org"],
            "phone": ["+15555550100"],
            "identities": ["@alice@social.example"],
            "photo": "https://alice.example/me.png",
        },
    )
    await set_disclosure(store, {"name": ["*"], "email": ["friends"], "identities": ["*"]})
    sealed = seal({"access_token": "t-sealed"}, passphrase=PASSPHRASE, source="mastodon", account="alice")
    await store.links.put(
        source="mastodon", account="alice", base_url="https://social.example", secret=sealed, now=now
    )
    plain = seal({"access_token": "t-plain"}, passphrase=None, source="bluesky", account="alice.bsky.social")
    await store.links.put(
        source="bluesky",
        account="alice.bsky.social",
        base_url="https://public.api.bsky.app",
        secret=plain,
        now=now,
    )
    await store.links.set_cursor("mastodon", "alice", "following", {"max_id": "42"}, now)
    await populate_loop(graph, ids, clock)

    fed = federation_rows(graph)
    t = clock().timestamp()
    await fed.add_follow(
        follow_id=ALICE + "#follows/1", direction="out", actor_id=BOB, state="pending", now=t
    )
    await fed.set_follow_state(ALICE + "#follows/1", "accepted", t + 1)
    await fed.add_follow(follow_id=BOB + "#follows/9", direction="in", actor_id=BOB, state="pending", now=t)
    await fed.set_follow_state(BOB + "#follows/9", "accepted", t + 2)
    await fed.add_follow(
        follow_id=CAROL + "#follows/3", direction="in", actor_id=CAROL, state="pending", now=t
    )
    accepted = relationship_record(1, ALICE, BOB, signers=2)
    await fed.add_offer(
        offer_id=ALICE + "#offers/1",
        direction="out",
        actor_id=BOB,
        rel_type="colleague",
        record=relationship_record(1, ALICE, BOB, signers=1),
        now=t,
    )
    await fed.set_offer_state(ALICE + "#offers/1", "accepted", t + 3, final=accepted)
    await NodeGraphPort(graph).relationship_confirmed(BOB, copy.deepcopy(accepted))
    await fed.add_offer(
        offer_id=CAROL + "#offers/7",
        direction="in",
        actor_id=CAROL,
        rel_type="colleague",
        record=relationship_record(2, CAROL, ALICE, signers=1),
        now=t,
    )
    await fed.add_block("domain", "spam.example", t)
    await fed.add_block("actor", "https://troll.example/users/troll", t, ALICE + "#blocks/1")
    await fed.add_blocked_by("https://grump.example/users/grump", "https://grump.example/blocks/5", t)
    await fed.set_setting("also_known_as", ["https://old.example/users/alice"])
    await fed.set_setting("moved_to", "https://new.example/users/alice")
    return ids


MAILBOX = "alice@example.org@imap.example.org"
CALENDAR = "alice@dav.example.org"


async def populate_loop(graph: Graph, ids: dict[str, str], clock: FixedClock) -> None:
    """The stay-in-touch loop's data, through its own writers: a mailbox (its password sealed) and a calendar
    (its password in the clear, so left out of an export), where each resumes, captured mail (one correspondent
    known, one proposed), reminders snoozed and done, a preferred channel, the digest's settings, and a digest
    already mailed (which an export leaves out)."""
    store, now = graph.store, iso(clock())
    await link_imap(
        store,
        host="imap.example.org",
        port=None,
        security="tls",
        user="alice@example.org",
        password="imap-secret",
        folders=["INBOX", "Archive"],
        me=["Alice+kith@Example.org"],
        subjects=True,
        passphrase=PASSPHRASE,
        now=now,
    )
    await link_caldav(
        store,
        url="https://dav.example.org/cal/alice",
        user="alice",
        password="dav-secret",
        passphrase=None,
        now=now,
    )
    capture = store.capture

    def message(number: int, who: str, *, mine: bool, reply_to: str | None = None) -> MailRow:
        return MailRow(
            message_id=f"<m{number}@example.org>",
            occurred_at=now,
            from_owner=mine,
            participants=((f"mailto:{who}", who.split("@")[0].title()),),
            broadcast=False,
            personal=True,
            bulk=False,
            in_reply_to=reply_to,
            subject=f"Subject {number}",
        )

    rows = [
        message(1, "ada@engines.example", mine=False),
        message(2, "carol@example.net", mine=False),
        message(3, "carol@example.net", mine=True, reply_to="<m2@example.org>"),
    ]
    batch = await capture.record_mail(
        rows,
        people=await capture.email_people(),
        interaction_ids=new_ids("i", len(rows)),
        cursor=("imap", MAILBOX, "INBOX", {"uidvalidity": 7, "uid": 3}),
        now=now,
    )
    assert (batch.interactions_added, batch.people_proposed) == (1, 1)
    await store.links.set_cursor(
        "caldav",
        CALENDAR,
        "https://dav.example.org/cal/alice/",
        {"etags": {"/cal/alice/1.ics": '"e1"'}},
        clock(),
    )
    # a fediverse conversation: Ada's message, the owner's answer threaded into it
    messages = store.messages
    ada_note = "https://engines.example/users/ada/statuses/1"
    for object_id, direction, reply_to in ((ada_note, "in", None), (ALICE + "/notes/1", "out", ada_note)):
        await messages.record(
            person_id=ids["a"],
            interaction_id=new_ids("i", 1)[0],
            object_id=object_id,
            direction=direction,
            actor_id="https://engines.example/users/ada",
            url=object_id,
            in_reply_to=reply_to,
            private=True,
            occurred_at=now,
            now=now,
        )
    outreach = store.outreach
    await outreach.set_reminder(
        f"due:{ids['b']}:2026-11-30", "snoozed", iso(clock() + timedelta(days=3)), now
    )
    await outreach.set_reminder(f"birthday:{ids['a']}:2026", "done", None, now)
    await outreach.set_preferred(ids["a"], "mailto:ada@engines.example", now)
    assert await outreach.claim_digest("day:2026-11-22", now, now)
    for key, value in digest_settings(
        {"every": "weekly", "to": "alice@example.org", "hour": 8, "weekday": 4}
    ).items():
        await store.misc.meta_set(key, value)
