"""The digest: what the owner should act on today, for one account (issue 16).

Who is due, whose relationships are fading, birthdays coming up (a birthday is a reminder like any other),
introductions asked of the owner (``INTRODUCTION_SOURCES``: the organisations work adds its source there), and
cadence suggestions drawn from each person's own rhythm ("you talk to Ada every 12 days on average; keep it at
14?"). The same items make the web Today page, ``kith digest --preview`` and the mail the running server sends.

Each item has a stable key naming its occurrence (``due:PERSON:DATE``, ``birthday:PERSON:YEAR``...): the owner
snoozes it or marks it done by key, and a new occurrence (the next due date, next year's birthday) is a new
item. Digests go out daily or weekly per account, at most once per period even across restarts: the period is
claimed in the account's database before the mail is sent (node/store/outreach.py).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from node.errors import BadInput, Conflict
from node.graph import _int, iso
from protocol.addresses import normalize_acct
from protocol.errors import InvalidRecord, KithError

if TYPE_CHECKING:
    from node.context import AccountContext

__all__ = [
    "ADDRESS_PATTERN",
    "BIRTHDAYS_WITHIN",
    "FREQUENCIES",
    "INTRODUCTION_SOURCES",
    "NICE_CADENCES",
    "REMINDER_KEY",
    "SETTINGS_KEY",
    "Digest",
    "DigestItem",
    "DigestSettings",
    "DirectSender",
    "IntroductionSource",
    "build_digest",
    "cadence_suggestions",
    "current_period",
    "get_settings",
    "mark_done",
    "render_text",
    "restored_settings",
    "send_digest",
    "send_scheduled",
    "set_settings",
    "settings_from_meta",
    "snooze",
]

_log = logging.getLogger("kith.digest")
FREQUENCIES = ("off", "daily", "weekly")
BIRTHDAYS_WITHIN = 14  # days ahead a birthday shows
NICE_CADENCES = (7, 14, 21, 30, 45, 60, 90, 120, 180, 365)
SETTINGS_KEY = "digest.settings"  # the meta row holding the account's digest settings
#: One e-mail address, as a digest's To header takes it: no list, no display name, no control characters. Written
#: in syntax Python's re and JSON Schema (node/api_loop.py) read alike.
_ADDRESS_CHAR = '[^@\\s<>,;"\\u0000-\\u001f\\u007f]'
ADDRESS_PATTERN = f"{_ADDRESS_CHAR}{{1,64}}@{_ADDRESS_CHAR}{{1,253}}"
_ADDRESS = re.compile(ADDRESS_PATTERN)
#: A digest item's key: its kind, then what names the occurrence (due:p_x:2026-11-22, birthday:p_x:2026).
REMINDER_KEY = re.compile(r"[a-z]{1,20}:[A-Za-z0-9_:.@+-]{1,200}")
_RETRY_AFTER = timedelta(minutes=10)

IntroductionSource = Callable[["AccountContext"], Awaitable[list["DigestItem"]]]
#: Where introductions asked of the owner come from: each returns items of kind "introduction". Empty until
#: the organisations work (its issue) adds its source.
INTRODUCTION_SOURCES: list[IntroductionSource] = []


@dataclass(frozen=True, kw_only=True, slots=True)
class DigestItem:
    key: str  # stable per occurrence: snooze and done act on it
    kind: str  # due, fading, birthday, introduction, cadence
    text: str
    person_id: str | None = None
    name: str = ""
    when: str | None = None  # the due date, the birthday
    suggest_days: int | None = None  # cadence suggestions: the cadence to accept


@dataclass(frozen=True, kw_only=True, slots=True)
class Digest:
    account: str
    generated_at: str
    items: tuple[DigestItem, ...] = ()

    def of(self, kind: str) -> list[DigestItem]:
        return [i for i in self.items if i.kind == kind]

    @property
    def empty(self) -> bool:
        return not self.items


@dataclass(frozen=True, kw_only=True, slots=True)
class DigestSettings:
    every: str = "off"  # off, daily, weekly
    to: str = ""  # the address digests are mailed to
    hour: int = 7  # UTC hour from which the period's digest goes out
    weekday: int = 0  # weekly digests: Monday = 0
    fediverse: str = ""  # the owner's own fediverse account, sent the digest as a direct message ("": none)


def _address(to: str) -> str:
    """One e-mail address, nothing else: it becomes the To header of a mail (no list, no header injection)."""
    to = to.strip()
    if to and not _ADDRESS.fullmatch(to):
        raise BadInput("to must be one e-mail address, like you@example.org", field="to")
    return to


def _fediverse(value: Any) -> str:
    """The owner's own fediverse account, as acct:user@host or an actor URL ("" for none)."""
    if not isinstance(value, str) or len(value) > 2048:
        raise BadInput("fediverse must be your account, like @you@mastodon.social", field="fediverse")
    text = value.strip()
    if not text or text.lower().startswith(("https://", "http://")):
        return text
    try:
        return normalize_acct("acct:" + text.removeprefix("acct:").lstrip("@"))
    except InvalidRecord as exc:
        raise BadInput(
            f"fediverse must be your account, like @you@mastodon.social ({exc.message})", field="fediverse"
        ) from None


