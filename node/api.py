"""The owner's HTTP API: JSON over aiohttp, bearer-token auth, described by the OpenAPI document it serves.

Each route here is declared once with ``route`` (node/api_declare.py): its parameters, body and answers, with
their schemas (node/api_bodies.py, node/api_schema.py). The router, the checks every request passes before its
handler runs, and ``/api/openapi.json`` all come from those declarations; tests keep document and router in step
and run schemathesis against a live node. Statuses come from the exception tree via node.http.error_middleware;
404 is the same for missing and forbidden.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from node.api_bodies import (
    CADENCE,
    CARD_LIST_FIELDS,
    CIRCLE,
    CIRCLE_NAME,
    DISCLOSURE,
    EXPORT_DOC,
    IDENTITY,
    LIMIT,
    NEW_CARD,
    NEW_PERSON,
    PAGING,
    PERSON_PROPS,
    PUBLISHED_TO,
)
from node.api_declare import (
    ACCOUNT,
    API_PREFIX,
    DECLARED,
    NO_CONTENT,
    ROUTES,
    SERVER,
    Reply,
    Route,
    account,
    add_api_fallback,
    body,
    created,
    declare,
    items_of,
    ok,
    openapi,
    route,
)
from node.api_schema import (
    RELATIONSHIP_TYPE,
    Param,
    date_text,
    integer,
    nullable,
    obj,
    page_of,
    ref,
    text,
    text_list,
)
from node.errors import BadInput
from node.federation_access import access
from node.graph import MAX_TEXT, Graph, iso
from node.http import json_error, json_response
from node.models import Page, as_json
from node.owner_card import CARD_FIELDS, get_card, get_disclosure, set_card, set_disclosure
from protocol.vocab import CHANNELS

__all__ = [
    "ACCOUNT",
    "API_PREFIX",
    "DECLARED",
    "ROUTES",
    "SERVER",
    "Reply",
    "Route",
    "account",
    "add_api_fallback",
    "auth_middleware",
    "body",
    "declare",
    "openapi",
    "route",
    "setup_api",
]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _graph(request: web.Request) -> Graph:
    graph: Graph = request[ACCOUNT].graph
    return graph


def _page_json(page: Page) -> dict[str, Any]:
    return {
        "items": as_json(page.items),
        "total": page.total,
        "offset": page.offset,
        "limit": page.limit,
        "next_offset": page.next_offset,
    }


def _q(request: web.Request, name: str) -> str | None:
    return request.query.get(name) or None


# -- people ----------------------------------------------------------------------------------------------------
_PERSON, _PEOPLE = ref("Person"), page_of(ref("Person"))
_404 = (404,)


@route(
    "GET",
    "/people",
    "List people (by tie strength unless order says otherwise)",
    query=(
        Param("status", {"type": "string", "enum": ["active", "archived"]}, "Which people (default active)"),
        CIRCLE,
        Param(
            "order",
            {"type": "string", "enum": ["strength", "name", "recent", "created"]},
            "Sort order (default strength)",
        ),
        *PAGING,
    ),
    replies=ok(_PEOPLE),
)
async def _list_people(request: web.Request) -> web.Response:
    page = await _graph(request).list_people(
        status=_q(request, "status") or "active",
        circle=_q(request, "circle"),
        order=_q(request, "order") or "strength",
        offset=_q(request, "offset"),
        limit=_q(request, "limit"),
    )
    return json_response(_page_json(page))


@route(
    "POST",
    "/people",
    "Create a person",
    body=NEW_PERSON,
    replies=created(_PERSON),
    errors=(409,),
    creates=("/people/{id}", "id"),
)
async def _create_person(request: web.Request) -> web.Response:
    person = await _graph(request).create_person(body(request))
    return json_response(as_json(person), status=201)


@route(
    "GET",
    "/people/{id}",
    "One person with identities, provenance and circles",
    replies=ok(_PERSON),
    errors=_404,
)
async def _get_person(request: web.Request) -> web.Response:
    return json_response(as_json(await _graph(request).get_person(request.match_info["id"])))


@route(
    "PATCH",
    "/people/{id}",
    "Update a person's fields",
    body=obj(PERSON_PROPS, description="The fields to change"),
    replies=ok(_PERSON),
    errors=_404,
)
async def _update_person(request: web.Request) -> web.Response:
    person = await _graph(request).update_person(request.match_info["id"], body(request))
    return json_response(as_json(person))


@route(
    "DELETE",
    "/people/{id}",
    "Delete a person and everything only they were part of",
    replies=NO_CONTENT,
    errors=_404,
)
async def _delete_person(request: web.Request) -> web.Response:
    await _graph(request).delete_person(request.match_info["id"])
    return web.Response(status=204)


@route(
    "POST",
    "/people/{id}/archive",
    "Archive a person (kept, but out of lists and due)",
    replies=ok(_PERSON),
    errors=_404,
)
async def _archive_person(request: web.Request) -> web.Response:
    return json_response(as_json(await _graph(request).archive(request.match_info["id"], True)))


@route("POST", "/people/{id}/unarchive", "Bring an archived person back", replies=ok(_PERSON), errors=_404)
async def _unarchive_person(request: web.Request) -> web.Response:
    return json_response(as_json(await _graph(request).archive(request.match_info["id"], False)))


@route(
    "POST",
    "/people/{id}/identities",
    "Attach an identity (409 if another person has it)",
    body=IDENTITY,
    replies=created(_PERSON),
    errors=(404, 409),
)
async def _add_identity(request: web.Request) -> web.Response:
    data = body(request)
    person = await _graph(request).add_identity(
        request.match_info["id"],
        data.get("uri"),
        kind=data.get("kind"),
        label=data.get("label"),
        verification=data.get("verification", "claimed"),
    )
    return json_response(as_json(person), status=201)


@route(
    "DELETE",
    "/people/{id}/identities",
    "Detach an identity",
    # 600 characters, percent-encoded, still fit the 8 KiB request line aiohttp reads (its 400 is not JSON).
    query=(Param("uri", text(600, nonblank=True), "The address to detach", required=True),),
    replies=ok(_PERSON),
    errors=_404,
)
async def _remove_identity(request: web.Request) -> web.Response:
    uri = _q(request, "uri")
    if uri is None:
        raise BadInput("uri is required", field="uri")
    return json_response(as_json(await _graph(request).remove_identity(request.match_info["id"], uri)))


@route(
    "GET",
    "/people/{id}/relationships",
    "A person's relationships",
    replies=ok(items_of(ref("Relationship"))),
    errors=_404,
)
async def _list_relationships(request: web.Request) -> web.Response:
    return json_response({"items": as_json(await _graph(request).relationships(request.match_info["id"]))})


@route(
    "POST",
    "/people/{id}/relationships",
    "Add a typed relationship",
    body=obj(
        {
            "type": RELATIONSHIP_TYPE,
            "direction": nullable({"type": "string", "enum": ["outgoing", "incoming", "mutual"]}),
            "since": nullable(date_text("a date like 2019-06-01")),
            "how_we_met": nullable(text(MAX_TEXT)),
            "other_person_id": nullable(text(100, nonblank=True)),
        },
        required=("type",),
    ),
    replies=created(ref("Relationship")),
    errors=_404,
    creates=("/relationships/{id}", "id"),
)
async def _add_relationship(request: web.Request) -> web.Response:
    rel = await _graph(request).add_relationship(request.match_info["id"], body(request))
    return json_response(as_json(rel), status=201)


@route("DELETE", "/relationships/{id}", "Delete a relationship", replies=NO_CONTENT, errors=_404)
async def _delete_relationship(request: web.Request) -> web.Response:
    await _graph(request).delete_relationship(request.match_info["id"])
    return web.Response(status=204)


@route(
    "GET",
    "/people/{id}/interactions",
    "A person's interaction timeline, newest first",
    query=PAGING,
    replies=ok(page_of(ref("Interaction"))),
    errors=_404,
)
async def _person_interactions(request: web.Request) -> web.Response:
    page = await _graph(request).interactions(
        request.match_info["id"], offset=_q(request, "offset"), limit=_q(request, "limit")
    )
    return json_response(_page_json(page))


@route("GET", "/people/{id}/notes", "A person's notes", replies=ok(items_of(ref("Note"))), errors=_404)
async def _list_notes(request: web.Request) -> web.Response:
    return json_response({"items": as_json(await _graph(request).notes(request.match_info["id"]))})


@route(
    "POST",
    "/people/{id}/notes",
    "Add a note",
    body=obj({"body": text(MAX_TEXT, nonblank=True)}, required=("body",)),
    replies=created(ref("Note")),
    errors=_404,
    creates=("/notes/{id}", "id"),
)
async def _add_note(request: web.Request) -> web.Response:
    return json_response(
        as_json(await _graph(request).add_note(request.match_info["id"], body(request)["body"])), 201
    )


@route("DELETE", "/notes/{id}", "Delete a note", replies=NO_CONTENT, errors=_404)
async def _delete_note(request: web.Request) -> web.Response:
    await _graph(request).delete_note(request.match_info["id"])
    return web.Response(status=204)


@route(
    "PUT",
    "/people/{id}/circles/{circle}",
    "Put a person in a circle (created if new)",
    params=(CIRCLE,),
    replies=ok(_PERSON),
    errors=_404,
)
async def _join_circle(request: web.Request) -> web.Response:
    person = await _graph(request).set_membership(
        request.match_info["id"], request.match_info["circle"], member=True
    )
    return json_response(as_json(person))


@route(
    "DELETE",
    "/people/{id}/circles/{circle}",
    "Take a person out of a circle",
    params=(CIRCLE,),
    replies=ok(_PERSON),
    errors=_404,
)
async def _leave_circle(request: web.Request) -> web.Response:
    person = await _graph(request).set_membership(
        request.match_info["id"], request.match_info["circle"], member=False
    )
    return json_response(as_json(person))


@route(
    "PUT",
    "/people/{id}/cadence",
    "Set a person's stay-in-touch cadence (null clears it)",
    body=obj({"cadence_days": CADENCE}, required=("cadence_days",)),
    replies=ok(_PERSON),
    errors=_404,
)
async def _person_cadence(request: web.Request) -> web.Response:
    days = body(request)["cadence_days"]
    return json_response(as_json(await _graph(request).set_person_cadence(request.match_info["id"], days)))


# -- interactions ----------------------------------------------------------------------------------------------
@route(
    "GET",
    "/interactions",
    "All interactions, newest first",
    query=PAGING,
    replies=ok(page_of(ref("Interaction"))),
)
async def _list_interactions(request: web.Request) -> web.Response:
    page = await _graph(request).interactions(None, offset=_q(request, "offset"), limit=_q(request, "limit"))
    return json_response(_page_json(page))


@route(
    "POST",
    "/interactions",
    "Log an interaction with one or more people",
    body=obj(
        {
            "people": {
                "anyOf": [
                    text(100, nonblank=True),
                    text_list(text(100, nonblank=True), max_items=1000) | {"minItems": 1},
                ],
                "description": "the people's ids",
            },
            "occurred_at": nullable(
                text(64, description="ISO-8601, like 2026-11-22T15:30:00Z; not in the future; default now")
            ),
            "channel": {"type": "string", "enum": list(CHANNELS)},
            "initiated_by": {"type": "string", "enum": ["owner", "them", "unknown"]},
            "summary": nullable(text(MAX_TEXT)),
        },
        required=("people",),
    ),
    replies=created(ref("Interaction")),
    errors=_404,
    creates=("/interactions/{id}", "id"),
)
async def _log_interaction(request: web.Request) -> web.Response:
    return json_response(as_json(await _graph(request).log_interaction(body(request))), status=201)


@route("DELETE", "/interactions/{id}", "Delete an interaction", replies=NO_CONTENT, errors=_404)
async def _delete_interaction(request: web.Request) -> web.Response:
    await _graph(request).delete_interaction(request.match_info["id"])
    return web.Response(status=204)


# -- circles ---------------------------------------------------------------------------------------------------
_CIRCLE_IN_PATH = (Param("name", CIRCLE_NAME, "A circle's name"),)


@route("GET", "/circles", "Circles with member counts and cadences", replies=ok(items_of(ref("Circle"))))
async def _list_circles(request: web.Request) -> web.Response:
    return json_response({"items": as_json(await _graph(request).circles())})


@route(
    "POST",
    "/circles",
    "Create a circle (or answer the existing one of that name)",
    body=obj({"name": CIRCLE_NAME, "cadence_days": CADENCE}, required=("name",)),
    replies=created(ref("Circle")),
    creates=("/circles/{name}", "name"),
)
async def _create_circle(request: web.Request) -> web.Response:
    data = body(request)
    circle = await _graph(request).create_circle(data["name"], data.get("cadence_days"))
    return json_response(as_json(circle), status=201)


@route(
    "PATCH",
    "/circles/{name}",
    "Set a circle's cadence",
    params=_CIRCLE_IN_PATH,
    body=obj({"cadence_days": CADENCE}, required=("cadence_days",)),
    replies=ok(ref("Circle")),
    errors=_404,
)
async def _circle_cadence(request: web.Request) -> web.Response:
    days = body(request)["cadence_days"]
    circle = await _graph(request).set_circle_cadence(request.match_info["name"], days)
    return json_response(as_json(circle))


@route(
    "DELETE",
    "/circles/{name}",
    "Delete a circle (its people stay)",
    params=_CIRCLE_IN_PATH,
    replies=NO_CONTENT,
    errors=_404,
)
async def _delete_circle(request: web.Request) -> web.Response:
    await _graph(request).delete_circle(request.match_info["name"])
    return web.Response(status=204)


# -- stay in touch, search -------------------------------------------------------------------------------------
@route(
    "GET",
    "/due",
    "People due for a message (overdue or due within N days), most overdue first",
    query=(
        Param("within_days", integer(0, 3650), "Also those due within this many days (default 0)"),
        *PAGING,
    ),
    replies=ok(page_of(ref("DueEntry"))),
)
async def _due(request: web.Request) -> web.Response:
    page = await _graph(request).due(
        within_days=_q(request, "within_days") or 0, offset=_q(request, "offset"), limit=_q(request, "limit")
    )
    return json_response(_page_json(page))


@route(
    "GET",
    "/fading",
    "Relationships tapering off against their own past rate",
    query=(LIMIT,),
    replies=ok(items_of(ref("FadingEntry"))),
)
async def _fading(request: web.Request) -> web.Response:
    return json_response({"items": as_json(await _graph(request).fading(limit=_q(request, "limit")))})


@route(
    "GET",
    "/layers",
    "Dunbar layers by cadence, with over-budget warnings",
    replies=ok(items_of(ref("LayerReport"))),
)
async def _layers(request: web.Request) -> web.Response:
    return json_response({"items": as_json(await _graph(request).layers())})


@route(
    "GET",
    "/search",
    "Full-text search with prefix matching, ranked",
    query=(
        Param("q", text(500, nonblank=True), "The words to look for", required=True),
        CIRCLE,
        Param("due_within_days", integer(0, 3650), "Only people due within this many days"),
        Param("archived", {"type": "string", "enum": ["0", "1", "true", "false"]}, "Include archived people"),
        *PAGING,
    ),
    replies=ok(_PEOPLE),
)
async def _search(request: web.Request) -> web.Response:
    page = await _graph(request).search(
        request.query.get("q", ""),
        circle=_q(request, "circle"),
        due_within_days=_q(request, "due_within_days"),
        include_archived=request.query.get("archived") in ("1", "true"),
        offset=_q(request, "offset"),
        limit=_q(request, "limit"),
    )
    return json_response(_page_json(page))


# -- merges ----------------------------------------------------------------------------------------------------
_MERGE = ref("MergeRecord")


@route(
    "POST",
    "/merges",
    "Merge two people (evidence and decision recorded)",
    body=obj(
        {
            "survivor": text(100, nonblank=True, description="the id of the person who stays"),
            "merged": text(100, nonblank=True, description="the id of the person merged into the survivor"),
            "reason": nullable(text(500)),
        },
        required=("survivor", "merged"),
    ),
    replies=created(_MERGE),
    errors=(404, 409),
    creates=("/merges/{id}", "id"),
)
async def _merge(request: web.Request) -> web.Response:
    data = body(request)
    reason = data.get("reason")
    evidence = [{"kind": "owner", "detail": str(reason)[:500]}] if reason else ()
    record = await _graph(request).merge(data["survivor"], data["merged"], evidence=evidence)
    return json_response(as_json(record), status=201)


@route(
    "GET",
    "/merges",
    "Merge history",
    query=(Param("person", text(100, nonblank=True), "Only merges this person was part of"),),
    replies=ok(items_of(_MERGE)),
    errors=_404,
)
async def _list_merges(request: web.Request) -> web.Response:
    return json_response({"items": as_json(await _graph(request).merges(_q(request, "person")))})


@route(
    "POST",
    "/merges/{id}/undo",
    "Undo a merge, restoring both people exactly",
    replies=ok(_MERGE),
    errors=(404, 409),
)
async def _unmerge(request: web.Request) -> web.Response:
    return json_response(as_json(await _graph(request).unmerge(request.match_info["id"])))


@route(
    "POST",
    "/suggestions/refresh",
    "Look for probable duplicates and store suggestions",
    replies=ok(obj({"new": {"type": "integer", "minimum": 0}}, required=("new",))),
)
async def _refresh_suggestions(request: web.Request) -> web.Response:
    return json_response({"new": await _graph(request).suggest_merges()})


@route(
    "GET",
    "/suggestions",
    "Merge suggestions with evidence and tier",
    query=(
        Param("status", {"type": "string", "enum": ["open", "merged", "dismissed"]}, "Default open"),
        *PAGING,
    ),
    replies=ok(page_of(ref("MergeSuggestion"))),
)
async def _list_suggestions(request: web.Request) -> web.Response:
    page = await _graph(request).suggestions(
        status=_q(request, "status") or "open", offset=_q(request, "offset"), limit=_q(request, "limit")
    )
    return json_response(_page_json(page))


@route(
    "POST",
    "/suggestions/{id}/accept",
    "Merge the pair a suggestion names",
    replies=created(_MERGE),
    errors=(404, 409),
)
async def _accept_suggestion(request: web.Request) -> web.Response:
    return json_response(
        as_json(await _graph(request).accept_suggestion(request.match_info["id"])), status=201
    )


@route("POST", "/suggestions/{id}/dismiss", "Dismiss a suggestion", replies=NO_CONTENT, errors=_404)
async def _dismiss_suggestion(request: web.Request) -> web.Response:
    await _graph(request).dismiss_suggestion(request.match_info["id"])
    return web.Response(status=204)


# -- the owner's card ------------------------------------------------------------------------------------------
async def _publish_card(request: web.Request) -> int | None:
    """Send the changed card to the peers allowed to see it, when this node federates (the change and its
    version were saved together: a failure here is repaired by federation's own retry, node/owner_card.py)."""
    return await access(request).publish_card(request[ACCOUNT].name)


_STORED_CARD = obj(
    {
        f: {"type": "array", "items": {"type": "string"}} if f in CARD_LIST_FIELDS else {"type": "string"}
        for f in CARD_FIELDS
    },
    description="The owner's card as stored (addresses normalised)",
)
_STORED_RULES = obj(
    {f: {"type": "array", "items": {"type": "string"}} for f in CARD_FIELDS},
    description="Per card field, the circles that may see it ('*': every peer)",
)


@route(
    "GET",
    "/card",
    "The owner's profile card and what each circle may see of it",
    replies=ok(obj({"card": _STORED_CARD, "disclosure": _STORED_RULES}, required=("card", "disclosure"))),
)
async def _get_card(request: web.Request) -> web.Response:
    store = request[ACCOUNT].store
    return json_response({"card": await get_card(store), "disclosure": await get_disclosure(store)})


@route(
    "PUT",
    "/card",
    "Replace the owner's card (sent to the peers allowed to see it)",
    body=NEW_CARD,
    replies=ok(obj({"card": _STORED_CARD, "published_to": PUBLISHED_TO}, required=("card", "published_to"))),
)
async def _put_card(request: web.Request) -> web.Response:
    card = await set_card(request[ACCOUNT].store, body(request))
    return json_response({"card": card, "published_to": await _publish_card(request)})


@route(
    "PUT",
    "/card/disclosure",
    "Which circles may see each card field ('*': every peer); fields left out are seen by nobody",
    body=DISCLOSURE,
    replies=ok(
        obj(
            {"disclosure": _STORED_RULES, "published_to": PUBLISHED_TO},
            required=("disclosure", "published_to"),
        )
    ),
)
async def _put_disclosure(request: web.Request) -> web.Response:
    rules = await set_disclosure(request[ACCOUNT].store, body(request))
    return json_response({"disclosure": rules, "published_to": await _publish_card(request)})


# -- blocks, export, backup ------------------------------------------------------------------------------------
@route(
    "GET",
    "/blocks",
    "Blocked addresses",
    replies=ok(
        items_of(
            obj(
                {"uri": {"type": "string"}, "source": {"type": "string"}, "created_at": {"type": "string"}},
                required=("uri", "source", "created_at"),
            )
        )
    ),
)
async def _list_blocks(request: web.Request) -> web.Response:
    rows = await _graph(request).blocked()
    return json_response({"items": [as_json(b) for b in rows]})


@route(
    "GET",
    "/export",
    "Export the whole graph (format=json), or people as vCard 4.0 (format=vcard) or CSV (format=csv)",
    query=(Param("format", {"type": "string", "enum": ["json", "vcard", "csv"]}, "Default json"),),
    replies={200: Reply(EXPORT_DOC, "The export", media=("application/json", "text/vcard", "text/csv"))},
)
async def _export(request: web.Request) -> web.StreamResponse:
    from node.exporting import people_csv, vcards

    fmt = request.query.get("format", "json")
    graph = _graph(request)
    if fmt == "json":
        return json_response(await graph.export_json())
    if fmt == "vcard":
        return web.Response(text=await vcards(graph), content_type="text/vcard", charset="utf-8")
    if fmt == "csv":
        return web.Response(text=await people_csv(graph), content_type="text/csv", charset="utf-8")
    raise BadInput("format must be json, vcard or csv", field="format")


@route(
    "POST",
    "/import/json",
    "Import a Kith JSON export into this (empty) node",
    body=EXPORT_DOC,
    replies=created(
        obj(
            {"imported": {"type": "object", "additionalProperties": {"type": "integer"}}},
            required=("imported",),
            description="Rows imported per table",
        )
    ),
    errors=(409,),
)
async def _import_json(request: web.Request) -> web.Response:
    counts = await _graph(request).import_json(body(request))
    # federation keeps the account's blocks in memory a little while: the restored ones apply from now on
    access(request).forget_blocks(request[ACCOUNT].name)
    return json_response({"imported": counts}, status=201)


@route(
    "POST",
    "/backup",
    "Online backup of the database into the data folder's backups/",
    replies=created(
        obj(
            {"path": {"type": "string"}, "bytes": {"type": "integer", "minimum": 0}},
            required=("path", "bytes"),
        )
    ),
)
async def _backup(request: web.Request) -> web.Response:
    ctx = request[ACCOUNT]
    stamp = iso(ctx.graph.clock()).replace(":", "").replace("-", "")
    dest = ctx.config.data_dir / "backups" / f"{ctx.name}-{stamp}{ctx.store.backup_suffix}"
    await ctx.store.backup(dest)
    return json_response({"path": str(dest), "bytes": dest.stat().st_size}, status=201)


@route(
    "GET",
    "/health",
    "Liveness (no auth)",
    public=True,
    replies=ok(obj({"status": {"const": "ok"}}, required=("status",))),
)
async def _health(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@route(
    "GET",
    "/openapi.json",
    "This document (no auth)",
    public=True,
    replies=ok({"type": "object", "description": "OpenAPI 3.1"}),
)
async def _openapi_doc(request: web.Request) -> web.Response:
    return json_response(openapi(request.app))


@web.middleware
async def auth_middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """The owner token names the account the request acts for; every non-public API route needs one."""
    if request.path.startswith(API_PREFIX + "/") and request.path not in _PUBLIC:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        server = request.app[SERVER]
        row = (
            await server.account_for_token(token.strip())
            if hmac.compare_digest(scheme.lower(), "bearer") and token.strip() and len(token) < 200
            else None
        )
        if row is None:
            resp = json_error(
                401,
                "missing or wrong owner token: send 'Authorization: Bearer <token>' (see `kith token show`)",
            )
            resp.headers["WWW-Authenticate"] = 'Bearer realm="kith"'
            return resp
        async with server.borrow(row) as ctx:
            request[ACCOUNT] = ctx
            return await handler(request)
    return await handler(request)


_PUBLIC = {r.path for r in ROUTES if r.public}


def setup_api(app: web.Application) -> None:
    for r in ROUTES:
        app.router.add_route(r.method, r.path, r.handler)
