"""Several accounts on one server, each a complete federated actor, isolated from the others (issue #13 §4, §5).

Attacks across accounts: a remote actor (and another local account) addressing one account through the shared
inbox must reach that account only; one account's blocks, follows and collections are its own; a suspended
account answers 404 and processes nothing, a removed one answers 410 and announces its Delete.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from federation import FEDERATION, owner
from federation.errors import FetchStatus
from federation.signing import make_signer
from node import api_federation
from node.api import auth_middleware
from node.errors import NodeError
from node.federation_access import ACCESS, RunningFederation
from protocol.errors import KithError

from .actors import RemoteActorServer, remote_actor
from .backends import backend  # noqa: F401  (each test on SQLite and on PostgreSQL)
from .nodes import FakeClock, Node, Server, settle, start_node, start_server

AS = "https://www.w3.org/ns/activitystreams"
JSON = {"Accept": "application/activity+json"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def _get(url: str, **params: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(url, params=params, headers=JSON) as r:
        body = await r.read()
        try:
            return r.status, json.loads(body)
        except ValueError:
            return r.status, body.decode(errors="replace")


async def _webfinger(server: Server, name: str) -> tuple[int, Any]:
    host = server.base.split("://")[1]
    return await _get(server.base + "/.well-known/webfinger", resource=f"acct:{name}@{host}")


async def _post(server: Server, m: RemoteActorServer, activity: dict[str, Any], path: str, now: float) -> int:
    body = json.dumps(activity).encode()
    headers = m.signed_headers(server.base + path, body, now)
    async with (
        aiohttp.ClientSession() as http,
        http.post(server.base + path, data=body, headers=headers) as r,
    ):
        await r.read()
        return r.status


def _follow(m: RemoteActorServer, target: str, n: int = 1, **extra: Any) -> dict[str, Any]:
    doc = {
        "@context": AS,
        "id": f"{m.actor}/follows/{n}",
        "type": "Follow",
        "actor": m.actor,
        "object": target,
    }
    return doc | extra


async def test_every_account_answers_as_its_own_actor_and_a_new_one_at_once(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with start_server(tmp_path, ["alice", "bob"], clock) as server:
        docs = {}
        for name in ("alice", "bob"):
            status, jrd = await _webfinger(server, name)
            assert status == 200
            href = next(link["href"] for link in jrd["links"] if link["rel"] == "self")
            assert href == server[name].actor
            status, docs[name] = await _get(href)
            assert status == 200 and docs[name]["preferredUsername"] == name
            assert docs[name]["inbox"] == href + "/inbox"
            assert docs[name]["endpoints"]["sharedInbox"] == server.base + "/inbox"
            for part in ("outbox", "followers", "following"):
                status, coll = await _get(docs[name][part])
                assert status == 200 and coll["id"] == docs[name][part], part
        # each actor has its own keys
        assert docs["alice"]["publicKey"]["publicKeyPem"] != docs["bob"]["publicKey"]["publicKeyPem"]
        assert docs["alice"]["publicKey"]["id"] != docs["bob"]["publicKey"]["id"]

        # an account made while the server runs answers at once, even just after a miss for its name
        assert (await _webfinger(server, "carol"))[0] == 404
        assert (await _get(server.base + "/users/carol"))[0] == 404
        await server.add("carol", index=2, actor_type="Organization")
        status, jrd = await _webfinger(server, "carol")
        assert status == 200
        status, doc = await _get(server.base + "/users/carol")
        assert status == 200 and doc["type"] == "Organization"


async def test_suspended_answers_404_and_waits_removed_answers_410(tmp_path: Path, clock: FakeClock) -> None:
    async with start_server(tmp_path, ["alice", "bob"], clock) as server, remote_actor() as m:
        srv = server.ctx.server
        bob = server["bob"].actor
        await owner.follow(server["bob"].fed, m.actor)  # queued, not sent yet
        await srv.transition("bob", "suspend")
        for url in (bob, bob + "/outbox", bob + "/followers", bob + "/following"):
            assert (await _get(url))[0] == 404, url
        assert (await _webfinger(server, "bob"))[0] == 404
        assert (await _get(server["alice"].actor))[0] == 200  # the other account is untouched
        # what reaches a suspended account by the shared inbox waits (not processed, not lost)
        assert await _post(server, m, _follow(m, bob), "/inbox", clock()) == 202
        await settle(*server.nodes.values())
        assert await owner.followers(server["bob"].fed) == []
        assert await server.runtime.store.inbox_count("received", account="bob") == 1
        assert m.extra.get("received", []) == []  # its deliveries wait too
        # its personal inbox takes nothing while suspended
        assert await _post(server, m, _follow(m, bob, 2), "/users/bob/inbox", clock()) == 404

        await srv.transition("bob", "resume")
        assert (await _get(bob))[0] == 200
        await settle(*server.nodes.values())
        assert [f["actor"] for f in await owner.followers(server["bob"].fed)] == [m.actor]
        assert sorted(json.loads(b)["type"] for b in m.extra["received"]) == ["Accept", "Follow"]

        await srv.transition("bob", "remove")
        status, doc = await _get(bob)
        assert status == 410 and doc["type"] == "Tombstone"
        for url in (bob + "/outbox", bob + "/followers", bob + "/following"):
            assert (await _get(url))[0] == 410, url
        assert (await _webfinger(server, "bob"))[0] in (404, 410)
        assert await _post(server, m, _follow(m, bob, 3), "/users/bob/inbox", clock()) == 410


async def test_the_shared_inbox_hands_an_activity_only_to_the_accounts_it_concerns(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with start_server(tmp_path, ["alice", "bob"], clock) as server, remote_actor() as m:
        alice, bob = server["alice"], server["bob"]
        store = server.runtime.store
        # a Follow of alice, posted to the shared inbox (and addressed, in cc, to bob's followers: addressing
        # a collection of bob's does not make bob the object of the Follow)
        follow = _follow(m, alice.actor, cc=[bob.actor + "/followers"])
        assert await _post(server, m, follow, "/inbox", clock()) == 202
        assert await store.inbox_count(account="alice") == 1
        await settle(alice, bob)
        assert [f["actor"] for f in await owner.followers(alice.fed)] == [m.actor]
        assert await owner.followers(bob.fed) == []
        assert m.actor not in bob.graph.actors
        # a Follow of bob posted to alice's personal inbox concerns alice (the inbox's owner) only: the
        # Follow's object is not alice, so alice ignores it, and bob never sees it
        before_bob = await store.inbox_count(account="bob")
        assert await _post(server, m, _follow(m, bob.actor, 2), "/users/alice/inbox", clock()) == 202
        assert await store.inbox_count(account="bob") == before_bob
        await settle(alice, bob)
        assert await owner.followers(bob.fed) == []
        # an activity that concerns no local account: 202, nothing stored for anyone
        total = await store.inbox_count()
        stray = _follow(m, "https://elsewhere.example/users/zed", 3)
        assert await _post(server, m, stray, "/inbox", clock()) == 202
        note = {
            "@context": AS,
            "id": m.actor + "/notes/1",
            "type": "Create",
            "actor": m.actor,
            "to": [AS + "#Public"],
            "object": {"id": m.actor + "/n/1", "type": "Note", "content": "hi", "attributedTo": m.actor},
        }
        assert await _post(server, m, note, "/inbox", clock()) == 202
        # names that only look like ours: another host's /users/alice, a path below an account's actor
        lookalikes = [
            m.base + "/users/alice",
            alice.actor + "/../bob",
            alice.actor + "x",
            server.base.replace("127.0.0.1", "localhost") + "/users/bob",
        ]
        for i, target in enumerate(lookalikes):
            assert await _post(server, m, _follow(m, target, 10 + i), "/inbox", clock()) == 202
        assert await store.inbox_count() == total
        # an Update of the sender reaches the accounts that deal with it (alice, its followee), not bob
        update = {
            "@context": AS,
            "id": m.actor + "/updates/1",
            "type": "Update",
            "actor": m.actor,
            "object": {"id": m.actor, "type": "Person"},
        }
        alice_before = await store.inbox_count(account="alice")
        assert await _post(server, m, update, "/inbox", clock()) == 202
        assert await store.inbox_count(account="alice") == alice_before + 1
        assert await store.inbox_count(account="bob") == before_bob


async def test_one_accounts_block_and_follows_do_not_touch_anothers(tmp_path: Path, clock: FakeClock) -> None:
    async with start_server(tmp_path, ["alice", "bob"], clock) as server, remote_actor() as m:
        alice, bob = server["alice"], server["bob"]
        await owner.block(alice.fed, m.actor)
        # blocked by alice: refused at alice's personal inbox, and a Follow of alice through the shared inbox
        # stores nothing for her
        assert await _post(server, m, _follow(m, alice.actor), "/users/alice/inbox", clock()) == 403
        assert await _post(server, m, _follow(m, alice.actor, 2), "/inbox", clock()) in (202, 403)
        assert await server.runtime.store.inbox_count(account="alice") == 0
        # bob did not block it: its Follow of bob goes through, by either inbox
        assert await _post(server, m, _follow(m, bob.actor, 3), "/inbox", clock()) == 202
        await settle(alice, bob)
        assert [f["actor"] for f in await owner.followers(bob.fed)] == [m.actor]
        assert await owner.followers(alice.fed) == []
        assert [b["value"] for b in await bob.fed.store.blocks()] == []
        # one activity addressed to both: only bob takes it (alice's block holds for alice only)
        both = {
            "@context": AS,
            "id": m.actor + "/updates/2",
            "type": "Update",
            "actor": m.actor,
            "to": [alice.actor, bob.actor],
            "object": {"id": m.actor, "type": "Person"},
        }
        before = await server.runtime.store.inbox_count(account="bob")
        assert await _post(server, m, both, "/inbox", clock()) == 202
        assert await server.runtime.store.inbox_count(account="alice") == 0
        assert await server.runtime.store.inbox_count(account="bob") == before + 1


async def test_two_accounts_of_one_server_follow_and_connect_through_the_same_checks(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with start_server(tmp_path, ["alice", "bob"], clock) as server:
        alice, bob = server["alice"], server["bob"]
        local = server.runtime.client.local
        assert local is not None
        before = local.requests
        await owner.follow(alice.fed, f"acct:{bob.acct}")
        await owner.follow(bob.fed, alice.actor)
        await settle(alice, bob)
        assert [(f["actor"], f["state"]) for f in await owner.following(alice.fed)] == [
            (bob.actor, "accepted")
        ]
        assert [f["actor"] for f in await owner.followers(bob.fed)] == [alice.actor]
        assert [f["actor"] for f in await owner.followers(alice.fed)] == [bob.actor]
        # served in-process (no network hop), yet through the intake: signature verified, origin checked
        assert local.requests > before
        assert server.runtime.intake.verified >= 2
        # the collections are each account's own
        status, followers = await _get(bob.actor + "/followers")
        assert status == 200 and followers.get("totalItems") == 1
        # a connection: alice offers, bob accepts, both hold the record with both proofs
        await owner.connect(alice.fed, bob.actor, "friend")
        await settle(alice, bob)
        [request] = await owner.requests(bob.fed)
        await owner.accept(bob.fed, request["id"])
        await settle(alice, bob)
        assert len(alice.graph.relationships) == 1 and len(bob.graph.relationships) == 1
        [record] = alice.graph.relationships.values()
        assert len(record["proof"]) == 2


async def test_removing_an_account_sends_the_delete_of_its_actor(tmp_path: Path, clock: FakeClock) -> None:
    async with (
        start_server(tmp_path, ["alice", "bob"], clock) as server,
        start_node(tmp_path, "carol", clock, index=4) as carol,
    ):
        alice = server["alice"]
        await owner.follow(carol.fed, alice.actor)
        await owner.follow(carol.fed, server["bob"].actor)
        await settle(carol, alice)
        assert {f["actor"] for f in await owner.following(carol.fed)} == {alice.actor, server["bob"].actor}
        await server.ctx.server.transition("alice", "remove")
        await server.runtime._housekeeping()  # what a start or a quiet moment does (federation/service.py)
        await settle(carol, alice)
        assert alice.actor in carol.graph.gone
        assert server["bob"].actor not in carol.graph.gone
        assert [f["actor"] for f in await owner.following(carol.fed)] == [server["bob"].actor]
        # announced once: a second pass queues nothing more
        counts = await server.runtime.store.delivery_counts("alice")
        await server.runtime._housekeeping()
        assert await server.runtime.store.delivery_counts("alice") == counts
        assert (await _get(alice.actor))[0] == 410

        # the grace period over, the purge takes alice's federation rows, keeps her tombstone (410 for good)
        # and leaves bob's rows alone
        srv, store = server.ctx.server, server.runtime.store
        later = srv.clock() + timedelta(days=srv.config.accounts.purge_after_days + 1)
        srv.clock = lambda: later
        assert [r.name for r in await srv.purge_due()] == ["alice"]
        everything = ["pending", "accepted", "rejected", "cancelled", "ended"]
        for direction in ("in", "out"):
            assert await store.follows("alice", direction, everything) == []
        assert await store.delivery_counts("alice") == {}
        assert await store.tombstone(alice.actor) is not None
        status, doc = await _get(alice.actor)
        assert status == 410 and doc["type"] == "Tombstone"
        assert [f["actor"] for f in await owner.followers(server["bob"].fed)] == [carol.actor]


def _owner_api(app: web.Application) -> None:
    """The owner API as node/app.py mounts it: the token names the account, the routes act for it."""

    @web.middleware
    async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except (KithError, NodeError) as exc:
            return web.json_response({"message": exc.message}, status=exc.status_hint)

    app.middlewares.append(errors)
    app.middlewares.append(auth_middleware)
    app[ACCESS] = RunningFederation(lambda: app.get(FEDERATION))
    app.router.add_routes(api_federation.routes())


async def test_an_owner_token_acts_for_its_own_account_only(tmp_path: Path, clock: FakeClock) -> None:
    async with (
        start_server(tmp_path, ["alice", "bob"], clock, setup_app=_owner_api) as server,
        remote_actor() as m,
    ):

        async def api(token: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
            headers = {"Authorization": f"Bearer {token}"}  # tests/federation/nodes.py: a token is its name
            async with (
                aiohttp.ClientSession() as http,
                http.request(
                    method, server.base + "/api/federation/" + path, json=body, headers=headers
                ) as r,
            ):
                return r.status, await r.json(content_type=None)

        assert (await api("alice", "POST", "follow", {"address": m.actor}))[0] == 200
        assert (await api("bob", "POST", "block", {"address": "blocked.example"}))[0] == 200
        status, following = await api("alice", "GET", "following")
        assert status == 200 and [f["actor"] for f in following] == [m.actor]
        status, following = await api("bob", "GET", "following")
        assert status == 200 and following == []
        assert [b["value"] for b in (await api("bob", "GET", "blocks"))[1]] == ["blocked.example"]
        assert (await api("alice", "GET", "blocks"))[1] == []
        # bob cannot unfollow on alice's behalf, nor answer her requests: his token reaches his rows only
        await api("bob", "POST", "unfollow", {"address": m.actor})
        assert [f["actor"] for f in (await api("alice", "GET", "following"))[1]] == [m.actor]
        # a suspended account's token is refused outright; the other's still works
        await server.ctx.server.transition("bob", "suspend")
        assert (await api("bob", "GET", "following"))[0] == 401
        assert (await api("alice", "GET", "following"))[0] == 200
        assert (await api("nobody", "GET", "following"))[0] == 401


SHARE = {"name": "Alice A.", "phone": ["tel:+15555550100"]}


async def _card_status(fetcher: Node, target: Node, *, as_owner: bool = False) -> tuple[int, Any]:
    """``fetcher``'s signed fetch of ``target``'s card: by its server's actor (as Kith fetches), or its own key."""
    signer = (
        make_signer(
            key_id=fetcher.fed.urls.owner_key, private_key=fetcher.fed.keys.rsa, clock=fetcher.fed.clock
        )
        if as_owner
        else fetcher.runtime.fetch_signer
    )
    try:
        _, doc = await fetcher.fed.client.get_json(target.actor + "/card", signer=signer)
    except FetchStatus as exc:
        return exc.status, None
    return 200, doc