# -- settings --------------------------------------------------------------------------------------------------
async def get_settings(ctx: AccountContext) -> DigestSettings:
    raw = await ctx.store.misc.meta_get(SETTINGS_KEY)
    data = json.loads(raw) if raw else {}
    return DigestSettings(
        every=data.get("every", "off"),
        to=data.get("to", ""),
        hour=int(data.get("hour", 7)),
        weekday=int(data.get("weekday", 0)),
        fediverse=data.get("fediverse", ""),
    )


async def set_settings(
    ctx: AccountContext,
    *,
    every: str | None = None,
    to: str | None = None,
    hour: int | None = None,
    weekday: int | None = None,
    fediverse: str | None = None,
) -> DigestSettings:
    current = await get_settings(ctx)
    data = _checked(
        current.every if every is None else every,
        current.to if to is None else to,
        current.hour if hour is None else hour,
        current.weekday if weekday is None else weekday,
        current.fediverse if fediverse is None else fediverse,
    )
    await ctx.store.misc.meta_set(SETTINGS_KEY, json.dumps(data, sort_keys=True))
    return await get_settings(ctx)


def _checked(every: Any, to: Any, hour: Any, weekday: Any, fediverse: Any = "") -> dict[str, Any]:
    if every not in FREQUENCIES:
        raise BadInput(f"every must be one of {', '.join(FREQUENCIES)}", field="every")
    if not isinstance(to, str):
        raise BadInput("to must be one e-mail address, like you@example.org", field="to")
    to = _address(to)
    account = _fediverse(fediverse)
    if every != "off" and not to and not account:
        # The address may be stored already: without one in either place the request meets the settings' state.
        raise Conflict("say where digests go: --to you@example.org (or --fediverse @you@server)", field="to")
    hour = _whole(hour, "hour", 0, 23, "from 0 to 23 (UTC)")
    weekday = _whole(weekday, "weekday", 0, 6, "from 0 (Monday) to 6 (Sunday)")
    checked = {"every": every, "to": to, "hour": hour, "weekday": weekday}
    if account:  # kept only when named, so that settings without one read (and export) as before
        checked["fediverse"] = account
    return checked


def _whole(value: Any, field: str, lo: int, hi: int, what: str) -> int:
    """The graph's rule for whole numbers: JSON's 7.0 is 7 (RFC 8259 §6), as JSON Schema's "integer" says."""
    try:
        number = _int(value, field, lo, hi, allow_none=False)
    except BadInput:
        raise BadInput(f"{field} must be {what}", field=field) from None
    assert number is not None
    return number


def settings_from_meta(raw: str | None) -> dict[str, Any]:
    """The stored settings as an export carries them ({} when the owner never set any)."""
    return dict(json.loads(raw)) if raw else {}


def restored_settings(data: Any) -> dict[str, str]:
    """The meta row of digest settings an export carries (none for {}), checked by set_settings' rules; for a
    restore (node/restore.py), which writes it in its own transaction."""
    if data == {}:
        return {}
    if not isinstance(data, dict) or set(data) - {"fediverse"} != {"every", "to", "hour", "weekday"}:
        raise BadInput(
            "digest settings must have every, to, hour and weekday (and may name fediverse)", field="digest"
        )
    try:
        checked = _checked(
            data["every"], data["to"], data["hour"], data["weekday"], data.get("fediverse", "")
        )
    except Conflict as exc:  # nothing is stored yet: the document itself is inconsistent
        raise BadInput(exc.message, field=exc.field) from None
    return {SETTINGS_KEY: json.dumps(checked, sort_keys=True)}


# -- items -----------------------------------------------------------------------------------------------------
def _next_birthday(text: str, today: date) -> tuple[date, int | None] | None:
    """The next occurrence of a birthday (today counts) and the age then, if the year is known."""
    m = re.fullmatch(r"(\d{4}|-)-?(\d{2})-(\d{2})", text.strip())
    if m is None:
        return None
    year = int(m.group(1)) if m.group(1) != "-" else None
    month, day = int(m.group(2)), int(m.group(3))
    for y in (today.year, today.year + 1):
        try:
            when = date(y, month, day)
        except ValueError:  # 29 February outside a leap year: the 28th
            try:
                when = date(y, month, day - 1)
            except ValueError:
                return None
        if when >= today:
            known = year is not None and year not in (1604, 1900) and year <= y
            return when, (y - year if known and year is not None else None)
    return None


