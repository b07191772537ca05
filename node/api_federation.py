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

Every route acts for the account the request's token names (``request[ACCOUNT]``, node/api.py): as its actor,
on its follows, offers, blocks and card, and on nobody else's. Once the account's actor is deleted, every other
POST here answers 410 Gone before it changes anything.

ADDRESS is ``acct:user@host``, ``user@host`` or an actor URL. Ids of requests are URLs: they travel in bodies.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from federation import AccountFederation, cards, kith, owner
from federation.errors import NotFound
from node.api_declare import ACCOUNT, Reply, Route, body, declare
from node.api_schema import MUTUAL_TYPE, Schema, nullable, obj, text, text_list
from node.errors import BadInput
from node.federation_access import access

__all__ = ["routes"]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def _acting(request: web.Request) -> AsyncIterator[AccountFederation]:
    """The request's account (its token's) acting as its actor."""
    async with access(request).acting(request[ACCOUNT].name) as me:
        yield me


async def _body(request: web.Request) -> dict[str, Any]:
    return body(request)  # read and checked against the route's schema (node.api.declare)


def _text(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 2048:
        raise BadInput(f"{name} must be a non-empty string", field=name)
    return value.strip()


def _address_op(op: Callable[[AccountFederation, str], Awaitable[Any]]) -> _Handler:
    async def handler(request: web.Request) -> web.Response:
        body = await _body(request)
        address = _text(body, "address")
        assert address is not None
        async with _acting(request) as me:
            return web.json_response(await op(me, address))

    return handler


def _listing(op: Callable[[AccountFederation], Awaitable[Any]]) -> _Handler:
    async def handler(request: web.Request) -> web.Response:
        async with _acting(request) as me:
            return web.json_response(await op(me))

    return handler


def _request_op(accepted: bool) -> _Handler:
    async def handler(request: web.Request) -> web.Response:
        request_id = _text(await _body(request), "id")
        assert request_id is not None
        async with _acting(request) as me:
            return web.json_response(await owner.answer(me, request_id, accepted=accepted))

    return handler


async def _connect(request: web.Request) -> web.Response:
    body = await _body(request)
    address, rel_type = _text(body, "address"), _text(body, "type")
    assert address is not None and rel_type is not None
    async with _acting(request) as me:
        result = await owner.connect(
            me,
            address,
            rel_type,
            how_we_met=_text(body, "how_we_met", required=False),
            since=_text(body, "since", required=False),
        )
    return web.json_response(result, status=201)


async def _revoke(request: web.Request) -> web.Response:
    offer_id = _text(await _body(request), "id")
    assert offer_id is not None
    async with _acting(request) as me:
        row = await me.store.offer(offer_id)
        if row is None:
            raise NotFound(f"no relationship {offer_id}")
        await kith.end(me, row)
    return web.json_response({"id": offer_id, "state": "ended"})


async def _publish_card(request: web.Request) -> web.Response:
    async with _acting(request) as me:
        return web.json_response({"peers": await cards.publish_card(me)})


async def _publish_actor(request: web.Request) -> web.Response:
    async with _acting(request) as me:
        return web.json_response({"inboxes": await owner.publish_actor(me)})


async def _aliases(request: web.Request) -> web.Response:
    body = await _body(request)
    values = body.get("addresses")
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values) or len(values) > 20:
        raise BadInput("addresses must be a list of up to 20 addresses", field="addresses")
    async with _acting(request) as me:
        return web.json_response({"also_known_as": await owner.set_aliases(me, values)})


async def _blocks(request: web.Request) -> web.Response:
    async with _acting(request) as me:
        return web.json_response(await me.store.blocks())


async def _delete_actor(request: web.Request) -> web.Response:
    """Delete the owner's fediverse actor for good: Delete to every follower and peer, then 410 Gone"""
    if (await _body(request)).get("confirm") is not True:
        raise BadInput(
            'send {"confirm": true}: deleting the actor tells every follower and peer it is gone, and cannot '
            "be undone (your contact graph stays on this node)",
            field="confirm",
        )
    async with _acting(request) as me:
        return web.json_response(await owner.delete_actor(me))


def _alive_only(route: Route) -> _Handler:
    """A route that acts as the owner's actor answers 410 Gone once it is deleted, before it writes anything
    (federation.owner.ensure_alive); reads, and the delete itself, still answer."""
    inner = route.handler
    if route.method != "POST" or route.name == "federation_delete_actor":
        return inner

    async def handler(request: web.Request) -> web.StreamResponse:
        async with _acting(request) as me:
            await owner.ensure_alive(me)
        return await inner(request)

    return handler


