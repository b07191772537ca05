"""Attacks on what the inbox costs and whom it charges: signatures replayed from another host, keys that make
verification expensive, forged requests spending a victim's rate limit or key re-fetch window, unknown
activities filling the disk, repeated offers. Real nodes and real remote actors on loopback."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from federation.signing import sign
from tests.federation.backends import backend, rows  # noqa: F401  (each test on SQLite and on PostgreSQL)

from .actors import RemoteActorServer, remote_actor
from .nodes import FakeClock, Node, keyring, start_node


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def follow(actor: str, target: str, n: int = 1) -> dict[str, Any]:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{actor}/follows/{n}",
        "type": "Follow",
        "actor": actor,
        "object": target,
    }


async def post(node: Node, body: bytes, headers: dict[str, str], path: str = "/inbox") -> int:
    async with aiohttp.ClientSession() as http, http.post(node.base + path, data=body, headers=headers) as r:
        await r.read()
        return r.status


def pem_of(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def rsa_key_with_exponent(exponent: int) -> rsa.RSAPrivateKey:
    """A working RSA-2048 key pair whose public exponent is ``exponent`` (or the next odd number coprime to
    φ(n)): what a hostile peer can publish and sign with."""
    base = keyring(7).owner_rsa.private_numbers()
    p, q = base.p, base.q
    phi = (p - 1) * (q - 1)
    e = exponent | 1
    while math.gcd(e, phi) != 1:
        e += 2
    d = pow(e, -1, phi)
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=rsa.RSAPublicNumbers(e=e, n=p * q),
    )
    return numbers.private_key()


def use_key(m: RemoteActorServer, key: rsa.RSAPrivateKey) -> None:
    """The remote actor publishes ``key`` from now on."""
    m.extra["extra"]["publicKey"] = {"id": m.key_id, "owner": m.actor, "publicKeyPem": pem_of(key)}


# ---- signatures bound to this node ---------------------------------------------------------------


async def test_a_request_signed_for_another_host_is_refused(tmp_path: Path, clock: FakeClock) -> None:
    """A peer's signed request to victim.example, replayed at our node with its Host header intact: cavage
    covers the Host, so it must be ours (RFC 9421 binds @authority already). The same for signed GETs."""
    async with start_node(tmp_path, "alice", clock) as node, remote_actor() as m:
        ours = node.base.split("://")[1]
        for scheme in ("cavage", "rfc9421"):
            for n, target in enumerate(("http://victim.example/inbox", f"http://{ours}.evil.example/inbox")):
                body = json.dumps(follow(m.actor, node.actor, 10 * n + len(scheme))).encode()
                headers = m.signed_headers(target, body, clock(), scheme=scheme)  # type: ignore[arg-type]
                assert await post(node, body, headers) == 401, (scheme, target)
        assert await node.fed.store.inbox_count() == 0
        body = json.dumps(follow(m.actor, node.actor, 99)).encode()
        assert await post(node, body, m.signed_headers(node.base + "/inbox", body, clock())) == 202

        # a signed GET of a private card, signed for another host, sees nothing
        node.graph.disclosed[m.actor] = {"name": "Alice"}
        path = f"/users/{node.fed.urls.username}/card"

        async def get(url_signed_for: str) -> int:
            headers = {"Accept": "application/activity+json"}
            headers |= sign(
                "cavage", method="GET", url=url_signed_for, headers=headers, body=None,
                key_id=m.key_id, private_key=m.key, now=clock(),
            )  # fmt: skip
            async with aiohttp.ClientSession() as http, http.get(node.base + path, headers=headers) as r:
                await r.read()
                return r.status

        assert await get("http://victim.example" + path) == 401
        assert await get(node.base + path) == 200


# ---- keys that make verification expensive ------------------------------------------------------


async def test_keys_with_other_exponents_are_refused_at_the_inbox(tmp_path: Path, clock: FakeClock) -> None:
    """A peer publishing a key with a huge (or tiny) public exponent and signing with it: the signature is
    genuine, but every verification would cost dozens of times more; refused, nothing stored."""
    async with start_node(tmp_path, "alice", clock) as node, remote_actor() as m:
        for n, exponent in enumerate(((1 << 2000) + 1, 3)):
            key = rsa_key_with_exponent(exponent)
            use_key(m, key)
            body = json.dumps(follow(m.actor, node.actor, n)).encode()
            headers = m.signed_headers(node.base + "/inbox", body, clock(), key=key)
            assert await post(node, body, headers) == 401
        assert await node.fed.store.inbox_count() == 0


# ---- who pays for a request ----------------------------------------------------------------------


async def post_from(
    source: str, node: Node, body: bytes, headers: dict[str, str], path: str = "/inbox"
) -> tuple[int, dict[str, str]]:
    """POST from a chosen loopback address (127.0.0.0/8 is all ours), as a client elsewhere would."""
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with (
        aiohttp.ClientSession(connector=connector) as http,
        http.post(node.base + path, data=body, headers=headers) as r,
    ):
        await r.read()
        return r.status, dict(r.headers)


async def test_forged_requests_do_not_spend_a_victim_hosts_allowance(
    tmp_path: Path, clock: FakeClock
) -> None:
    """A forger sends requests naming a victim server's key id: they are charged to the forger's address,
    which is soon refused without any verification, while the victim's own traffic keeps being answered."""
    settings = {"inbox_rate_per_host": 1, "inbox_burst_per_host": 5}  # the clock stands still: no refill
    async with start_node(tmp_path, "alice", clock, **settings) as node, remote_actor("victim") as v:
        assert (node.fed.intake.limiter.rate, node.fed.intake.limiter.burst) == (1, 5)
        url = node.base + "/inbox"
        forger = keyring(9).owner_rsa
        body = json.dumps(follow(v.actor, node.actor, 0)).encode()
        assert (await post_from("127.0.0.3", node, body, v.signed_headers(url, body, clock())))[0] == 202
        statuses = []
        for n in range(1, 21):
            body = json.dumps(follow(v.actor, node.actor, n)).encode()
            if n == 6:
                verified, fetched = node.fed.intake.verified, node.fed.client.requests_made
            status, headers = await post_from(
                "127.0.0.2", node, body, v.signed_headers(url, body, clock(), key=forger)
            )
            statuses.append(status)
        assert statuses == [401] * 5 + [503] * 15
        assert int(headers["Retry-After"]) >= 1
        # refused on arrival: no signature checked, no key fetched
        assert (node.fed.intake.verified, node.fed.client.requests_made) == (verified, fetched)
        # the victim's real traffic, from its own address, uses what is left of its allowance: all of it
        for n in range(100, 104):
            body = json.dumps(follow(v.actor, node.actor, n)).encode()
            assert (await post_from("127.0.0.3", node, body, v.signed_headers(url, body, clock())))[0] == 202
        # and the victim's own excess is still refused, before verification, once its burst is spent
        body = json.dumps(follow(v.actor, node.actor, 200)).encode()
        verified = node.fed.intake.verified
        assert (await post_from("127.0.0.3", node, body, v.signed_headers(url, body, clock())))[0] == 503
        assert node.fed.intake.verified == verified
        assert await node.fed.store.inbox_count() == 5


