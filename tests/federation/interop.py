"""A second, independently written fediverse server on loopback, and a Kith node over the real contact graph.

``DevServer`` behaves like the Takahē-like Django server of issue 19 where it differs from Mastodon:

- it keeps one follow record per (follower, followed) pair, so the id of a Follow it sends is reused after an
  ``Undo`` (``{actor}/follows/{n}/``), and so are the ids of that Follow's ``Undo`` (``…#undo``);
- the ``Accept`` (and ``Reject``) it answers a follow with has an id fixed per pair, repeated on every
  re-follow; optionally it names the first Follow it ever stored rather than the new one;
- it lives at an address with a port: ``localhost:PORT`` (a one-label host, as Mastodon's own development
  server), ``127.0.0.1:PORT`` or ``[::1]:PORT``;
- as a client it asks for NodeInfo 2.0 only, and resolves an account the way a server resolving a mention does
  (WebFinger on the account's own host and port, then the actor, then the ``preferredUsername@host`` round
  trip);
- it verifies what Kith sends it with the keys it fetched before (a cache, as every server keeps one), so a
  ``Delete`` of an actor whose document is gone still verifies.

``kith_node`` starts a Kith node as tests/federation/nodes.py does (fake clock, stepped with ``settle``), but
with node/federation_port.py over a real SQLite graph instead of the in-memory one, because the address rules
and the identity states under test live there.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from node.federation_port import NodeGraphPort
from node.graph import Graph
from node.store.people import People
from protocol import cavage
from protocol.keys import SigningKey, load_public_key_pem

from .graphnodes import graph_store
from .nodes import FakeClock, Node, keyring, make_config, run_node

AS = "https://www.w3.org/ns/activitystreams"
VECTORS = Path(__file__).resolve().parents[2] / "specs" / "test-vectors" / "interop"
LOOPBACK = ("127.0.0.0/8", "::1/128")


def vector(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return doc


def fill(template: Any, values: dict[str, str]) -> Any:
    """A vector's activity with its ``{{placeholders}}`` filled in (every one must be known)."""
    text = json.dumps(template)
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", json.dumps(value)[1:-1])
    assert "{{" not in text, text
    return json.loads(text)


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


