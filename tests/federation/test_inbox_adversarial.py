"""Hostile requests at a real node's inbox: each is refused with the right status and stores nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.federation.backends import backend  # noqa: F401  (each test on SQLite and on PostgreSQL)

from .actors import remote_actor
from .nodes import FakeClock, Node, keyring, start_node


def follow(actor: str, target: str, n: int = 1, **over: Any) -> dict[str, Any]:
    doc = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{actor}/follows/{n}",
        "type": "Follow",
        "actor": actor,
        "object": target,
    }
    doc.update(over)
    return doc


async def post(
    node: Node, body: bytes, headers: dict[str, str], path: str = "/inbox"
) -> tuple[int, dict[str, str]]:
    async with aiohttp.ClientSession() as http, http.post(node.base + path, data=body, headers=headers) as r:
        await r.read()
        return r.status, dict(r.headers)


async def stored(node: Node) -> int:
    return await node.fed.store.inbox_count()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def test_valid_then_replayed(tmp_path: Path, clock: FakeClock) -> None:
    async with start_node(tmp_path, "alice", clock) as node, remote_actor() as m:
        body = json.dumps(follow(m.actor, node.actor)).encode()
        headers = m.signed_headers(node.base + "/inbox", body, clock())
        assert (await post(node, body, headers))[0] == 202
        assert await stored(node) == 1
        # the very same signed request again: accepted as already stored, nothing new written
        assert (await post(node, body, headers))[0] == 202
        assert await stored(node) == 1
        assert node.fed.intake.duplicates == 1
        # RFC 9421 works as well as cavage
        body2 = json.dumps(follow(m.actor, node.actor, 2)).encode()
        h2 = m.signed_headers(node.base + "/users/alice/inbox", body2, clock(), scheme="rfc9421")
        assert (await post(node, body2, h2, "/users/alice/inbox"))[0] == 202
        assert await stored(node) == 2


async def test_signature_attacks(tmp_path: Path, clock: FakeClock) -> None:
    async with start_node(tmp_path, "alice", clock) as node, remote_actor() as m:
        url = node.base + "/inbox"
        body = json.dumps(follow(m.actor, node.actor)).encode()

        # unsigned
        assert (await post(node, body, {"Content-Type": "application/activity+json"}))[0] == 401

        # forged: signature bytes flipped
        h = m.signed_headers(url, body, clock())
        sig = h["Signature"]
        start = sig.index('signature="') + len('signature="')
        flipped = "A" if sig[start] != "A" else "B"
        h["Signature"] = sig[:start] + flipped + sig[start + 1 :]
        assert (await post(node, body, h))[0] == 401

        # algorithm confusion: HMAC keyed with the public key's PEM, claiming hmac-sha256
        h = m.signed_headers(url, body, clock())
        pem = m.key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        base = "\n".join(
            [
                "(request-target): post /inbox",
                f"host: {node.base.split('://')[1]}",
                f"date: {h['Date']}",
                f"digest: {h['Digest']}",
            ]
        )
        mac = base64.b64encode(hmac.new(pem, base.encode(), hashlib.sha256).digest()).decode()
        h["Signature"] = (
            f'keyId="{m.key_id}",algorithm="hmac-sha256",'
            f'headers="(request-target) host date digest",signature="{mac}"'
        )
        assert (await post(node, body, h))[0] == 401

        # body swapped under a valid signature (the digest no longer matches)
        h = m.signed_headers(url, body, clock())
        other = json.dumps(follow(m.actor, node.actor, 99)).encode()
        assert (await post(node, other, h))[0] == 401

        # stale and future dates: past Mastodon's 12 h window, and beyond the 1 h clock-skew allowance
        for skew in (-13 * 3600, 2 * 3600):
            h = m.signed_headers(url, body, clock() + skew)
            assert (await post(node, body, h))[0] == 401

        # signed with a key the actor document does not list
        h = m.signed_headers(url, body, clock(), key_id=m.actor + "#other-key")
        assert (await post(node, body, h))[0] == 401
        assert await stored(node) == 0


async def test_origin_attacks(tmp_path: Path, clock: FakeClock) -> None:
    async with (
        start_node(tmp_path, "alice", clock) as node,
        remote_actor("mallory", index=5) as m,
        remote_actor("victim", index=6) as v,
    ):
        url = node.base + "/inbox"
        # key owner is not the actor: mallory signs a Follow claiming to be from the victim
        body = json.dumps(follow(v.actor, node.actor) | {"id": m.actor + "/x/1"}).encode()
        assert (await post(node, body, m.signed_headers(url, body, clock())))[0] == 403
        # activity id on another origin than its actor
        body = json.dumps(follow(m.actor, node.actor, id=v.base + "/activities/1")).encode()
        assert (await post(node, body, m.signed_headers(url, body, clock())))[0] == 403
        # an Update/Delete/Undo whose object lives on another origin; Kith acts on an Update or Delete of the
        # actor itself only, so those two are ignored (202, nothing stored) before any check. At alice's own
        # inbox the rest are hers to check, and refused; at the shared inbox they concern no account here
        # (alice deals with neither), so they are answered 202 and stored nowhere, no key fetched.
        personal = node.base + f"/users/{node.name}/inbox"
        refused = {"Update": 202, "Delete": 202, "Undo": 403, "Move": 403}
        for kind in ("Update", "Delete", "Undo", "Move"):
            act = {
                "@context": "https://www.w3.org/ns/activitystreams",
                "id": m.actor + f"/{kind}/1",
                "type": kind,
                "actor": m.actor,
                "object": {"id": v.actor, "type": "Person"},
            }
            body = json.dumps(act).encode()
            status = (
                await post(
                    node, body, m.signed_headers(personal, body, clock()), path=personal[len(node.base) :]
                )
            )[0]
            assert status == refused[kind], kind
            assert (await post(node, body, m.signed_headers(url, body, clock())))[0] == 202, kind
        assert await stored(node) == 0


async def test_size_depth_context(tmp_path: Path, clock: FakeClock) -> None:
    async with start_node(tmp_path, "alice", clock) as node, remote_actor() as m:
        url = node.base + "/inbox"
        big = json.dumps(follow(m.actor, node.actor) | {"padding": "x" * (2 << 20)}).encode()
        assert (await post(node, big, m.signed_headers(url, big, clock())))[0] == 413
        deep = b'{"a":' + b"[" * 10_000 + b"]" * 10_000 + b"}"
        assert (await post(node, deep, m.signed_headers(url, deep, clock())))[0] == 413
        odd = json.dumps(
            follow(m.actor, node.actor) | {"@context": ["https://evil.example/ctx.jsonld"]}
        ).encode()
        assert (await post(node, odd, m.signed_headers(url, odd, clock())))[0] == 400
        notjson = b"{not json"
        assert (await post(node, notjson, m.signed_headers(url, notjson, clock())))[0] == 400
        h = m.signed_headers(url, b"<html/>", clock())
        h["Content-Type"] = "text/html"
        assert (await post(node, b"<html/>", h))[0] == 415
        assert await stored(node) == 0


async def test_blocks_and_rate_limit(tmp_path: Path, clock: FakeClock) -> None:
    async with (
        start_node(
            tmp_path,
            "alice",
            clock,
        ) as node,
        remote_actor() as m,
    ):
        url = node.base + "/inbox"
        host = m.base.split("://")[1]
        await node.fed.store.add_block("domain", host, clock())
        body = json.dumps(follow(m.actor, node.actor)).encode()
        assert (await post(node, body, m.signed_headers(url, body, clock())))[0] == 403
        await node.fed.store.remove_block("domain", host)
        await node.fed.store.add_block("actor", m.actor, clock())
        assert (await post(node, body, m.signed_headers(url, body, clock())))[0] == 403
        await node.fed.store.remove_block("actor", m.actor)
        assert await stored(node) == 0

        node.fed.intake.limiter.burst = 3
        node.fed.intake.limiter._buckets.clear()
        statuses = []
        for i in range(5):
            b = json.dumps(follow(m.actor, node.actor, 100 + i)).encode()
            status, headers = await post(node, b, m.signed_headers(url, b, clock()))
            statuses.append((status, headers.get("Retry-After")))
        assert [s for s, _ in statuses] == [202, 202, 202, 503, 503]
        assert statuses[-1][1] is not None and int(statuses[-1][1]) >= 1
        assert await stored(node) == 3
        clock.advance(60)
        b = json.dumps(follow(m.actor, node.actor, 200)).encode()
        assert (await post(node, b, m.signed_headers(url, b, clock())))[0] == 202


async def test_key_rotation_refetches_once(tmp_path: Path, clock: FakeClock) -> None:

    async with start_node(tmp_path, "alice", clock) as node, remote_actor() as m:
        url = node.base + "/inbox"
        body = json.dumps(follow(m.actor, node.actor)).encode()
        assert (await post(node, body, m.signed_headers(url, body, clock())))[0] == 202
        # the actor rotates its key: the server now serves a new one, our cache holds the old
        new_key = keyring(8).owner_rsa
        pem = new_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
        m.extra["extra"]["publicKey"] = {"id": m.key_id, "owner": m.actor, "publicKeyPem": pem}
        body = json.dumps(follow(m.actor, node.actor, 2)).encode()
        assert (await post(node, body, m.signed_headers(url, body, clock(), key=new_key)))[0] == 202
        fetches = node.fed.client.requests_made
        # a forged request right after: verification fails, and no second re-fetch happens within the window
        forged = json.dumps(follow(m.actor, node.actor, 3)).encode()
        assert (await post(node, forged, m.signed_headers(url, forged, clock(), key=m.key)))[0] == 401
        assert node.fed.client.requests_made == fetches
        assert await stored(node) == 2


async def test_usual_variations_are_read_and_value_flood_refused(tmp_path: Path, clock: FakeClock) -> None:
    async with start_node(tmp_path, "alice", clock) as node, remote_actor() as m:
        url = node.base + "/inbox"
        varied = {
            "@context": ["https://www.w3.org/ns/activitystreams#"],
            "@id": m.actor + "/follows/v",
            "@type": ["Follow"],
            "actor": [m.actor],
            "object": [node.actor],
        }
        body = json.dumps(varied).encode()
        assert (await post(node, body, m.signed_headers(url, body, clock())))[0] == 202
        await node.fed.run_once()
        followers = await node.fed.store.follows("in", ["accepted"])
        assert [f.actor_id for f in followers] == [m.actor]
        flood = json.dumps(follow(m.actor, node.actor, 7) | {"tag": list(range(25_000))}).encode()
        assert len(flood) < 1 << 20
        assert (await post(node, flood, m.signed_headers(url, flood, clock())))[0] == 413
        assert await stored(node) == 1


async def test_key_id_pointing_inside_is_never_fetched(tmp_path: Path, clock: FakeClock) -> None:
    async with start_node(tmp_path, "alice", clock) as node, remote_actor() as m:
        url = node.base + "/inbox"
        for key_id in (
            "http://169.254.169.254/latest/meta-data#k",
            "http://10.0.0.1/actor#k",
            "file:///etc/passwd",
        ):
            body = json.dumps(follow(m.actor, node.actor) | {"actor": key_id.split("#")[0]}).encode()
            before = node.fed.client.requests_made
            status, _ = await post(node, body, m.signed_headers(url, body, clock(), key_id=key_id))
            assert status == 401, key_id
            assert node.fed.client.requests_made == before  # refused before any connection
        assert await stored(node) == 0


async def test_key_refetch_is_limited_per_key(tmp_path: Path, clock: FakeClock) -> None:
    async with start_node(tmp_path, "alice", clock) as node, remote_actor() as m:
        url = node.base + "/inbox"
        other = m.base + "/users/other"
        for actor, n in ((m.actor, 1), (other, 2)):
            body = json.dumps(follow(actor, node.actor, n)).encode()
            assert (await post(node, body, m.signed_headers(url, body, clock(), key_id=actor + "#main-key")))[
                0
            ] == 202
        forger = keyring(9).owner_rsa
        made = []
        for actor, n in ((m.actor, 3), (other, 4), (m.actor, 5)):
            before = node.fed.client.requests_made
            body = json.dumps(follow(actor, node.actor, n)).encode()
            headers = m.signed_headers(url, body, clock(), key_id=actor + "#main-key", key=forger)
            assert (await post(node, body, headers))[0] == 401
            made.append(node.fed.client.requests_made - before)
        # each key is re-fetched once in its window, whichever other keys of its host were just re-fetched;
        # the same key forged again finds its window shut
        assert made[0] >= 1 and made[1] >= 1 and made[2] == 0
        assert await stored(node) == 2
