"""Who enters the owner's graph (issue #12 §1): only actors the owner deals with (follows either way, accepted
requests, records they keep). Signers of refused requests, fetchers, pending followers, strangers sending cards,
blocked accounts and identities a card claims do not become people. The real graph (node/federation_port.py)
over each node's own SQLite file, real nodes and a scriptable fediverse server on loopback."""

from __future__ import annotations

import contextlib
from pathlib import Path

from federation import cards, owner
from federation.errors import FetchStatus
from tests.federation.backends import backend  # noqa: F401  (each test on SQLite and on PostgreSQL)

from .graphnodes import graph_node, people, person_of
from .nodes import FakeClock, settle, start_node
from .peers import peer_server


async def test_fetchers_refused_signers_and_pending_followers_are_not_people(tmp_path: Path) -> None:
    clock = FakeClock()
    async with (
        graph_node(tmp_path, "alice", clock, index=0, auto_accept_follows=False) as a,
        start_node(tmp_path, "stranger", clock, index=1) as s,
        peer_server(clock) as p,
    ):
        p.add("eve", key_path=True)
        p.add("fan")
        # a signed fetch of the card (404), of the collections, of the actor
        for path in ("/card", "/followers", "/outbox", ""):
            with contextlib.suppress(FetchStatus):  # what it answers does not matter here
                await s.fed.client.get_json(a.actor + path, signer=s.runtime.fetch_signer)
        assert (await p.get("eve", a.actor + "/card"))[0] == 404
        # an activity that is not the signer's own: dropped unread at the inbox (federation/triage.py), or
        # refused once its key was fetched; either way nobody becomes a person
        forged = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": p.actor("eve") + "/updates/1",
            "type": "Update",
            "actor": p.actor("eve"),
            "object": {"id": s.actor, "type": "Person"},
        }
        assert await p.send("eve", a.actor + "/inbox", forged) in (202, 403)
        # an Update of an actor the owner never dealt with
        update = forged | {"id": p.actor("fan") + "/u", "actor": p.actor("fan"), "object": p.actor("fan")}
        assert await p.send("fan", a.actor + "/inbox", update) == 202
        # a follow request waiting for the owner's answer, and one the owner refuses
        await p.follow("fan", a.actor, a.actor + "/inbox")
        await p.follow("eve", a.actor, a.actor + "/inbox")
        await settle(a, s)
        assert await people(a) == []

        requests = {r["actor"]: r["id"] for r in await owner.requests(a.fed)}
        await owner.reject(a.fed, requests[p.actor("eve")])
        await owner.accept(a.fed, requests[p.actor("fan")])
        await settle(a, s)
        # accepting makes the follower a person; refusing does not
        assert [pp["uris"] for pp in await people(a)] == [[p.actor("fan"), "acct:" + p.acct("fan")]]


async def test_a_blocked_account_and_a_strangers_card_stay_out_of_the_graph(tmp_path: Path) -> None:
    clock = FakeClock()
    async with (
        graph_node(tmp_path, "alice", clock, index=0) as a,
        start_node(tmp_path, "stranger", clock, index=1) as s,
        start_node(tmp_path, "bob", clock, index=2) as b,
    ):
        await owner.block(a.fed, b.acct)  # blocking an account the owner never knew
        # a Kith node that alice does not deal with sends its owner's card anyway
        s.graph.disclosed = {a.actor: {"name": "Stranger Danger", "email": ["mailto:s@example.org"]}}
        await owner.follow(s.fed, a.acct)  # ...having followed, which alice accepts: then s is a person
        await settle(a, s, b)
        assert await person_of(a, b.actor) is None
        assert await person_of(a, s.actor) is not None
        await owner.reject(a.fed, (await owner.followers(a.fed))[0]["id"])  # alice removes the follower
        await settle(a, s, b)

        # a card from someone who is not a person in alice's graph changes nothing there
        async with start_node(tmp_path, "other", clock, index=3) as o:
            o.graph.disclosed = {a.actor: {"name": "Other", "email": ["mailto:o@example.org"]}}
            await o.fed.actors.get(a.actor, source="following")
            assert await cards.publish_card(o.fed) == 1
            await settle(a, o)
            assert await person_of(a, o.actor) is None
            assert await person_of(a, "mailto:o@example.org") is None
