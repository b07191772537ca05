"""A scriptable fediverse server on loopback for tests: any number of actors on one aiohttp app, WebFinger, personal
and shared inboxes that record what arrives, and signed requests sent as any of its actors.

It keeps follows the way the server issue #19 describes does: an Undo{Follow} or Reject{Follow} ends a follow,
but a Block only records the block and leaves both follows alive (Mastodon would end them; this server does
not). Options per actor: a Kith peer (FEP-844e ``generator.implements``), a key id without a ``#fragment``
(``/users/NAME/main-key``, served as its own document), ``alsoKnownAs``, a shared key with another actor.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from federation.signing import sign
from federation.urls import KITH_PROTOCOL

from .helpers import serve
from .nodes import FakeClock, keyring


@dataclass
class PeerActor:
    name: str
    kith: bool = False
    key_path: bool = False  # key id /users/NAME/main-key instead of /users/NAME#main-key
    key_index: int = 6
    also_known_as: list[str] = field(default_factory=list)
    # what this server believes: who follows this actor, whom it follows (actor id -> state)
    followers: dict[str, str] = field(default_factory=dict)
    following: dict[str, str] = field(default_factory=dict)
    blocked_by: set[str] = field(default_factory=set)


@dataclass
class PeerServer:
    base: str
    clock: FakeClock
    actors: dict[str, PeerActor] = field(default_factory=dict)
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (inbox path, activity)
    answers: list[int] = field(default_factory=list)  # statuses to answer next POSTs with, then 202
    signed_gets: list[str] = field(default_factory=list)  # key ids of signed fetches

    def actor(self, name: str) -> str:
        return f"{self.base}/users/{name}"

    def key_id(self, name: str) -> str:
        a = self.actors[name]
        return self.actor(name) + ("/main-key" if a.key_path else "#main-key")

    def acct(self, name: str) -> str:
        return f"{name}@{urlsplit(self.base).netloc}"

    def add(self, name: str, **options: Any) -> str:
        self.actors[name] = PeerActor(name=name, **options)
        return self.actor(name)

    def key(self, name: str) -> rsa.RSAPrivateKey:
        return keyring(self.actors[name].key_index).owner_rsa

    def of_type(self, kind: str, inbox: str | None = None) -> list[dict[str, Any]]:
        return [a for p, a in self.received if a.get("type") == kind and (inbox is None or p == inbox)]

    def document(self, name: str) -> dict[str, Any]:
        a = self.actors[name]
        actor = self.actor(name)
        pem = (
            self.key(name)
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        doc: dict[str, Any] = {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": actor,
            "type": "Person",
            "preferredUsername": name,
            "inbox": actor + "/inbox",
            "endpoints": {"sharedInbox": self.base + "/inbox"},
            "publicKey": {"id": self.key_id(name), "owner": actor, "publicKeyPem": pem},
        }
        if a.also_known_as:
            doc["alsoKnownAs"] = a.also_known_as
        if a.kith:
            doc["generator"] = {"type": "Application", "implements": [{"href": KITH_PROTOCOL}]}
        return doc

    async def send(self, name: str, inbox: str, activity: dict[str, Any]) -> int:
        """POST ``activity`` to ``inbox`` signed as actor ``name`` (cavage, as Mastodon signs)."""
        body = json.dumps(activity).encode()
        headers = {"Content-Type": "application/activity+json"}
        headers.update(
            sign(
                "cavage",
                method="POST",
                url=inbox,
                headers=headers,
                body=body,
                key_id=self.key_id(name),
                private_key=self.key(name),
                now=self.clock(),
            )
        )
        async with aiohttp.ClientSession() as http, http.post(inbox, data=body, headers=headers) as r:
            await r.read()
            return r.status

    async def get(self, name: str, url: str) -> tuple[int, Any]:
        """A GET signed as actor ``name``."""
        headers = {"Accept": "application/activity+json"}
        headers.update(
            sign(
                "cavage",
                method="GET",
                url=url,
                headers=headers,
                body=None,
                key_id=self.key_id(name),
                private_key=self.key(name),
                now=self.clock(),
            )
        )
        async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as r:
            text = await r.text()
            return r.status, json.loads(text) if text.startswith("{") else text

    async def follow(self, name: str, target: str, target_inbox: str, n: int = 1) -> dict[str, Any]:
        activity = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{self.actor(name)}/follows/{n}",
            "type": "Follow",
            "actor": self.actor(name),
            "object": target,
        }
        self.actors[name].following[target] = "pending"
        assert await self.send(name, target_inbox, activity) == 202
        return activity

    async def accept(self, name: str, follow: dict[str, Any], inbox: str) -> None:
        activity = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{self.actor(name)}#accepts/{len(self.received)}",
            "type": "Accept",
            "actor": self.actor(name),
            "object": follow,
        }
        self.actors[name].followers[follow["actor"]] = "accepted"
        assert await self.send(name, inbox, activity) == 202

    def _apply(self, name: str | None, activity: dict[str, Any]) -> None:
        """What this server does with an activity for its actor ``name`` (None: the shared inbox)."""
        kind, sender, obj = activity.get("type"), activity.get("actor"), activity.get("object")
        if name is None or name not in self.actors or not isinstance(sender, str):
            return
        me = self.actors[name]
        inner = obj if isinstance(obj, dict) else {}
        if kind == "Accept" and inner.get("type") == "Follow":
            me.following[sender] = "accepted"
        elif kind == "Undo" and inner.get("type") == "Follow":
            me.followers.pop(sender, None)  # they no longer follow us
        elif kind == "Reject" and inner.get("type") == "Follow":
            me.following.pop(sender, None)  # our follow of them is refused or removed
        elif kind == "Block":
            me.blocked_by.add(sender)  # and nothing else: follows stay as they were
        elif kind == "Undo" and inner.get("type") == "Block":
            me.blocked_by.discard(sender)


@asynccontextmanager
async def peer_server(clock: FakeClock) -> AsyncIterator[PeerServer]:
    state: dict[str, PeerServer] = {}

    async def webfinger(request: web.Request) -> web.Response:
        p = state["p"]
        user = request.query.get("resource", "").removeprefix("acct:").split("@")[0]
        if user not in p.actors:
            raise web.HTTPNotFound()
        jrd = {
            "subject": f"acct:{p.acct(user)}",
            "links": [{"rel": "self", "type": "application/activity+json", "href": p.actor(user)}],
        }
        return web.json_response(jrd, content_type="application/jrd+json")

    async def actor(request: web.Request) -> web.Response:
        p = state["p"]
        name = request.match_info["name"]
        if name not in p.actors:
            raise web.HTTPNotFound()
        if "Signature" in request.headers:
            p.signed_gets.append(request.headers["Signature"])
        return web.json_response(p.document(name), content_type="application/activity+json")

    async def key(request: web.Request) -> web.Response:
        p = state["p"]
        name = request.match_info["name"]
        if name not in p.actors or not p.actors[name].key_path:
            raise web.HTTPNotFound()
        doc = {"@context": "https://w3id.org/security/v1", **p.document(name)["publicKey"]}
        return web.json_response(doc, content_type="application/activity+json")

    async def inbox(request: web.Request) -> web.Response:
        p = state["p"]
        activity = json.loads(await request.read())
        p.received.append((request.path, activity))
        if p.answers:
            status = p.answers.pop(0)
            if status >= 300:
                return web.Response(status=status)
        p._apply(request.match_info.get("name"), activity)
        return web.Response(status=202)

    app = web.Application()
    app.router.add_get("/.well-known/webfinger", webfinger)
    app.router.add_get("/users/{name}", actor)
    app.router.add_get("/users/{name}/main-key", key)
    app.router.add_post("/users/{name}/inbox", inbox)
    app.router.add_post("/inbox", inbox)
    async with serve(app) as base:
        server = PeerServer(base=base, clock=clock)
        state["p"] = server
        yield server
