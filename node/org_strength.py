"""Relationship strength as an organisation sees it (specs/ORGANISATIONS.md §Strength): computed on the
member's own node from the member's own interactions, so that the organisation learns a score (or only its
bucket, below level interactions) and never the interactions it came from unless they were shared.

Each interaction earns points, decaying by half every ``HALF_LIFE_DAYS``:

- a meeting or a call: 3 (people who meet know each other);
- an exchange: something the other person started (2), or something the member started that they answered
  within ``REPLY_DAYS`` (2);
- one-way contact: something the member started that got no answer: 0.5;
- anything whose starter is unknown: 1.

The score is ``1 - exp(-points / SCALE)``: about 0.5 for three recent exchanges, near 1 for a steady stream of
meetings; a bucket (protocol/vocab.py ``STRENGTH_BUCKETS``) is what the lower levels share. Unlike the tie
strength the owner's own lists order by (node/store/tie_strength.py), the owner's priority plays no part:
the organisation is told about the relationship, not about the member's wishes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from protocol.vocab import strength_bucket

__all__ = ["HALF_LIFE_DAYS", "REPLY_DAYS", "SCALE", "Strength", "relationship_strength"]

HALF_LIFE_DAYS = 90.0
REPLY_DAYS = 14.0
SCALE = 4.0
_MEETING = frozenset({"meeting", "call"})


@dataclass(frozen=True, slots=True)
class Strength:
    score: float
    bucket: str
    meetings: int
    exchanges: int
    one_way: int
    other: int
    last: str | None  # the date of the latest interaction

    @property
    def explained(self) -> str:
        """What the score is made of, in words (dates, not "n days ago", so that it does not change daily)."""
        if not (self.meetings or self.exchanges or self.one_way or self.other):
            return "no interactions logged: a weak tie by default"
        parts = []
        for count, one, many in (
            (self.meetings, "meeting or call", "meetings or calls"),
            (self.exchanges, "exchange", "exchanges"),
            (self.one_way, "one-way message", "one-way messages"),
            (self.other, "contact of unknown direction", "contacts of unknown direction"),
        ):
            if count:
                parts.append(f"{count} {one if count == 1 else many}")
        return (
            f"{self.score:.2f} ({self.bucket}): "
            + ", ".join(parts)
            + f"; the last on {self.last}. Meetings and "
            f"calls count 3, exchanges 2, one-way messages 0.5; each counts half after {HALF_LIFE_DAYS:.0f} days"
        )


def _when(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def relationship_strength(interactions: Sequence[tuple[str, str, str]], now: datetime) -> Strength:
    """The strength of one relationship from its interactions ``(occurred_at, channel, initiated_by)``, with
    ``initiated_by`` from the member's side (owner, them, unknown), in time order."""
    events = []
    for occurred, channel, by in interactions:
        try:
            events.append((_when(occurred), channel, by))
        except ValueError:
            continue  # a stored value that is no time counts as nothing (as in tie_strength)
    events.sort(key=lambda e: e[0])
    points = 0.0
    meetings = exchanges = one_way = other = 0
    for i, (moment, channel, by) in enumerate(events):
        if channel in _MEETING:
            weight = 3.0
            meetings += 1
        elif by == "them":
            weight = 2.0
            exchanges += 1
        elif by == "owner":
            answered = any(
                later_by == "them" and 0 <= (later - moment).total_seconds() <= REPLY_DAYS * 86400
                for later, _, later_by in events[i + 1 :]
            )
            weight = 2.0 if answered else 0.5
            if answered:
                exchanges += 1
            else:
                one_way += 1
        else:
            weight = 1.0
            other += 1
        age = max(0.0, (now - moment).total_seconds() / 86400)
        points += weight * 0.5 ** (age / HALF_LIFE_DAYS)
    score = round(1.0 - math.exp(-points / SCALE), 4)
    last = events[-1][0].date().isoformat() if events else None
    return Strength(
        score=score,
        bucket=strength_bucket(score),
        meetings=meetings,
        exchanges=exchanges,
        one_way=one_way,
        other=other,
        last=last,
    )
