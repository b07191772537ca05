"""What a follower's node records of a bridged actor's ``alsoKnownAs`` (node/federation_port.py, issue #18):
the Bluesky account it names becomes a claimed identity of the person, with the bridge as its source, and
never more: anyone can write anything in ``alsoKnownAs``, so a claim of an account someone else in the graph
holds attaches nothing and merges no one."""

from __future__ import annotations

from federation.ports import RemoteActor
from node.context import AccountContext
from node.federation_port import BRIDGE, NodeGraphPort

VICTIM = "did:plc:vvvvvvvvvvvvvvvvvvvvvvvv"
ALICE = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"


def actor(path: str, *aka: str) -> RemoteActor:
    actor_id = f"https://bridge.example/users/{path}"
    return RemoteActor(
        id=actor_id,
        type="Person",
        acct=None,
        preferred_username=path,
        name=path.title(),
        summary=None,
        url=None,
        icon=None,
        inbox=actor_id + "/inbox",
        shared_inbox=None,
        outbox=None,
        followers=None,
        following=None,
        public_key_id=actor_id + "#k",
        public_key_pem="-",
        also_known_as=aka,
    )


async def test_a_bridged_actor_brings_its_bluesky_identities_as_the_bridges_claims(
    ctx: AccountContext,
) -> None:
    port = NodeGraphPort(ctx.graph)
    bridged = actor("did.plc.aaaa", f"at://{ALICE}", "at://alice.bsky.social", "https://elsewhere.example/x")
    person_id = await port.remote_actor_seen(bridged, source="following")
    assert person_id is not None
    person = await ctx.store.people.get_person(person_id)
    claims = {i.uri: i for i in person.identities if i.kind == "bluesky"}
    assert set(claims) == {ALICE, "at://alice.bsky.social"}
    assert {
        (i.verification, p.source, p.source_record_id) for i in claims.values() for p in i.provenance
    } == {("claimed", BRIDGE, bridged.id)}
    # seen again (an Update): nothing doubles
    assert await port.remote_actor_seen(bridged, source="following") == person_id
    again = await ctx.store.people.get_person(person_id)
    assert len(again.identities) == len(person.identities)


async def test_a_claim_of_someone_elses_bluesky_account_attaches_nothing_and_merges_no_one(
    ctx: AccountContext,
) -> None:
    victim = await ctx.graph.create_person({"display_name": "Victim", "identities": [VICTIM]})
    port = NodeGraphPort(ctx.graph)
    liar = actor("liar", f"at://{VICTIM}", "at://bogus handle!", "at://")
    liar_id = await port.remote_actor_seen(liar, source="following")
    assert liar_id is not None and liar_id != victim.id
    liar_person = await ctx.store.people.get_person(liar_id)
    assert all(i.kind != "bluesky" for i in liar_person.identities)
    held = await ctx.store.people.person_for_identity(VICTIM)
    assert held is not None and held.id == victim.id and held.status == "active"
    # and an actor that is not followed (a signer, a fetch) creates no one, whatever it claims
    assert await port.remote_actor_seen(actor("drive-by", f"at://{ALICE}"), source="fetch") is None
    assert await ctx.store.people.person_for_identity(ALICE) is None
