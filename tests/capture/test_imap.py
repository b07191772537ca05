"""Mail capture against a real dovecot on loopback (tests/capture/servers.py): interactions with the people the
owner knows, people proposed only for two-way correspondents, idempotence by Message-ID, resumption after a
dropped connection and after UIDVALIDITY changes, hostile headers, TLS, and the command line."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from node.capture.imap import sync_imap
from node.capture.links import link_imap
from node.capture.proposals import accept_proposal, list_proposals
from node.config import write_config
from node.context import AccountContext
from node.errors import BadInput
from node.graph import iso
from tests.capture.servers import CuttingProxy, Dovecot
from tests.conftest import T0, FixedClock, new_server_account, run_cli

ME = "me@example.org"


def mail(
    frm: str,
    to: str | list[str],
    mid: str | None,
    *,
    date: str = "Mon, 05 Jan 2026 10:00:00 +0000",
    cc: list[str] | None = None,
    irt: str | None = None,
    subject: str = "hello",
    extra: str = "",
) -> bytes:
    to_line = ", ".join(to) if isinstance(to, list) else to
    head = f"From: {frm}\r\nTo: {to_line}\r\nDate: {date}\r\nSubject: {subject}\r\n"
    if mid:
        head += f"Message-ID: {mid}\r\n"
    if cc:
        head += f"Cc: {', '.join(cc)}\r\n"
    if irt:
        head += f"In-Reply-To: {irt}\r\n"
    return (head + extra + "\r\nThe body, which Kith never reads.\r\n").encode()


async def link(ctx: AccountContext, dovecot: Dovecot, user: str, **kw: Any) -> None:
    args: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": dovecot.port,
        "security": "plain",
        "user": user,
        "password": dovecot.users[user],
        "me": [ME],
        "passphrase": None,
        "now": iso(T0),
    }
    args.update(kw)
    await link_imap(ctx.store, **args)


async def sync(ctx: AccountContext, **kw: Any) -> Any:
    [result] = await sync_imap(ctx.store, passphrase=None, clock=ctx.graph.clock, **kw)
    return result


@pytest.fixture
async def ctx(tmp_path: Path, clock: FixedClock, engine: str) -> AsyncIterator[AccountContext]:
    """The account, on each storage engine in turn (tests/support/engines.py)."""
    context = await new_server_account(tmp_path / "node", clock=clock)
    write_config(context.config)
    try:
        yield context
    finally:
        await context.close()


async def rows(ctx: AccountContext, sql: str, *args: Any) -> list[Any]:
    if ctx.config.storage.backend == "postgresql":
        from node.store.postgres.rows import fetch_all as pg_fetch_all

        found = await ctx.store.db.read(lambda conn: pg_fetch_all(conn, sql.replace("?", "%s"), args))
        return [tuple(r[i] for i in range(len(r))) for r in found]
    from node.store.sqlite.rows import fetch_all

    return await ctx.store.db.read(lambda conn: fetch_all(conn, sql, args))


async def test_capture_logs_known_people_and_proposes_only_two_way_correspondents(
    ctx: AccountContext, dovecot: Dovecot
) -> None:
    user, _ = dovecot.new_user()
    bob = await ctx.graph.create_person({"display_name": "Bob", "identities": ["bob@example.org"]})
    dovecot.append(
        user,
        [
            mail("Bob <bob@example.org>", ME, "<b1@x>"),
            mail("Carol <carol@example.net>", ME, "<c1@x>", date="Tue, 06 Jan 2026 10:00:00 +0000"),
            mail("Shop <news@shop.example>", ME, "<n1@x>", extra="List-Id: <deals.shop.example>\r\n"),
            mail("Dan <dan@example.com>", [ME, *[f"p{i}@crowd.example" for i in range(7)]], "<d1@x>"),
        ],
    )
    dovecot.append(
        user,
        [
            mail("Me <Me+lists@Example.org>", "Carol <carol@example.net>", "<c2@x>"),
            mail(ME, "bob@example.org", "<b2@x>", irt="<b1@x>", date="Wed, 07 Jan 2026 09:00:00 +0000"),
            mail(ME, "news@shop.example", "<n2@x>"),  # replying to a newsletter once is not a relationship...
        ],
        folder="Sent",
    )
    await link(ctx, dovecot, user)
    result = await sync(ctx)
    assert result.status == "complete", result.message
    assert (result.messages, result.interactions_added, result.people_proposed) == (7, 2, 1)
    assert result.folders == {"INBOX": 4, "Sent": 3}  # the Sent folder was found by itself

    person = await ctx.graph.get_person(bob.id)
    assert person.interaction_count == 2
    assert person.last_interaction_at == "2026-01-07T09:00:00Z"
    timeline = (await ctx.graph.interactions(bob.id)).items
    assert [(i.channel, i.initiated_by, i.source) for i in timeline] == [
        ("email", "them", "imap"),  # the owner's reply to a thread Bob began
        ("email", "them", "imap"),
    ]
    assert all(i.summary == "" for i in timeline)  # subjects are off unless the owner turns them on

    proposed = await list_proposals(ctx.graph)
    assert [(p.address, p.name, p.sent, p.received) for p in proposed] == [
        ("mailto:carol@example.net", "Carol", 1, 1)
    ]  # not the newsletter (bulk, and one-way), not Dan (one-way, in a crowd of eight)

    carol, linked = await accept_proposal(ctx.graph, "carol@example.net")
    assert (carol.display_name, linked, carol.interaction_count) == ("Carol", 2, 2)
    assert [i.uri for i in carol.identities] == ["mailto:carol@example.net"]
    assert await list_proposals(ctx.graph) == []

    again = await sync(ctx)  # nothing new: nothing read, nothing added
    assert (again.messages, again.interactions_added, again.people_proposed) == (0, 0, 0)

    dovecot.append(user, [mail("bob+work@Example.org", ME, "<b3@x>", date="Thu, 08 Jan 2026 10:00:00 +0000")])
    later = await sync(ctx)
    assert (later.messages, later.interactions_added) == (1, 1)  # plus-addressing and case folded onto Bob
    assert (await ctx.graph.get_person(bob.id)).interaction_count == 3


async def test_a_message_in_two_folders_and_a_changed_uidvalidity_count_once(
    ctx: AccountContext, dovecot: Dovecot
) -> None:
    user, _ = dovecot.new_user()
    bob = await ctx.graph.create_person({"display_name": "Bob", "identities": ["bob@example.org"]})
    first = [mail(ME, "bob@example.org", f"<m{i}@x>") for i in range(3)]
    dovecot.append(user, first)
    dovecot.append(user, first[:1], folder="Archive")  # the same message, filed twice
    await link(ctx, dovecot, user, folders=["INBOX", "Archive"])
    result = await sync(ctx)
    assert (result.messages, result.interactions_added) == (3, 3)

    # The server renumbers the folder (a restore, a migration): a new UIDVALIDITY, the same messages and one more.
    conn = dovecot.client(user)
    conn.delete('"Archive"')
    conn.logout()
    dovecot.append(user, [*first, mail("bob@example.org", ME, "<new@x>")], folder="Archive")
    renumbered = await sync(ctx)
    assert (renumbered.messages, renumbered.interactions_added) == (1, 1)
    assert (await ctx.graph.get_person(bob.id)).interaction_count == 4
    count = await rows(ctx, "SELECT count(*) FROM interaction WHERE source = 'imap'")
    assert count[0][0] == 4


async def test_a_connection_dropped_mid_fetch_keeps_what_was_read_and_resumes(
    ctx: AccountContext, dovecot: Dovecot
) -> None:
    user, _ = dovecot.new_user()
    bob = await ctx.graph.create_person({"display_name": "Bob", "identities": ["bob@example.org"]})
    dovecot.append(user, [mail("bob@example.org", ME, f"<drop{i}@x>") for i in range(30)])
    proxy = await CuttingProxy(dovecot.port, marker=b" FETCH (", marks=15).start()
    try:
        await link(ctx, dovecot, user, port=proxy.port, folders=["INBOX"])
        cut = await sync(ctx, batch=10)
    finally:
        await proxy.close()
    assert proxy.cuts == 1
    assert cut.status == "interrupted"
    assert "run `kith sync imap` again to resume" in cut.message
    assert cut.messages == 10  # the first batch, whole; nothing of the second
    assert (await rows(ctx, "SELECT count(*) FROM mail_message"))[0][0] == 10
    assert (await ctx.graph.get_person(bob.id)).interaction_count == 10
    cursor = await ctx.store.links.cursor("imap", f"{user}@127.0.0.1:{proxy.port}", "INBOX")
    assert cursor is not None and cursor["uid"] == 10
    link_row = await ctx.store.links.get("imap", f"{user}@127.0.0.1:{proxy.port}")
    assert "closed the connection" in link_row[0].last_error

    # The same link, the server reachable again (straight, not through the proxy): the rest, once.
    await ctx.store.links.update("imap", f"{user}@127.0.0.1:{proxy.port}", T0, status="active")
    await link(ctx, dovecot, user, folders=["INBOX"])
    await ctx.store.links.set_cursor("imap", f"{user}@127.0.0.1:{dovecot.port}", "INBOX", cursor, T0)
    [resumed] = await sync_imap(
        ctx.store, passphrase=None, clock=ctx.graph.clock, account=f"{user}@127.0.0.1:{dovecot.port}"
    )
    assert (resumed.status, resumed.messages) == ("complete", 20)
    assert (await ctx.graph.get_person(bob.id)).interaction_count == 30


async def test_hostile_headers_are_read_bounded_and_nothing_is_lost(
    ctx: AccountContext, dovecot: Dovecot
) -> None:
    user, _ = dovecot.new_user()
    ana = await ctx.graph.create_person({"display_name": "Ana", "identities": ["ana@example.org"]})
    crowd = [f"r{i}@crowd.example" for i in range(10_000)]
    conn = dovecot.client(user)
    arrived = '"02-Feb-2026 08:30:00 +0000"'
    try:
        messages = [
            # Encoded words: valid UTF-8, an unknown charset, broken base64; a name with control characters.
            mail("=?utf-8?q?Ana_=C3=81lvarez?= <ana@example.org>", ME, "<enc1@x>"),
            mail("=?x-no-such-charset?q?Zed?= <zed@example.org>", ME, "<enc2@x>"),
            mail("=?utf-8?b?!!!notbase64?= <yan@example.org>", ME, "<enc3@x>"),
            # Ten thousand recipients: a broadcast, not a conversation.
            mail("ana@example.org", [ME, *crowd], "<many@x>"),
            # Dates that do not parse, or lie far in the future: the server's arrival time is used.
            mail("ana@example.org", ME, "<baddate@x>", date="Mon, 99 Foo 2026 25:61:00 +9999"),
            mail("ana@example.org", ME, "<future@x>", date="Fri, 01 Jan 2999 10:00:00 +0000"),
            # A loop of In-Reply-To, and a message that replies to itself.
            mail(ME, "ana@example.org", "<loopA@x>", irt="<loopB@x>"),
            mail("ana@example.org", ME, "<loopB@x>", irt="<loopA@x>"),
            mail("ana@example.org", ME, "<self@x>", irt="<self@x>"),
            # No Message-ID at all.
            mail("ana@example.org", ME, None, date="Tue, 03 Feb 2026 10:00:00 +0000"),
        ]
        for raw in messages:
            typ, _ = conn.append("INBOX", None, arrived, raw)
            assert typ == "OK"
    finally:
        conn.logout()
    await link(ctx, dovecot, user, folders=["INBOX"])
    result = await sync(ctx)
    assert result.status == "complete", result.message
    assert result.messages == 10
    names = {r[0]: r[1] for r in await rows(ctx, "SELECT address, name FROM mail_correspondent")}
    assert names["mailto:ana@example.org"] == "Ana Álvarez"
    assert names["mailto:zed@example.org"]  # kept as written rather than lost
    assert "mailto:yan@example.org" in names
    assert not any(a.endswith("@crowd.example") for a in names)
    broadcast = await rows(
        ctx,
        "SELECT count(*) FROM mail_participant mp JOIN mail_message m ON m.pk = mp.message_pk WHERE m.message_id = '<many@x>'",
    )
    assert broadcast[0][0] == 0
    dates = dict(await rows(ctx, "SELECT message_id, occurred_at FROM mail_message"))
    assert dates["<baddate@x>"] == dates["<future@x>"] == "2026-02-02T08:30:00Z"
    initiators = dict(await rows(ctx, "SELECT message_id, initiated_by FROM mail_message"))
    assert initiators["<self@x>"] == "them"
    assert {initiators["<loopA@x>"], initiators["<loopB@x>"]} <= {"owner", "them"}
    # Ana's conversations: the seven messages with her, but not the broadcast.
    assert (await ctx.graph.get_person(ana.id)).interaction_count == 7


async def test_tls_verified_starttls_and_plain_only_on_loopback(
    ctx: AccountContext, dovecot: Dovecot
) -> None:
    user, _ = dovecot.new_user()
    await ctx.graph.create_person({"display_name": "Bob", "identities": ["bob@example.org"]})
    dovecot.append(user, [mail("bob@example.org", ME, "<t1@x>")])
    with pytest.raises(BadInput, match="only for a server on this machine"):
        await link(ctx, dovecot, user, host="imap.example.org")
    # Implicit TLS with the server's private CA: read. Without the CA: refused, saying what to do.
    await link(ctx, dovecot, user, security="tls", port=dovecot.tls_port, folders=["INBOX"])
    unverified = await sync(ctx)
    assert unverified.status == "failed"
    assert "--ca-file" in unverified.message
    await link(
        ctx, dovecot, user, security="tls", port=dovecot.tls_port, folders=["INBOX"], ca_file=str(dovecot.ca)
    )
    ok = await sync(ctx)
    assert (ok.status, ok.messages) == ("complete", 1)
    # A wrong password: a clear failure, nothing read.
    await link(
        ctx, dovecot, user, security="starttls", folders=["INBOX"], ca_file=str(dovecot.ca), password="nope"
    )
    [refused] = await sync_imap(
        ctx.store, passphrase=None, clock=ctx.graph.clock, account=f"{user}@127.0.0.1:{dovecot.port}"
    )
    assert refused.status == "failed" and "refused the login" in refused.message


async def test_subjects_only_when_the_owner_turns_them_on(ctx: AccountContext, dovecot: Dovecot) -> None:
    user, _ = dovecot.new_user()
    bob = await ctx.graph.create_person({"display_name": "Bob", "identities": ["bob@example.org"]})
    dovecot.append(user, [mail("bob@example.org", ME, "<s1@x>", subject="=?utf-8?q?Caf=C3=A9_plans?=")])
    await link(ctx, dovecot, user, folders=["INBOX"], subjects=True)
    await sync(ctx)
    [item] = (await ctx.graph.interactions(bob.id)).items
    assert item.summary == "Café plans"


def test_cli_links_a_mailbox_with_a_sealed_password_and_syncs_with_a_json_summary(
    data_dir: Path, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    user, password = dovecot.new_user()
    dovecot.append(
        user,
        [
            mail("bob@example.org", ME, "<cli1@x>"),
            mail(ME, "bob@example.org", "<cli2@x>"),
            *[mail(f"{who}@example.net", ME, f"<{who}1@x>") for who in ("carol", "dan")],
            *[mail(ME, f"{who}@example.net", f"<{who}2@x>") for who in ("carol", "dan")],
        ],
    )
    monkeypatch.setenv("KITH_PASSPHRASE", "correct horse")
    assert run_cli("--data", data_dir, "people", "add", "Bob", "--identity", "bob@example.org").code == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("wrong\n"))
    refused = run_cli(
        "--data",
        data_dir,
        "link",
        "imap",
        "--host",
        "imap.example.org",
        "--user",
        user,
        "--plain",
        "--password-stdin",
    )
    assert refused.code == 1 and "only for a server on this machine" in refused.err
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    linked = run_cli(
        "--data",
        data_dir,
        "link",
        "imap",
        "--host",
        "127.0.0.1",
        "--port",
        str(dovecot.port),
        "--plain",
        "--user",
        user,
        "--password-stdin",
        "--me",
        ME,
        "--folder",
        "INBOX",
    )
    assert linked.code == 0, linked.err
    assert "unencrypted" not in linked.err
    result = run_cli("--data", data_dir, "sync", "imap", "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert (summary["messages"], summary["interactions_added"], summary["people_proposed"]) == (6, 2, 2)
    # The proposals, as JSON too: the shapes the owner API answers.
    proposed = json.loads(run_cli("--data", data_dir, "proposals", "--json").out)["items"]
    assert [p["address"] for p in proposed] == ["mailto:carol@example.net", "mailto:dan@example.net"]
    accepted = run_cli("--data", data_dir, "proposals", "--accept", "dan@example.net", "--json")
    assert accepted.code == 0, accepted.err
    added = json.loads(accepted.out)
    assert added["person"]["display_name"] == "dan@example.net" and added["messages_linked"] == 2
    dismissed = run_cli("--data", data_dir, "proposals", "--dismiss", "carol@example.net", "--json")
    assert json.loads(dismissed.out) == {"address": "carol@example.net", "status": "dismissed"}
    assert json.loads(run_cli("--data", data_dir, "proposals", "--json").out) == {"items": []}
    assert "INBOX" in result.err  # progress on stderr
    listing = json.loads(run_cli("--data", data_dir, "link", "imap", "--json").out)
    assert listing["items"][0]["encrypted"] is True
    assert password not in (data_dir / "accounts" / "alice.sqlite3").read_bytes().decode("latin-1")
    monkeypatch.delenv("KITH_PASSPHRASE")
    locked = run_cli("--data", data_dir, "sync", "imap")
    assert locked.code == 1 and "KITH_PASSPHRASE" in locked.err


async def test_the_running_server_captures_by_itself_every_capture_minutes(
    ctx: AccountContext, dovecot: Dovecot, clock: Any
) -> None:
    from node.loop import StayInTouchLoop

    user, _ = dovecot.new_user()
    bob = await ctx.graph.create_person({"display_name": "Bob", "identities": ["bob@example.org"]})
    dovecot.append(user, [mail("bob@example.org", ME, "<loop1@x>")])
    await link(ctx, dovecot, user, folders=["INBOX"])
    loop = StayInTouchLoop(ctx.server, smtp_password=None)
    assert (await loop.run_once())["alice"] == [f"imap {user}@127.0.0.1:{dovecot.port}: complete"]
    dovecot.append(user, [mail("bob@example.org", ME, "<loop2@x>")])
    assert (await loop.run_once())["alice"] == []  # synced less than mail.capture_minutes ago
    clock.advance(minutes=31)
    assert (await loop.run_once())["alice"] == [f"imap {user}@127.0.0.1:{dovecot.port}: complete"]
    assert (await ctx.graph.get_person(bob.id)).interaction_count == 2
