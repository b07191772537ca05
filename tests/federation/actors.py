"""A stand-alone remote actor for inbox tests: a real aiohttp server on loopback serving one actor document
with its own RSA key, and a helper that signs requests as that actor (or deliberately wrong)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from federation.signing import Scheme, sign

from .helpers import serve
from .nodes import keyring


@dataclass
class RemoteActorServer:
    base: str
    actor: str
    key: rsa.RSAPrivateKey
    extra: dict[str, Any]

    @property
    def key_id(self) -> str:
        return self.actor + "#main-key"

    def signed_headers(
        self,
        url: str,
        body: bytes,
        now: float,
        *,
        scheme: Scheme = "cavage",
        key_id: str | None = None,
        key: rsa.RSAPrivateKey | None = None,
    ) -> dict[str, str]:
        headers = {"Content-Type": "application/activity+json"}
        headers.update(
            sign(
                scheme,
                method="POST",
                url=url,
                headers=headers,
                body=body,
                key_id=key_id or self.key_id,
                private_key=key or self.key,
                now=now,
            )
        )
        return headers


@asynccontextmanager
async def remote_actor(
    username: str = "mallory", *, index: int = 5, **extra: Any
) -> AsyncIterator[RemoteActorServer]:
    key = keyring(index).owner_rsa
    pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    state: dict[str, Any] = {}

    async def actor_doc(request: web.Request) -> web.Response:
        # any name is an actor on this server (sharing the key); ``extra`` overrides only the main one's fields
        name = request.match_info["name"]
        actor = f"{state['base']}/users/{name}"
        doc = {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": actor,
            "type": "Person",
            "preferredUsername": name,
            "inbox": actor + "/inbox",
            "publicKey": {"id": actor + "#main-key", "owner": actor, "publicKeyPem": pem},
            **(state["extra"] if name == username else {}),
        }
        return web.json_response(doc, content_type="application/activity+json")

    async def inbox(request: web.Request) -> web.Response:
        state.setdefault("received", []).append(await request.read())
        return web.Response(status=202)

    app = web.Application()
    app.router.add_get("/users/{name}", actor_doc)
    app.router.add_post("/users/{name}/inbox", inbox)
    async with serve(app) as base:
        state["base"] = base
        state["actor"] = f"{base}/users/{username}"
        state["extra"] = extra
        yield RemoteActorServer(base=base, actor=state["actor"], key=key, extra=state)