async def test_a_forgery_does_not_block_key_rotation_of_the_hosts_other_actors(
    tmp_path: Path, clock: FakeClock
) -> None:
    """One forged request naming one actor's key used to shut the key re-fetch window of its whole host for
    30 s: another actor of that host who had just rotated its key was refused meanwhile."""
    async with start_node(tmp_path, "alice", clock) as node, remote_actor() as m:
        url = node.base + "/inbox"
        other = m.base + "/users/other"
        for n, actor in enumerate((m.actor, other)):
            body = json.dumps(follow(actor, node.actor, n)).encode()
            headers = m.signed_headers(url, body, clock(), key_id=actor + "#main-key")
            assert await post(node, body, headers) == 202
        forger = keyring(9).owner_rsa
        body = json.dumps(follow(other, node.actor, 10)).encode()
        headers = m.signed_headers(url, body, clock(), key_id=other + "#main-key", key=forger)
        assert await post(node, body, headers) == 401
        # mallory, on the same host, rotates its key a moment later and signs with the new one
        new_key = keyring(8).owner_rsa
        use_key(m, new_key)
        body = json.dumps(follow(m.actor, node.actor, 11)).encode()
        assert await post(node, body, m.signed_headers(url, body, clock(), key=new_key)) == 202
        assert await node.fed.store.inbox_count() == 3


