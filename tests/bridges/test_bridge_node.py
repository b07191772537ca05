"""The Bluesky bridge node (issue #18) end to end, against the real AT Protocol devnet (the reference PDS and a
PLC directory on loopback) and two real Kith servers on 127.0.0.1: the bridge's, and a follower's.

A Bluesky account opts in by following the bot; a Kith account on the other server follows its bridged actor
and gets its card; the profile changes on the PDS and the follower's graph shows the change; the account
unfollows the bot and the follower receives the actor's Delete. And as an attacker: an account that never opted
in, or opted in with #nobridge, is unreachable (WebFinger 404, actor 404), and an opt-out is honoured at once.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import federation
from federation import FEDERATION, Federation, owner
from node.api import SERVER
from node.app import build_app
from node.bridge_bluesky import STREAM, BlueskyBridge, BridgeError, SyncReport, account_name
from node.config import Config
from node.context import AccountContext
from node.federation_wiring import federation_context
from tests.bridges.atproto_net import Account, Devnet, Pds
from tests.federation.nodes import keyring, make_config, open_account

pytestmark = pytest.mark.timeout(900)

FOLLOW = "app.bsky.graph.follow"
BLOCK = "app.bsky.graph.block"
JSON = {"Accept": "application/activity+json"}
#: a 1x1 PNG: an avatar, which the spam gate asks for
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@dataclass
class KithServer:
    base: str
    ctx: AccountContext  # the server's first account
    fed: Federation

    @property
    def server(self) -> Any:
        return self.ctx.server


@asynccontextmanager
async def kith_server(tmp: Path, name: str, index: int, **bridge: Any) -> AsyncIterator[KithServer]:
    """A real Kith server (its SQLite files, the real graph ports, federation on a loopback port), workers
    stepped by the test."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config: Config = make_config(tmp / name, sock.getsockname()[1], name)
    if bridge:
        config = config.with_values(bridge_bluesky=bridge)
    ctx = await open_account(config, name, keyring(index))
    try:
        app = web.Application()
        app[SERVER] = ctx.server
        federation.setup(app, federation_context(ctx.server, run_workers=False))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        try:
            yield KithServer(base=config.base_url, ctx=ctx, fed=app[FEDERATION])
        finally:
            await runner.cleanup()
    finally:
        await ctx.close()


async def settle(*servers: KithServer, rounds: int = 30) -> None:
    """Step every server's inbox and delivery loops until a whole round does nothing (an idle inbox loop runs
    the quiet-moment work: card updates and removals are announced then)."""
    for _ in range(rounds):
        busy = 0
        for s in servers:
            a, b = await s.fed.run_once()
            busy += a + b
        if busy == 0:
            return
    raise AssertionError("servers did not settle")