# -- declarations: the schemas that check these routes' requests and describe them in /api/openapi.json ------
_ADDRESS = text(2048, nonblank=True, description="acct:user@host, user@host or an actor URL")
_ADDRESS_BODY = obj({"address": _ADDRESS}, required=("address",))
_ID_BODY = obj({"id": text(2048, nonblank=True, description="the request's id (a URL)")}, required=("id",))
_FOLLOW = obj(
    {
        "id": {"type": "string"},
        "kind": {"const": "follow"},
        "direction": {"type": "string", "enum": ["incoming", "outgoing"]},
        "actor": {"type": "string"},
        "acct": {"type": ["string", "null"]},
        "state": {"type": "string"},
        "created_at": {"type": ["string", "number"]},
    },
    required=("id", "kind", "direction", "actor", "acct", "state", "created_at"),
    description="A follow, either way",
)
_OFFER = obj(
    {
        "id": {"type": "string"},
        "kind": {"const": "relationship"},
        "direction": {"type": "string", "enum": ["incoming", "outgoing"]},
        "actor": {"type": "string"},
        "type": {"type": "string"},
        "how_we_met": {"type": ["string", "null"]},
        "state": {"type": "string"},
        "record": {"type": "object", "description": "the Relationship record (JSON-LD)"},
        "created_at": {"type": ["string", "number"]},
    },
    required=("id", "kind", "direction", "actor", "type", "how_we_met", "state", "record", "created_at"),
    description="A relationship offer, either way",
)
_REQUEST = {"anyOf": [_FOLLOW, _OFFER]}
_BLOCK = obj(
    {
        "kind": {"type": "string", "enum": ["actor", "domain"]},
        "value": {"type": "string"},
        "acct": {"type": ["string", "null"]},
    },
    required=("kind", "value"),
)
_PEER = obj(
    {
        "host": {"type": "string"},
        "status": {"type": "string", "enum": ["ok", "queued", "failing", "dead"]},
        "queued": {"type": "integer"},
        "delivered": {"type": "integer"},
        "failed": {"type": "integer"},
        "dead": {"type": "integer"},
        "consecutive_failures": {"type": "integer"},
        "signature_scheme": {"type": ["string", "null"]},
        "last_error": {"type": ["string", "null"]},
    },
    required=("host", "status", "queued", "delivered", "failed", "dead", "consecutive_failures"),
    additional=True,
)
# Routes that look actors up on other servers answer the peer's failures too (federation/errors.py).
_REMOTE = (403, 404, 409, 410, 502, 503, 504)


def _list(item: Schema) -> dict[int, Reply]:
    return {200: Reply({"type": "array", "items": item})}


def _one(item: Schema, status: int = 200) -> dict[int, Reply]:
    return {status: Reply(item)}


