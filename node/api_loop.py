"""Owner API of the stay-in-touch loop (issue 16): the digest and its reminders, reaching out from a person's
record, and capture (syncing linked mailboxes and calendars, people proposed from mail). Routes join node.api's
table (and so its OpenAPI document) on import."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web

from node.api import ACCOUNT, route
from node.capture.caldav import sync_caldav
from node.capture.imap import sync_imap
from node.capture.links import caldav_links, imap_links
from node.capture.proposals import accept_proposal, dismiss_proposal, list_proposals
from node.config import smtp_password_from_env
from node.context import AccountContext
from node.digest import build_digest, get_settings, mark_done, send_digest, set_settings, snooze
from node.errors import BadInput
from node.http import json_response, read_json
from node.importer import Importer
from node.models import as_json
from node.reach import actions, reach, set_preferred

__all__: list[str] = []

_HTTP_TIMEOUT = aiohttp.ClientTimeout(total=120, connect=15)


def _ctx(request: web.Request) -> AccountContext:
    return request[ACCOUNT]


def _n(value: Any, field: str = "n") -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadInput(f"{field} must be the identity's number from the reach list", field=field)
    try:
        n = int(value)
    except ValueError:
        raise BadInput(f"{field} must be the identity's number from the reach list", field=field) from None
    if not 0 <= n < 10_000:
        raise BadInput(f"{field} must be the identity's number from the reach list", field=field)
    return n


# -- digest ----------------------------------------------------------------------------------------------------
@route("GET", "/digest", "Today's digest: due, fading, birthdays, introductions, cadence suggestions")
async def _digest(request: web.Request) -> web.Response:
    return json_response(as_json(await build_digest(_ctx(request))))


@route("GET", "/digest/settings", "How often the digest is mailed, and where")
async def _digest_settings(request: web.Request) -> web.Response:
    return json_response(as_json(await get_settings(_ctx(request))))


@route(
    "PUT",
    "/digest/settings",
    "Set the digest's frequency and address",
    body=("every", "to", "hour", "weekday"),
)
async def _put_digest_settings(request: web.Request) -> web.Response:
    data = await read_json(request)
    unknown = set(data) - {"every", "to", "hour", "weekday"}
    if unknown:
        raise BadInput(f"unknown field {sorted(unknown)[0]!r}", field=sorted(unknown)[0])
    for key in ("hour", "weekday"):
        if key in data and (isinstance(data[key], bool) or not isinstance(data[key], int)):
            raise BadInput(f"{key} must be a whole number", field=key)
    for key in ("every", "to"):
        if key in data and not isinstance(data[key], str):
            raise BadInput(f"{key} must be text", field=key)
    settings = await set_settings(
        _ctx(request),
        every=data.get("every"),
        to=data.get("to"),
        hour=data.get("hour"),
        weekday=data.get("weekday"),
    )
    return json_response(as_json(settings))


@route("POST", "/digest/send", "Mail the digest now (to the settings' address, or to)", body=("to",))
async def _send_digest(request: web.Request) -> web.Response:
    data = await read_json(request)
    to = data.get("to")
    if to is not None and not isinstance(to, str):
        raise BadInput("to must be an e-mail address", field="to")
    digest, target = await send_digest(_ctx(request), password=smtp_password_from_env(), to=to)
    return json_response({"to": target, "items": len(digest.items)})


@route("POST", "/digest/items/{key}/snooze", "Snooze a digest item for some days", body=("days",))
async def _snooze(request: web.Request) -> web.Response:
    data = await read_json(request)
    until = await snooze(_ctx(request), request.match_info["key"], data.get("days", 1))
    return json_response({"key": request.match_info["key"], "state": "snoozed", "until": until})


@route("POST", "/digest/items/{key}/done", "Mark a digest item done")
async def _done(request: web.Request) -> web.Response:
    await mark_done(_ctx(request), request.match_info["key"])
    return json_response({"key": request.match_info["key"], "state": "done"})


# -- reaching out ----------------------------------------------------------------------------------------------
@route("GET", "/people/{id}/reach", "Every way to reach a person (mailto:, tel:, profiles, message links)")
async def _reach_list(request: web.Request) -> web.Response:
    graph = _ctx(request).graph
    person = await graph.get_person(request.match_info["id"])
    return json_response({"items": as_json(await actions(graph, person))})


@route(
    "POST",
    "/people/{id}/reach/{n}",
    "Reach out through identity n: logs an interaction and returns where to go",
    body=("tag", "message"),
)
async def _reach(request: web.Request) -> web.Response:
    data = await read_json(request)
    tag = data.get("tag")
    if tag is not None and not isinstance(tag, str):
        raise BadInput("tag must be the action's tag from the reach list", field="tag")
    href, interaction = await reach(
        _ctx(request).graph,
        request.match_info["id"],
        _n(request.match_info["n"]),
        tag=tag,
        message=data.get("message") is True,
    )
    return json_response({"href": href, "interaction": as_json(interaction)}, status=201)


@route("PUT", "/people/{id}/reach/preferred", "Set the preferred channel (n, or null for none)", body=("n",))
async def _preferred(request: web.Request) -> web.Response:
    data = await read_json(request)
    n = data.get("n")
    chosen = await set_preferred(_ctx(request).graph, request.match_info["id"], None if n is None else _n(n))
    return json_response({"preferred": as_json(chosen)})


# -- capture ---------------------------------------------------------------------------------------------------
@route("GET", "/capture/links", "Linked mailboxes and calendars (never their passwords)")
async def _links(request: web.Request) -> web.Response:
    store = _ctx(request).store
    return json_response(
        {"imap": as_json(await imap_links(store)), "caldav": as_json(await caldav_links(store))}
    )


@route("POST", "/capture/{source:imap|caldav}/sync", "Read what is new in the linked mailboxes or calendars")
async def _capture_sync(request: web.Request) -> web.Response:
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


@route("GET", "/capture/proposals", "Correspondents proposed as new people (mail exchanged both ways)")
async def _proposals(request: web.Request) -> web.Response:
    return json_response({"items": as_json(await list_proposals(_ctx(request).graph))})


@route(
    "POST", "/capture/proposals/accept", "Make a proposed correspondent a person", body=("address", "name")
)
async def _accept(request: web.Request) -> web.Response:
    data = await read_json(request)
    address, name = data.get("address"), data.get("name")
    if not isinstance(address, str) or (name is not None and not isinstance(name, str)):
        raise BadInput(
            "address must be the proposed e-mail address (and name, if given, text)", field="address"
        )
    person, linked = await accept_proposal(_ctx(request).graph, address, name=name)
    return json_response({"person": as_json(person), "messages_linked": linked}, status=201)


@route("POST", "/capture/proposals/dismiss", "Stop proposing a correspondent", body=("address",))
async def _dismiss(request: web.Request) -> web.Response:
    data = await read_json(request)
    address = data.get("address")
    if not isinstance(address, str):
        raise BadInput("address must be the proposed e-mail address", field="address")
    await dismiss_proposal(_ctx(request).graph, address)
    return json_response({"address": address, "status": "dismissed"})
