"""The AT Protocol devnet (scripts/atproto-devnet, tests/bridges/atproto_net.py) against itself: what a Bluesky
bridge (issue 18) will rely on works on the reference PDS with a PLC directory and no App View -- accounts,
profile and follow records read back through the PDS, handle and DID resolution, and the repository event
stream decoded with bridges/_car.py. Opt-in is a user following the bridge's bot account; opt-out is the
unfollow (a delete on the stream) or the account's deactivation (an ``#account`` event)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from bridges.base import BlockDraft, ContactDraft, IdentityDraft
from bridges.bluesky import BlueskyBridge
from tests.bridges.atproto_net import (
    Devnet,
    DevnetUnavailable,
    Frame,
    Pds,
    XrpcError,
    cid_str,
    now_iso,
    start,
)

# The first test that needs the network may install it (npm, then compiling better-sqlite3: minutes on a
# fresh machine); pytest-timeout counts a session fixture's setup against that test.
pytestmark = pytest.mark.timeout(900)

PROFILE = "app.bsky.actor.profile"
FOLLOW = "app.bsky.graph.follow"
BLOCK = "app.bsky.graph.block"


@pytest.fixture
async def pds(atproto_devnet: Devnet) -> AsyncIterator[Pds]:
    async with aiohttp.ClientSession() as session:
        yield Pds(atproto_devnet, session)


def _listening(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on ``port`` (Linux's /proc/net tables)."""
    found = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, hexport = local.split(":")
            if state == "0A" and int(hexport, 16) == port:
                raw = bytes.fromhex(addr)
                # The kernel prints each 32-bit word in host (little-endian) order.
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                found.add(socket.inet_ntop(family, raw))
    return found


def _rkey(uri: str) -> str:
    return uri.rsplit("/", 1)[1]


def test_the_network_listens_on_loopback_only(atproto_devnet: Devnet) -> None:
    for url in (atproto_devnet.pds_url, atproto_devnet.plc_url):
        port = int(url.rsplit(":", 1)[1])
        assert _listening(port) == {"127.0.0.1"}, url
    assert atproto_devnet.info["versions"]["node"].startswith("v22.")


async def test_follow_and_profile_update_read_back_through_the_pds(pds: Pds) -> None:
    bot = await pds.create_account("bot")
    alice = await pds.create_account("alice")
    await pds.set_profile(alice, displayName="Alice", description="first words")

    # Opt-in as the bridge will see it: alice follows the bot; then she changes her profile.
    followed = await pds.follow(alice, bot.did)
    updated = await pds.set_profile(alice, displayName="Alice Liddell", description="second words")

    profile = await pds.get_record(alice.did, PROFILE, "self")
    assert profile["value"]["displayName"] == "Alice Liddell"
    assert profile["value"]["description"] == "second words"
    assert profile["cid"] == updated["cid"]
    # A handle names the repository as well as the DID does.
    assert (await pds.get_record(alice.handle, PROFILE, "self"))["cid"] == updated["cid"]

    follows = await pds.list_records(alice.did, FOLLOW)
    assert [(r["uri"], r["value"]["subject"]) for r in follows] == [(followed["uri"], bot.did)]
    assert followed["uri"] == f"at://{alice.did}/{FOLLOW}/{_rkey(followed['uri'])}"
    assert await pds.list_records(bot.did, FOLLOW) == []
    with pytest.raises(XrpcError) as missing:
        await pds.get_record(bot.did, PROFILE, "self")
    assert missing.value.status == 400 and missing.value.error == "RecordNotFound"

    # The bot logs in with its password as a bridge's worker would.
    assert (await pds.login(bot.handle, bot.password)).did == bot.did

    # Opt-out by unfollowing: the record is gone from the repository.
    await pds.delete_record(alice, FOLLOW, _rkey(followed["uri"]))
    assert await pds.list_records(alice.did, FOLLOW) == []


async def test_handles_and_dids_resolve_through_the_pds_and_the_plc_directory(pds: Pds) -> None:
    carol = await pds.create_account("carol")
    assert carol.did.startswith("did:plc:")
    assert carol.handle.endswith(".test")
    assert await pds.resolve_handle(carol.handle) == carol.did
    assert await pds.well_known_did(carol.handle) == carol.did

    doc = await pds.did_document(carol.did)
    assert doc["id"] == carol.did
    assert doc["alsoKnownAs"] == [f"at://{carol.handle}"]
    services = {s["id"]: s for s in doc["service"]}
    assert services["#atproto_pds"]["serviceEndpoint"] == pds.net.pds_url
    assert any(m["id"].endswith("#atproto") for m in doc["verificationMethod"])

    with pytest.raises(XrpcError) as unknown:
        await pds.resolve_handle(f"nobody-here{pds.net.handle_domain}")
    assert unknown.value.status == 400

    # Without an App View, app.bsky.* views are out of reach: the PDS has nowhere to proxy them.
    with pytest.raises(XrpcError) as no_appview:
        await pds.query("app.bsky.actor.getProfile", auth=carol, actor=carol.did)
    assert (no_appview.value.status, no_appview.value.error) == (502, "UpstreamFailure")


