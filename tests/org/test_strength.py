"""Relationship strength (node/org_strength.py): reciprocated exchanges and meetings weigh more, one-way
contact little, everything decays with time; four buckets; the explanation says what the score is made of."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from node.org_strength import HALF_LIFE_DAYS, relationship_strength
from protocol.vocab import strength_bucket

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _at(days: float) -> str:
    return (NOW - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_meetings_and_exchanges_weigh_more_than_one_way_contact() -> None:
    meetings = relationship_strength([(_at(3), "meeting", "owner")] * 3, NOW)
    exchanges = relationship_strength([(_at(3), "email", "them")] * 3, NOW)
    one_way = relationship_strength([(_at(3), "email", "owner")] * 3, NOW)
    assert meetings.score > exchanges.score > one_way.score > 0
    assert (meetings.meetings, exchanges.exchanges, one_way.one_way) == (3, 3, 3)


def test_an_answer_within_two_weeks_makes_an_exchange_of_what_the_member_started() -> None:
    answered = relationship_strength([(_at(20), "email", "owner"), (_at(15), "email", "them")], NOW)
    unanswered = relationship_strength([(_at(20), "email", "owner"), (_at(1), "email", "them")], NOW)
    assert answered.exchanges == 2 and answered.one_way == 0
    assert unanswered.exchanges == 1 and unanswered.one_way == 1


def test_strength_decays_by_half_every_half_life() -> None:
    fresh = relationship_strength([(_at(0), "meeting", "owner")], NOW)
    old = relationship_strength([(_at(HALF_LIFE_DAYS), "meeting", "owner")], NOW)
    ancient = relationship_strength([(_at(10 * HALF_LIFE_DAYS), "meeting", "owner")], NOW)
    assert fresh.score > old.score > ancient.score
    # points halve: 1 - e^(-3/4) against 1 - e^(-1.5/4)
    assert abs(fresh.score - 0.5276) < 1e-3 and abs(old.score - 0.3127) < 1e-3


def test_buckets_cover_the_scale_and_no_interactions_is_weak() -> None:
    assert [strength_bucket(x) for x in (0.0, 0.24, 0.25, 0.5, 0.74, 0.75, 1.0)] == [
        "weak",
        "weak",
        "fair",
        "good",
        "good",
        "strong",
        "strong",
    ]
    nothing = relationship_strength([], NOW)
    assert (nothing.score, nothing.bucket) == (0.0, "weak")
    assert "no interactions" in nothing.explained


def test_the_explanation_names_its_parts_and_dates_not_ages() -> None:
    s = relationship_strength(
        [(_at(40), "call", "owner"), (_at(5), "email", "them"), (_at(1), "message", "owner")], NOW
    )
    text = s.explained
    assert "1 meeting or call" in text and "1 exchange" in text and "1 one-way message" in text
    assert (NOW - timedelta(days=1)).date().isoformat() in text and "days ago" not in text


def test_a_stored_value_that_is_no_time_counts_as_nothing() -> None:
    s = relationship_strength([("not a time", "meeting", "owner"), (_at(1), "meeting", "owner")], NOW)
    assert s.meetings == 1
