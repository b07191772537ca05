from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridges.live import DEFAULT_WAIT, rate_limit_reset, same_origin

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
MASTODON_RESET = datetime(2026, 11, 22, 4, 5, 0, 19685, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-rate-limit-reset": "1795320000"}, datetime.fromtimestamp(1795320000, UTC)),  # X: epoch seconds
        ({"X-RateLimit-Reset": "2026-11-22T04:05:00.019685Z"}, MASTODON_RESET),  # Mastodon: ISO-8601
        ({"RateLimit-Reset": "50"}, NOW + timedelta(seconds=50)),  # draft-polli: delta seconds
        ({"ratelimit-reset": "1795320000"}, datetime.fromtimestamp(1795320000, UTC)),  # Bluesky PDS: epoch
        ({"RateLimit": "limit=100, remaining=0, reset=7"}, NOW + timedelta(seconds=7)),
        ({"Retry-After": "120", "x-rate-limit-reset": "1"}, NOW + timedelta(seconds=120)),  # Retry-After wins
        ({"Retry-After": "Sun, 22 Nov 2026 04:10:00 GMT"}, datetime(2026, 11, 22, 4, 10, tzinfo=UTC)),
        ({"Retry-After": "soon"}, NOW + DEFAULT_WAIT),
        ({"X-RateLimit-Reset": "garbage"}, NOW + DEFAULT_WAIT),
        ({}, NOW + DEFAULT_WAIT),
    ],
)  # fmt: skip
def test_rate_limit_reset_encodings(headers: dict[str, str], expected: datetime) -> None:
    assert rate_limit_reset(headers, NOW) == expected


def test_same_origin() -> None:
    assert same_origin("https://a.example/x?y=1", "https://a.example")
    assert not same_origin("https://a.example.evil/x", "https://a.example")
    assert not same_origin("http://a.example/x", "https://a.example")
    assert not same_origin("https://a.example:8443/x", "https://a.example")
