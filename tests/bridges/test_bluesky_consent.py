"""The bridge's consent rules (bridges/bluesky_bridge/consent.py) without a network: every reason not to
bridge wins over a follow of the bot, and the #nobridge/#nobot words are found however they are written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridges.bluesky_bridge import NO_BRIDGE, Account, Gates, card_fields, decide, denied, label_values

NOW = datetime(2026, 12, 7, tzinfo=UTC)
DID = "did:plc:abcdefghijklmnopqrstuvwx"
GOOD = Account(
    did=DID,
    handle="alice.bsky.social",
    follows_bot=True,
    display_name="Alice",
    description="hi",
    has_avatar=True,
    created_at=NOW - timedelta(days=400),
)


def reason(**changes: object) -> str:
    from dataclasses import replace

    gates = Gates(
        min_account_age_days=30, deny=frozenset({"did:plc:zzzzzzzzzzzzzzzzzzzzzzzz", "spam.example"})
    )
    return decide(replace(GOOD, **changes), gates, now=NOW).reason  # type: ignore[arg-type]


def test_a_follower_of_the_bot_with_a_full_profile_is_bridged() -> None:
    assert decide(GOOD, Gates(), now=NOW).bridged


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"follows_bot": False}, "not-following"),
        ({"blocks_bot": True}, "blocks-bot"),
        ({"description": "no thanks #nobridge"}, "nobridge"),
        ({"display_name": "Alice #NoBot"}, "nobridge"),
        ({"active": False, "status": "takendown"}, "takendown"),
        ({"active": False}, "deactivated"),
        ({"display_name": "   "}, "no-display-name"),
        ({"has_avatar": False}, "no-avatar"),
        ({"created_at": NOW - timedelta(days=3)}, "too-young"),
        ({"created_at": None}, "too-young"),  # an age that cannot be read is not old enough
        ({"did": "did:plc:zzzzzzzzzzzzzzzzzzzzzzzz"}, "denied"),
        ({"handle": "bob.spam.example"}, "denied"),
        ({"blocked_by_operator": True}, "blocked"),
        ({"labels": frozenset({"!no-unauthenticated"})}, "no-unauthenticated"),
        ({"labels": frozenset({"porn", "!no-unauthenticated"})}, "no-unauthenticated"),
        # a reason against wins even while the account follows the bot and has a full profile
        ({"blocks_bot": True, "description": "#nobridge"}, "blocks-bot"),
    ],
)
def test_each_reason_not_to_bridge(changes: dict[str, object], expected: str) -> None:
    assert reason(**changes) == expected


@pytest.mark.parametrize(
    "text", ["#nobridge", "#NOBRIDGE", "(#nobridge)", "hi\n#nobot.", "#nobot #art", "x #NoBridge!"]
)
def test_nobridge_is_found_however_written(text: str) -> None:
    assert NO_BRIDGE.search(text)


@pytest.mark.parametrize("text", ["#nobridges", "##nobridge-ish", "abc#nobridgex", "nobridge", "#bridge"])
def test_other_words_are_not_nobridge(text: str) -> None:
    assert not NO_BRIDGE.search(text)


def test_deny_list_matches_the_did_and_every_parent_domain_of_the_handle() -> None:
    deny = frozenset({"spam.example"})
    assert denied("did:plc:x", "a.b.spam.example", deny)
    assert not denied("did:plc:x", "notspam.example", deny)
    assert not denied("did:plc:x", "", deny)


def test_the_card_holds_only_public_profile_fields_and_an_https_photo() -> None:
    profile = {
        "displayName": "Alice",
        "description": "hi",
        "avatar": {"$type": "blob", "ref": {"$link": "bafkreiabc"}, "mimeType": "image/png", "size": 3},
        "pinnedPost": {"uri": "at://x"},
        "labels": {"values": []},
    }
    card = card_fields(did=DID, handle="alice.test", profile=profile, pds_url="https://pds.example")
    assert set(card) == {"name", "summary", "identities", "photo"}
    assert card["identities"] == [DID, "at://alice.test"]
    assert card["photo"].startswith("https://pds.example/xrpc/com.atproto.sync.getBlob?did=")
    # a PDS on plain http (a devnet) gives no photo rather than an http one; a blob ref of odd text, none
    assert "photo" not in card_fields(did=DID, handle="", profile=profile, pds_url="http://127.0.0.1:1")
    odd = profile | {"avatar": {"ref": {"$link": "../../etc"}}}
    assert "photo" not in card_fields(did=DID, handle="", profile=odd, pds_url="https://pds.example")


def test_other_labels_do_not_hold_an_account_back() -> None:
    assert reason(labels=frozenset({"porn", "!hide", "no-unauthenticated"})) == "opted-in"


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        # a profile record's self-labels
        (
            {"$type": "com.atproto.label.defs#selfLabels", "values": [{"val": "!no-unauthenticated"}]},
            {"!no-unauthenticated"},
        ),
        # an App View's list; a negation withdraws the label
        ([{"src": "did:plc:x", "val": "!no-unauthenticated", "neg": False}], {"!no-unauthenticated"}),
        ([{"src": "did:plc:x", "val": "!no-unauthenticated", "neg": True}], set()),
        # hostile shapes are no labels, never an error
        (None, set()),
        ("!no-unauthenticated", set()),
        ({"values": "!no-unauthenticated"}, set()),
        ({"values": [None, 3, {"val": 7}, {"val": ["!no-unauthenticated"]}]}, set()),
        ([{"val": "!no-unauthenticated"}] + [{"val": "x"}] * 100, {"!no-unauthenticated", "x"}),
    ],
)
def test_label_values_reads_both_shapes_and_nothing_else(labels: object, expected: set[str]) -> None:
    assert label_values(labels) == expected
