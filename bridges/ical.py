"""iCalendar (RFC 5545) files and CalDAV resources: events with attendees become meeting interactions with each
attendee (issue 16).

Rules kept:
- Each occurrence that has happened (at or before ``now``) is one interaction, keyed by the event's UID and the
  occurrence's start, so importing the same calendar again, or syncing it from CalDAV, changes nothing.
- The owner is never an attendee of their own meetings: the addresses the node knows as the owner's are left
  out (``options["owner"]``); without them, an address present in every event with attendees is taken to be
  the owner's.
- Declined attendees, rooms and resources, and cancelled events or occurrences are left out. An event with more
  than ``CROWD`` other attendees is a crowd (an all-hands), reported and not imported.
- Recurrence (RRULE with FREQ DAILY, WEEKLY, MONTHLY or YEARLY, INTERVAL, COUNT, UNTIL, BYDAY, BYMONTHDAY,
  BYMONTH; RDATE, EXDATE and RECURRENCE-ID overrides) is expanded up to ``now`` only, period by period with a
  budget of steps, keeping the latest ``MAX_OCCURRENCES`` occurrences: a rule without end, or one no date
  can satisfy, costs a bounded amount and never runs on. A rule using other parts imports its first
  occurrence with a warning.
- Untrusted input (docs/ARCHITECTURE.md §7): lines, events and attendees are bounded; every value is checked
  and a bad one skips its event with a reason, never the file.
"""

from __future__ import annotations

import calendar as _calendar
import hashlib
import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from io import StringIO
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bridges._files import Source
from bridges._vcard_syntax import Prop, logical_lines, parse_prop, unescape
from bridges.base import Bridge, IdentityDraft, ImportItem, Initiator, InteractionDraft, Skipped

__all__ = [
    "CROWD",
    "MAX_EVENTS",
    "MAX_OCCURRENCES",
    "ICalBridge",
    "calendar_items",
    "expand",
]

#: Other attendees an event may have and still be a meeting (more: an all-hands, a webinar).
CROWD = 25
#: Events read from one file (or one CalDAV sync); the rest are reported.
MAX_EVENTS = 100_000
#: Occurrences of one recurring event kept (the latest ones up to now).
MAX_OCCURRENCES = 520
_STEP_BUDGET = 60_000  # periods (days, weeks, months, years) walked for one rule
_MAX_LINE = 1 << 20
_MAX_ATTENDEES = 1000
_MAX_ID = 300
_WEEKDAYS = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}
_BYDAY = re.compile(r"([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)")
_SUPPORTED = {"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH", "WKST"}
_DATETIME = re.compile(r"(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z)?)?")


class _Bad(ValueError):
    """A value of one event is unusable; the event is skipped with this reason."""


@dataclass(slots=True)
class _Event:
    line: int
    uid: str = ""
    start: datetime | None = None  # aware
    all_day: bool = False
    local_start: datetime | None = None  # naive wall time, for expanding rules
    zone: tzinfo = UTC
    rrule: dict[str, str] | None = None
    rdates: list[datetime] = field(default_factory=list)
    exdates: set[datetime] = field(default_factory=set)
    recurrence_id: datetime | None = None
    cancelled: bool = False
    summary: str = ""
    organizer: tuple[str, str] | None = None
    attendees: list[tuple[str, str]] = field(default_factory=list)  # (address, name), declined left out
    all_addresses: set[str] = field(default_factory=set)  # everyone named, for telling who the owner is
    too_many: bool = False


def _fold(address: str) -> str:
    local, _, host = address.strip().lower().removeprefix("mailto:").rpartition("@")
    return f"{local.split('+', 1)[0]}@{host}"


def _address(value: str) -> str | None:
    text = unescape(value).strip()
    if text[:7].lower() == "mailto:":
        text = text[7:]
    text = text.strip()
    if "@" not in text or len(text) > 254 or any(c.isspace() or c in '<>",' for c in text):
        return None
    return text