async def get(url: str, **params: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(url, params=params, headers=JSON) as r:
        body = await r.read()
        try:
            return r.status, json.loads(body)
        except ValueError:
            return r.status, body.decode(errors="replace")


async def webfinger(server: KithServer, name: str) -> int:
    host = server.base.split("://")[1]
    status, _ = await get(server.base + "/.well-known/webfinger", resource=f"acct:{name}@{host}")
    return status


async def avatar(pds: Pds, account: Account) -> dict[str, Any]:
    headers = account.auth | {"Content-Type": "image/png"}
    async with pds.session.post(
        f"{pds.net.pds_url}/xrpc/com.atproto.repo.uploadBlob", data=PNG, headers=headers
    ) as resp:
        assert resp.status == 200, await resp.text()
        blob: dict[str, Any] = (await resp.json())["blob"]
        return blob


@pytest.fixture
async def pds(atproto_devnet: Devnet) -> AsyncIterator[Pds]:
    async with aiohttp.ClientSession() as session:
        yield Pds(atproto_devnet, session)


async def person(server: KithServer, actor: str) -> Any:
    ctx = await server.server.context(server.ctx.name)
    return await ctx.store.people.person_for_identity(actor)


def bridge_settings(net: Devnet, bot: Account, **extra: Any) -> dict[str, Any]:
    return {
        "enabled": True,
        "pds_url": net.pds_url,
        "plc_url": net.plc_url,
        "bot_handle": bot.handle,
    } | extra


async def test_opt_in_follow_profile_change_and_opt_out_reach_a_kith_follower(
    tmp_path: Path, pds: Pds, atproto_devnet: Devnet
) -> None:
    bot = await pds.create_account("bot")
    alice = await pds.create_account("alice")
    await pds.set_profile(
        alice,
        displayName="Alice Liddell",
        description="down the rabbit hole",
        avatar=await avatar(pds, alice),
    )
    async with (
        kith_server(tmp_path, "bridge", 0, **bridge_settings(atproto_devnet, bot)) as side,
        kith_server(tmp_path, "bob", 1) as bob,
        aiohttp.ClientSession() as http,
    ):
        bridge = BlueskyBridge(side.server, http, on_change=side.fed.card_changed)
        name = account_name(alice.did)
        actor = f"{side.base}/users/{name}"
        # before opting in, the account is nowhere
        await bridge.run_once()
        assert await webfinger(side, name) == 404
        assert (await get(actor))[0] == 404

        follow = await pds.follow(alice, bot.did)  # opting in
        report = await bridge.run_once()
        assert report.bridged == 1
        assert await webfinger(side, name) == 200
        # WebFinger both ways: the handle finds the actor too, and the subject is the address it goes by (its handle
        # at the node's domain: bridge.bluesky.handle_domain is not set), which is its preferredUsername
        host = side.base.split("://")[1]
        status, jrd = await get(side.base + "/.well-known/webfinger", resource=f"acct:{alice.handle}@{host}")
        assert status == 200 and jrd["subject"] == f"acct:{alice.handle}@{host}" and jrd["aliases"] == [actor]
        assert await webfinger(side, "nobody.test") == 404
        status, doc = await get(actor)
        assert status == 200 and doc["name"] == "Alice Liddell"
        assert f"at://{alice.did}" in doc["alsoKnownAs"]
        [item] = await bridge.actors()
        assert item == item | {"did": alice.did, "handle": alice.handle, "actor": actor, "state": "bridged"}
        assert (await bridge.status())["opted_in"] == 1

        # a Kith account on another server follows the bridged actor and gets the person
        async with bob.fed.acting("bob") as me:
            await owner.follow(me, actor)
        await settle(side, bob)
        seen = await person(bob, actor)
        assert seen is not None and seen.display_name == "Alice Liddell"
        # with the DID and the handle as identities verified "bridged", the bridged actor (the bridge) their source
        bridged = {i.uri: i for i in seen.identities if i.kind == "bluesky"}
        assert set(bridged) == {alice.did, f"at://{alice.handle}"}
        for ident in bridged.values():
            assert ident.verification == "bridged"
            assert [(p.source, p.source_record_id) for p in ident.provenance] == [("bridge", actor)]

        # the profile changes on Bluesky: the follower's graph shows it
        await pds.set_profile(
            alice, displayName="Alice L.", description="back again", avatar=await avatar(pds, alice)
        )
        assert (await bridge.run_once()).updated == 1
        await settle(side, bob)
        seen = await person(bob, actor)
        assert seen is not None and seen.display_name == "Alice L."

        # opting out: the follow of the bot is deleted; the actor is gone at once and its Delete is delivered
        await pds.delete_record(alice, FOLLOW, follow["uri"].rsplit("/", 1)[1])
        assert (await bridge.run_once()).removed == 1
        assert (await get(actor))[0] == 410
        assert await webfinger(side, alice.handle) in (404, 410)  # the handle no longer finds it either
        await settle(side, bob)
        seen = await person(bob, actor)
        gone = {i.uri: i.state for i in seen.identities} if seen is not None else {}
        assert gone.get(actor) == "gone", gone
        assert (await bridge.actors())[0]["state"] == "opted-out"


async def opted_in(pds: Pds, prefix: str, bot: Account, **profile: Any) -> tuple[Account, dict[str, Any]]:
    """A Bluesky account with a full profile (display name, avatar) that follows the bot."""
    user = await pds.create_account(prefix)
    fields = {"displayName": prefix.title(), "description": "hello", "avatar": await avatar(pds, user)}
    await pds.set_profile(user, **(fields | profile))
    return user, await pds.follow(user, bot.did)


async def test_accounts_that_did_not_consent_are_never_reachable(
    tmp_path: Path, pds: Pds, atproto_devnet: Devnet
) -> None:
    """Following someone else, #nobridge or #nobot in the profile (any case), the spam gates (no display name,
    no avatar, younger than the setting), the deny-list by DID or handle domain, and the operator's block: no
    account is made, the guessed name answers 404 to WebFinger and to the actor URL."""
    bot = await pds.create_account("bot")
    other = await pds.create_account("other")
    stranger = await pds.create_account("strangr")
    await pds.set_profile(stranger, displayName="Stranger", avatar=await avatar(pds, stranger))
    await pds.follow(stranger, other.did)  # follows someone, not the bot
    nobridge, _ = await opted_in(pds, "nobr", bot, description="please no #NoBridge here")
    nobot, _ = await opted_in(pds, "nobot", bot, displayName="Bot-free #nobot")
    nameless, _ = await opted_in(pds, "nameless", bot, displayName="")
    faceless = await pds.create_account("faceless")
    await pds.set_profile(faceless, displayName="Faceless")
    await pds.follow(faceless, bot.did)
    denied, _ = await opted_in(pds, "denied", bot)
    blocked, _ = await opted_in(pds, "blocked", bot)
    settings = bridge_settings(atproto_devnet, bot, deny=f"{denied.did.upper()}, nowhere.example")
    async with kith_server(tmp_path, "bridge", 0, **settings) as side, aiohttp.ClientSession() as http:
        bridge = BlueskyBridge(side.server, http)
        await bridge.block(blocked.did)
        await bridge.run_once()
        states = {a["did"]: (a["state"], a["reason"]) for a in await bridge.actors()}
        assert states[nobridge.did] == ("waiting", "nobridge")
        assert states[nobot.did] == ("waiting", "nobridge")
        assert states[nameless.did] == ("waiting", "no-display-name")
        assert states[faceless.did] == ("waiting", "no-avatar")
        assert states[denied.did] == ("waiting", "denied")
        assert states[blocked.did] == ("blocked", "blocked")
        assert stranger.did not in states  # nothing at all is kept of an account that never followed the bot
        for user in (stranger, nobridge, nobot, nameless, faceless, denied, blocked):
            name = account_name(user.did)
            assert await side.server.account_by_name(name) is None
            assert await webfinger(side, name) == 404
            assert await webfinger(side, user.handle) == 404  # nor by its handle
            assert (await get(f"{side.base}/users/{name}"))[0] == 404
            assert (await get(f"{side.base}/users/{user.handle}"))[0] == 404
        assert (await bridge.status())["opted_in"] == 0

    # too young: the setting holds back an account made a moment ago; a handle domain on the deny-list too
    young, _ = await opted_in(pds, "young", bot)
    domain = young.handle.split(".", 1)[1]
    for extra, reason in (({"min_account_age_days": 1}, "too-young"), ({"deny": domain}, "denied")):
        async with (
            kith_server(
                tmp_path / reason, "bridge", 0, **bridge_settings(atproto_devnet, bot, **extra)
            ) as side,
            aiohttp.ClientSession() as http,
        ):
            bridge = BlueskyBridge(side.server, http)
            await bridge.run_once()
            states = {a["did"]: (a["state"], a["reason"]) for a in await bridge.actors()}
            assert states[young.did] == ("waiting", reason)
            assert await webfinger(side, account_name(young.did)) == 404


OPT_OUTS = ["unfollow", "block-bot", "nobridge", "deactivate", "takedown", "operator-block"]


@pytest.mark.parametrize("how", OPT_OUTS)
async def test_every_way_of_opting_out_is_honoured_at_once(
    tmp_path: Path, pds: Pds, atproto_devnet: Devnet, how: str
) -> None:
    """However the account (or the operator) ends the bridging, the next sync removes the actor: 410 from then
    on, gone from WebFinger, and its state says why."""
    bot = await pds.create_account("bot")
    user, follow = await opted_in(pds, "leaver", bot)
    async with (
        kith_server(tmp_path, "bridge", 0, **bridge_settings(atproto_devnet, bot)) as side,
        aiohttp.ClientSession() as http,
    ):
        bridge = BlueskyBridge(side.server, http)
        await bridge.run_once()
        name = account_name(user.did)
        actor = f"{side.base}/users/{name}"
        assert (await get(actor))[0] == 200
        if how == "unfollow":
            await pds.delete_record(user, FOLLOW, follow["uri"].rsplit("/", 1)[1])
        elif how == "block-bot":
            record = {"$type": BLOCK, "subject": bot.did, "createdAt": "2026-01-01T00:00:00Z"}
            await pds.create_record(user, BLOCK, record)
        elif how == "nobridge":
            await pds.set_profile(
                user, displayName="Leaver", description="#nobridge", avatar=await avatar(pds, user)
            )
        elif how == "deactivate":
            await pds.deactivate(user)
        elif how == "takedown":
            await pds.takedown(user.did)
        if how == "operator-block":
            await bridge.block(user.did)  # removed at once, without waiting for a sync
        else:
            assert (await bridge.run_once()).removed == 1
        assert (await get(actor))[0] == 410
        assert await webfinger(side, name) in (404, 410)
        [item] = await bridge.actors()
        assert item["state"] == "opted-out" and item["reason"] != "opted-in"
        # and a later sync does not bring it back while the reason holds
        await bridge.run_once()
        assert (await get(actor))[0] == 410


async def until(check: Any, what: str, *, tries: int = 600) -> None:
    """Wait for a state the server's own workers reach (not a timing: the loop ends as soon as it holds)."""
    for _ in range(tries):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never saw {what}")


async def test_kith_serve_runs_the_bridge_when_it_is_enabled(
    tmp_path: Path, pds: Pds, atproto_devnet: Devnet
) -> None:
    """bridge.bluesky.enabled: the full application (node.app.build_app) syncs on its own, every
    bridge.bluesky.sync_seconds: an opt-in appears and an opt-out disappears with no command run."""
    bot = await pds.create_account("bot")
    user, follow = await opted_in(pds, "served", bot)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = make_config(tmp_path / "served", sock.getsockname()[1], "operator").with_values(
        bridge_bluesky=bridge_settings(atproto_devnet, bot, sync_seconds=1)
    )
    ctx = await open_account(config, "operator", keyring(0))
    runner = web.AppRunner(build_app(ctx.server), access_log=None)
    try:
        await runner.setup()
        await web.SockSite(runner, sock).start()
        actor = f"{config.base_url}/users/{account_name(user.did)}"

        async def status_is(code: int) -> bool:
            return (await get(actor))[0] == code

        await until(lambda: status_is(200), "the bridged actor")
        await pds.delete_record(user, FOLLOW, follow["uri"].rsplit("/", 1)[1])
        await until(lambda: status_is(410), "the opt-out")
    finally:
        await runner.cleanup()
        await ctx.close()


async def test_the_event_stream_brings_opt_ins_changes_and_opt_outs_with_a_cursor_that_survives_restarts(
    tmp_path: Path, pds: Pds, atproto_devnet: Devnet
) -> None:
    """subscribeRepos from the saved cursor: a follow of the bot is an opt-in, a profile change an update, a
    deleted follow an opt-out, each applied by a stream pass. The cursor is kept in the server's database, so
    a bridge opened afresh (a restart) replays what happened while it was down; events of accounts that never
    opted in, or follows of someone else, bridge no one; #nobridge arriving on the stream holds the account."""
    bot = await pds.create_account("bot")
    other = await pds.create_account("other")
    async with (
        kith_server(tmp_path, "bridge", 0, **bridge_settings(atproto_devnet, bot)) as side,
        aiohttp.ClientSession() as http,
    ):
        first = BlueskyBridge(side.server, http)
        # the first pass reads the stream from its start (what this test session's PDS keeps), which sets the
        # cursor: without one, a pass starts live and the next full sync covers the gap
        await first.stream_pass(idle=1.0, start=0)
        assert isinstance((await side.server.store.bridge.stream(STREAM)).cursor, int)
        await first.run_once()
        # written while the bridge is "down": replayed from the cursor by a new bridge object
        user, follow = await opted_in(pds, "streamed", bot)
        bystander, _ = await opted_in(pds, "bystandr", other)  # follows someone else, with a full profile
        held, _ = await opted_in(pds, "held", bot, description="#nobridge please")
        restarted = BlueskyBridge(side.server, http)
        report = await restarted.stream_pass(idle=1.0)
        assert report.bridged == 1
        states = {a["did"]: (a["state"], a["reason"]) for a in await restarted.actors()}
        assert states == {user.did: ("bridged", "opted-in"), held.did: ("waiting", "nobridge")}
        assert bystander.did not in states
        cursor = (await side.server.store.bridge.stream(STREAM)).cursor
        assert isinstance(cursor, int) and cursor > 0
        assert (await restarted.status())["lag_seconds"] is not None

        await pds.set_profile(user, displayName="Streamed Again", avatar=await avatar(pds, user))
        assert (await restarted.stream_pass(idle=1.0)).updated == 1
        status, doc = await get(f"{side.base}/users/{account_name(user.did)}")
        assert status == 200 and doc["name"] == "Streamed Again"

        await pds.delete_record(user, FOLLOW, follow["uri"].rsplit("/", 1)[1])
        assert (await BlueskyBridge(side.server, http).stream_pass(idle=1.0)).removed == 1
        assert (await get(f"{side.base}/users/{account_name(user.did)}"))[0] == 410
        # nothing new: a pass reads nothing again and changes nothing
        again = await restarted.stream_pass(idle=1.0)
        assert (again.bridged, again.updated, again.removed) == (0, 0, 0)


async def test_hostile_profile_text_is_cleaned_and_a_lost_state_never_keeps_an_opted_out_actor(
    tmp_path: Path, pds: Pds, atproto_devnet: Devnet
) -> None:
    """Control characters in a profile (which the PDS stores as written) do not stop the bridging nor reach the
    card; and if the bridge's state is lost after an account was made (a crash between the two writes, or an
    operator's mistake), an opt-out still removes the actor rather than leaving it reachable for good."""
    bot = await pds.create_account("bot")
    user, follow = await opted_in(
        pds, "hostile", bot, displayName="Eve\x07\x1b[31m\u202e", description="line one\r\nline two\x00"
    )
    async with (
        kith_server(tmp_path, "bridge", 0, **bridge_settings(atproto_devnet, bot)) as side,
        aiohttp.ClientSession() as http,
    ):
        bridge = BlueskyBridge(side.server, http)
        assert (await bridge.run_once()).bridged == 1
        actor = f"{side.base}/users/{account_name(user.did)}"
        status, doc = await get(actor)
        assert status == 200 and doc["name"] == "Eve[31m"
        assert "line one<br>line two" in doc["summary"]

        assert await side.server.store.bridge.forget(user.did)  # the state is lost; the account stays
        await pds.delete_record(user, FOLLOW, follow["uri"].rsplit("/", 1)[1])
        assert (await bridge.run_once()).removed == 1
        assert (await get(actor))[0] == 410
        assert (await bridge.actors())[0]["state"] == "opted-out"


async def test_with_an_app_view_the_bots_followers_are_asked_of_it(
    tmp_path: Path, atproto_appview: Devnet
) -> None:
    """bridge.bluesky.appview_url: who follows the bot comes from the App View's getFollowers (the index no
    PDS keeps, needed once followers live on other PDSes), and an unfollow it reports is an opt-out."""
    async with aiohttp.ClientSession() as session:
        pds = Pds(atproto_appview, session)
        bot = await pds.create_account("bot")
        user, follow = await opted_in(pds, "viewed", bot)
        await pds.settle()  # the App View has indexed the follow
        settings = bridge_settings(atproto_appview, bot, appview_url=atproto_appview.appview_url)
        async with kith_server(tmp_path, "bridge", 0, **settings) as side:
            bridge = BlueskyBridge(side.server, session)
            assert (await bridge.run_once()).bridged == 1
            actor = f"{side.base}/users/{account_name(user.did)}"
            assert (await get(actor))[0] == 200
            await pds.delete_record(user, FOLLOW, follow["uri"].rsplit("/", 1)[1])
            await pds.settle()
            assert (await bridge.run_once()).removed == 1
            assert (await get(actor))[0] == 410
        # the App View is what the pass relies on: when it is down, the pass says so and changes nothing
        down = settings | {"appview_url": "http://127.0.0.1:9"}
        async with kith_server(tmp_path / "down", "bridge", 0, **down) as side:
            with pytest.raises(BridgeError, match="appview_url"):
                await BlueskyBridge(side.server, session).run_once()


async def test_a_block_from_another_process_survives_a_pass_that_read_the_state_before_it(
    tmp_path: Path, pds: Pds, atproto_devnet: Devnet
) -> None:
    """`kith bridge block` runs beside `kith serve`, whose pass may have read the state just before: the pass's
    save must not undo the block, and the blocked account is not bridged."""
    bot = await pds.create_account("bot")
    user, _ = await opted_in(pds, "raced", bot)
    async with (
        kith_server(tmp_path, "bridge", 0, **bridge_settings(atproto_devnet, bot)) as side,
        aiohttp.ClientSession() as http,
    ):
        serving, operator = BlueskyBridge(side.server, http), BlueskyBridge(side.server, http)
        # a pass has read the account (and the blocks, before the operator's)...
        account = await serving.reader.account(user.did, bot_did=await serving.bot_did())
        await operator.block(user.did)  # ...the operator blocks in another process...
        await serving._apply(account, SyncReport())  # ...and the pass applies what it read
        assert user.did in await side.server.store.bridge.blocked()
        assert await side.server.account_by_name(account_name(user.did)) is None
        await serving.run_once()
        assert await side.server.account_by_name(account_name(user.did)) is None
        assert (await serving.actors())[0]["state"] == "blocked"


VICTIM = "did:plc:vvvvvvvvvvvvvvvvvvvvvvvv"
OTHER = "did:plc:oooooooooooooooooooooooo"


async def test_only_a_bridges_actor_of_that_did_makes_its_bluesky_identities_bridged(tmp_path: Path) -> None:
    """As an attacker: anyone can write ``at://did:plc:victim`` in their actor's ``alsoKnownAs``. A follower's
    node records it as "bridged" only from the actor whose own URL is ``/users/did.plc.victim`` (the bridge's
    actor of that DID, fetched from the bridge); an ordinary actor (``/users/eve``), or a bridge's actor of
    another DID naming the victim too, gets "claimed" at most, and never takes an identity another person
    holds."""
    async with kith_server(tmp_path, "evil", 0) as evil, kith_server(tmp_path, "bob", 1) as bob:
        fed = evil.server.federation
        await fed.set_setting("evil", "also_known_as", [f"at://{VICTIM}", "at://victim.example.com"])
        other = account_name(OTHER)
        await evil.server.add_account(other, display_name="Other")
        # a bridge's actor of OTHER that names the victim's DID (and its own) in its alsoKnownAs
        await fed.set_setting(
            other, "also_known_as", [f"at://{VICTIM}", f"at://{OTHER}", "at://o.example.com"]
        )
        async with bob.fed.acting("bob") as me:
            await owner.follow(me, f"{evil.base}/users/evil")
            await owner.follow(me, f"{evil.base}/users/{other}")
        await settle(evil, bob)

        eve = await person(bob, f"{evil.base}/users/evil")
        assert eve is not None
        levels = {i.uri: i.verification for i in eve.identities if i.kind == "bluesky"}
        assert levels == {VICTIM: "claimed", "at://victim.example.com": "claimed"}, levels

        bridged = await person(bob, f"{evil.base}/users/{other}")
        assert bridged is not None
        levels = {i.uri: i.verification for i in bridged.identities if i.kind == "bluesky"}
        # its own DID and handle are the bridge's word; the victim's DID is held by Eve's person already
        assert levels == {OTHER: "bridged", "at://o.example.com": "bridged"}, levels
        for ident in bridged.identities:
            if ident.kind == "bluesky":
                assert [(p.source, p.source_record_id) for p in ident.provenance] == [
                    ("bridge", f"{evil.base}/users/{other}")
                ]


NO_UNAUTH = {"$type": "com.atproto.label.defs#selfLabels", "values": [{"val": "!no-unauthenticated"}]}


async def test_the_no_unauthenticated_self_label_keeps_an_account_off_the_open_network(
    tmp_path: Path, pds: Pds, atproto_devnet: Devnet
) -> None:
    """An account that opted in and later labels its profile ``!no-unauthenticated`` (it wants to be seen only
    by people logged in to Bluesky) stops being bridged at the next pass, with the reason the operator sees;
    one that follows the bot with the label already is never bridged; another label holds no one back."""
    bot = await pds.create_account("bot")
    user, _ = await opted_in(pds, "labeled", bot)
    hidden, _ = await opted_in(pds, "hidden", bot, labels=NO_UNAUTH)
    other_label = {"$type": "com.atproto.label.defs#selfLabels", "values": [{"val": "graphic-media"}]}
    fine, _ = await opted_in(pds, "fine", bot, labels=other_label)
    async with (
        kith_server(tmp_path, "bridge", 0, **bridge_settings(atproto_devnet, bot)) as side,
        aiohttp.ClientSession() as http,
    ):
        bridge = BlueskyBridge(side.server, http)
        assert (await bridge.run_once()).bridged == 2
        states = {a["did"]: (a["state"], a["reason"]) for a in await bridge.actors()}
        assert states[hidden.did] == ("waiting", "no-unauthenticated")
        assert states[fine.did] == ("bridged", "opted-in")
        assert await side.server.account_by_name(account_name(hidden.did)) is None
        assert await webfinger(side, hidden.handle) == 404
        actor = f"{side.base}/users/{account_name(user.did)}"
        assert (await get(actor))[0] == 200

        await pds.set_profile(user, displayName="Labeled", avatar=await avatar(pds, user), labels=NO_UNAUTH)
        assert (await bridge.run_once()).removed == 1
        assert (await get(actor))[0] == 410
        states = {a["did"]: (a["state"], a["reason"]) for a in await bridge.actors()}
        assert states[user.did] == ("opted-out", "no-unauthenticated")