async def test_the_bluesky_importer_reads_a_repository_the_pds_exports(pds: Pds, tmp_path: Path) -> None:
    # bridges/bluesky.py was tested on CARs our own test writer made; this is the reference PDS's own export.
    bot, spammer = await pds.create_account("bot"), await pds.create_account("spam")
    erin = await pds.create_account("erin")
    await pds.set_profile(erin, displayName="Erin")
    followed = await pds.follow(erin, bot.did)
    blocked = await pds.create_record(
        erin, BLOCK, {"$type": BLOCK, "subject": spammer.did, "createdAt": now_iso()}
    )
    car = tmp_path / "repo.car"
    car.write_bytes(await pds.get_repo(erin.did))

    bridge = BlueskyBridge()
    assert BlueskyBridge.detect(car)
    owner = bridge.owner(car)
    assert owner is not None and owner.identities == (IdentityDraft(address=erin.did, kind="bluesky"),)
    items = list(bridge.parse_export(car))
    assert items == [
        BlockDraft(
            identity=IdentityDraft(address=spammer.did, kind="bluesky"),
            source_record_id=f"{BLOCK}/{_rkey(blocked['uri'])}",
        ),
        ContactDraft(
            source_record_id=f"{FOLLOW}/{_rkey(followed['uri'])}",
            identities=(IdentityDraft(address=bot.did, kind="bluesky"),),
            follow="following",
        ),
    ]


def _op(did: str, action: str, path: str, cid: str | None = None) -> Callable[[Frame], bool]:
    """Matches the commit of ``did`` with that operation. Events written just before a live subscription
    opened may still arrive on it (the PDS sequences commits a moment after writing them), so a test names
    the exact operation it waits for, down to the record's CID."""

    def match(frame: Frame) -> bool:
        return (
            frame.type == "#commit"
            and frame.body.get("repo") == did
            and any(
                op["action"] == action
                and op["path"] == path
                and (cid is None or (op["cid"] is not None and cid_str(op["cid"]) == cid))
                for op in frame.body.get("ops", [])
            )
        )

    return match


def _account(did: str, active: bool) -> Callable[[Frame], bool]:
    return lambda f: f.type == "#account" and f.body.get("did") == did and f.body.get("active") is active


def _identity(did: str, handle: str) -> Callable[[Frame], bool]:
    return lambda f: f.type == "#identity" and f.body.get("did") == did and f.body.get("handle") == handle


async def test_the_repo_stream_shows_the_follow_and_the_profile_change(pds: Pds) -> None:
    bot = await pds.create_account("bot")
    alice = await pds.create_account("alice")
    first = await pds.set_profile(alice, displayName="Alice")

    async with pds.firehose() as stream:  # live, from now
        followed = await pds.follow(alice, bot.did)
        updated = await pds.set_profile(alice, displayName="Alice, later", description="#nobridge")

        path = f"{FOLLOW}/{_rkey(followed['uri'])}"
        follow, _ = await stream.until(_op(alice.did, "create", path, followed["cid"]))
        change, _ = await stream.until(_op(alice.did, "update", f"{PROFILE}/self", updated["cid"]))

    assert follow.records[path]["subject"] == bot.did
    assert [(op["action"], op["path"], cid_str(op["cid"])) for op in follow.body["ops"]] == [
        ("create", path, followed["cid"])
    ]
    # The block CAR carries the signed commit, whose rev the frame repeats.
    assert follow.commit is not None and follow.commit["did"] == alice.did
    assert follow.commit["rev"] == follow.body["rev"]

    assert change.records[f"{PROFILE}/self"]["displayName"] == "Alice, later"
    assert change.records[f"{PROFILE}/self"]["description"] == "#nobridge"
    [op] = change.body["ops"]
    assert (op["action"], cid_str(op["cid"])) == ("update", updated["cid"])
    assert cid_str(op["prev"]) == first["cid"]  # sync 1.1: the previous record's CID
    assert follow.seq is not None and change.seq is not None and change.seq > follow.seq

    # A cursor replays what came after it: a bridge that saved follow.seq and restarted misses nothing.
    async with pds.firehose(cursor=follow.seq) as replay:
        again, skipped = await replay.until(lambda f: f.seq == change.seq)
    assert again.records == change.records
    assert all(follow.seq < (f.seq or 0) < change.seq for f in skipped)