def test_inbox_limits_are_settings(tmp_path: Path) -> None:
    from node.config import ConfigError, load_config

    env = {"KITH_FEDERATION_INBOX_RATE_PER_HOST": "7", "KITH_FEDERATION_INBOX_BURST_PER_HOST": "30"}
    fed = load_config(tmp_path, env=env).federation
    assert (fed.inbox_rate_per_host, fed.inbox_burst_per_host) == (7, 30)
    defaults = load_config(tmp_path, env={}).federation
    assert (defaults.inbox_rate_per_host, defaults.inbox_burst_per_host) == (100, 400)
    with pytest.raises(ConfigError, match=r"federation\.inbox_rate_per_host"):
        load_config(tmp_path, env={"KITH_FEDERATION_INBOX_RATE_PER_HOST": "fast"})


# ---- what is kept of what arrives ----------------------------------------------------------------


async def stored_bodies(node: Node) -> list[dict[str, Any]]:
    return [json.loads(r[0]) for r in await rows(node.db, "SELECT body FROM fed_inbox ORDER BY seq")]


def note(actor: str, n: int, *, to: list[str], content: str = "hi") -> dict[str, Any]:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{actor}/creates/{n}",
        "type": "Create",
        "actor": actor,
        "to": to,
        "object": {
            "id": f"{actor}/notes/{n}",
            "type": "Note",
            "attributedTo": actor,
            "to": to,
            "content": content,
        },
    }


async def test_activities_kith_does_not_act_on_are_not_stored(tmp_path: Path, clock: FakeClock) -> None:
    """Posts, likes, boosts and the like of 900 KB each are answered 202 without being stored, and without a
    key fetched or a signature checked for them."""
    async with start_node(tmp_path, "alice", clock) as node, remote_actor() as m:
        url = node.base + "/inbox"
        pad = "x" * 900_000
        public = ["https://www.w3.org/ns/activitystreams#Public"]
        junk: list[dict[str, Any]] = [
            note(m.actor, 1, to=public, content=pad),  # a public post
            note(m.actor, 2, to=[m.actor + "/followers"], content=pad),  # a followers-only post
            {**note(m.actor, 3, to=[node.actor]), "object": {"id": m.actor + "/q/3", "type": "Question"}},
        ]
        for n, kind in enumerate(("Like", "Announce", "EmojiReact", "Add", "Flag", "Listen", "View")):
            junk.append(
                {"@context": "https://www.w3.org/ns/activitystreams", "id": f"{m.actor}/{kind}/{n}",
                 "type": kind, "actor": m.actor, "object": node.actor, "padding": pad}
            )  # fmt: skip
        for kind, obj in (
            ("Update", {"id": m.actor + "/notes/1", "type": "Note", "content": pad}),  # an edited post
            ("Delete", m.actor + "/notes/1"),  # a deleted post
            ("Follow", m.actor + "/users/someone-else"),  # not our owner
            ("Block", m.base + "/users/someone-else"),
        ):
            junk.append(
                {"@context": "https://www.w3.org/ns/activitystreams", "id": f"{m.actor}/{kind}/x",
                 "type": kind, "actor": m.actor, "object": obj}
            )  # fmt: skip
        fetched = node.fed.client.requests_made
        for activity in junk:
            body = json.dumps(activity).encode()
            assert await post(node, body, m.signed_headers(url, body, clock())) == 202, activity["type"]
        assert await node.fed.store.inbox_count() == 0
        assert node.fed.client.requests_made == fetched and node.fed.intake.verified == 0
        assert node.fed.intake.ignored == len(junk)


