"""Owner API of the stay-in-touch loop (issue 16): the digest and its reminders, reaching out from a person's
record, and capture (syncing linked mailboxes and calendars, people proposed from mail). Routes join node.api's
table (and so its OpenAPI document) on import.

Each route is declared the way node/api.py declares its own (node/api_declare.py): the schemas below check
every request before the handler runs, and describe its answers in /api/openapi.json. What they cannot state
(an address that must parse as one, a direct-message link the identity may not have, the server's mail
settings, an address already stored) the layers below still check.
"""

from __future__ import annotations

import aiohttp
from aiohttp import web

from federation.messages import MAX_MESSAGE
from node.api_declare import ACCOUNT, body, created, items_of, ok, route
from node.api_schema import Param, Schema, dataclass_schema, integer, nullable, obj, ref, text
from node.capture.caldav import sync_caldav
from node.capture.imap import CaptureResult, sync_imap
from node.capture.links import CAPTURE_SOURCES, CaldavLink, ImapLink, caldav_links, imap_links
from node.capture.proposals import accept_proposal, dismiss_proposal, list_proposals
from node.config import smtp_password_from_env
from node.context import AccountContext
from node.digest import (
    ADDRESS_PATTERN,
    FREQUENCIES,
    REMINDER_KEY,
    DigestItem,
    DigestSettings,
    build_digest,
    get_settings,
    mark_done,
    send_digest,
    set_settings,
    snooze,
)
from node.errors import Conflict
from node.federation_access import access
from node.graph import MAX_NAME
from node.http import json_response
from node.importer import Importer
from node.messaging import message_person
from node.models import as_json
from node.reach import ReachAction, actions, reach, set_preferred
from node.store.capture import Proposal

__all__: list[str] = []

_HTTP_TIMEOUT = aiohttp.ClientTimeout(total=120, connect=15)
_404 = (404,)


def _ctx(request: web.Request) -> AccountContext:
    return request[ACCOUNT]


# -- schemas ---------------------------------------------------------------------------------------------------
_TO = {"type": "string", "pattern": f"^{ADDRESS_PATTERN}$", "description": "one e-mail address"}
_KEY = Param(
    "key",
    {
        "type": "string",
        "pattern": f"^{REMINDER_KEY.pattern}$",
        "maxLength": 221,
        "description": "a digest item's key, like due:p_x:2026-11-22",
        "examples": ["due:p_x:2026-11-22"],
    },
    "A digest item's key, from GET /api/digest",
)
_N = Param(
    "n",
    {
        "type": "string",
        "pattern": "^[0-9]{1,4}$",
        "description": "an identity's n from the reach list",
        "examples": ["0"],
    },
    "An identity's number, from GET /api/people/{id}/reach",
)
_SOURCE = Param("source", {"type": "string", "enum": list(CAPTURE_SOURCES)}, "Mailboxes or calendars")
_DIGEST = obj(
    {
        "account": {"type": "string"},
        "generated_at": {"type": "string"},
        "items": {"type": "array", "items": dataclass_schema(DigestItem)},
    },
    required=("account", "generated_at", "items"),
    description="Today's digest: what the owner should act on",
)
_SETTINGS = dataclass_schema(DigestSettings)
_REACH = dataclass_schema(ReachAction)
_ADDRESS = text(330, nonblank=True, description="the proposed correspondent's e-mail address")


def _answer(schema: Schema, *required: str) -> Schema:
    return obj({name: schema for name in required}, required=required)


# -- digest ----------------------------------------------------------------------------------------------------
@route(
    "GET",
    "/digest",
    "Today's digest: due, fading, birthdays, introductions, cadence suggestions",
    replies=ok(_DIGEST),
)
async def _get_digest(request: web.Request) -> web.Response:
    return json_response(as_json(await build_digest(_ctx(request))))


@route("GET", "/digest/settings", "How often the digest is mailed, and where", replies=ok(_SETTINGS))
async def _get_digest_settings(request: web.Request) -> web.Response:
    return json_response(as_json(await get_settings(_ctx(request))))


@route(
    "PUT",
    "/digest/settings",
    "Set the digest's frequency, address and fediverse account (fields left out keep their value); 409 when a "
    "digest is turned on with no address or account given or stored",
    body=obj(
        {
            "every": {"type": "string", "enum": list(FREQUENCIES)},
            "to": {"anyOf": [_TO, {"const": ""}], "description": "one e-mail address, or '' for none"},
            "hour": integer(0, 23, description="the UTC hour from which the day's digest goes out"),
            "weekday": integer(0, 6, description="weekly digests: 0 is Monday"),
            "fediverse": {
                "type": "string",
                "maxLength": 2048,
                "description": "your own fediverse account (@you@server or an actor URL), sent the digest as a "
                "direct message; '' for none",
            },
        }
    ),
    replies=ok(_SETTINGS),
    errors=(409,),
)
async def _put_digest_settings(request: web.Request) -> web.Response:
    data = body(request)
    settings = await set_settings(
        _ctx(request),
        every=data.get("every"),
        to=data.get("to"),
        hour=data.get("hour"),
        weekday=data.get("weekday"),
        fediverse=data.get("fediverse"),
    )
    return json_response(as_json(settings))


