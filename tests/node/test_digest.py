"""The digest: its items (due, fading, birthdays, cadence suggestions, the introductions hook), snooze and done,
and mail over SMTP to a real aiosmtpd on loopback, at most once per period even across restarts."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import pytest

from node import digest as digest_module
from node.config import load_config
from node.context import AccountContext
from node.digest import (
    DigestItem,
    build_digest,
    cadence_suggestions,
    current_period,
    mark_done,
    send_digest,
    send_scheduled,
    set_settings,
    snooze,
)
from node.errors import BadInput, Conflict
from node.graph import iso
from node.loop import StayInTouchLoop
from node.mailer import check_mail_config
from tests.capture.servers import Smtp, smtp_server
from tests.conftest import T0, FixedClock


def with_smtp(ctx: AccountContext, smtp: Smtp, **mail: object) -> None:
    values = {
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port,
        "from_address": "kith@example.org",
        "starttls": False,
    }
    values.update(mail)
    ctx.server.config = ctx.config.with_values(mail=values)


def body(raw: object) -> Message:
    assert isinstance(raw, bytes)
    return message_from_bytes(raw)


async def test_items_snooze_and_done(ctx: AccountContext, clock: FixedClock) -> None:
    graph = ctx.graph
    ada = await graph.create_person({"display_name": "Ada", "cadence_days": 7, "birthday": "1990-11-25"})
    bob = await graph.create_person({"display_name": "Bob", "birthday": "--12-05"})
    await graph.create_person({"display_name": "Cy", "birthday": "1970-06-01"})  # not soon
    clock.advance(days=10)
    digest = await build_digest(ctx)
    assert [(i.kind, i.person_id) for i in digest.items] == [("due", ada.id), ("birthday", bob.id)]
    assert digest.of("due")[0].text == "Ada is due (3 days late)"
    assert digest.of("birthday")[0].text.startswith("Bob's birthday is on Saturday 05 December")
    clock.advance(days=-10)
    early = await build_digest(ctx)
    assert [i.kind for i in early.items] == ["birthday", "birthday"]
    assert early.items[0].text == "Ada's birthday is on Wednesday 25 November (turns 36)"
    clock.advance(days=10)

    until = await snooze(ctx, digest.of("due")[0].key, 2)
    assert until == iso(clock() + timedelta(days=2))
    await mark_done(ctx, digest.of("birthday")[0].key)
    assert (await build_digest(ctx)).empty
    clock.advance(days=3)  # the snooze is over, the birthday done for this year
    assert [i.kind for i in (await build_digest(ctx)).items] == ["due"]
    # Contacting Ada moves her due date: the old item's key no longer applies.
    await graph.log_interaction({"people": [ada.id]})
    assert (await build_digest(ctx)).empty
    for bad in ("", "due", "due:p_x;drop table", "x" * 300):
        with pytest.raises(BadInput):
            await mark_done(ctx, bad)
    with pytest.raises(BadInput, match="days"):
        await snooze(ctx, "due:p_x:2026-11-22", 0)


async def test_cadence_suggestions_follow_a_persons_rhythm(ctx: AccountContext, clock: FixedClock) -> None:
    graph = ctx.graph
    ada = await graph.create_person({"display_name": "Ada"})
    bob = await graph.create_person({"display_name": "Bob", "cadence_days": 30})  # has one: never suggested
    for days_ago in (0, 12, 24, 36, 48):
        when = iso(clock() - timedelta(days=days_ago))
        await graph.log_interaction({"people": [ada.id, bob.id], "occurred_at": when})
    [item] = await cadence_suggestions(ctx)
    assert (item.person_id, item.suggest_days) == (ada.id, 14)
    assert item.text == "You talk to Ada every 12 days on average; keep it at 14?"
    # Accepting it (the command and the Today button set the cadence) makes it go away.
    await graph.set_person_cadence(ada.id, 14)
    assert await cadence_suggestions(ctx) == []


async def test_introductions_hook(ctx: AccountContext, monkeypatch: pytest.MonkeyPatch) -> None:
    async def asked(c: AccountContext) -> list[DigestItem]:
        return [
            DigestItem(key="introduction:r_1", kind="introduction", text=f"{c.name}: Bob asks to meet Ada")
        ]

    monkeypatch.setattr(digest_module, "INTRODUCTION_SOURCES", [asked])
    digest = await build_digest(ctx)
    assert [i.text for i in digest.of("introduction")] == ["alice: Bob asks to meet Ada"]


def test_periods() -> None:
    from node.digest import DigestSettings

    daily = DigestSettings(every="daily", to="a@example.org", hour=7)
    assert current_period(daily, T0.replace(hour=6)) is None
    assert current_period(daily, T0.replace(hour=7)) == "day:2026-11-22"
    weekly = DigestSettings(every="weekly", to="a@example.org", hour=7, weekday=0)  # T0 is a Sunday
    assert current_period(weekly, T0) == "week:2026-W47"
    assert current_period(weekly, T0 + timedelta(days=1, hours=-6)) is None  # Monday 06:00: too early
    assert current_period(weekly, T0 + timedelta(days=1)) == "week:2026-W48"
    assert current_period(DigestSettings(), T0) is None


async def test_scheduled_digest_goes_out_once_per_period_across_restarts(
    data_dir: Path, clock: FixedClock
) -> None:
    with smtp_server() as smtp:
        ctx = await AccountContext.open(load_config(data_dir, env={}), clock=clock, load_keys=False)
        try:
            with_smtp(ctx, smtp)
            await ctx.graph.create_person({"display_name": "Ada", "cadence_days": 1})
            clock.advance(days=2)
            await set_settings(ctx, every="daily", to="alice@example.org", hour=7)
            loop = StayInTouchLoop(ctx.server, smtp_password=None)
            assert (await loop.run_once())["alice"] == ["digest day:2026-11-24"]
            assert (await loop.run_once())["alice"] == []
        finally:
            await ctx.close()
        # A restart (a new server on the same folder) in the same period sends nothing more.
        ctx = await AccountContext.open(load_config(data_dir, env={}), clock=clock, load_keys=False)
        try:
            with_smtp(ctx, smtp)
            assert await send_scheduled(ctx, password=None) is None
            assert len(smtp.messages) == 1
            clock.advance(days=1)
            assert await send_scheduled(ctx, password=None) == "day:2026-11-25"
        finally:
            await ctx.close()
    assert len(smtp.messages) == 2
    mail = body(smtp.messages[0]["data"])
    assert smtp.messages[0]["to"] == ["alice@example.org"]
    assert mail["From"] == "kith@example.org" and mail["Auto-Submitted"] == "auto-generated"
    assert mail["Subject"] == "Kith: 1 due (2026-11-24)"
    text = mail.get_payload(decode=True).decode()
    assert "Ada is due (1 days late)" in text and "http://kith.test/people/p_" in text


async def test_a_failed_send_is_reported_and_retried_but_a_claim_is_never_sent_twice(
    ctx: AccountContext, clock: FixedClock
) -> None:

    await ctx.graph.create_person({"display_name": "Ada", "cadence_days": 1})
    clock.advance(days=2)
    await set_settings(ctx, every="daily", to="alice@example.org", hour=0)
    ctx.server.config = ctx.config.with_values(
        mail={"smtp_host": "127.0.0.1", "smtp_port": 1, "from_address": "kith@example.org", "starttls": False}
    )
    assert await send_scheduled(ctx, password=None) == "day:2026-11-24"
    [row] = await ctx.store.outreach.digests()
    assert row.state == "failed" and row.error is not None and "check the mail.* settings" in row.error
    assert await send_scheduled(ctx, password=None) is None  # too soon to retry
    with smtp_server() as smtp:
        with_smtp(ctx, smtp)
        clock.advance(minutes=11)
        assert await send_scheduled(ctx, password=None) == "day:2026-11-24"
        assert len(smtp.messages) == 1
        # A send that died mid-way (the claim left 'sending') is not repeated: at most once.
        clock.advance(days=1)
        assert await ctx.store.outreach.claim_digest("day:2026-11-25", iso(clock()), iso(clock()))
        assert await send_scheduled(ctx, password=None) is None
        assert len(smtp.messages) == 1


# A To header that is not one plain address: a second recipient, a header of its own, a display name, controls.
HOSTILE_TO = (
    "me@example.org, eve@evil.example",
    "me@example.org;eve@evil.example",
    "me@example.org\r\nBcc: eve@evil.example",
    "me@example.org\nBcc: eve@evil.example",
    "Eve <eve@evil.example>",
    "me\x00@example.org",
    "me@example.org\x1b[2J",
    "@example.org",
    "me@",
)


@pytest.mark.parametrize("to", HOSTILE_TO)
async def test_a_digest_goes_to_one_plain_address_or_nowhere(ctx: AccountContext, to: str) -> None:
    """`kith digest send --to` and POST /api/digest/send took any text as the To header: a list mailed the
    digest to someone else too. Both now take what the settings take, and nothing is sent otherwise."""
    await ctx.graph.create_person({"display_name": "Ada", "birthday": "--11-24"})
    with smtp_server() as smtp:
        with_smtp(ctx, smtp)
        with pytest.raises(BadInput, match="one e-mail address"):
            await send_digest(ctx, password=None, to=to)
        with pytest.raises(BadInput, match="one e-mail address"):
            await set_settings(ctx, every="daily", to=to)
        _digest, target = await send_digest(ctx, password=None, to=" me@example.org ")
        assert target == "me@example.org" and [m["to"] for m in smtp.messages] == [["me@example.org"]]


async def test_nothing_to_send_to_is_the_settings_state(ctx: AccountContext) -> None:
    with pytest.raises(Conflict, match="--to"):
        await send_digest(ctx, password=None)
    with pytest.raises(Conflict, match="--to"):
        await set_settings(ctx, every="daily")


def test_mail_settings_say_what_is_missing() -> None:
    """The server's settings, not the request, are at fault: Conflict (409 over the API), naming the setting."""
    from node.config import MailConfig

    with pytest.raises(Conflict, match=r"mail\.smtp_host"):
        check_mail_config(MailConfig(), None)
    with pytest.raises(Conflict, match=r"mail\.from"):
        check_mail_config(MailConfig(smtp_host="smtp.example.org"), None)
    with pytest.raises(Conflict, match="KITH_MAIL_SMTP_PASSWORD"):
        check_mail_config(
            MailConfig(smtp_host="smtp.example.org", from_address="k@example.org", smtp_user="k"), None
        )
    with pytest.raises(Conflict, match="unencrypted"):
        check_mail_config(
            MailConfig(
                smtp_host="smtp.example.org", from_address="k@example.org", smtp_user="k", starttls=False
            ),
            "secret",
        )