async def test_what_is_kept_is_kept_bounded(tmp_path: Path, clock: FakeClock) -> None:
    """A Follow of the owner and a direct message, each padded to almost 1 MiB: both are acted on, but what is
    stored is only what processing reads (a DM's text cut to MAX_NOTE_TEXT)."""
    from federation.triage import MAX_NOTE_TEXT

    async with start_node(tmp_path, "alice", clock) as node, remote_actor() as m:
        url = node.base + "/inbox"
        pad = "x" * 450_000  # twice in each activity: just under the 1 MiB limit
        padded_follow = follow(m.actor, node.actor, 1) | {"padding": pad, "tag": [{"name": pad}]}
        dm = note(m.actor, 2, to=[node.actor], content=pad + pad)
        dm["object"] |= {
            "tag": [{"type": "Mention", "href": node.actor, "name": "@alice", "junk": pad[:100_000]}]
        }
        for activity in (padded_follow, dm):
            body = json.dumps(activity).encode()
            assert await post(node, body, m.signed_headers(url, body, clock())) == 202
        kept = await stored_bodies(node)
        assert [k["type"] for k in kept] == ["Follow", "Create"]
        assert kept[0] == follow(m.actor, node.actor, 1)  # exactly the fields processing reads
        assert kept[1]["object"]["content"] == "x" * MAX_NOTE_TEXT
        assert kept[1]["object"]["tag"] == [{"type": "Mention", "href": node.actor, "name": "@alice"}]
        assert sum(len(json.dumps(k)) for k in kept) < 2 * MAX_NOTE_TEXT
        await node.fed.run_once()  # and they are acted on: the follow is accepted
        assert [f.actor_id for f in await node.fed.store.follows("in", ["accepted"])] == [m.actor]


def test_bounded_keeps_what_processing_reads() -> None:
    from federation.triage import MAX_RECORD_BYTES, bounded, wanted
    from protocol.errors import TooLarge

    owner, actor = "https://kith.example/users/alice", "https://peer.example/users/bob"
    accept = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": actor + "/accepts/1",
        "type": "Accept",
        "actor": actor,
        "object": {"id": owner + "/follows/1", "type": "Follow", "actor": owner, "object": actor},
    }
    assert bounded(accept) is accept  # nothing to drop: the bytes as sent are stored
    undo = accept | {
        "type": "Undo",
        "object": accept | {"object": {"id": "x", "type": "Follow", "object": owner, "junk": "j" * 9000}},
        "signature": {"type": "RsaSignature2017", "signatureValue": "s" * 9000},
    }
    assert bounded(undo) == accept | {
        "type": "Undo",
        "object": {
            "id": actor + "/accepts/1",
            "type": "Accept",
            "actor": actor,
            "object": {"id": "x", "type": "Follow"},  # what on_Undo looks through, no more
        },
    }
    record = {"id": actor + "/r/1", "type": "Relationship", "proof": {"proofValue": "z"}, "note": "n" * 9000}
    offer = accept | {"type": "Offer", "object": record}
    assert bounded(offer)["object"] is record  # a proof covers every byte: kept whole...
    with pytest.raises(TooLarge, match="records are at most"):  # ...within the bound real records keep
        bounded(offer | {"object": record | {"note": "n" * MAX_RECORD_BYTES}})
    # a "proof" keeps an object whole only as the object or result itself (within the bound); nested, or as
    # a target, it protects nothing and the object is cut down like any other
    assert bounded(accept | {"type": "Undo", "object": record})["object"] is record
    nested = bounded(accept | {"type": "Undo", "object": {"id": "u", "type": "Accept", "object": record}})
    assert nested["object"] == {
        "id": "u",
        "type": "Accept",
        "object": {"id": record["id"], "type": "Relationship"},
    }
    padded_target = bounded(accept | {"type": "Move", "target": record})
    assert padded_target["target"] == {"id": record["id"], "type": "Relationship"}
    card = accept | {"type": "Update", "object": {"type": "ProfileCard", "id": actor + "/card", "x": "y"}}
    assert bounded(card) is card and wanted(card, owner=owner)
    big_context = accept | {"@context": ["https://www.w3.org/ns/activitystreams", {"t": "x" * 20_000}]}
    assert bounded(big_context)["@context"] == ["https://www.w3.org/ns/activitystreams"]
    assert not wanted(accept | {"type": "Create", "object": {"type": "Note", "to": [actor]}}, owner=owner)
    assert wanted(accept | {"type": "Create", "object": {"type": "Note", "cc": [{"id": owner}]}}, owner=owner)
    assert wanted(accept | {"type": "Delete", "object": actor}, owner=owner)
    assert not wanted(accept | {"type": ["Like"]}, owner=owner)  # not normalised: not a type Kith acts on


