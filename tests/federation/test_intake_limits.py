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
