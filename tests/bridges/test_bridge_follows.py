"""Follows from Bluesky towards the fediverse through the bridge (issue #18, node/bridge_follows.py), end to end
against the real AT Protocol devnet and two real Kith servers on 127.0.0.1 (the bridge's and Bob's).

An opted-in Bluesky account posts ``@bot follow @bob@HOST`` (a mention facet of the bot's DID); its bridged
actor sends Follow, Bob's server accepts, the bridged account records the Accept, and the bot answers in its
own repository. ``unfollow`` sends Undo, and so does opting out. As an attacker: asks of accounts that never
opted in are never acted on or answered; an ask read twice is acted on once; hostile posts get a clear answer
or none, and no more than the hourly limit is acted on.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bridges.bluesky_bridge.asks import MENTION
from federation import owner
from node.app import build_app
from node.bridge_bluesky import BlueskyBridge, account_name
from node.bridge_follows import ASKS_PER_HOUR, BridgeFollows, queued_follows
from tests.bridges.atproto_net import Account, Devnet, Pds, now_iso
from tests.bridges.test_bridge_node import (
    FOLLOW,
    KithServer,
    avatar,
    bridge_settings,
    get,
    kith_server,
    opted_in,
    settle,
    until,
)
from tests.federation.nodes import keyring, make_config, open_account

pytestmark = pytest.mark.timeout(900)

POST = "app.bsky.feed.post"


@pytest.fixture
async def pds(atproto_devnet: Devnet) -> AsyncIterator[Pds]:
    async with aiohttp.ClientSession() as session:
        yield Pds(atproto_devnet, session)


async def say(
    pds: Pds, user: Account, bot: Account, words: str, *, facet: bool = True, validate: bool = True
) -> dict[str, Any]:
    """A post ``@BOT words`` by ``user``; with ``facet`` the mention is a mention facet of the bot's DID (as
    the Bluesky app writes it), else only text."""
    text = f"@{bot.handle} {words}"
    record: dict[str, Any] = {"$type": POST, "text": text, "createdAt": now_iso()}
    if facet:
        end = len(f"@{bot.handle}".encode())
        record["facets"] = [
            {"index": {"byteStart": 0, "byteEnd": end}, "features": [{"$type": MENTION, "did": bot.did}]}
        ]
    body = {"repo": user.did, "collection": POST, "record": record, "validate": validate}
    out: dict[str, Any] = await pds.procedure("com.atproto.repo.createRecord", body, auth=user)
    return out


def acct(server: KithServer) -> str:
    return f"{server.ctx.name}@{server.base.split('://')[1]}"


async def answers(pds: Pds, bot: Account) -> dict[str, str]:
    """The bot's replies: the post each answers -> its text."""
    return {
        r["value"]["reply"]["parent"]["uri"]: r["value"]["text"]
        for r in await pds.list_records(bot.did, POST)
        if "reply" in r["value"]
    }


async def followers(server: KithServer) -> list[str]:
    async with server.fed.acting(server.ctx.name) as me:
        return [f["actor"] for f in await owner.followers(me)]


async def follows_of(side: KithServer, did: str) -> list[tuple[str, str]]:
    """Every follow the bridged account of ``did`` ever sent: (actor, state)."""
    async with side.fed.acting(account_name(did), graph=False) as me:
        states = ("pending", "accepted", "rejected", "cancelled", "ended")
        return [(r.actor_id, r.state) for r in await me.store.follows("out", states)]


