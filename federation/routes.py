"""The public federation routes: discovery (WebFinger, host-meta, NodeInfo), our two actors, inboxes and the
public collections. Private things (relationship records, cards, follower lists) are never listed here.

Blocks (federation/blocks.py) apply to every signed fetch: the card and relationship records answer a blocked
signer, or a server actor speaking only for blocked owners, as if they did not exist (404); a signed fetch of a
collection by a blocked actor or domain is refused (403). The two actor documents are served to anyone, the
blocked included: they hold only what is public, and the keys that let a blocked server verify the Undo,
Reject and Block we send it."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from federation.cards import render_card
from federation.edge import edge, error_response
from federation.errors import Blocked, Gone, NotFound
from federation.ports import RemoteActor
from federation.service import Federation
from federation.signing import signature_key_id
from federation.urls import KITH_PROTOCOL, Urls
from protocol.addresses import normalize, normalize_acct
from protocol.errors import InvalidRecord, SignatureError

__all__ = ["FEDERATION", "NODEINFO_VERSIONS", "VERSION", "federation_routes", "nodeinfo_document"]

FEDERATION = web.AppKey("kith.federation", Federation)

_AS_JSON = "application/activity+json"
_LD_JSON = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
VERSION = "0.1.0"
#: NodeInfo versions served at /nodeinfo/<version>, newest first (the order of the discovery links).
NODEINFO_VERSIONS = ("2.1", "2.0")


def _fed(request: web.Request) -> Federation:
    return request.config_dict[FEDERATION]


def _as_response(request: web.Request, doc: dict[str, Any]) -> web.Response:
    accept = request.headers.get("Accept", "")
    ctype = _LD_JSON if "application/ld+json" in accept and _AS_JSON not in accept else _AS_JSON
    resp = web.json_response(doc, content_type="application/json")
    resp.content_type = ctype.split(";")[0]
    if ctype != _AS_JSON:
        resp.headers["Content-Type"] = ctype
    resp.headers["Vary"] = "Accept"
    return resp


def _resource_key(resource: str) -> str:
    """The canonical form of a WebFinger resource (RFC 7033 §4.1): an ``acct:`` URI, a bare ``user@host``, or
    a URL, read by protocol/addresses.py, so that every spelling of our address finds us: a port
    (``acct:alice@127.0.0.1:8722``), a differently cased or IDNA-encoded host, a trailing dot, percent-escapes.
    An unreadable resource names no one here: 404, as Mastodon answers, with what to write instead."""
    text = unquote(resource).strip()
    try:
        if text[:8].lower().startswith(("http://", "https://")):
            return normalize(text, kind="url").uri
        if text[:5].lower() == "acct:":
            text = text[5:]
        return normalize_acct("acct:" + text.lstrip("@"))
    except InvalidRecord as exc:
        raise NotFound(
            f"no such account here: {resource[:200]!r} is not an account or actor URL ({exc.message}); "
            "pass ?resource=acct:user@host"
        ) from None


def _own(kind: str, text: str) -> str:
    # our own names in canonical form; a domain the address rules cannot read (a one-label host without a
    # port) is compared as written, lowercased, rather than failing every lookup
    try:
        return normalize_acct("acct:" + text) if kind == "acct" else normalize(text, kind="url").uri
    except InvalidRecord:
        return ("acct:" + text if kind == "acct" else text).lower()


@functools.lru_cache(maxsize=16)
def _webfinger_names(urls: Urls) -> tuple[frozenset[str], frozenset[str]]:
    """The canonical resources that name the owner's actor, and those that name the node's actor."""
    owner = {_own("acct", urls.owner_acct), _own("url", urls.owner)}
    # FEP-d556: the server's own actor is also found by WebFinger on the server's URL
    node = {_own("acct", urls.node_acct), _own("url", urls.node), _own("url", urls.base)}
    return frozenset(owner), frozenset(node)


@edge
async def _webfinger(request: web.Request) -> web.Response:
    fed = _fed(request)
    resource = request.query.get("resource", "").strip()
    if not resource:
        raise web.HTTPBadRequest(text="pass ?resource=acct:user@host")
    urls = fed.urls
    owner, node = _webfinger_names(urls)
    key = _resource_key(resource)
    if key in owner:
        if await fed.store.tombstone(urls.owner) is not None:
            raise Gone(f"acct:{urls.owner_acct} was deleted")
        subject, actor = _own("acct", urls.owner_acct), urls.owner
    elif key in node:
        subject, actor = _own("acct", urls.node_acct), urls.node
    else:
        raise NotFound(f"no such account here: {resource[:200]}")
    jrd = {
        "subject": subject,
        "aliases": [actor],
        "links": [
            {"rel": "self", "type": _AS_JSON, "href": actor},
            {"rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": actor},
        ],
    }
    return web.json_response(
        jrd, content_type="application/jrd+json", headers={"Access-Control-Allow-Origin": "*"}
    )


async def _host_meta(request: web.Request) -> web.Response:
    base = _fed(request).urls.base
    xrd = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
        f'  <Link rel="lrdd" template="{base}/.well-known/webfinger?resource={{uri}}"/>\n'
        "</XRD>\n"
    )
    return web.Response(text=xrd, content_type="application/xrd+xml")


def _nodeinfo_profile(version: str) -> str:
    return f"http://nodeinfo.diaspora.software/ns/schema/{version}"


async def _nodeinfo_links(request: web.Request) -> web.Response:
    # Both versions, newest first, as servers that serve both list them: a client that knows only 2.0
    # (Mastodon reads 2.0) finds its link, one that takes the first finds 2.1.
    base = _fed(request).urls.base
    links = [{"rel": _nodeinfo_profile(v), "href": f"{base}/nodeinfo/{v}"} for v in NODEINFO_VERSIONS]
    return web.json_response({"links": links})


def nodeinfo_document(version: str, *, node_name: str, users: int) -> dict[str, Any]:
    """NodeInfo ``version`` (2.0 or 2.1) with exactly the fields that version's schema allows: 2.0 has no
    ``software.repository`` (``additionalProperties: false``), so one document cannot serve both. The schemas
    are kept in specs/test-vectors/nodeinfo/ and the tests validate against them."""
    software: dict[str, str] = {"name": "kith", "version": VERSION}
    if version == "2.1":
        software["repository"] = "https://w3id.org/kith"
    return {
        "version": version,
        "software": software,
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": False,
        "usage": {"users": {"total": users, "activeMonth": users, "activeHalfyear": users}, "localPosts": 0},
        "metadata": {"nodeName": node_name, "implements": [KITH_PROTOCOL]},
    }


def _nodeinfo(version: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        fed = _fed(request)
        name = fed.config.node.display_name or fed.urls.host
        users = 0 if await fed.store.tombstone(fed.urls.owner) is not None else 1
        resp = web.json_response(nodeinfo_document(version, node_name=name, users=users))
        resp.headers["Content-Type"] = f'application/json; profile="{_nodeinfo_profile(version)}#"'
        return resp

    handler.__name__ = f"_nodeinfo_{version.replace('.', '_')}"
    return handler


def _check_user(request: web.Request) -> None:
    if request.match_info["username"].lower() != _fed(request).urls.username.lower():
        raise NotFound("no such actor")


@edge
async def _owner_actor(request: web.Request) -> web.Response:
    _check_user(request)
    return _as_response(request, await _fed(request).actor_document("owner"))


@edge
async def _node_actor(request: web.Request) -> web.Response:
    return _as_response(request, await _fed(request).actor_document("node"))


@edge
async def _inbox(request: web.Request) -> web.Response:
    if "username" in request.match_info:
        _check_user(request)
    return await _fed(request).intake.handle(request)


def _collection(request: web.Request, url: str, total: int, items: list[Any] | None = None) -> web.Response:
    doc: dict[str, Any] = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": url,
        "type": "OrderedCollection",
        "totalItems": total,
    }
    if items is not None:
        doc["orderedItems"] = items
    return _as_response(request, doc)


async def _refuse_blocked_signer(request: web.Request) -> None:
    """A signed fetch names who asks: a blocked actor (by any of its keys) or domain is refused. Unsigned
    fetches get what is public anyway; the signature itself is not checked, since only its signer could
    gain from naming someone else's key, and it would gain a refusal."""
    try:
        _, key_id = signature_key_id(request.headers)
    except SignatureError:
        return
    if await _fed(request).blocks.refuses_key(key_id):
        raise Blocked("blocked")