async def test_signed_fetches_see_only_what_that_account_disclosed(tmp_path: Path, clock: FakeClock) -> None:
    async with (
        start_server(tmp_path, ["alice", "bob"], clock) as server,
        start_node(tmp_path, "carol", clock, index=4) as carol,
        start_node(tmp_path, "dave", clock, index=5) as dave,
    ):
        alice, bob = server["alice"], server["bob"]
        for n in (carol, dave):
            for target in (alice, bob):
                await owner.follow(n.fed, target.actor)
        await settle(carol, dave, alice)
        # alice shows carol her phone; bob shows dave a card of his own, with the same name
        alice.graph.disclosed = {carol.actor: dict(SHARE)}
        bob.graph.disclosed = {dave.actor: {"name": "Alice A.", "email": ["mailto:bob@example.org"]}}
        status, card = await _card_status(carol, alice)
        assert status == 200 and card["phone"] == SHARE["phone"] and "email" not in card
        assert (await _card_status(carol, bob))[0] == 404
        assert (await _card_status(dave, alice))[0] == 404
        status, card = await _card_status(dave, bob)
        assert status == 200 and "phone" not in card
        # bob, an account of alice's own server, signing with his own key sees nothing of hers
        assert (await _card_status(bob, alice, as_owner=True))[0] == 404
        assert (await _card_status(alice, bob, as_owner=True))[0] == 404

        # a relationship record of alice's with carol: carol's server fetches it; dave's and bob's do not
        offered = await owner.connect(alice.fed, carol.actor, "friend")
        await settle(carol, alice)
        await owner.accept(carol.fed, (await owner.requests(carol.fed))[0]["id"])
        await settle(carol, alice)
        record = offered["record"]["id"]
        _, fetched = await carol.fed.client.get_json(record, signer=carol.runtime.fetch_signer)
        assert fetched["id"] == record
        for other, signer in ((dave, dave.runtime.fetch_signer), (bob, None)):
            signer = signer or make_signer(
                key_id=bob.fed.urls.owner_key, private_key=bob.fed.keys.rsa, clock=clock
            )
            with pytest.raises(FetchStatus) as hidden:
                await other.fed.client.get_json(record, signer=signer)
            assert hidden.value.status == 404