async def test_an_opted_in_account_follows_and_unfollows_a_kith_account_by_asking_the_bot(
    tmp_path: Path, pds: Pds, atproto_devnet: Devnet
) -> None:
    bot = await pds.create_account("bot")
    alice, bot_follow = await opted_in(pds, "asker", bot)
    settings = bridge_settings(atproto_devnet, bot, bot_password=bot.password)
    async with (
        kith_server(tmp_path, "bridge", 0, **settings) as side,
        kith_server(tmp_path, "bob", 1) as bob,
        aiohttp.ClientSession() as http,
    ):
        bridge = BlueskyBridge(side.server, http, on_change=side.fed.card_changed)
        follows = BridgeFollows.for_bridge(bridge, side.fed)
        follows.attach()  # as `kith serve` wires it (setup_bridge)
        # from the stream's start (which sets the cursor): the opt-in is in it
        assert (await bridge.stream_pass(idle=1.0, start=0)).bridged == 1
        assert (await bridge.run_once()).posted == [alice.did]  # a full pass reads every bridged account's
        actor = f"{side.base}/users/{account_name(alice.did)}"

        ask = await say(pds, alice, bot, f"follow @{acct(bob)} please")
        report = await bridge.stream_pass(idle=1.0)
        assert report.posted == [alice.did]  # the stream says which accounts posted
        assert bridge.asks is not None
        await bridge.asks(report.posted)  # as follow_network hands them over: looked at in the background
        await follows.idle()
        await settle(side, bob)
        # Bob's server received the Follow from the bridged actor and accepted it; the bridged account knows
        assert await followers(bob) == [actor]
        assert await follows_of(side, alice.did) == [(bob.fed.urls.of("bob").owner, "accepted")]
        # the bot answered in its own repository, in reply to the ask, naming the asker
        assert (await answers(pds, bot)) == {ask["uri"]: f"@{alice.handle} following @{acct(bob)}"}
        assert (await follows.seen(ask["uri"]) or {}).get("result") == "followed"  # its id, kept

        # read again (a full pass after the stream, and the stream from an older cursor): acted on once
        again = await follows.look((await bridge.run_once()).posted)
        assert (again.read, again.followed, again.answered) == (0, 0, 0)
        await settle(side, bob)
        assert len(await follows_of(side, alice.did)) == 1
        assert len(await answers(pds, bot)) == 1

        # unfollow: Undo goes, Bob's follower is gone, the bot says so
        undo = await say(pds, alice, bot, f"unfollow @{acct(bob)}")
        done = await follows.look((await bridge.stream_pass(idle=1.0)).posted)
        assert (done.read, done.unfollowed, done.answered) == (1, 1, 1)
        await settle(side, bob)
        assert await followers(bob) == []
        assert await follows_of(side, alice.did) == [(bob.fed.urls.of("bob").owner, "ended")]
        assert (await answers(pds, bot))[undo["uri"]] == f"@{alice.handle} no longer following @{acct(bob)}"
        # an unfollow of someone not followed: said, nothing sent
        twice = await say(pds, alice, bot, f"unfollow @{acct(bob)}")
        done = await follows.look([alice.did])
        assert done.unfollowed == 0
        said = (await answers(pds, bot))[twice["uri"]]
        assert said == f"@{alice.handle} you were not following @{acct(bob)}"

        # follows again, then opts out: its follow is undone before its actor goes
        await say(pds, alice, bot, f"follow @{acct(bob)}")
        assert (await follows.look([alice.did])).followed == 1
        await settle(side, bob)
        assert await followers(bob) == [actor]
        await pds.delete_record(alice, FOLLOW, bot_follow["uri"].rsplit("/", 1)[1])
        assert (await bridge.run_once()).removed == 1
        assert [state for _, state in await follows_of(side, alice.did)] == ["ended", "ended"]
        assert await follows.seen(ask["uri"]) is None  # nothing of its asks is kept either
        await settle(side, bob)
        assert await followers(bob) == []


async def test_asks_of_accounts_that_are_not_bridged_send_nothing(
    tmp_path: Path, pds: Pds, atproto_devnet: Devnet
) -> None:
    """An account that never followed the bot (an attacker) gets nothing: no Follow, no answer, nothing kept;
    one that follows the bot but is held back (no avatar) is told why, and no Follow goes either."""
    bot = await pds.create_account("bot")
    attacker = await pds.create_account("attacker")
    await pds.set_profile(attacker, displayName="Mallory", avatar=await avatar(pds, attacker))
    held = await pds.create_account("held")
    await pds.set_profile(held, displayName="Held")  # no avatar: the spam gate holds it back
    await pds.follow(held, bot.did)
    settings = bridge_settings(atproto_devnet, bot, bot_password=bot.password)
    async with (
        kith_server(tmp_path, "bridge", 0, **settings) as side,
        kith_server(tmp_path, "bob", 1) as bob,
        aiohttp.ClientSession() as http,
    ):
        bridge = BlueskyBridge(side.server, http)
        follows = BridgeFollows.for_bridge(bridge, side.fed)
        follows.attach()
        await bridge.stream_pass(idle=1.0, start=0)
        await bridge.run_once()
        attack = await say(pds, attacker, bot, f"follow @{acct(bob)}")
        ask = await say(pds, held, bot, f"follow @{acct(bob)}")
        posted = (await bridge.stream_pass(idle=1.0)).posted
        assert posted == [held.did]  # known (it follows the bot), held back; the attacker is not known
        # even named outright, the attacker's posts are not read
        done = await follows.look([attacker.did, *posted])
        assert (done.read, done.followed) == (1, 0)
        await settle(side, bob)
        assert await followers(bob) == []
        assert await side.server.account_by_name(account_name(attacker.did)) is None
        assert await side.server.account_by_name(account_name(held.did)) is None
        replies = await answers(pds, bot)
        assert attack["uri"] not in replies and await follows.seen(attack["uri"]) is None
        assert replies == {ask["uri"]: f"@{held.handle} you are not bridged: no-avatar"}


