"""A bridged account's address is ``@HANDLE@HANDLE_DOMAIN`` (issue #18: ``@alice.bsky.social@bsky.BRIDGE-DOMAIN``;
bridge.bluesky.handle_domain, which the operator points at the bridge's server), found by WebFinger on that
host and both ways: whichever of its names is asked for, the subject is that address, and the actor's
``preferredUsername`` is the handle. As an attacker: a handle that never opted in, a handle asked for under
another domain, an ordinary account's or a DID's name under the handle domain all answer 404."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from federation import owner
from node.bridge_bluesky import BlueskyBridge, account_name
from tests.bridges.atproto_net import Devnet, Pds
from tests.bridges.test_bridge_node import FOLLOW, bridge_settings, get, kith_server, opted_in, person, settle

pytestmark = pytest.mark.timeout(600)

DOMAIN = "bsky.bridge.example"


@pytest.fixture
async def pds(atproto_devnet: Devnet) -> AsyncIterator[Pds]:
    async with aiohttp.ClientSession() as session:
        yield Pds(atproto_devnet, session)


async def finger(base: str, resource: str, host: str | None = None) -> tuple[int, Any]:
    """WebFinger over real HTTP; ``host``: the Host header (a request arriving for the handle domain)."""
    headers = {"Accept": "application/jrd+json"} | ({"Host": host} if host else {})
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{base}/.well-known/webfinger", params={"resource": resource}, headers=headers) as resp,
    ):
        return resp.status, (await resp.json(content_type=None)) if resp.status == 200 else None


async def test_a_bridged_account_goes_by_its_handle_at_the_handle_domain(
    tmp_path: Path, pds: Pds, atproto_devnet: Devnet
) -> None:
    bot = await pds.create_account("bot")
    alice, follow = await opted_in(pds, "handled", bot)
    never = await pds.create_account("never")  # never follows the bot
    settings = bridge_settings(atproto_devnet, bot, handle_domain=DOMAIN.upper())
    async with (
        kith_server(tmp_path, "bridge", 0, **settings) as side,
        kith_server(tmp_path, "bob", 1) as bob,
        aiohttp.ClientSession() as http,
    ):
        bridge = BlueskyBridge(side.server, http)
        assert (await bridge.run_once()).bridged == 1
        name = account_name(alice.did)
        actor = f"{side.base}/users/{name}"
        host = side.base.split("://")[1]
        address = f"acct:{alice.handle}@{DOMAIN}"

        # on the handle domain's host, by its handle
        status, jrd = await finger(side.base, address, host=DOMAIN)
        assert status == 200 and jrd["subject"] == address and jrd["aliases"] == [actor]
        assert [link["href"] for link in jrd["links"] if link["rel"] == "self"] == [actor]
        # both ways: its other names give the same subject, and the actor's preferredUsername is the handle
        for other in (f"acct:{name}@{host}", f"acct:{alice.handle}@{host}", actor):
            status, jrd = await finger(side.base, other)
            assert status == 200 and jrd["subject"] == address, (other, jrd)
        status, doc = await get(actor)
        assert status == 200 and doc["preferredUsername"] == alice.handle

        # what no one opted into is not there
        for resource in (
            f"acct:{never.handle}@{DOMAIN}",  # a handle that never followed the bot
            f"acct:{alice.handle}@other.example",  # the right handle under a domain not ours
            f"acct:{alice.handle}.evil@{DOMAIN}",
            f"acct:{name}@{DOMAIN}",  # the handle domain answers for handles only
            f"acct:bridge@{DOMAIN}",  # an ordinary account of the server is not on the handle domain
            f"acct:@{DOMAIN}",
        ):
            assert (await finger(side.base, resource, host=DOMAIN))[0] == 404, resource
        assert (await finger(side.base, f"acct:bridge@{host}"))[0] == 200  # it is on the node's own

        # a Kith follower resolves it both ways and records the handle's address at the actor's own host
        async with bob.fed.acting("bob") as me:
            await owner.follow(me, actor)
        await settle(side, bob)
        seen = await person(bob, actor)
        assert seen is not None
        assert f"acct:{alice.handle}@{host}" in {i.uri for i in seen.identities}

        # opting out: the address is gone with the actor
        await pds.delete_record(alice, FOLLOW, follow["uri"].rsplit("/", 1)[1])
        assert (await bridge.run_once()).removed == 1
        assert (await finger(side.base, address, host=DOMAIN))[0] in (404, 410)