async def cadence_suggestions(ctx: AccountContext, *, limit: int = 5) -> list[DigestItem]:
    """Cadences drawn from each person's own rhythm, for people with no cadence of their own."""
    now = ctx.graph.clock()
    rows = await ctx.store.outreach.rhythms(
        since=iso(now - timedelta(days=180)), min_count=4, limit=200, days=11
    )
    out: list[tuple[float, DigestItem]] = []
    for pid, name, _own, effective, days in rows:
        if len(days) < 4:
            continue
        newest, oldest = date.fromisoformat(days[0]), date.fromisoformat(days[-1])
        average = (newest - oldest).days / (len(days) - 1)
        if average < 1 or average > NICE_CADENCES[-1]:
            continue
        suggest = next(n for n in NICE_CADENCES if n >= average)
        if effective == suggest:
            continue
        rhythm = f"{average:.0f} days" if average >= 1.5 else "day"
        out.append(
            (
                average,
                DigestItem(
                    key=f"cadence:{pid}:{suggest}",
                    kind="cadence",
                    person_id=pid,
                    name=name,
                    suggest_days=suggest,
                    text=f"You talk to {name} every {rhythm} on average; keep it at {suggest}?",
                ),
            )
        )
    out.sort(key=lambda pair: pair[0])
    return [item for _avg, item in out[:limit]]


async def build_digest(ctx: AccountContext, *, include_hidden: bool = False) -> Digest:
    """Today's items for the account, without those the owner snoozed or marked done."""
    graph = ctx.graph
    now = graph.clock()
    today = now.date()
    items: list[DigestItem] = []
    due = await graph.due(within_days=0, limit=50)
    for e in due.items:
        late = int(e.days_overdue)
        text = f"{e.person.display_name} is due" + (f" ({late} days late)" if late >= 1 else " today")
        items.append(
            DigestItem(
                key=f"due:{e.person.id}:{e.due_at[:10]}",
                kind="due",
                person_id=e.person.id,
                name=e.person.display_name,
                when=e.due_at,
                text=text,
            )
        )
    for f in await graph.fading(limit=10):
        items.append(
            DigestItem(
                key=f"fading:{f.person.id}:{today.strftime('%Y-%m')}",
                kind="fading",
                person_id=f.person.id,
                name=f.person.display_name,
                text=f"{f.person.display_name} is fading: {f.past_rate:.1f} → {f.recent_rate:.1f} conversations a quarter",
            )
        )
    birthdays = []
    for pid, name, text in await ctx.store.outreach.birthdays():
        nxt = _next_birthday(text, today)
        if nxt is None or (nxt[0] - today).days > BIRTHDAYS_WITHIN:
            continue
        when, age = nxt
        delta = (when - today).days
        lead = "today" if delta == 0 else ("tomorrow" if delta == 1 else f"on {when.strftime('%A %d %B')}")
        turning = f" (turns {age})" if age else ""
        birthdays.append(
            (
                when,
                DigestItem(
                    key=f"birthday:{pid}:{when.year}",
                    kind="birthday",
                    person_id=pid,
                    name=name,
                    when=when.isoformat(),
                    text=f"{name}'s birthday is {lead}{turning}",
                ),
            )
        )
    items.extend(item for _w, item in sorted(birthdays, key=lambda pair: (pair[0], pair[1].name)))
    for source in INTRODUCTION_SOURCES:
        items.extend(await source(ctx))
    items.extend(await cadence_suggestions(ctx))
    if not include_hidden:
        hidden = await ctx.store.outreach.hidden(iso(now))
        items = [i for i in items if i.key not in hidden]
    return Digest(account=ctx.name, generated_at=iso(now), items=tuple(items))


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not REMINDER_KEY.fullmatch(key):
        raise BadInput(
            "that is not a reminder key (like due:p_x:2026-11-22); see `kith digest --preview`", field="key"
        )
    return key


async def snooze(ctx: AccountContext, key: str, days: Any = 1) -> str:
    """Hide an item for ``days`` (1 to 365); returns until when."""
    try:
        n = int(days)
    except (TypeError, ValueError):
        n = 0
    if isinstance(days, bool) or not 1 <= n <= 365:
        raise BadInput("days must be a whole number from 1 to 365", field="days")
    until = iso(ctx.graph.clock() + timedelta(days=n))
    await ctx.store.outreach.set_reminder(_check_key(key), "snoozed", until, ctx.graph.now())
    return until


async def mark_done(ctx: AccountContext, key: str) -> None:
    await ctx.store.outreach.set_reminder(_check_key(key), "done", None, ctx.graph.now())


