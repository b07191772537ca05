"""Identity squatting (issue #12 §1): a Kith peer's signed card that lists someone else's ``acct:`` or actor URL
must not get that account attached to the squatter, nor the squatter what the owner discloses to the real
one. A claim counts only when the claimed actor confirms it (its own document names the card's author in
``alsoKnownAs``, or the same key signs both); otherwise it is kept as unverified, out of the graph."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from federation import cards, owner
from federation.errors import FetchStatus
from node.owner_card import set_card, set_disclosure
from tests.federation.backends import backend  # noqa: F401  (each test on SQLite and on PostgreSQL)

from .graphnodes import graph, graph_node, person_of, port
from .nodes import FakeClock, Node, settle, start_node
from .peers import peer_server


async def phone_seen_by(fetcher: Node, target: Node) -> bool | None:
    """Whether ``fetcher`` gets ``target``'s phone in a signed fetch of the card (None: no card at all)."""
    try:
        _, card = await fetcher.fed.client.get_json(
            target.actor + "/card", signer=fetcher.runtime.fetch_signer
        )
    except FetchStatus as exc:
        assert exc.status == 404
        return None
    return "phone" in card


async def test_a_card_claiming_someone_elses_account_gets_neither_the_account_nor_its_share(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    async with (
        graph_node(tmp_path, "alice", clock, index=0) as a,
        start_node(tmp_path, "sam", clock, index=1) as sam,
        start_node(tmp_path, "vic", clock, index=2) as vic,
    ):
        await owner.follow(a.fed, sam.acct)
        await settle(a, sam, vic)
        claims = ["acct:" + vic.acct, vic.actor]
        sam.graph.disclosed = {a.actor: {"name": "Vic (really)", "identities": claims}}
        assert await cards.publish_card(sam.fed) == 1
        await settle(a, sam, vic)

        sam_person = await person_of(a, sam.actor)
        assert sam_person is not None
        held = {i.uri for i in (await graph(a).get_person(sam_person)).identities}
        assert not held & {"acct:" + vic.acct, vic.actor}
        assert await person_of(a, vic.actor) is None and await person_of(a, "acct:" + vic.acct) is None
        assert sorted(await a.fed.store.unverified_claims(sam.actor)) == sorted(claims)

        # alice then follows the real vic, puts her in her inner circle, and shows that circle her phone
        await owner.follow(a.fed, vic.acct)
        await settle(a, sam, vic)
        vic_person = await person_of(a, vic.actor)
        assert vic_person is not None and vic_person != sam_person
        await graph(a).set_membership(vic_person, "inner", member=True)
        now = datetime.fromtimestamp(clock(), UTC)  # the nodes' clock, not the machine's
        await set_card(port(a).store, {"name": "Alice", "phone": ["+15555550100"]}, now=now)
        await set_disclosure(port(a).store, {"phone": ["inner"]}, now=now)
        assert await phone_seen_by(vic, a) is True
        assert await phone_seen_by(sam, a) is None  # the squatter sees nothing
        assert sorted(await a.graph.peers_allowed_to_see_card()) == [vic.actor]
        await cards.publish_pending(a.fed)
        await settle(a, sam, vic)
        assert "phone" in vic.graph.cards[a.actor] and a.actor not in sam.graph.cards


async def test_a_claim_the_claimed_actor_confirms_is_attached(tmp_path: Path) -> None:
    clock = FakeClock()
    async with (
        graph_node(tmp_path, "alice", clock, index=0) as a,
        start_node(tmp_path, "sam", clock, index=1) as sam,
        peer_server(clock) as p,
    ):
        p.add("samalt", also_known_as=[sam.actor])  # its own document says it is sam too
        p.add("samkey", key_index=1)  # the same key as sam's owner: the same hands
        p.add("liar")  # says nothing about sam
        await owner.follow(a.fed, sam.acct)
        await settle(a, sam)
        claims = ["acct:" + p.acct("samalt"), p.actor("samkey"), "acct:" + p.acct("liar"), "acct:" + sam.acct]
        sam.graph.disclosed = {a.actor: {"name": "Sam", "identities": claims}}
        await cards.publish_card(sam.fed)
        await settle(a, sam)

        person = await graph(a).get_person(await person_of(a, sam.actor) or "")
        by_uri = {i.uri: i for i in person.identities}
        assert by_uri["acct:" + p.acct("samalt")].verification == "two-way"
        assert p.actor("samkey") in by_uri
        assert "acct:" + p.acct("liar") not in by_uri
        assert await a.fed.store.unverified_claims(sam.actor) == ["acct:" + p.acct("liar")]
        # checking the claims made no one a person
        assert await person_of(a, p.actor("liar")) is None and await person_of(a, p.actor("samalt")) is None
