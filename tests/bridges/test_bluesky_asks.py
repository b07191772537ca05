"""What a Bluesky post asks the bridge's bot (bridges/bluesky_bridge/asks.py, issue #18 "Follows in the other
direction"), as an attacker would write posts: only a mention *facet* of the bot's DID makes an ask; anything
too big, malformed or aimed elsewhere is no ask at all, and a usable address is required."""

from __future__ import annotations

from typing import Any

import pytest

from bridges.bluesky_bridge.asks import (
    MAX_TEXT,
    MENTION,
    Ask,
    Unclear,
    mention_facet,
    parse_ask,
    reply_record,
)

BOT = "did:plc:bot"
ALICE = "did:plc:alice"
URI = f"at://{ALICE}/app.bsky.feed.post/3kabc"


def post(text: str, *, mention: str | None = BOT, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "$type": "app.bsky.feed.post",
        "text": text,
        "createdAt": "2026-12-07T19:00:00Z",
    }
    if mention is not None:
        end = text.find(" ") if " " in text else len(text)
        record["facets"] = [
            {
                "index": {"byteStart": 0, "byteEnd": len(text[:end].encode())},
                "features": [{"$type": MENTION, "did": mention}],
            }
        ]
    return record | extra


def ask(record: Any, *, author: str = ALICE) -> Ask | Unclear | None:
    return parse_ask(uri=URI, cid="bafycid", author=author, record=record, bot_did=BOT)


@pytest.mark.parametrize(
    ("text", "verb", "address"),
    [
        ("@bot.test follow @bob@kith.example", "follow", "acct:bob@kith.example"),
        ("@bot.test please FOLLOW bob@Kith.Example.", "follow", "acct:bob@kith.example"),
        ("@bot.test unfollow @bob@kith.example!", "unfollow", "acct:bob@kith.example"),
        ("@bot.test follow\n@bob@127.0.0.1:8722", "follow", "acct:bob@127.0.0.1:8722"),
    ],
)
def test_a_mention_of_the_bot_with_follow_or_unfollow_is_an_ask(text: str, verb: str, address: str) -> None:
    got = ask(post(text))
    assert isinstance(got, Ask)
    assert (got.verb, got.address, got.uri, got.author) == (verb, address, URI, ALICE)
    assert got.root == (URI, "bafycid")
    assert got.display == "@" + address.removeprefix("acct:")


@pytest.mark.parametrize(
    "record",
    [
        post("@bot.test follow @bob@kith.example", mention=None),  # the bot's handle as text: anyone types it
        post("@bot.test follow @bob@kith.example", mention="did:plc:someoneelse"),
        post("@bot.test follow @bob@kith.example", facets="not a list"),
        post("@bot.test follow @bob@kith.example", facets=[{"features": {"$type": MENTION, "did": BOT}}]),
        post("@bot.test follow @bob@kith.example", facets=[{"features": [{"$type": "x#link", "did": BOT}]}]),
        post("@bot.test follow @bob@kith.example", facets=[None, 3, "x"]),
        post("@bot.test follow @bob@kith.example " + "x" * MAX_TEXT),  # longer than any valid post
        post("@bot.test follow @bob@kith.example") | {"text": None},
        post("@bot.test follow @bob@kith.example", **{"$type": "app.bsky.feed.like"}),
        "not a record",
        None,
    ],
)
def test_anything_else_is_no_ask(record: Any) -> None:
    assert ask(record) is None


def test_the_bots_own_posts_are_no_asks() -> None:
    assert ask(post("@bot.test follow @bob@kith.example"), author=BOT) is None


def test_a_mention_far_down_a_long_facet_list_is_not_searched_for_ever() -> None:
    facets = [{"features": [{"$type": "x#tag"}]}] * 10_000 + [{"features": [{"$type": MENTION, "did": BOT}]}]
    assert ask(post("@bot.test follow @bob@kith.example", facets=facets)) is None


@pytest.mark.parametrize(
    "text",
    [
        "@bot.test hello",
        "@bot.test follow",
        "@bot.test follow bob",
        "@bot.test follow @bob@",
        "@bot.test follow @b\u0000b@kith.example",
        "@bot.test follow @bob@exa mple",  # the address ends at the space: "exa" is a host, "mple" is not
        "@bot.test follow @" + "b" * 500 + "@kith.example",
    ],
)
def test_a_mention_without_a_usable_address_is_unclear_and_says_how_to_ask(text: str) -> None:
    got = ask(post(text))
    if isinstance(got, Ask):  # "@bob@exa" is a valid (if unlikely) address; the rest are not
        assert got.address == "acct:bob@exa"
        return
    assert isinstance(got, Unclear), got
    assert "@user@host" in got.reason
    assert "b" * 20 not in got.reason and "\u0000" not in got.reason  # what the asker wrote is not repeated


def test_a_reply_keeps_the_thread_and_mentions_the_asker_by_bytes() -> None:
    root = {"uri": f"at://{ALICE}/app.bsky.feed.post/3root", "cid": "bafyroot"}
    record = post("@bot.test follow @bob@kith.example", reply={"root": root, "parent": root})
    got = ask(record)
    assert isinstance(got, Ask) and got.root == (root["uri"], root["cid"])
    handle = "élise.test"  # two bytes in UTF-8 for é: facets count bytes
    answer = reply_record(
        got, text="following @bob@kith.example", handle=handle, created_at="2026-12-07T19:00:00Z"
    )
    assert answer["reply"] == {"root": root, "parent": {"uri": URI, "cid": "bafycid"}}
    assert answer["text"] == "@élise.test following @bob@kith.example"
    [facet] = answer["facets"]
    start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
    assert answer["text"].encode()[start:end].decode() == "@élise.test"
    assert facet["features"] == [{"$type": MENTION, "did": ALICE}]
    assert mention_facet("ab", 0, 2, ALICE)["index"] == {"byteStart": 0, "byteEnd": 2}


def test_a_hostile_reply_root_is_not_copied_into_the_bots_answer() -> None:
    record = post("@bot.test follow @bob@kith.example", reply={"root": {"uri": "x" * 10_000, "cid": "c"}})
    got = ask(record)
    assert isinstance(got, Ask) and got.root == (URI, "bafycid")