def _declarations() -> list[Route]:
    p = "/api/federation"
    return [
        declare(
            "POST",
            f"{p}/follow",
            "Follow a fediverse account or Kith node",
            _address_op(owner.follow),
            name="federation_follow",
            body=_ADDRESS_BODY,
            replies=_one(_FOLLOW),
            errors=_REMOTE,
        ),
        declare(
            "POST",
            f"{p}/unfollow",
            "Stop following an account",
            _address_op(owner.unfollow),
            name="federation_unfollow",
            body=_ADDRESS_BODY,
            replies=_one(_FOLLOW),
            errors=_REMOTE,
        ),
        declare(
            "POST",
            f"{p}/connect",
            "Offer a relationship to another Kith owner (confirmed when they accept, signed by both)",
            _connect,
            name="federation_connect",
            body=obj(
                {
                    "address": _ADDRESS,
                    "type": MUTUAL_TYPE,
                    "how_we_met": nullable(text(2048, nonblank=True)),
                    "since": nullable({"type": "string", "format": "date", "description": "like 2024-05-01"}),
                },
                required=("address", "type"),
            ),
            replies=_one(_OFFER, 201),
            errors=_REMOTE,
        ),
        declare(
            "GET",
            f"{p}/requests",
            "Pending follow requests and relationship offers, both directions",
            _listing(owner.requests),
            name="federation_requests",
            replies=_list(_REQUEST),
        ),
        declare(
            "POST",
            f"{p}/requests/accept",
            "Accept a pending request",
            _request_op(True),
            name="federation_accept",
            body=_ID_BODY,
            replies=_one(_REQUEST),
            errors=_REMOTE,
        ),
        declare(
            "POST",
            f"{p}/requests/reject",
            "Reject a pending request (or remove an accepted follower)",
            _request_op(False),
            name="federation_reject",
            body=_ID_BODY,
            replies=_one(_REQUEST),
            errors=_REMOTE,
        ),
        declare(
            "POST",
            f"{p}/relationships/revoke",
            "End a confirmed relationship",
            _revoke,
            name="federation_revoke",
            body=_ID_BODY,
            replies=_one(
                obj({"id": {"type": "string"}, "state": {"const": "ended"}}, required=("id", "state"))
            ),
            errors=_REMOTE,
        ),
        declare(
            "POST",
            f"{p}/block",
            "Block an actor, or a whole domain",
            _address_op(owner.block),
            name="federation_block",
            body=_ADDRESS_BODY,
            replies=_one(_BLOCK),
            errors=_REMOTE,
        ),
        declare(
            "POST",
            f"{p}/unblock",
            "Lift a block",
            _address_op(owner.unblock),
            name="federation_unblock",
            body=_ADDRESS_BODY,
            replies=_one(_BLOCK),
            errors=_REMOTE,
        ),
        declare(
            "GET",
            f"{p}/blocks",
            "Blocked actors and domains",
            _blocks,
            name="federation_blocks",
            replies=_list(
                obj(
                    {
                        "kind": {"type": "string"},
                        "value": {"type": "string"},
                        "created_at": {"type": ["string", "number"]},
                    },
                    required=("kind", "value", "created_at"),
                )
            ),
        ),
        declare(
            "GET",
            f"{p}/followers",
            "Who follows the owner",
            _listing(owner.followers),
            name="federation_followers",
            replies=_list(_FOLLOW),
        ),
        declare(
            "GET",
            f"{p}/following",
            "Whom the owner follows",
            _listing(owner.following),
            name="federation_following",
            replies=_list(_FOLLOW),
        ),
        declare(
            "GET",
            f"{p}/peers",
            "Delivery status per peer host: queued, failing, dead",
            _listing(owner.peers),
            name="federation_peers",
            replies=_list(_PEER),
        ),
        declare(
            "POST",
            f"{p}/card/publish",
            "Send the owner's card to the peers allowed to see it",
            _publish_card,
            name="federation_publish_card",
            replies=_one(obj({"peers": {"type": "integer", "minimum": 0}}, required=("peers",))),
            errors=(410,),
        ),
        declare(
            "POST",
            f"{p}/aliases",
            "Name the accounts the owner moves from (alsoKnownAs)",
            _aliases,
            name="federation_aliases",
            body=obj(
                {"addresses": text_list(_ADDRESS, max_items=20, description="old accounts; [] clears")},
                required=("addresses",),
            ),
            replies=_one(
                obj(
                    {"also_known_as": {"type": "array", "items": {"type": "string"}}},
                    required=("also_known_as",),
                )
            ),
            errors=_REMOTE,
        ),
        declare(
            "POST",
            f"{p}/move",
            "Tell followers the owner moved to ADDRESS (which must list this account in alsoKnownAs)",
            _address_op(owner.move),
            name="federation_move",
            body=_ADDRESS_BODY,
            replies=_one(
                obj(
                    {"moved_to": {"type": "string"}, "notified": {"type": "integer", "minimum": 0}},
                    required=("moved_to", "notified"),
                )
            ),
            errors=_REMOTE,
        ),
        declare(
            "POST",
            f"{p}/actor/publish",
            "Tell followers the owner's actor changed (Update)",
            _publish_actor,
            name="federation_publish_actor",
            replies=_one(obj({"inboxes": {"type": "integer", "minimum": 0}}, required=("inboxes",))),
            errors=(410,),
        ),
        declare(
            "POST",
            f"{p}/actor/delete",
            "Delete the owner's fediverse actor for good: Delete to every follower and peer, then 410 Gone",
            _delete_actor,
            name="federation_delete_actor",
            # confirm is checked by the handler, whose refusal says what deleting does
            body=obj({"confirm": {"description": "true: delete the actor for good"}}),
            replies=_one(
                obj(
                    {
                        "actor": {"type": "string"},
                        "deleted_at": {"type": "string"},
                        "notified": {"type": "integer", "minimum": 0},
                        "already_deleted": {"type": "boolean"},
                    },
                    required=("actor", "deleted_at", "notified", "already_deleted"),
                )
            ),
        ),
    ]


def routes() -> list[web.RouteDef]:
    """The routes to serve: each declared route's checked handler, refusing to act as a deleted actor."""
    return [web.route(r.method, r.path, _alive_only(r)) for r in _declarations()]