async def test_hostile_asks_get_a_clear_answer_or_none_and_the_hourly_limit_holds(
    tmp_path: Path, pds: Pds, atproto_devnet: Devnet
) -> None:
    """A mention by handle only is no ask; a post the PDS stored unvalidated with a huge text or broken facets
    is not read; an address that is private (SSRF), unknown or malformed is answered "could not find" or
    "did not understand" and sends nothing; past ASKS_PER_HOUR asks of one account, the rest are ignored
    unanswered; another account's ask is still acted on."""
    bot = await pds.create_account("bot")
    eve, _ = await opted_in(pds, "eve", bot)
    carol, _ = await opted_in(pds, "carol", bot)
    settings = bridge_settings(atproto_devnet, bot, bot_password=bot.password)
    async with (
        kith_server(tmp_path, "bridge", 0, **settings) as side,
        kith_server(tmp_path, "bob", 1) as bob,
        aiohttp.ClientSession() as http,
    ):
        bridge = BlueskyBridge(side.server, http)
        follows = BridgeFollows.for_bridge(bridge, side.fed)
        await bridge.run_once()
        host = bob.base.split("://")[1]
        ignored = [
            await say(pds, eve, bot, f"follow @{acct(bob)}", facet=False),  # the handle as text only
            await say(pds, eve, bot, f"follow @{acct(bob)} " + "x" * 20_000, validate=False),
        ]
        broken = {
            "$type": POST,
            "text": f"@{bot.handle} follow @{acct(bob)}",
            "createdAt": now_iso(),
            "facets": [{"index": "nowhere", "features": {"did": bot.did}}],
        }
        body = {"repo": eve.did, "collection": POST, "record": broken, "validate": False}
        ignored.append(await pds.procedure("com.atproto.repo.createRecord", body, auth=eve))
        private = await say(pds, eve, bot, "follow @admin@169.254.169.254")
        metadata = await say(pds, eve, bot, "follow @admin@10.0.0.1")
        unknown = await say(pds, eve, bot, f"follow @nobody@{host}")
        unclear = await say(pds, eve, bot, "follow me back")
        done = await follows.look([eve.did])
        assert (done.read, done.followed, done.answered) == (4, 0, 4)
        replies = await answers(pds, bot)
        assert replies[private["uri"]] == f"@{eve.handle} could not find @admin@169.254.169.254"
        assert replies[metadata["uri"]] == f"@{eve.handle} could not find @admin@10.0.0.1"
        assert replies[unknown["uri"]] == f"@{eve.handle} could not find @nobody@{host}"
        assert replies[unclear["uri"]].startswith(f"@{eve.handle} I did not understand")
        assert not {p["uri"] for p in ignored} & set(replies)

        # the hourly limit: 4 asks were acted on this hour, so ASKS_PER_HOUR - 4 more are, the rest not
        for _ in range(ASKS_PER_HOUR):
            await say(pds, eve, bot, f"unfollow @{acct(bob)}")
        done = await follows.look([eve.did])
        assert done.read == ASKS_PER_HOUR and done.ignored.count("limited") == 4
        assert done.answered == ASKS_PER_HOUR - 4
        # and another account is not held up by it
        await say(pds, carol, bot, f"follow @{acct(bob)}")
        assert (await follows.look([eve.did, carol.did])).followed == 1
        await settle(side, bob)
        assert await followers(bob) == [f"{side.base}/users/{account_name(carol.did)}"]
        assert await follows_of(side, eve.did) == []