def _zone(tzid: str | None, zones: dict[str, tzinfo], default: tzinfo) -> tzinfo:
    if not tzid:
        return default
    tzid = tzid.strip().strip('"')[:100]
    if tzid in zones:
        return zones[tzid]
    try:
        return ZoneInfo(tzid)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise _Bad(f"unknown time zone {tzid!r}") from None


def _when(prop: Prop, zones: dict[str, tzinfo], default: tzinfo) -> tuple[datetime, datetime, bool, tzinfo]:
    """(aware instant, naive wall time, all-day?, zone) of a DATE or DATE-TIME property."""
    m = _DATETIME.fullmatch(prop.value.strip())
    if m is None:
        raise _Bad(f"{prop.name} {prop.value[:40]!r} is not a date or time")
    y, mo, d, hh, mi, ss, z = m.groups()
    try:
        if hh is None:
            wall = datetime(int(y), int(mo), int(d))
            return wall.replace(tzinfo=UTC), wall, True, UTC
        wall = datetime(int(y), int(mo), int(d), int(hh), int(mi), min(int(ss), 59))
    except ValueError:
        raise _Bad(f"{prop.name} {prop.value[:40]!r} is not a real date") from None
    zone: tzinfo = UTC if z else _zone(prop.param("TZID"), zones, default)
    return wall.replace(tzinfo=zone).astimezone(UTC), wall, False, zone