@route(
    "POST",
    "/digest/send",
    "Mail the digest now (to the settings' address, or to); 409 when the server's mail settings or the "
    "address are missing, or the SMTP server refuses",
    body=obj({"to": _TO}),
    body_required=False,
    replies=ok(
        obj(
            {"to": {"type": "string"}, "items": {"type": "integer", "minimum": 0}},
            required=("to", "items"),
        )
    ),
    errors=(409,),
)
async def _send_digest_now(request: web.Request) -> web.Response:
    to = body(request).get("to")
    digest, target = await send_digest(_ctx(request), password=smtp_password_from_env(), to=to)
    return json_response({"to": target, "items": len(digest.items)})


_REMINDER = obj(
    {
        "key": {"type": "string"},
        "state": {"type": "string", "enum": ["snoozed", "done"]},
        "until": {"type": "string", "description": "snoozed until this time"},
    },
    required=("key", "state"),
)


@route(
    "POST",
    "/digest/items/{key}/snooze",
    "Snooze a digest item for some days (default 1)",
    params=(_KEY,),
    body=obj({"days": integer(1, 365, description="how many days to hide it")}),
    body_required=False,
    replies=ok(_REMINDER),
)
async def _snooze_digest_item(request: web.Request) -> web.Response:
    until = await snooze(_ctx(request), request.match_info["key"], body(request).get("days", 1))
    return json_response({"key": request.match_info["key"], "state": "snoozed", "until": until})


@route("POST", "/digest/items/{key}/done", "Mark a digest item done", params=(_KEY,), replies=ok(_REMINDER))
async def _mark_digest_item_done(request: web.Request) -> web.Response:
    await mark_done(_ctx(request), request.match_info["key"])
    return json_response({"key": request.match_info["key"], "state": "done"})


# -- reaching out ----------------------------------------------------------------------------------------------
@route(
    "GET",
    "/people/{id}/reach",
    "Every way to reach a person (mailto:, tel:, profiles, message links), the preferred one first",
    replies=ok(items_of(_REACH)),
    errors=_404,
)
async def _list_reach(request: web.Request) -> web.Response:
    graph = _ctx(request).graph
    person = await graph.get_person(request.match_info["id"])
    return json_response({"items": as_json(await actions(graph, person))})


@route(
    "POST",
    "/people/{id}/reach/{n}",
    "Reach out through identity n: logs an interaction and returns where to go (404 when the person has no "
    "such way to be reached, or no direct-message link on it)",
    params=(_N,),
    body=obj(
        {
            "tag": {
                "type": "string",
                "pattern": "^[0-9a-f]{10}$",
                "description": "the action's tag from the reach list: a stale page is refused",
            },
            "message": {"type": "boolean", "description": "follow its direct-message link"},
        }
    ),
    body_required=False,
    replies=created(
        obj({"href": {"type": "string"}, "interaction": ref("Interaction")}, required=("href", "interaction"))
    ),
    errors=_404,
)
async def _reach_out(request: web.Request) -> web.Response:
    data = body(request)
    href, interaction = await reach(
        _ctx(request).graph,
        request.match_info["id"],
        int(request.match_info["n"]),
        tag=data.get("tag"),
        message=data.get("message") is True,
    )
    return json_response({"href": href, "interaction": as_json(interaction)}, status=201)


@route(
    "PUT",
    # Not under /reach/: POST /people/{id}/reach/preferred would be the reach route with n "preferred".
    "/people/{id}/preferred-channel",
    "Set the preferred channel (n, or null for none)",
    body=obj(
        {"n": nullable(integer(0, 9999, description="an identity's n from the reach list; null: none"))},
        required=("n",),
    ),
    replies=ok(_answer(nullable(_REACH), "preferred")),
    errors=_404,
)
async def _set_preferred_channel(request: web.Request) -> web.Response:
    n = body(request)["n"]  # a whole number by the schema, which takes 3.0 for 3 as JSON does
    chosen = await set_preferred(_ctx(request).graph, request.match_info["id"], None if n is None else int(n))
    return json_response({"preferred": as_json(chosen)})