async def test_kith_bridge_run_beside_kith_serve_queues_follows_that_the_serving_process_delivers(
    tmp_path: Path, pds: Pds, atproto_devnet: Devnet
) -> None:
    """`kith bridge run` is its own process: its federation only queues (queued_follows), and the serving
    process's delivery sends the Follow; once it stops, the bridge no longer acts on asks."""
    bot = await pds.create_account("bot")
    alice, _ = await opted_in(pds, "beside", bot)
    settings = bridge_settings(atproto_devnet, bot, bot_password=bot.password)
    async with (
        kith_server(tmp_path, "bridge", 0, **settings) as side,
        kith_server(tmp_path, "bob", 1) as bob,
        aiohttp.ClientSession() as http,
    ):
        bridge = BlueskyBridge(side.server, http)
        async with queued_follows(bridge) as follows:
            assert follows is not None and bridge.asks is not None
            await bridge.run_once()
            ask = await say(pds, alice, bot, f"follow @{acct(bob)}")
            await bridge.asks((await bridge.run_once()).posted)
            await follows.idle()
        assert bridge.asks is None and bridge.on_remove is None
        assert await follows_of(side, alice.did) == [(bob.fed.urls.of("bob").owner, "pending")]
        await settle(side, bob)  # the serving process's workers deliver what the bridge queued
        assert await followers(bob) == [f"{side.base}/users/{account_name(alice.did)}"]
        assert await follows_of(side, alice.did) == [(bob.fed.urls.of("bob").owner, "accepted")]
        assert (await answers(pds, bot)) == {ask["uri"]: f"@{alice.handle} following @{acct(bob)}"}


@asynccontextmanager
async def tarpit() -> AsyncIterator[tuple[str, list[asyncio.StreamWriter]]]:
    """A host on loopback that accepts connections and never answers: ``host:port`` and the connections it
    holds open now."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read()  # until the other side gives up
        held.remove(writer)
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}", held
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_peer_that_never_answers_holds_up_no_pass_and_no_other_account(
    tmp_path: Path, pds: Pds, atproto_devnet: Devnet
) -> None:
    """An ask naming a host that never answers its WebFinger: the bridge's pass hands the asks over and goes on
    (opt-outs must not wait behind it), another account's ask is acted on while the first still hangs, and the
    hanging one ends, at the fetch timeout, in "could not find"."""
    bot = await pds.create_account("bot")
    eve, _ = await opted_in(pds, "slow", bot)
    carol, _ = await opted_in(pds, "quick", bot)
    settings = bridge_settings(atproto_devnet, bot, bot_password=bot.password)
    async with (
        kith_server(tmp_path, "bridge", 0, **settings) as side,
        kith_server(tmp_path, "bob", 1) as bob,
        aiohttp.ClientSession() as http,
        tarpit() as (host, held),
    ):
        bridge = BlueskyBridge(side.server, http)
        follows = BridgeFollows.for_bridge(bridge, side.fed)
        follows.attach()
        await bridge.run_once()
        stuck = await say(pds, eve, bot, f"follow @nobody@{host}")
        await say(pds, carol, bot, f"follow @{acct(bob)}")
        assert bridge.asks is not None
        await bridge.asks((await bridge.run_once()).posted)
        assert follows.busy  # handed over: the pass did not wait for the asks

        async def carol_followed() -> bool:
            return bool(await follows_of(side, carol.did))

        await until(carol_followed, "carol's follow")
        assert held, "eve's WebFinger is still waiting on the tarpit"
        await follows.idle()  # eve's ask has ended: given up at federation.fetch_timeout
        replies = await answers(pds, bot)
        assert replies[stuck["uri"]] == f"@{eve.handle} could not find @nobody@{host}"
        assert await follows_of(side, eve.did) == []


async def test_kith_serve_acts_on_asks_by_itself(tmp_path: Path, pds: Pds, atproto_devnet: Devnet) -> None:
    """The full application (node.app.build_app) with the bridge enabled: an ask posted on Bluesky reaches Bob
    as a Follow, and the bot answers, with no command run (setup_bridge wires the asks into its passes)."""
    bot = await pds.create_account("bot")
    alice, _ = await opted_in(pds, "served", bot)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    settings = bridge_settings(atproto_devnet, bot, bot_password=bot.password, sync_seconds=1)
    config = make_config(tmp_path / "served", sock.getsockname()[1], "operator").with_values(
        bridge_bluesky=settings
    )
    ctx = await open_account(config, "operator", keyring(0))
    runner = web.AppRunner(build_app(ctx.server), access_log=None)
    try:
        await runner.setup()
        await web.SockSite(runner, sock).start()
        async with kith_server(tmp_path, "bob", 1) as bob:
            actor = f"{config.base_url}/users/{account_name(alice.did)}"

            async def bridged() -> bool:
                return (await get(actor))[0] == 200

            await until(bridged, "the bridged actor")
            ask = await say(pds, alice, bot, f"follow @{acct(bob)}")

            async def followed() -> bool:
                await bob.fed.run_once()  # Bob's server is stepped by the test; the bridge's runs by itself
                return await followers(bob) == [actor]

            await until(followed, "the Follow at Bob's")

            async def answered() -> bool:
                return ask["uri"] in await answers(pds, bot)

            await until(answered, "the bot's answer")
    finally:
        await runner.cleanup()
        await ctx.close()