def _rule(value: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for item in value.strip().upper().split(";")[:20]:
        if "=" in item:
            k, v = item.split("=", 1)
            parts[k.strip()] = v.strip()[:200]
    if parts.get("FREQ") not in ("DAILY", "WEEKLY", "MONTHLY", "YEARLY", "HOURLY", "MINUTELY", "SECONDLY"):
        raise _Bad(f"RRULE {value[:60]!r} has no known FREQ")
    return parts


# -- recurrence ------------------------------------------------------------------------------------------------
def _ints(text: str | None, lo: int, hi: int) -> list[int]:
    if not text:
        return []
    out = []
    for piece in text.split(",")[:40]:
        try:
            n = int(piece)
        except ValueError:
            raise _Bad(f"{piece[:20]!r} is not a number in a recurrence rule") from None
        if not (lo <= abs(n) <= hi) or (lo > 0 and n == 0):
            raise _Bad(f"{n} is out of range in a recurrence rule")
        out.append(n)
    return out


def _month_days(year: int, month: int, wall: datetime, rule: dict[str, str]) -> list[datetime]:
    """The days of one month a MONTHLY (or YEARLY with BYMONTH) rule picks, at the start's wall time."""
    last = _calendar.monthrange(year, month)[1]
    days: list[int] = []
    monthdays = _ints(rule.get("BYMONTHDAY"), 1, 31)
    byday = [(_BYDAY.fullmatch(x), x) for x in rule.get("BYDAY", "").split(",") if x]
    if monthdays:
        days = sorted({d if d > 0 else last + 1 + d for d in monthdays if -last <= d <= last})
    if byday:
        picked: set[int] = set()
        for m, raw in byday:
            if m is None:
                raise _Bad(f"BYDAY {raw[:10]!r} is not a weekday")
            nth, wd = (int(m.group(1)) if m.group(1) else 0), _WEEKDAYS[m.group(2)]
            matching = [d for d in range(1, last + 1) if date(year, month, d).weekday() == wd]
            if nth == 0:
                picked.update(matching)
            elif -len(matching) <= nth <= len(matching):
                picked.add(matching[nth - 1] if nth > 0 else matching[nth])
        days = sorted(picked & set(days)) if monthdays else sorted(picked)
    if not monthdays and not byday:
        days = [wall.day] if wall.day <= last else []
    return [datetime(year, month, d, wall.hour, wall.minute, wall.second) for d in days]


def _periods(wall: datetime, rule: dict[str, str]) -> Iterator[list[datetime]]:
    freq = rule["FREQ"]
    interval = (_ints(rule.get("INTERVAL"), 1, 10_000) or [1])[0]
    months = set(_ints(rule.get("BYMONTH"), 1, 12))
    weekdays: list[int] = []
    for raw in rule.get("BYDAY", "").split(","):
        if not raw:
            continue
        m = _BYDAY.fullmatch(raw)
        if m is None:
            raise _Bad(f"BYDAY {raw[:10]!r} is not a weekday")
        if m.group(1) and freq in ("DAILY", "WEEKLY"):
            raise _Bad("BYDAY with a number needs FREQ=MONTHLY or YEARLY")
        weekdays.append(_WEEKDAYS[m.group(2)])
    monthdays = _ints(rule.get("BYMONTHDAY"), 1, 31)
    k = 0
    while True:
        if freq == "DAILY":
            day = wall + timedelta(days=k * interval)
            ok = (not months or day.month in months) and (not weekdays or day.weekday() in weekdays)
            if monthdays:
                last = _calendar.monthrange(day.year, day.month)[1]
                ok = ok and any(d == day.day or last + 1 + d == day.day for d in monthdays)
            yield [day] if ok else []
        elif freq == "WEEKLY":
            monday = wall - timedelta(days=wall.weekday()) + timedelta(weeks=k * interval)
            days = [monday + timedelta(days=wd) for wd in sorted(set(weekdays or [wall.weekday()]))]
            yield [d for d in days if not months or d.month in months]
        elif freq == "MONTHLY":
            index = wall.month - 1 + k * interval
            year, month = wall.year + index // 12, index % 12 + 1
            yield _month_days(year, month, wall, rule) if not months or month in months else []
        else:  # YEARLY
            year = wall.year + k * interval
            if rule.get("BYDAY") and not months:
                raise _Bad("a yearly rule by weekday without BYMONTH is not supported")
            out: list[datetime] = []
            for month in sorted(months or {wall.month}):
                out.extend(_month_days(year, month, wall, rule))
            yield out
        k += 1


def expand(
    wall: datetime, zone: tzinfo, rule: dict[str, str], *, now: datetime
) -> tuple[list[datetime], str | None]:
    """The occurrences (aware, UTC) of ``rule`` from the wall time ``wall`` in ``zone`` up to ``now``: the latest
    MAX_OCCURRENCES, and a note when some were left out or the rule is not understood."""
    first = wall.replace(tzinfo=zone).astimezone(UTC)
    if set(rule) - _SUPPORTED or rule["FREQ"] in ("HOURLY", "MINUTELY", "SECONDLY"):
        return [first], "its recurrence rule is not understood; only the first occurrence was imported"
    count = _ints(rule.get("COUNT"), 1, 10**9)[:1]
    until: datetime | None = None
    if rule.get("UNTIL"):
        m = _DATETIME.fullmatch(rule["UNTIL"])
        if m is None:
            raise _Bad(f"UNTIL {rule['UNTIL'][:30]!r} is not a date or time")
        y, mo, d, hh, mi, ss, z = m.groups()
        try:
            naive = datetime(int(y), int(mo), int(d), int(hh or 23), int(mi or 59), min(int(ss or 59), 59))
        except ValueError:
            raise _Bad(f"UNTIL {rule['UNTIL'][:30]!r} is not a real date") from None
        until = naive.replace(tzinfo=UTC if z else zone).astimezone(UTC)
    kept: deque[datetime] = deque(maxlen=MAX_OCCURRENCES)
    generated = 0
    note = None
    try:
        for steps, period in enumerate(_periods(wall, rule)):
            if steps >= _STEP_BUDGET:
                note = f"its recurrence was followed for {_STEP_BUDGET:,} periods only"
                break
            stop = False
            for occ in sorted(period):
                if occ < wall:
                    continue
                moment = occ.replace(tzinfo=zone).astimezone(UTC)
                if (
                    (until is not None and moment > until)
                    or moment > now
                    or (count and generated >= count[0])
                ):
                    stop = True
                    break
                generated += 1
                kept.append(moment)
            if stop:
                break
            head = period[0] if period else None
            if head is not None and head.replace(tzinfo=zone).astimezone(UTC) > now:
                break
            if not period and _past(wall, rule, steps, now, zone):
                break
    except (OverflowError, ValueError) as exc:
        if isinstance(exc, _Bad):
            raise
        note = "its recurrence runs past the calendar's last year"
    if generated > len(kept):
        note = f"only its latest {MAX_OCCURRENCES} occurrences up to now were imported"
    return list(kept), note


def _past(wall: datetime, rule: dict[str, str], steps: int, now: datetime, zone: tzinfo) -> bool:
    """An empty period is past ``now`` when the period's nominal start is (a rule no date satisfies)."""
    interval = int(rule.get("INTERVAL", "1") or 1)
    span = {"DAILY": 1, "WEEKLY": 7, "MONTHLY": 28, "YEARLY": 365}[rule["FREQ"]]
    nominal = wall + timedelta(days=span * interval * steps)
    return nominal.replace(tzinfo=zone).astimezone(UTC) > now


# -- parsing ---------------------------------------------------------------------------------------------------
@dataclass(slots=True)
class _Calendar:
    events: list[_Event] = field(default_factory=list)
    problems: list[Skipped] = field(default_factory=list)
    calname: str = ""


def _offset(value: str) -> tzinfo | None:
    m = re.fullmatch(r"([+-])(\d{2})(\d{2})(\d{2})?", value.strip())
    if m is None:
        return None
    minutes = int(m.group(2)) * 60 + int(m.group(3))
    if minutes >= 24 * 60:
        return None
    return timezone(timedelta(minutes=minutes if m.group(1) == "+" else -minutes))


def _read(lines: Iterable[tuple[int, str]], shown: str) -> _Calendar:
    """Events of the text, with the time zones it defines; nothing is decided about people yet."""
    cal = _Calendar()
    zones: dict[str, tzinfo] = {}
    default: tzinfo = UTC
    stack: list[str] = []
    event: _Event | None = None
    tz_id: str | None = None
    tz_offset: tzinfo | None = None
    pending: list[Prop] = []
    for number, line in lines:
        if len(line) > _MAX_LINE:
            cal.problems.append(Skipped(shown, number, "a line longer than 1 MiB was left out"))
            continue
        prop = parse_prop(line)
        if prop is None:
            continue
        if prop.name == "BEGIN":
            kind = prop.value.strip().upper()[:40]
            if len(stack) >= 8:
                raise _Bad("components nest deeper than 8 levels")
            stack.append(kind)
            if kind == "VEVENT" and len(stack) >= 2 and stack[-2] == "VCALENDAR":
                event, pending = _Event(line=number), []
            elif kind == "VTIMEZONE":
                tz_id, tz_offset = None, None
            continue
        if prop.name == "END":
            kind = stack.pop() if stack else ""
            if kind == "VEVENT" and event is not None:
                if len(cal.events) >= MAX_EVENTS:
                    cal.problems.append(
                        Skipped(shown, number, f"more than {MAX_EVENTS:,} events; the rest were not read")
                    )
                    return cal
                try:
                    _finish(event, pending, zones, default)
                    cal.events.append(event)
                except _Bad as exc:
                    cal.problems.append(Skipped(shown, event.line, f"event {event.uid[:80] or '?'}: {exc}"))
                event = None
            elif kind == "VTIMEZONE" and tz_id:
                try:
                    zones[tz_id] = ZoneInfo(tz_id)
                except (ZoneInfoNotFoundError, ValueError, OSError):
                    if tz_offset is not None:
                        zones[tz_id] = tz_offset  # a zone only this file defines: its standard offset
            continue
        top = stack[-1] if stack else ""
        if top == "VEVENT" and event is not None:
            if len(pending) < 5000:
                pending.append(prop)
        elif top == "VTIMEZONE" and prop.name == "TZID":
            tz_id = prop.value.strip()[:100]
        elif top == "STANDARD" and prop.name == "TZOFFSETTO" and tz_offset is None:
            tz_offset = _offset(prop.value)
        elif top == "VCALENDAR" and prop.name == "X-WR-TIMEZONE":
            try:
                default = ZoneInfo(prop.value.strip()[:100])
            except (ZoneInfoNotFoundError, ValueError, OSError):
                pass
        elif top == "VCALENDAR" and prop.name == "X-WR-CALNAME":
            cal.calname = unescape(prop.value).strip()[:200]
    return cal


def _finish(event: _Event, props: list[Prop], zones: dict[str, tzinfo], default: tzinfo) -> None:
    for prop in props:
        name = prop.name
        if name == "UID":
            event.uid = unescape(prop.value).strip()[:_MAX_ID]
        elif name == "DTSTART":
            event.start, event.local_start, event.all_day, event.zone = _when(prop, zones, default)
        elif name == "RRULE":
            event.rrule = _rule(prop.value)
        elif name in ("RDATE", "EXDATE"):
            for piece in prop.value.split(",")[:1000]:
                if "/" in piece:
                    piece = piece.split("/", 1)[0]  # a PERIOD: its start
                moment = _when(Prop(name=name, value=piece, params=prop.params), zones, default)[0]
                (event.rdates.append if name == "RDATE" else event.exdates.add)(moment)
        elif name == "RECURRENCE-ID":
            event.recurrence_id = _when(prop, zones, default)[0]
        elif name == "STATUS":
            event.cancelled = prop.value.strip().upper() == "CANCELLED"
        elif name == "SUMMARY":
            event.summary = " ".join(unescape(prop.value).split())[:300]
        elif name in ("ORGANIZER", "ATTENDEE"):
            addr = _address(prop.value)
            if addr is None:
                continue
            event.all_addresses.add(_fold(addr))
            cn = ", ".join(prop.params.get("CN", [])).strip()[:200]
            if name == "ORGANIZER":
                event.organizer = (addr, cn)
                continue
            cutype = (prop.param("CUTYPE") or "INDIVIDUAL").upper()
            partstat = (prop.param("PARTSTAT") or "").upper()
            if cutype in ("ROOM", "RESOURCE") or partstat == "DECLINED":
                continue
            if len(event.attendees) >= _MAX_ATTENDEES:
                event.too_many = True
                continue
            event.attendees.append((addr, cn))
    if event.start is None:
        raise _Bad("it has no DTSTART")
    if not event.uid:
        seed = f"{event.start.isoformat()}|{sorted(event.all_addresses)}|{event.summary}"
        event.uid = "kith-" + hashlib.sha256(seed.encode()).hexdigest()[:24]


def _guess_owner(events: list[_Event], calname: str) -> frozenset[str]:
    if "@" in calname and " " not in calname:
        return frozenset({_fold(calname)})
    with_people = [e.all_addresses for e in events if len(e.all_addresses) >= 2]
    if len(with_people) < 2:
        return frozenset()
    common = set.intersection(*with_people)
    return frozenset(common) if len(common) == 1 else frozenset()


def calendar_items(
    text: str | Iterable[tuple[int, str]],
    *,
    owner: Iterable[str],
    now: datetime,
    name: str = "calendar.ics",
    titles: bool = False,
) -> Iterator[ImportItem]:
    """The meeting interactions of one calendar text (a file, or one CalDAV resource), and what was skipped."""
    lines = logical_lines(StringIO(text), _MAX_LINE) if isinstance(text, str) else text
    try:
        cal = _read(lines, name)
    except _Bad as exc:
        yield Skipped(name, None, f"not a calendar Kith can read: {exc}")
        return
    yield from cal.problems
    mine = frozenset(_fold(a) for a in owner) or _guess_owner(cal.events, cal.calname)
    masters: dict[str, _Event] = {}
    overrides: dict[str, dict[datetime, _Event]] = {}
    for event in cal.events:
        if event.recurrence_id is not None:
            overrides.setdefault(event.uid, {})[event.recurrence_id] = event
        else:
            masters.setdefault(event.uid, event)
    for uid, master in masters.items():
        moments: list[datetime]
        assert master.start is not None and master.local_start is not None
        if master.rrule is not None:
            try:
                moments, note = expand(master.local_start, master.zone, master.rrule, now=now)
            except _Bad as exc:
                yield Skipped(
                    name, master.line, f"event {uid[:80]}: {exc}; only its first occurrence was read"
                )
                moments, note = [master.start], None
            if note:
                yield Skipped(name, master.line, f"event {uid[:80]}: {note}", "warning")
        else:
            moments = [master.start]
        moments = sorted({*moments, *(r for r in master.rdates if r <= now)} - master.exdates)
        changed = overrides.pop(uid, {})
        for moment in moments:
            occurrence = changed.pop(moment, master)
            yield from _meeting(occurrence, moment if occurrence is master else None, mine, now, name, titles)
        for moment, occurrence in changed.items():  # moved occurrences the rule no longer yields
            yield from _meeting(occurrence, None, mine, now, name, titles, key=moment)
    for changed in overrides.values():  # overrides without their series
        for moment, occurrence in changed.items():
            yield from _meeting(occurrence, None, mine, now, name, titles, key=moment)


def _meeting(
    event: _Event,
    at: datetime | None,
    mine: frozenset[str],
    now: datetime,
    name: str,
    titles: bool,
    *,
    key: datetime | None = None,
) -> Iterator[ImportItem]:
    moment = at or event.start
    assert moment is not None
    if event.cancelled or moment > now:
        return
    people: dict[str, IdentityDraft] = {}
    for addr, cn in ([event.organizer] if event.organizer else []) + event.attendees:
        folded = _fold(addr)
        if folded in mine or folded in people:
            continue
        people[folded] = IdentityDraft(address=addr, kind="email", label=cn or None)
    if not people:
        return
    ident = f"{event.uid}@{(key or event.recurrence_id or moment).strftime('%Y%m%dT%H%M%SZ')}"
    if len(people) > CROWD or event.too_many:
        yield Skipped(
            name,
            event.line,
            f"event {event.uid[:80]} has {len(people)} other attendees: a crowd, not a meeting; left out",
            "warning",
        )
        return
    initiated_by: Initiator = "unknown"
    if event.organizer is not None:
        initiated_by = "owner" if _fold(event.organizer[0]) in mine else "them"
    yield InteractionDraft(
        source_record_id=ident,
        occurred_at=moment,
        channel="meeting",
        initiated_by=initiated_by,
        participants=tuple(people.values()),
        summary=event.summary if titles else "",
    )


class ICalBridge(Bridge):
    """``kith import calendar.ics``: an iCalendar file (or a ZIP of them) exported from any calendar."""

    name: ClassVar[str] = "ical"
    scheme: ClassVar[str] = "email"
    description: ClassVar[str] = "iCalendar files (.ics): meetings with their attendees"

    @classmethod
    def detect(cls, path: Path) -> bool:
        with Source(path) as src:
            for member in src.names():
                if member.lower().endswith((".ics", ".ical", ".ifb")) or src.is_single_file:
                    head = src.head(member, 1024).lstrip(b"\xef\xbb\xbf \r\n\t").upper()
                    if head.startswith(b"BEGIN:VCALENDAR"):
                        return True
        return False

    def parse_export(self, path: Path) -> Iterator[ImportItem]:
        owner = [a for a in self.options.get("owner", "").split(",") if a.strip()]
        now = datetime.now(UTC)
        titles = self.options.get("titles") == "1"
        with Source(path) as src:
            names = [n for n in src.names() if n.lower().endswith((".ics", ".ical", ".ifb"))]
            for member in names or (src.names() if src.is_single_file else []):
                fh, warning = src.open_text(member)
                if warning is not None:
                    yield warning
                with fh:
                    yield from calendar_items(
                        logical_lines(fh, _MAX_LINE),
                        owner=owner,
                        now=now,
                        name=src.display(member),
                        titles=titles,
                    )