async def _signer(request: web.Request) -> RemoteActor:
    """The verified signer of a fetch of something private; a blocked one finds nothing (PROTOCOL.md §9)."""
    try:
        return await _fed(request).intake.signed_fetcher(request)
    except Blocked:
        raise NotFound("not found") from None


@edge
async def _outbox(request: web.Request) -> web.Response:
    await _refuse_blocked_signer(request)
    fed = _fed(request)
    actor = fed.urls.node if request.path.startswith("/actor") else fed.urls.owner
    if actor == fed.urls.owner:
        _check_user(request)
        total, items = await fed.store.public_outbox()
        return _collection(request, fed.urls.outbox(actor), total, items)
    return _collection(request, fed.urls.outbox(actor), 0, [])


@edge
async def _followers(request: web.Request) -> web.Response:
    # counts only: who follows the owner is part of their contact graph, which is private
    fed = _fed(request)
    _check_user(request)
    await _refuse_blocked_signer(request)
    rows = await fed.store.follows("in", ["accepted"])
    return _collection(request, fed.urls.followers(fed.urls.owner), len(rows))


@edge
async def _following(request: web.Request) -> web.Response:
    fed = _fed(request)
    _check_user(request)
    await _refuse_blocked_signer(request)
    rows = await fed.store.follows("out", ["accepted"])
    return _collection(request, fed.urls.following(fed.urls.owner), len(rows))