# ---- repeated offers -----------------------------------------------------------------------------


async def test_repeated_offers_make_one_pending_request(tmp_path: Path, clock: FakeClock) -> None:
    """The same relationship offered again and again (the same record under new activity ids, or fresh
    records of the same type): the owner has one request to answer per peer and type, not sixteen."""
    from federation import activities as act
    from federation import owner
    from protocol.serialize import KITH_CONTEXT

    from .nodes import settle

    async with (
        start_node(tmp_path, "alice", clock, index=0) as a,
        start_node(tmp_path, "bob", clock, index=1) as b,
    ):
        first = await owner.connect(a.fed, b.acct, "colleague")
        await settle(a, b)
        inbox = (await a.fed.actors.get(b.actor, source="peer")).inbox

        async def offer_again(record: dict[str, Any]) -> None:
            activity = act.offer_relationship(a.fed.new_id(), a.actor, record, to=b.actor)
            activity["@context"] = list(KITH_CONTEXT)
            await a.fed.send(activity, [inbox])

        for _ in range(15):  # the very record, under new activity ids
            await offer_again(first["record"])
        pending = first["id"]
        for _ in range(3):  # alice forgets her pending offer (its Undo lost) and asks afresh: new records
            await a.fed.store.set_offer_state(pending, "revoked", clock())
            fresh = await owner.connect(a.fed, b.acct, "colleague")
            assert fresh["record"]["id"] != first["record"]["id"]
            pending = fresh["id"]
        await settle(a, b)
        incoming = [r for r in await owner.requests(b.fed) if r["direction"] == "incoming"]
        assert [(r["actor"], r["type"]) for r in incoming] == [(a.actor, "colleague")]
        assert incoming[0]["id"] == first["id"]  # the first stands; repeats were ignored while it waits
        # another type is another request; once answered, the pair may be offered that type again
        await owner.connect(a.fed, b.acct, "friend")
        await settle(a, b)
        incoming = [r for r in await owner.requests(b.fed) if r["direction"] == "incoming"]
        assert sorted(r["type"] for r in incoming) == ["colleague", "friend"]
        await owner.answer(b.fed, first["id"], accepted=False)
        await settle(a, b)
        await a.fed.store.set_offer_state(pending, "revoked", clock())
        await owner.connect(a.fed, b.acct, "colleague")
        await settle(a, b)
        incoming = [r for r in await owner.requests(b.fed) if r["direction"] == "incoming"]
        assert sorted(r["type"] for r in incoming) == ["colleague", "friend"]


async def test_a_new_actors_first_requests_together_cost_one_key_fetch(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Twenty activities of an actor the node has never seen, sent at once: one fetch of its key serves them
    all (the others wait for it), so none is refused for the fetches in flight and the peer is asked once."""
    import asyncio

    async with start_node(tmp_path, "alice", clock) as node, remote_actor() as m:
        url = node.base + "/inbox"
        before = node.fed.client.requests_made
        bodies = [json.dumps(follow(m.actor, node.actor, n)).encode() for n in range(20)]
        statuses = await asyncio.gather(*(post(node, b, m.signed_headers(url, b, clock())) for b in bodies))
        assert statuses == [202] * 20
        assert node.fed.client.requests_made - before <= 3  # the actor, and the WebFinger round trip
        assert await node.fed.store.inbox_count() == 20
