"""The owner API for federation, under ``/api/federation/``. The node mounts these routes behind its bearer
authentication and turns raised errors into status codes (every error here carries ``status_hint``).

    POST /api/federation/follow            {"address": ...}
    POST /api/federation/unfollow          {"address": ...}
    POST /api/federation/connect           {"address", "type": "friend", "how_we_met"?, "since"?}
    GET  /api/federation/requests          pending follows and relationship offers, both directions
    POST /api/federation/requests/accept   {"id": ...}
    POST /api/federation/requests/reject   {"id": ...}
    POST /api/federation/relationships/revoke {"id": offer id}
    POST /api/federation/block             {"address": ...}   (an actor address, or a domain)
    POST /api/federation/unblock           {"address": ...}
    GET  /api/federation/blocks
    GET  /api/federation/followers | following | peers
    POST /api/federation/card/publish      send the owner's card to the peers allowed to see it
    POST /api/federation/aliases           {"addresses": [...]}  (alsoKnownAs, before moving here)
    POST /api/federation/move              {"address": ...}  (the owner moved to that account)
    POST /api/federation/actor/publish     tell followers the owner's actor changed (Update)
    POST /api/federation/actor/delete      {"confirm": true}  delete the owner's actor for good (Delete)

Once the actor is deleted, every other POST here answers 410 Gone before it changes anything.

ADDRESS is ``acct:user@host``, ``user@host`` or an actor URL. Ids of requests are URLs: they travel in bodies.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from federation import FEDERATION, Federation, cards, kith, owner
from federation.errors import NotFound
from node.errors import BadInput

__all__ = ["routes"]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _fed(request: web.Request) -> Federation:
    return request.config_dict[FEDERATION]


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise BadInput("send a JSON object") from None
    if not isinstance(body, dict):
        raise BadInput("send a JSON object")
    return body


def _text(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 2048:
        raise BadInput(f"{name} must be a non-empty string", field=name)
    return value.strip()


def _address_op(op: Callable[[Federation, str], Awaitable[Any]]) -> _Handler:
    async def handler(request: web.Request) -> web.Response:
        body = await _body(request)
        address = _text(body, "address")
        assert address is not None
        return web.json_response(await op(_fed(request), address))

    return handler


def _listing(op: Callable[[Federation], Awaitable[Any]]) -> _Handler:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response(await op(_fed(request)))

    return handler


def _request_op(accepted: bool) -> _Handler:
    async def handler(request: web.Request) -> web.Response:
        request_id = _text(await _body(request), "id")
        assert request_id is not None
        return web.json_response(await owner.answer(_fed(request), request_id, accepted=accepted))

    return handler


async def _connect(request: web.Request) -> web.Response:
    body = await _body(request)
    address, rel_type = _text(body, "address"), _text(body, "type")
    assert address is not None and rel_type is not None
    result = await owner.connect(
        _fed(request),
        address,
        rel_type,
        how_we_met=_text(body, "how_we_met", required=False),
        since=_text(body, "since", required=False),
    )
    return web.json_response(result, status=201)


async def _revoke(request: web.Request) -> web.Response:
    fed = _fed(request)
    offer_id = _text(await _body(request), "id")
    assert offer_id is not None
    row = await fed.store.offer(offer_id)
    if row is None:
        raise NotFound(f"no relationship {offer_id}")
    await kith.end(fed, row)
    return web.json_response({"id": offer_id, "state": "ended"})


async def _publish_card(request: web.Request) -> web.Response:
    return web.json_response({"peers": await cards.publish_card(_fed(request))})


async def _publish_actor(request: web.Request) -> web.Response:
    return web.json_response({"inboxes": await owner.publish_actor(_fed(request))})


async def _aliases(request: web.Request) -> web.Response:
    body = await _body(request)
    values = body.get("addresses")
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values) or len(values) > 20:
        raise BadInput("addresses must be a list of up to 20 addresses", field="addresses")
    return web.json_response({"also_known_as": await owner.set_aliases(_fed(request), values)})


async def _blocks(request: web.Request) -> web.Response:
    return web.json_response(await _fed(request).store.blocks())


async def _delete_actor(request: web.Request) -> web.Response:
    """Delete the owner's fediverse actor for good: Delete to every follower and peer, then 410 Gone"""
    if (await _body(request)).get("confirm") is not True:
        raise BadInput(
            'send {"confirm": true}: deleting the actor tells every follower and peer it is gone, and cannot '
            "be undone (your contact graph stays on this node)",
            field="confirm",
        )
    return web.json_response(await owner.delete_actor(_fed(request)))


def _alive_only(route: web.RouteDef) -> web.RouteDef:
    """A route that acts as the owner's actor answers 410 Gone once it is deleted, before it writes
    anything (federation.owner.ensure_alive); reads still answer."""
    if route.method != "POST" or route.handler is _delete_actor:
        return route
    inner = route.handler

    async def handler(request: web.Request) -> web.StreamResponse:
        await owner.ensure_alive(_fed(request))
        return await inner(request)

    handler.__name__ = getattr(inner, "__name__", "handler")
    handler.__doc__ = inner.__doc__
    return web.RouteDef(route.method, route.path, handler, route.kwargs)


def routes() -> list[web.RouteDef]:
    return [_alive_only(r) for r in _routes()]


def _routes() -> list[web.RouteDef]:
    p = "/api/federation"
    return [
        web.post(f"{p}/follow", _address_op(owner.follow)),
        web.post(f"{p}/unfollow", _address_op(owner.unfollow)),
        web.post(f"{p}/connect", _connect),
        web.get(f"{p}/requests", _listing(owner.requests)),
        web.post(f"{p}/requests/accept", _request_op(True)),
        web.post(f"{p}/requests/reject", _request_op(False)),
        web.post(f"{p}/relationships/revoke", _revoke),
        web.post(f"{p}/block", _address_op(owner.block)),
        web.post(f"{p}/unblock", _address_op(owner.unblock)),
        web.get(f"{p}/blocks", _blocks),
        web.get(f"{p}/followers", _listing(owner.followers)),
        web.get(f"{p}/following", _listing(owner.following)),
        web.get(f"{p}/peers", _listing(owner.peers)),
        web.post(f"{p}/card/publish", _publish_card),
        web.post(f"{p}/aliases", _aliases),
        web.post(f"{p}/move", _address_op(owner.move)),
        web.post(f"{p}/actor/publish", _publish_actor),
        web.post(f"{p}/actor/delete", _delete_actor),
    ]