async def test_an_id_cited_in_an_activity_concerns_only_the_account_that_exchanged_it_with_the_sender(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with start_server(tmp_path, ["alice", "bob"], clock) as server, remote_actor() as m:
        alice, bob = server["alice"], server["bob"]
        store = server.runtime.store
        followed = await owner.follow(bob.fed, m.actor)
        follow_id = followed["id"]
        eve = m.base + "/users/eve"  # another actor of mallory's server (same key, its own key id)

        def accept(actor: str, n: int) -> dict[str, Any]:
            return {
                "@context": AS,
                "id": f"{actor}/accepts/{n}",
                "type": "Accept",
                "actor": actor,
                "object": follow_id,
            }

        async def post_as(actor: str, activity: dict[str, Any]) -> int:
            body = json.dumps(activity).encode()
            headers = m.signed_headers(server.base + "/inbox", body, clock(), key_id=actor + "#main-key")
            async with (
                aiohttp.ClientSession() as http,
                http.post(server.base + "/inbox", data=body, headers=headers) as r,
            ):
                return r.status

        # eve cites bob's Follow of mallory: it was not exchanged with eve, so it concerns no one
        assert await post_as(eve, accept(eve, 1)) == 202
        assert await store.inbox_count() == 0
        # mallory cites it: it concerns bob, and bob only
        assert await post_as(m.actor, accept(m.actor, 1)) == 202
        assert await store.inbox_count(account="bob") == 1
        assert await store.inbox_count(account="alice") == 0
        await settle(alice, bob)
        assert [(f["actor"], f["state"]) for f in await owner.following(bob.fed)] == [(m.actor, "accepted")]
        assert await owner.following(alice.fed) == []


async def test_a_direct_message_reaches_the_account_it_names_and_no_other(
    tmp_path: Path, clock: FakeClock
) -> None:
    """A Create of a Note (federation/messages.py) is one entry of the dispatch table, acting for the account
    the item was stored for: through the shared inbox it reaches the account it is addressed to (or mentions),
    not another account that deals with the same sender; between two accounts of one server it goes through the
    local path and the same checks."""
    from federation import messages

    async with start_server(tmp_path, ["alice", "bob"], clock) as server, remote_actor() as m:
        alice, bob = server["alice"], server["bob"]
        for node in (alice, bob):  # both follow the sender: both deal with it
            assert await _post(server, m, _follow(m, node.actor), "/inbox", clock()) == 202
        await settle(alice, bob)

        def create(n: int, **note: Any) -> dict[str, Any]:
            obj = {"id": f"{m.actor}/notes/{n}", "type": "Note", "attributedTo": m.actor, "content": "hi"}
            return {
                "@context": AS,
                "id": f"{m.actor}/notes/{n}/activity",
                "type": "Create",
                "actor": m.actor,
                "to": note.pop("to", []),
                "object": obj | note,
            }

        direct = create(1, to=[alice.actor])
        assert await _post(server, m, direct, "/inbox", clock()) == 202
        # a public post that only tags bob with a Mention: bob's, not alice's
        mention = create(2, to=[AS + "#Public"], tag=[{"type": "Mention", "href": bob.actor}])
        assert await _post(server, m, mention, "/inbox", clock()) == 202
        await settle(alice, bob)
        assert [(x.object_id, x.private) for x in alice.graph.messages] == [(m.actor + "/notes/1", True)]
        assert [(x.object_id, x.private) for x in bob.graph.messages] == [(m.actor + "/notes/2", False)]
        # bob writes to alice on the same server: signed, delivered in-process, logged by alice only
        local = server.runtime.client.local
        assert local is not None
        before = local.requests
        sent = await messages.send_direct(bob.fed, alice.actor, "lunch?")
        await settle(alice, bob)
        assert local.requests > before
        assert [(x.object_id, x.actor_id) for x in alice.graph.messages][-1] == (sent.object_id, bob.actor)
        assert [x.object_id for x in bob.graph.messages] == [m.actor + "/notes/2"]
