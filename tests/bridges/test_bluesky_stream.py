"""The bridge's reading of subscribeRepos frames (bridges/bluesky_bridge/stream.py) without a network: which
events make it read an account again, and hostile frames (garbage, an error frame, a commit whose blocks lie)
fail as a StreamError, never as anything else."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest

from bridges.bluesky_bridge import Event, StreamError, concerns, decode_event, stream_url
from tests.bridges.carwriter import Repo, link

BOT = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"
ALICE = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
EVE = "did:plc:eeeeeeeeeeeeeeeeeeeeeeee"


def frame(header: dict[str, Any], body: dict[str, Any]) -> bytes:
    return cbor2.dumps(header) + cbor2.dumps(body)


def commit(repo: str, path: str, record: dict[str, Any], *, action: str = "create", **extra: Any) -> bytes:
    r = Repo(repo)
    cid = r.put_record(path, record)
    body = {"seq": 7, "repo": repo, "time": "2026-12-07T00:00:00Z", "blocks": r.car(), "rev": "x"}
    body["ops"] = [{"action": action, "path": path, "cid": link(cid)}]
    return frame({"op": 1, "t": "#commit"}, body | extra)


def test_a_follow_of_the_bot_concerns_its_author_whoever_they_are() -> None:
    event = decode_event(commit(EVE, "app.bsky.graph.follow/3k", {"subject": BOT}))
    assert (event.type, event.seq, event.did) == ("#commit", 7, EVE)
    assert concerns(event, bot=BOT, known=set())
    # a follow of someone else concerns no one the bridge does not know
    other = decode_event(commit(EVE, "app.bsky.graph.follow/3k", {"subject": ALICE}))
    assert not concerns(other, bot=BOT, known=set())
    assert concerns(other, bot=BOT, known={EVE})  # a known account: any change of its follows is read again
    # the bot's own commits concern no one
    assert not concerns(
        decode_event(commit(BOT, "app.bsky.graph.follow/3k", {"subject": BOT})), bot=BOT, known={BOT}
    )


@pytest.mark.parametrize(
    ("event", "known", "expected"),
    [
        (Event("#identity", 1, ALICE, None), {ALICE}, True),
        (Event("#account", 1, ALICE, None), {ALICE}, True),
        (Event("#account", 1, EVE, None), {ALICE}, False),
        (Event("#commit", 1, ALICE, None, ops=(("delete", "app.bsky.graph.follow/3k"),)), {ALICE}, True),
        (Event("#commit", 1, ALICE, None, ops=(("update", "app.bsky.actor.profile/self"),)), {ALICE}, True),
        (Event("#commit", 1, ALICE, None, ops=(("create", "app.bsky.feed.post/3k"),)), {ALICE}, False),
        (Event("#commit", 1, EVE, None, ops=(("delete", "app.bsky.graph.follow/3k"),)), {ALICE}, False),
        (Event("#info", 1, None, None), {ALICE}, False),
    ],
)
def test_which_events_make_the_bridge_read_an_account_again(
    event: Event, known: set[str], expected: bool
) -> None:
    assert concerns(event, bot=BOT, known=known) is expected


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xfe",
        cbor2.dumps([1, 2]) + cbor2.dumps({}),
        cbor2.dumps({"op": 1, "t": "#commit"}) + b"\x9f" * 200,  # nesting past any sane depth
        cbor2.dumps({"op": 1, "t": "#commit"})
        + cbor2.dumps(
            {
                "seq": 1,
                "repo": EVE,
                "ops": [
                    {
                        "action": "create",
                        "path": "app.bsky.graph.follow/x",
                        "cid": link(b"\x01q\x12\x20" + b"\0" * 32),
                    }
                ],
                "blocks": b"not a car",
            }
        ),
    ],
)
def test_garbage_is_a_stream_error(data: bytes) -> None:
    with pytest.raises(StreamError) as caught:
        decode_event(data)
    assert not caught.value.refused


def test_an_error_frame_is_a_refusal() -> None:
    with pytest.raises(StreamError, match="FutureCursor") as caught:
        decode_event(frame({"op": -1}, {"error": "FutureCursor", "message": "Cursor in the future."}))
    assert caught.value.refused


def test_the_stream_is_the_relays_else_the_pdss_own() -> None:
    assert (
        stream_url("", "http://localhost:2583") == "ws://localhost:2583/xrpc/com.atproto.sync.subscribeRepos"
    )
    assert stream_url("", "https://pds.example/") == "wss://pds.example/xrpc/com.atproto.sync.subscribeRepos"
    relay = "wss://relay.example/xrpc/com.atproto.sync.subscribeRepos"
    assert stream_url(relay, "https://pds.example") == relay