def test_cli_digest_preview_settings_and_send(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from tests.conftest import run_cli

    assert run_cli("--data", data_dir, "people", "add", "Ada", "--birthday=--11-23").code == 0
    with smtp_server() as smtp:
        preview = run_cli("--data", data_dir, "digest", "--preview", "--json")
        assert preview.code == 0, preview.err
        items = json.loads(preview.out)["items"]
        # The clock is real here: whether Ada's birthday is within two weeks depends on the day the test runs.
        assert all(i["kind"] == "birthday" for i in items)
        bad = run_cli("--data", data_dir, "digest", "settings", "--every", "daily")
        assert bad.code == 1 and "--to" in bad.err
        ok = run_cli("--data", data_dir, "digest", "settings", "--every", "weekly", "--to", "me@example.org")
        assert ok.code == 0 and "digest weekly to me@example.org" in ok.out
        missing = run_cli("--data", data_dir, "digest", "send")
        assert missing.code == 1 and "KITH_MAIL_SMTP_HOST" in missing.err
        for key, value in {
            "KITH_MAIL_SMTP_HOST": "127.0.0.1",
            "KITH_MAIL_SMTP_PORT": str(smtp.port),
            "KITH_MAIL_FROM": "kith@example.org",
            "KITH_MAIL_STARTTLS": "0",
        }.items():
            monkeypatch.setenv(key, value)
        sent = run_cli("--data", data_dir, "digest", "send")
        assert sent.code == 0, sent.err
        assert sent.out.strip() == "digest sent to me@example.org"
        assert smtp.messages[0]["to"] == ["me@example.org"]