@edge
async def _card(request: web.Request) -> web.Response:
    # private (PROTOCOL.md §9): only a signed fetch by a peer the card is rendered for; missing and forbidden
    # both answer 404
    _check_user(request)
    fed = _fed(request)
    signer = await _signer(request)
    fields = None
    for actor_id in await fed.blocks.speaks_for(signer):
        fields = await fed.graph.card_for(actor_id)
        if fields:
            break
    if not fields:
        raise NotFound("no such card")
    return _as_response(request, render_card(fed, fields, await fed.graph.card_version()))


@edge
async def _relationship(request: web.Request) -> web.Response:
    fed = _fed(request)
    signer = await _signer(request)
    offer = await fed.store.offer_by_record(fed.urls.base + request.path)
    if (
        offer is None
        or offer.actor_id not in await fed.blocks.speaks_for(signer)
        or offer.state != "accepted"
        or offer.final is None
    ):
        raise NotFound("no such record")
    return _as_response(request, offer.final)


_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _unless_deleted(handler: _Handler, *, tombstone: bool = False) -> _Handler:
    """Once the owner's actor is deleted, it and its objects answer 410 Gone (the actor itself with a
    ``Tombstone``, as ActivityStreams describes a deleted object), whatever the handler would have served;
    its inbox takes nothing more. Other names under /users/ are left to the handler (404)."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        fed = _fed(request)
        name = request.match_info.get("username")
        if name is None or name.lower() == fed.urls.username.lower():
            tomb = await fed.store.tombstone(fed.urls.owner)
            if tomb is not None and tombstone:
                doc = {
                    "@context": "https://www.w3.org/ns/activitystreams",
                    "id": fed.urls.owner,
                    "type": "Tombstone",
                    "formerType": tomb.former_type,
                    "deleted": datetime.fromtimestamp(tomb.deleted_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
                resp = _as_response(request, doc)
                resp.set_status(410)
                return resp
            if tomb is not None:
                return error_response(Gone(f"{fed.urls.owner} was deleted; its objects are gone with it"))
        return await handler(request)

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


def federation_routes() -> list[web.RouteDef]:
    return [
        web.get("/.well-known/webfinger", _webfinger),
        web.get("/.well-known/host-meta", _host_meta),
        web.get("/.well-known/nodeinfo", _nodeinfo_links),
        *(web.get(f"/nodeinfo/{v}", _nodeinfo(v)) for v in NODEINFO_VERSIONS),
        web.get("/users/{username}", _unless_deleted(_owner_actor, tombstone=True)),
        web.post("/users/{username}/inbox", _unless_deleted(_inbox)),
        web.get("/users/{username}/outbox", _unless_deleted(_outbox)),
        web.get("/users/{username}/followers", _unless_deleted(_followers)),
        web.get("/users/{username}/following", _unless_deleted(_following)),
        web.get("/users/{username}/card", _unless_deleted(_card)),
        web.get("/relationships/{rid}", _unless_deleted(_relationship)),
        web.get("/actor", _node_actor),
        web.post("/actor/inbox", _inbox),
        web.get("/actor/outbox", _outbox),
        web.post("/inbox", _inbox),
    ]