@route(
    "POST",
    "/people/{id}/message",
    "Send a fediverse direct message to the person (a Note to their actor alone, a private mention on "
    "Mastodon); logs it as an interaction. 409 when the person has no fediverse account",
    body=obj(
        {
            "text": text(MAX_MESSAGE, nonblank=True, description="the message, as plain text"),
            "in_reply_to": nullable(
                {
                    "type": "string",
                    "maxLength": 2048,
                    "pattern": "^https?://[^\\s]+$",
                    "description": "the id of the note it answers (an http(s) URL)",
                }
            ),
        },
        required=("text",),
    ),
    replies=created(
        obj(
            {
                "object_id": {"type": "string", "description": "the Note's id"},
                "to": {"type": "string", "description": "the actor it went to"},
                "conversation": {"type": "string", "description": "the id of its thread's first note"},
                "interaction": ref("Interaction"),
            },
            required=("object_id", "to", "conversation", "interaction"),
        )
    ),
    errors=(403, 404, 409, 410, 502, 503, 504),
)
async def _send_message(request: web.Request) -> web.Response:
    data = body(request)
    ctx = _ctx(request)
    federation = access(request)
    if not federation.available:
        raise Conflict("federation is off on this server, so no message can be sent; see `kith serve`'s log")
    async with federation.acting(ctx.name) as fed:  # the request's account writes, as its own actor
        sent = await message_person(
            ctx.graph, fed, request.match_info["id"], data["text"], in_reply_to=data.get("in_reply_to")
        )
    return json_response(as_json(sent), status=201)


# -- capture ---------------------------------------------------------------------------------------------------
@route(
    "GET",
    "/capture/links",
    "Linked mailboxes and calendars (never their passwords)",
    replies=ok(
        obj(
            {
                "imap": {"type": "array", "items": dataclass_schema(ImapLink)},
                "caldav": {"type": "array", "items": dataclass_schema(CaldavLink)},
            },
            required=("imap", "caldav"),
        )
    ),
)
async def _list_capture_links(request: web.Request) -> web.Response:
    store = _ctx(request).store
    return json_response(
        {"imap": as_json(await imap_links(store)), "caldav": as_json(await caldav_links(store))}
    )


@route(
    "POST",
    "/capture/{source}/sync",
    "Read what is new in the linked mailboxes or calendars (404 when none is linked; 409 when a password "
    "cannot be opened)",
    params=(_SOURCE,),
    replies=ok(items_of(dataclass_schema(CaptureResult))),
    errors=(404, 409),
)
async def _sync_capture(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    passphrase = ctx.server.passphrase
    if request.match_info["source"] == "imap":
        results = await sync_imap(ctx.store, passphrase=passphrase, clock=ctx.graph.clock)
    else:
        importer = Importer(ctx.store, clock=ctx.graph.clock, phone_region=ctx.graph.phone_region)
        async with aiohttp.ClientSession(timeout=_HTTP_TIMEOUT) as http:
            results = await sync_caldav(
                ctx.store, importer, session=http, passphrase=passphrase, clock=ctx.graph.clock
            )
    return json_response({"items": as_json(results)})


@route(
    "GET",
    "/capture/proposals",
    "Correspondents proposed as new people (mail exchanged both ways)",
    replies=ok(items_of(dataclass_schema(Proposal))),
)
async def _list_proposed_people(request: web.Request) -> web.Response:
    return json_response({"items": as_json(await list_proposals(_ctx(request).graph))})


@route(
    "POST",
    "/capture/proposals/accept",
    "Make a proposed correspondent a person (404: not proposed; 409: dismissed before)",
    body=obj({"address": _ADDRESS, "name": nullable(text(MAX_NAME))}, required=("address",)),
    replies=created(
        obj(
            {"person": ref("Person"), "messages_linked": {"type": "integer", "minimum": 0}},
            required=("person", "messages_linked"),
        )
    ),
    errors=(404, 409),
)
async def _accept_proposed_person(request: web.Request) -> web.Response:
    data = body(request)
    person, linked = await accept_proposal(_ctx(request).graph, data["address"], name=data.get("name"))
    return json_response({"person": as_json(person), "messages_linked": linked}, status=201)


@route(
    "POST",
    "/capture/proposals/dismiss",
    "Stop proposing a correspondent (404: not proposed)",
    body=obj({"address": _ADDRESS}, required=("address",)),
    replies=ok(
        obj(
            {"address": {"type": "string"}, "status": {"const": "dismissed"}},
            required=("address", "status"),
        )
    ),
    errors=_404,
)
async def _dismiss_proposed_person(request: web.Request) -> web.Response:
    address = body(request)["address"]
    await dismiss_proposal(_ctx(request).graph, address)
    return json_response({"address": address, "status": "dismissed"})