# -- mail ------------------------------------------------------------------------------------------------------
_HEADINGS = (
    ("due", "Due"),
    ("birthday", "Birthdays coming up"),
    ("introduction", "Introductions asked of you"),
    ("fading", "Fading"),
    ("cadence", "Cadence suggestions"),
)


def render_text(digest: Digest, base_url: str) -> tuple[str, str]:
    """The digest as a mail: (subject, plain text)."""
    due = len(digest.of("due"))
    bdays = len(digest.of("birthday"))
    parts = [f"{due} due" if due else "", f"{bdays} birthday{'s' if bdays != 1 else ''}" if bdays else ""]
    summary = ", ".join(p for p in parts if p) or f"{len(digest.items)} things to look at"
    subject = f"Kith: {summary} ({digest.generated_at[:10]})"
    lines = [f"Your Kith digest for {digest.account}, {digest.generated_at[:10]}.", ""]
    for kind, heading in _HEADINGS:
        items = digest.of(kind)
        if not items:
            continue
        lines += [heading, "-" * len(heading)]
        for item in items:
            link = f"  {base_url}/people/{item.person_id}" if item.person_id else ""
            lines.append(f"* {item.text}{link}")
        lines.append("")
    lines += [
        f"Snooze or mark items done on {base_url}/ (Today).",
        "You get this mail because of `kith digest settings`.",
    ]
    return subject, "\n".join(lines) + "\n"


def current_period(settings: DigestSettings, now: datetime) -> str | None:
    """The period whose digest is due at ``now`` ("day:2026-11-22", "week:2026-W47"), or None (off, or too
    early in the period)."""
    if settings.every == "daily" and now.hour >= settings.hour:
        return f"day:{now.date().isoformat()}"
    if settings.every == "weekly":
        year, week, weekday = now.isocalendar()
        if weekday - 1 > settings.weekday or (weekday - 1 == settings.weekday and now.hour >= settings.hour):
            return f"week:{year}-W{week:02d}"
    return None


async def send_digest(
    ctx: AccountContext, *, password: str | None, to: str | None = None
) -> tuple[Digest, str]:
    """Build and mail the digest now (`kith digest send`); returns it and the address it went to."""
    from node.mailer import send_mail

    settings = await get_settings(ctx)
    target = _address(to or settings.to)
    if not target:  # none given, none stored: the settings' state, not a malformed request
        raise Conflict(
            "no address to send to: `kith digest settings --to you@example.org` or --to", field="to"
        )
    digest = await build_digest(ctx)
    subject, text = render_text(digest, ctx.config.base_url)
    await send_mail(ctx.config.mail, password, to=target, subject=subject, text=text)
    return digest, target


#: Sends a direct message (address, text) as the account's fediverse actor: federation/messages.py's send_direct
#: bound to the running Federation (node/loop.py), when the account federates.
DirectSender = Callable[[str, str], Awaitable[Any]]


async def send_scheduled(
    ctx: AccountContext, *, password: str | None, direct: DirectSender | None = None
) -> str | None:
    """The running server's step for one account: if this period's digest is due and not yet claimed, claim it
    and send it: mailed when the settings name an address, and as a direct message to the owner's own
    fediverse account when they name one and ``direct`` can send it. Returns the period sent (or whose
    sending failed), None when nothing was due."""
    from node.mailer import send_mail

    settings = await get_settings(ctx)
    now = ctx.graph.clock()
    period = current_period(settings, now)
    to_dm = settings.fediverse if direct is not None else ""
    if period is None or not (settings.to or to_dm):
        return None
    digest = await build_digest(ctx)
    if digest.empty:
        return None  # nothing to say: the period stays open, in case something comes up later in it
    outreach = ctx.store.outreach
    if not await outreach.claim_digest(period, iso(now), iso(now - _RETRY_AFTER)):
        return None
    subject, text = render_text(digest, ctx.config.base_url)
    errors = []
    if settings.to:
        try:
            await send_mail(ctx.config.mail, password, to=settings.to, subject=subject, text=text)
        except Conflict as exc:  # MailError, or the server's mail settings
            errors.append(exc.message)
    if to_dm and direct is not None:
        try:  # queued in the outbox: delivery retries on its own (docs/ARCHITECTURE.md §5)
            await direct(to_dm, f"{subject}\n\n{text}")
        except KithError as exc:  # the account cannot be resolved, is blocked, or the actor was deleted
            errors.append(f"fediverse: {exc.message}")
    tried = bool(settings.to) + bool(to_dm)
    # failed (and so tried again later in the period) only when no way reached the owner: a retry after one
    # way worked would send that one twice
    error = "; ".join(errors)[:500] if len(errors) == tried else None
    if errors and error is None:
        _log.warning("digest %s of %s went one way only: %s", period, ctx.name, "; ".join(errors))
    await outreach.finish_digest(period, error=error, now=iso(ctx.graph.clock()))
    return period