async def test_the_repo_stream_shows_unfollow_and_deactivation(pds: Pds) -> None:
    bot = await pds.create_account("bot")
    dave = await pds.create_account("dave")
    followed = await pds.follow(dave, bot.did)

    path = f"{FOLLOW}/{_rkey(followed['uri'])}"
    async with pds.firehose() as stream:
        await pds.delete_record(dave, FOLLOW, _rkey(followed["uri"]))
        unfollow, _ = await stream.until(_op(dave.did, "delete", path))
        await pds.deactivate(dave)
        gone, _ = await stream.until(_account(dave.did, active=False))
        await pds.activate(dave)
        back, _ = await stream.until(_account(dave.did, active=True))

    [op] = unfollow.body["ops"]
    assert (op["action"], op["path"], op["cid"]) == ("delete", path, None)
    # The deleted record is named by its CID only, not carried: a bridge must remember whom it followed.
    assert cid_str(op["prev"]) == followed["cid"]
    assert unfollow.records == {}
    assert (gone.body["active"], gone.body.get("status")) == (False, "deactivated")
    assert back.body["active"] is True
    # A deactivated repository is not served (what a bridge sees when it re-reads the profile).
    await pds.deactivate(dave)
    with pytest.raises(XrpcError) as refused:
        await pds.list_records(dave.did, FOLLOW)
    assert refused.value.status == 400


async def test_the_repo_stream_shows_handle_changes_and_takedowns(pds: Pds) -> None:
    frank = await pds.create_account("frank")
    spam = await pds.create_account("spam")
    new_handle = pds.new_handle("moved")

    async with pds.firehose() as stream:
        await pds.update_handle(frank, new_handle)
        moved, _ = await stream.until(_identity(frank.did, new_handle))
        await pds.takedown(spam.did)
        taken, _ = await stream.until(_account(spam.did, active=False))

    # A bridged actor's handle follows the #identity event; the DID document says the same.
    assert moved.body["handle"] == new_handle
    assert (await pds.did_document(frank.did))["alsoKnownAs"] == [f"at://{new_handle}"]
    assert await pds.resolve_handle(new_handle) == frank.did

    assert taken.body.get("status") == "takendown"
    with pytest.raises(XrpcError) as refused:
        await pds.login(spam.handle, spam.password)
    assert (refused.value.status, refused.value.error) == (401, "AccountTakedown")
    with pytest.raises(XrpcError) as unresolved:
        await pds.resolve_handle(spam.handle)
    assert unresolved.value.error == "HandleNotFound"


def test_a_network_that_cannot_start_says_why(atproto_devnet: Devnet) -> None:
    # The PDS's port is taken (by the running network's PDS): start() must fail with the child's reason,
    # not hang and not leave the child running.
    port = atproto_devnet.pds_url.rsplit(":", 1)[1]
    with pytest.raises(DevnetUnavailable, match="EADDRINUSE"):
        start("--pds-port", port)


@pytest.fixture
async def appview(atproto_appview: Devnet) -> AsyncIterator[Pds]:
    async with aiohttp.ClientSession() as session:
        yield Pds(atproto_appview, session)


async def test_the_app_view_lists_who_follows_the_bot_and_their_profiles(appview: Pds) -> None:
    # Opt-in as a bridge would poll for it: the bot's followers, from the App View's index.
    pds = appview
    bot = await pds.create_account("bot")
    alice, bob = await pds.create_account("alice"), await pds.create_account("bob")
    await pds.set_profile(alice, displayName="Alice", description="hello")
    followed = await pds.follow(alice, bot.did)
    await pds.follow(bob, alice.did)
    await pds.settle()

    followers = await pds.appview("app.bsky.graph.getFollowers", actor=bot.did)
    assert [f["did"] for f in followers["followers"]] == [alice.did]
    assert followers["followers"][0]["displayName"] == "Alice"
    profile = await pds.appview("app.bsky.actor.getProfile", actor=alice.handle)
    assert (profile["did"], profile["displayName"], profile["followsCount"], profile["followersCount"]) == (
        alice.did,
        "Alice",
        1,
        1,
    )
    # The bot's own session reaches the same views through its PDS, which proxies app.bsky.* to the App View.
    proxied = await pds.query("app.bsky.actor.getProfile", auth=bot, actor=alice.did)
    assert proxied["displayName"] == "Alice"

    await pds.set_profile(alice, displayName="Alice Liddell")
    await pds.delete_record(alice, FOLLOW, _rkey(followed["uri"]))
    await pds.settle()
    assert (await pds.appview("app.bsky.actor.getProfile", actor=alice.did))["displayName"] == "Alice Liddell"
    assert (await pds.appview("app.bsky.graph.getFollowers", actor=bot.did))["followers"] == []