#: "::1" as a host to parametrise with, skipped (and saying why) on a machine without IPv6 loopback
IPV6 = pytest.param("::1", marks=pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here"))


def _bind(host: str) -> tuple[socket.socket, int]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock, sock.getsockname()[1]


def _authority(name: str, port: int) -> str:
    return f"[{name}]:{port}" if ":" in name else f"{name}:{port}"


@asynccontextmanager
async def listen(app: web.Application, name: str) -> AsyncIterator[str]:
    """Serve ``app`` on loopback under the host ``name`` (``localhost`` listens on 127.0.0.1); its base URL."""
    sock, port = _bind("127.0.0.1" if name == "localhost" else name)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        yield f"http://{_authority(name, port)}"
    finally:
        await runner.cleanup()


@dataclass(frozen=True)
class Request:
    url: str
    body: bytes
    headers: dict[str, str]


@dataclass
class DevServer:
    base: str
    clock: FakeClock
    key: rsa.RSAPrivateKey
    pem: str
    http: aiohttp.ClientSession
    #: names answered by WebFinger and served as actors
    users: set[str] = field(default_factory=lambda: {"bob", "bob2"})
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    also_known_as: dict[str, list[str]] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    #: the follow records it keeps, one per (follower name, followed actor): their number never changes
    follow_numbers: dict[tuple[str, str], int] = field(default_factory=dict)
    #: answer a re-follow with an Accept naming the first Follow it stored from that follower (not the new one)
    accept_names_first_follow: bool = False
    first_follow: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # key id -> PEM, cached as servers cache them
    nodeinfo_requests: list[str] = field(default_factory=list)

    @property
    def host(self) -> str:
        return urlsplit(self.base).netloc

    def actor(self, name: str = "bob") -> str:
        return f"{self.base}/users/{name}"

    def acct(self, name: str = "bob") -> str:
        return f"{name}@{self.host}"

    def follow_id(self, target: str, name: str = "bob") -> str:
        """The id of this pair's follow record (Takahē's ``follow/{pk}/``): the same after every Undo."""
        number = self.follow_numbers.setdefault((name, target), len(self.follow_numbers) + 1)
        return f"{self.actor(name)}/follows/{number}/"

    def accept_id(self, follower: str, name: str = "bob") -> str:
        """The id of its answer to ``follower``'s follow: fixed per pair, repeated on every re-follow."""
        return f"{self.actor(name)}/followers/{quote(follower, safe='')}#accept"

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [a for _, a in self.received if a.get("type") == kind]

    def values(self, node: Node, **extra: str) -> dict[str, str]:
        return {
            "remote": self.base,
            "remote_actor": self.actor(),
            "new_actor": self.actor("bob2"),
            "local_actor": node.actor,
            "follow_id": self.follow_id(node.actor),
            **extra,
        }

    def sign(
        self, node: Node, activity: dict[str, Any], *, name: str = "bob", path: str | None = None
    ) -> Request:
        """A POST to the node's owner inbox (or ``path``), signed the way Mastodon and Takahē sign (cavage,
        rsa-sha256)."""
        body = json.dumps(activity).encode()
        url = node.base + (path or f"/users/{node.fed.urls.username}/inbox")
        parts = urlsplit(url)
        headers = {"Host": parts.netloc, "Content-Type": "application/activity+json"}
        headers.update(
            cavage.sign_request(
                method="POST",
                path=parts.path,
                headers=headers,
                body=body,
                key=SigningKey(key_id=self.actor(name) + "#main-key", private_key=self.key),
                now=datetime.fromtimestamp(self.clock(), UTC),
                covered=["(request-target)", "host", "date", "digest"],
            )
        )
        return Request(url=url, body=body, headers=headers)

    async def post(self, request: Request) -> tuple[int, str]:
        """Send a signed request (again, for a replay); the status and the body of the answer."""
        async with self.http.post(request.url, data=request.body, headers=request.headers) as r:
            return r.status, await r.text()

    async def deliver(self, node: Node, activity: dict[str, Any], *, name: str = "bob") -> int:
        return (await self.post(self.sign(node, activity, name=name)))[0]

    async def webfinger(self, address: str) -> tuple[int, dict[str, Any]]:
        """WebFinger as a server resolving a mention: on the account's own host, port included."""
        acct = address.removeprefix("acct:").lstrip("@")
        host = acct.rpartition("@")[2]
        url = f"http://{host}/.well-known/webfinger"
        async with self.http.get(url, params={"resource": "acct:" + acct}) as r:
            return r.status, await r.json(content_type=None)

    async def resolve(self, address: str) -> dict[str, Any]:
        """The actor an address names, checked as Mastodon checks it (subject, self link, round trip)."""
        status, jrd = await self.webfinger(address)
        assert status == 200, (address, jrd)
        href = next(
            link["href"]
            for link in jrd["links"]
            if link.get("rel") == "self" and link.get("type") == "application/activity+json"
        )
        async with self.http.get(href, headers={"Accept": "application/activity+json"}) as r:
            assert r.status == 200, (href, r.status)
            doc: dict[str, Any] = await r.json(content_type=None)
        host = urlsplit(doc["id"]).netloc
        # the round trip: the actor's own name and host must give back the same subject
        assert jrd["subject"] == f"acct:{doc['preferredUsername']}@{host}".lower(), (jrd, doc["id"])
        self.keys[doc["publicKey"]["id"]] = doc["publicKey"]["publicKeyPem"]
        return doc

    async def nodeinfo_2_0(self, base: str) -> tuple[str, dict[str, Any]]:
        """Discovery as a server that knows NodeInfo 2.0 only: the 2.0 link or nothing."""
        async with self.http.get(base + "/.well-known/nodeinfo") as r:
            assert r.status == 200
            links = (await r.json(content_type=None))["links"]
        href = next(
            link["href"] for link in links if link["rel"] == "http://nodeinfo.diaspora.software/ns/schema/2.0"
        )
        self.nodeinfo_requests.append(href)
        async with self.http.get(href) as r:
            assert r.status == 200, (href, r.status)
            return r.headers["Content-Type"], await r.json(content_type=None)

    # ---- the server side -------------------------------------------------------------------------------

    async def _key(self, key_id: str) -> str | None:
        if key_id not in self.keys:
            async with self.http.get(key_id.split("#")[0]) as r:
                if r.status != 200:
                    return None  # a gone actor nobody here knew: its farewell is dropped, as Mastodon does
                doc = await r.json(content_type=None)
            self.keys[doc["publicKey"]["id"]] = doc["publicKey"]["publicKeyPem"]
        return self.keys.get(key_id)

    async def on_inbox(self, request: web.Request) -> web.Response:
        body = await request.read()
        sig = cavage.signature_from_headers(list(request.headers.items()))
        pem = await self._key(sig.key_id)
        if pem is None:
            return web.Response(status=202)
        key = load_public_key_pem(pem, key_id=sig.key_id, owner=sig.key_id.split("#")[0])
        cavage.verify_request(
            method="POST",
            path=request.path,
            headers=list(request.headers.items()),
            body=body,
            key=key,
            now=datetime.fromtimestamp(self.clock(), UTC),
        )
        self.received.append((request.path, json.loads(body)))
        return web.Response(status=202)

    async def on_webfinger(self, request: web.Request) -> web.Response:
        user, _, host = request.query.get("resource", "").removeprefix("acct:").rpartition("@")
        if host.lower() != self.host.lower() or user not in self.users:
            raise web.HTTPNotFound()
        jrd = {
            "subject": f"acct:{user}@{self.host}",
            "links": [{"rel": "self", "type": "application/activity+json", "href": self.actor(user)}],
        }
        return web.json_response(jrd, content_type="application/jrd+json")

    async def on_actor(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.users:
            raise web.HTTPNotFound()
        if name in self.gone:
            raise web.HTTPGone()
        actor = self.actor(name)
        doc: dict[str, Any] = {
            "@context": [AS, "https://w3id.org/security/v1"],
            "id": actor,
            "type": "Person",
            "preferredUsername": name,
            "name": name.title(),
            "inbox": actor + "/inbox",
            "outbox": actor + "/outbox",
            "followers": actor + "/followers",
            "endpoints": {"sharedInbox": self.base + "/inbox"},
            "publicKey": {"id": actor + "#main-key", "owner": actor, "publicKeyPem": self.pem},
        }
        if name in self.also_known_as:
            doc["alsoKnownAs"] = self.also_known_as[name]
        return web.json_response(doc, content_type="application/activity+json")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/.well-known/webfinger", self.on_webfinger)
        app.router.add_get("/users/{name}", self.on_actor)
        app.router.add_post("/users/{name}/inbox", self.on_inbox)
        app.router.add_post("/inbox", self.on_inbox)
        return app


@asynccontextmanager
async def dev_server(
    clock: FakeClock, name: str = "localhost", *, index: int = 7
) -> AsyncIterator[DevServer]:
    key = keyring(index).owner_rsa
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    async with aiohttp.ClientSession() as http:
        server = DevServer(base="", clock=clock, key=key, pem=pem.decode(), http=http)
        async with listen(server.app(), name) as base:
            server.base = base
            yield server


@asynccontextmanager
async def kith_node(
    tmp: Path,
    name: str,
    clock: FakeClock,
    *,
    host: str = "127.0.0.1",
    domain: str | None = None,
    index: int = 0,
    **fed: Any,
) -> AsyncIterator[Node]:
    """A Kith node listening on ``host:PORT`` (its domain, unless ``domain`` names another host for the same
    port), over a real SQLite graph; workers stepped by ``settle``."""
    sock, port = _bind("127.0.0.1" if host == "localhost" else host)
    config = make_config(tmp / name, port, name, allow_private_networks=LOOPBACK, **fed)
    config = replace(config, node=replace(config.node, domain=_authority(domain or host, port)))

    def real_graph(db: Any) -> NodeGraphPort:
        return NodeGraphPort(Graph(graph_store(db)))

    async with run_node(config, sock, clock, index=index, graph_factory=real_graph) as node:
        yield node


def people(node: Node) -> People:
    graph = node.graph
    assert isinstance(graph, NodeGraphPort)
    return graph.store.people


async def identities(node: Node, uri: str) -> dict[str, tuple[str, str | None]]:
    """The identities of the person holding ``uri``: uri -> (state, moved_to)."""
    person = await people(node).person_for_identity(uri)
    assert person is not None, uri
    return {i.uri: (i.state, i.moved_to) for i in person.identities}
