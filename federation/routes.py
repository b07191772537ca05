"""The public federation routes: discovery (WebFinger, host-meta, NodeInfo), our two actors, inboxes and the
public collections. Private things (relationship records, cards, follower lists) are never listed here.

Blocks (federation/blocks.py) apply to every signed fetch: the card and relationship records answer a blocked
signer, or a server actor speaking only for blocked owners, as if they did not exist (404); a signed fetch of a
collection by a blocked actor or domain is refused (403). The two actor documents are served to anyone, the
blocked included: they hold only what is public, and the keys that let a blocked server verify the Undo,
Reject and Block we send it."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from aiohttp import web

from federation.cards import render_card
from federation.edge import edge
from federation.errors import Blocked, NotFound
from federation.ports import RemoteActor
from federation.service import Federation
from federation.signing import signature_key_id
from federation.urls import KITH_PROTOCOL
from protocol.errors import SignatureError

__all__ = ["FEDERATION", "VERSION", "federation_routes"]

FEDERATION = web.AppKey("kith.federation", Federation)

_AS_JSON = "application/activity+json"
_LD_JSON = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
_NODEINFO_PROFILE = "http://nodeinfo.diaspora.software/ns/schema/2.1"
VERSION = "0.1.0"


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


@edge
async def _webfinger(request: web.Request) -> web.Response:
    fed = _fed(request)
    resource = request.query.get("resource", "").strip()
    if not resource:
        raise web.HTTPBadRequest(text="pass ?resource=acct:user@host")
    urls = fed.urls
    owner = {f"acct:{urls.owner_acct}".lower(), urls.owner.lower(), urls.owner_acct.lower()}
    # FEP-d556: the server's own actor is also found by WebFinger on the server's URL
    node = {
        f"acct:{urls.node_acct}".lower(),
        urls.node.lower(),
        urls.node_acct.lower(),
        urls.base.lower(),
        urls.base.lower() + "/",
    }
    key = unquote(resource).lower()
    if key in owner:
        subject, actor = f"acct:{urls.owner_acct}", urls.owner
    elif key in node:
        subject, actor = f"acct:{urls.node_acct}", urls.node
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


async def _nodeinfo_links(request: web.Request) -> web.Response:
    base = _fed(request).urls.base
    doc = {"links": [{"rel": _NODEINFO_PROFILE, "href": f"{base}/nodeinfo/2.1"}]}
    return web.json_response(doc)


async def _nodeinfo(request: web.Request) -> web.Response:
    fed = _fed(request)
    doc = {
        "version": "2.1",
        "software": {"name": "kith", "version": VERSION, "repository": "https://w3id.org/kith"},
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": False,
        "usage": {"users": {"total": 1, "activeMonth": 1, "activeHalfyear": 1}, "localPosts": 0},
        "metadata": {
            "nodeName": fed.config.node.display_name or fed.urls.host,
            "implements": [KITH_PROTOCOL],
        },
    }
    resp = web.json_response(doc)
    resp.headers["Content-Type"] = f'application/json; profile="{_NODEINFO_PROFILE}#"'
    return resp


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


def federation_routes() -> list[web.RouteDef]:
    return [
        web.get("/.well-known/webfinger", _webfinger),
        web.get("/.well-known/host-meta", _host_meta),
        web.get("/.well-known/nodeinfo", _nodeinfo_links),
        web.get("/nodeinfo/2.1", _nodeinfo),
        web.get("/users/{username}", _owner_actor),
        web.post("/users/{username}/inbox", _inbox),
        web.get("/users/{username}/outbox", _outbox),
        web.get("/users/{username}/followers", _followers),
        web.get("/users/{username}/following", _following),
        web.get("/users/{username}/card", _card),
        web.get("/relationships/{rid}", _relationship),
        web.get("/actor", _node_actor),
        web.post("/actor/inbox", _inbox),
        web.get("/actor/outbox", _outbox),
        web.post("/inbox", _inbox),
    ]
