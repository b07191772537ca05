"""The owner's HTTP API: JSON over aiohttp, bearer-token auth, described by the OpenAPI document it serves.

Routes are declared once in ``ROUTES`` (method, path, handler, summary, parameters); the aiohttp router and
``/api/openapi.json`` are both built from that table, and a test keeps them in step. Status codes come from the
exception tree via node.http.error_middleware; 404 is the same for missing and forbidden.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from node.errors import BadInput, NotFound
from node.graph import Graph, iso
from node.http import json_error, json_response, read_json
from node.models import Page, as_json
from node.owner_card import CARD_FIELDS, get_card, get_disclosure, set_card, set_disclosure

__all__ = [
    "API_PREFIX",
    "CONTEXT",
    "ROUTES",
    "Route",
    "add_api_fallback",
    "auth_middleware",
    "openapi",
    "route",
    "setup_api",
]

API_PREFIX = "/api"
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CONTEXT: web.AppKey[Any] = web.AppKey("kith_context", object)


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: _Handler
    summary: str
    query: tuple[str, ...] = ()
    body: tuple[str, ...] = ()
    public: bool = False


ROUTES: list[Route] = []


def route(
    method: str,
    path: str,
    summary: str,
    *,
    query: tuple[str, ...] = (),
    body: tuple[str, ...] = (),
    public: bool = False,
) -> Callable[[_Handler], _Handler]:
    """Declare a route under API_PREFIX in ROUTES, from which the router and the OpenAPI document are built."""

    def deco(fn: _Handler) -> _Handler:
        ROUTES.append(Route(method, API_PREFIX + path, fn, summary, query, body, public))
        return fn

    return deco


def _graph(request: web.Request) -> Graph:
    graph: Graph = request.app[CONTEXT].graph
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
@route(
    "GET",
    "/people",
    "List people (by tie strength unless order says otherwise)",
    query=("status", "circle", "order", "offset", "limit"),
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


@route("POST", "/people", "Create a person", body=("display_name", "identities", "organization", "..."))
async def _create_person(request: web.Request) -> web.Response:
    person = await _graph(request).create_person(await read_json(request))
    return json_response(as_json(person), status=201)


@route("GET", "/people/{id}", "One person with identities, provenance and circles")
async def _get_person(request: web.Request) -> web.Response:
    return json_response(as_json(await _graph(request).get_person(request.match_info["id"])))


@route("PATCH", "/people/{id}", "Update a person's fields", body=("display_name", "organization", "..."))
async def _update_person(request: web.Request) -> web.Response:
    person = await _graph(request).update_person(request.match_info["id"], await read_json(request))
    return json_response(as_json(person))


@route("DELETE", "/people/{id}", "Delete a person and everything only they were part of")
async def _delete_person(request: web.Request) -> web.Response:
    await _graph(request).delete_person(request.match_info["id"])
    return web.Response(status=204)


@route("POST", "/people/{id}/archive", "Archive a person (kept, but out of lists and due)")
async def _archive_person(request: web.Request) -> web.Response:
    return json_response(as_json(await _graph(request).archive(request.match_info["id"], True)))


@route("POST", "/people/{id}/unarchive", "Bring an archived person back")
async def _unarchive_person(request: web.Request) -> web.Response:
    return json_response(as_json(await _graph(request).archive(request.match_info["id"], False)))


@route(
    "POST",
    "/people/{id}/identities",
    "Attach an identity (409 if another person has it)",
    body=("uri", "kind", "label", "verification"),
)
async def _add_identity(request: web.Request) -> web.Response:
    data = await read_json(request)
    person = await _graph(request).add_identity(
        request.match_info["id"],
        data.get("uri"),
        kind=data.get("kind"),
        label=data.get("label"),
        verification=data.get("verification", "claimed"),
    )
    return json_response(as_json(person), status=201)


@route("DELETE", "/people/{id}/identities", "Detach an identity", query=("uri",))
async def _remove_identity(request: web.Request) -> web.Response:
    uri = _q(request, "uri")
    if uri is None:
        raise BadInput("uri is required", field="uri")
    return json_response(as_json(await _graph(request).remove_identity(request.match_info["id"], uri)))


@route("GET", "/people/{id}/relationships", "A person's relationships")
async def _list_relationships(request: web.Request) -> web.Response:
    return json_response({"items": as_json(await _graph(request).relationships(request.match_info["id"]))})


@route(
    "POST",
    "/people/{id}/relationships",
    "Add a typed relationship",
    body=("type", "direction", "since", "how_we_met", "other_person_id"),
)
async def _add_relationship(request: web.Request) -> web.Response:
    rel = await _graph(request).add_relationship(request.match_info["id"], await read_json(request))
    return json_response(as_json(rel), status=201)


@route("DELETE", "/relationships/{id}", "Delete a relationship")
async def _delete_relationship(request: web.Request) -> web.Response:
    await _graph(request).delete_relationship(request.match_info["id"])
    return web.Response(status=204)


@route(
    "GET",
    "/people/{id}/interactions",
    "A person's interaction timeline, newest first",
    query=("offset", "limit"),
)
async def _person_interactions(request: web.Request) -> web.Response:
    page = await _graph(request).interactions(
        request.match_info["id"], offset=_q(request, "offset"), limit=_q(request, "limit")
    )
    return json_response(_page_json(page))


@route("GET", "/people/{id}/notes", "A person's notes")
async def _list_notes(request: web.Request) -> web.Response:
    return json_response({"items": as_json(await _graph(request).notes(request.match_info["id"]))})


@route("POST", "/people/{id}/notes", "Add a note", body=("body",))
async def _add_note(request: web.Request) -> web.Response:
    data = await read_json(request)
    return json_response(
        as_json(await _graph(request).add_note(request.match_info["id"], data.get("body"))), 201
    )


@route("DELETE", "/notes/{id}", "Delete a note")
async def _delete_note(request: web.Request) -> web.Response:
    await _graph(request).delete_note(request.match_info["id"])
    return web.Response(status=204)


@route("PUT", "/people/{id}/circles/{circle}", "Put a person in a circle (created if new)")
async def _join_circle(request: web.Request) -> web.Response:
    person = await _graph(request).set_membership(
        request.match_info["id"], request.match_info["circle"], member=True
    )
    return json_response(as_json(person))


@route("DELETE", "/people/{id}/circles/{circle}", "Take a person out of a circle")
async def _leave_circle(request: web.Request) -> web.Response:
    person = await _graph(request).set_membership(
        request.match_info["id"], request.match_info["circle"], member=False
    )
    return json_response(as_json(person))


@route(
    "PUT",
    "/people/{id}/cadence",
    "Set a person's stay-in-touch cadence (null clears it)",
    body=("cadence_days",),
)
async def _person_cadence(request: web.Request) -> web.Response:
    data = await read_json(request)
    if "cadence_days" not in data:
        raise BadInput("cadence_days is required (a number of days, or null to clear)", field="cadence_days")
    return json_response(
        as_json(await _graph(request).set_person_cadence(request.match_info["id"], data["cadence_days"]))
    )


# -- interactions ----------------------------------------------------------------------------------------------
@route("GET", "/interactions", "All interactions, newest first", query=("offset", "limit"))
async def _list_interactions(request: web.Request) -> web.Response:
    page = await _graph(request).interactions(None, offset=_q(request, "offset"), limit=_q(request, "limit"))
    return json_response(_page_json(page))


@route(
    "POST",
    "/interactions",
    "Log an interaction with one or more people",
    body=("people", "occurred_at", "channel", "initiated_by", "summary"),
)
async def _log_interaction(request: web.Request) -> web.Response:
    return json_response(as_json(await _graph(request).log_interaction(await read_json(request))), status=201)


@route("DELETE", "/interactions/{id}", "Delete an interaction")
async def _delete_interaction(request: web.Request) -> web.Response:
    await _graph(request).delete_interaction(request.match_info["id"])
    return web.Response(status=204)


# -- circles ---------------------------------------------------------------------------------------------------
@route("GET", "/circles", "Circles with member counts and cadences")
async def _list_circles(request: web.Request) -> web.Response:
    return json_response({"items": as_json(await _graph(request).circles())})


@route("POST", "/circles", "Create a circle", body=("name", "cadence_days"))
async def _create_circle(request: web.Request) -> web.Response:
    data = await read_json(request)
    circle = await _graph(request).create_circle(data.get("name"), data.get("cadence_days"))
    return json_response(as_json(circle), status=201)


@route("PATCH", "/circles/{name}", "Set a circle's cadence", body=("cadence_days",))
async def _circle_cadence(request: web.Request) -> web.Response:
    data = await read_json(request)
    circle = await _graph(request).set_circle_cadence(request.match_info["name"], data.get("cadence_days"))
    return json_response(as_json(circle))


@route("DELETE", "/circles/{name}", "Delete a circle (its people stay)")
async def _delete_circle(request: web.Request) -> web.Response:
    await _graph(request).delete_circle(request.match_info["name"])
    return web.Response(status=204)


# -- stay in touch, search -------------------------------------------------------------------------------------
@route(
    "GET",
    "/due",
    "People due for a message (overdue or due within N days), most overdue first",
    query=("within_days", "offset", "limit"),
)
async def _due(request: web.Request) -> web.Response:
    page = await _graph(request).due(
        within_days=_q(request, "within_days") or 0, offset=_q(request, "offset"), limit=_q(request, "limit")
    )
    return json_response(_page_json(page))


@route("GET", "/fading", "Relationships tapering off against their own past rate", query=("limit",))
async def _fading(request: web.Request) -> web.Response:
    return json_response({"items": as_json(await _graph(request).fading(limit=_q(request, "limit")))})


@route("GET", "/layers", "Dunbar layers by cadence, with over-budget warnings")
async def _layers(request: web.Request) -> web.Response:
    return json_response({"items": as_json(await _graph(request).layers())})


@route(
    "GET",
    "/search",
    "Full-text search with prefix matching, ranked",
    query=("q", "circle", "due_within_days", "archived", "offset", "limit"),
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
@route(
    "POST",
    "/merges",
    "Merge two people (evidence and decision recorded)",
    body=("survivor", "merged", "reason"),
)
async def _merge(request: web.Request) -> web.Response:
    data = await read_json(request)
    for name in ("survivor", "merged"):
        if not isinstance(data.get(name), str):
            raise BadInput(f"{name} must be a person id", field=name)
    reason = data.get("reason")
    evidence = [{"kind": "owner", "detail": str(reason)[:500]}] if reason else ()
    record = await _graph(request).merge(data["survivor"], data["merged"], evidence=evidence)
    return json_response(as_json(record), status=201)


@route("GET", "/merges", "Merge history", query=("person",))
async def _list_merges(request: web.Request) -> web.Response:
    return json_response({"items": as_json(await _graph(request).merges(_q(request, "person")))})


@route("POST", "/merges/{id}/undo", "Undo a merge, restoring both people exactly")
async def _unmerge(request: web.Request) -> web.Response:
    return json_response(as_json(await _graph(request).unmerge(request.match_info["id"])))


@route("POST", "/suggestions/refresh", "Look for probable duplicates and store suggestions")
async def _refresh_suggestions(request: web.Request) -> web.Response:
    return json_response({"new": await _graph(request).suggest_merges()})


@route("GET", "/suggestions", "Merge suggestions with evidence and tier", query=("status", "offset", "limit"))
async def _list_suggestions(request: web.Request) -> web.Response:
    page = await _graph(request).suggestions(
        status=_q(request, "status") or "open", offset=_q(request, "offset"), limit=_q(request, "limit")
    )
    return json_response(_page_json(page))


@route("POST", "/suggestions/{id}/accept", "Merge the pair a suggestion names")
async def _accept_suggestion(request: web.Request) -> web.Response:
    return json_response(
        as_json(await _graph(request).accept_suggestion(request.match_info["id"])), status=201
    )


@route("POST", "/suggestions/{id}/dismiss", "Dismiss a suggestion")
async def _dismiss_suggestion(request: web.Request) -> web.Response:
    await _graph(request).dismiss_suggestion(request.match_info["id"])
    return web.Response(status=204)


# -- the owner's card ------------------------------------------------------------------------------------------
async def _publish_card(request: web.Request) -> int | None:
    """Send the changed card to the peers allowed to see it, when this node federates."""
    try:
        from federation import FEDERATION, kith
    except ImportError:
        return None
    fed = request.app.get(FEDERATION)
    if fed is None:
        return None
    peers: int = await kith.publish_card(fed)
    return peers


@route("GET", "/card", "The owner's profile card and what each circle may see of it")
async def _get_card(request: web.Request) -> web.Response:
    store = request.app[CONTEXT].store
    return json_response({"card": await get_card(store), "disclosure": await get_disclosure(store)})


@route("PUT", "/card", "Replace the owner's card (sent to the peers allowed to see it)", body=CARD_FIELDS)
async def _put_card(request: web.Request) -> web.Response:
    card = await set_card(request.app[CONTEXT].store, await read_json(request))
    return json_response({"card": card, "published_to": await _publish_card(request)})


@route("PUT", "/card/disclosure", "Which circles may see each card field ('*': every peer)", body=CARD_FIELDS)
async def _put_disclosure(request: web.Request) -> web.Response:
    data = await read_json(request)
    for field, circles in data.items():
        if not isinstance(circles, list) or not all(isinstance(c, str) for c in circles):
            raise BadInput(f"{field} must list circle names", field=field)
    rules = await set_disclosure(request.app[CONTEXT].store, data)
    return json_response({"disclosure": rules, "published_to": await _publish_card(request)})


# -- blocks, export, backup ------------------------------------------------------------------------------------
@route("GET", "/blocks", "Blocked addresses")
async def _list_blocks(request: web.Request) -> web.Response:
    rows = await _graph(request).blocked()
    return json_response({"items": [{"uri": u, "source": s, "created_at": c} for u, s, c in rows]})


@route(
    "GET",
    "/export",
    "Export the whole graph (format=json), or people as vCard 4.0 (format=vcard) or CSV (format=csv)",
    query=("format",),
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


@route("POST", "/import/json", "Import a Kith JSON export into this (empty) node")
async def _import_json(request: web.Request) -> web.Response:
    counts = await _graph(request).import_json(await read_json(request))
    try:  # federation keeps the blocks in memory: the restored ones must apply from now on
        from federation import FEDERATION
    except ImportError:
        pass
    else:
        fed = request.app.get(FEDERATION)
        if fed is not None:
            fed.store.forget_blocks()
    return json_response({"imported": counts}, status=201)


@route("POST", "/backup", "Online backup of the database into the data folder's backups/")
async def _backup(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    stamp = iso(ctx.graph.clock()).replace(":", "").replace("-", "")
    dest = ctx.config.data_dir / "backups" / f"kith-{stamp}.sqlite3"
    await ctx.db.backup(dest)
    return json_response({"path": str(dest), "bytes": dest.stat().st_size}, status=201)


@route("GET", "/health", "Liveness (no auth)", public=True)
async def _health(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@route("GET", "/openapi.json", "This document (no auth)", public=True)
async def _openapi_doc(request: web.Request) -> web.Response:
    return json_response(openapi(request.app))


def _served_routes(app: web.Application) -> list[Route]:
    """Every /api route the router serves, with the table's metadata where the table has it, so routes that
    other packages add (federation, imports) are documented too."""
    meta = {(r.method, r.path): r for r in ROUTES}
    out: list[Route] = []
    for resource_route in app.router.routes():
        info = resource_route.resource.get_info() if resource_route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        method = resource_route.method
        if not path or not path.startswith(API_PREFIX + "/") or "{tail" in path or method in ("HEAD", "*"):
            continue
        known = meta.get((method, path))
        if known is None:
            doc = (resource_route.handler.__doc__ or "").strip()
            summary = doc.splitlines()[0] if doc else f"{method} {path}"
            known = Route(method, path, resource_route.handler, summary)
        out.append(known)
    return out


def openapi(app: web.Application) -> dict[str, Any]:
    """OpenAPI 3.1 of the routes the application actually serves under /api."""
    paths: dict[str, Any] = {}
    for r in _served_routes(app):
        params: list[dict[str, Any]] = []
        for part in r.path.split("/"):
            if part.startswith("{"):
                params.append(
                    {"name": part[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
                )
        params += [
            {"name": q, "in": "query", "required": q == "q", "schema": {"type": "string"}} for q in r.query
        ]
        op: dict[str, Any] = {
            "summary": r.summary,
            "operationId": r.handler.__name__.lstrip("_"),
            "parameters": params,
            "responses": {
                "200": {"description": "OK"},
                "400": {"$ref": "#/components/responses/Error"},
                "401": {"$ref": "#/components/responses/Error"},
                "404": {"$ref": "#/components/responses/Error"},
            },
        }
        if r.body:
            op["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {b: {} for b in r.body if b != "..."},
                            "additionalProperties": "..." in r.body,
                        }
                    }
                },
            }
        if r.public:
            op["security"] = []
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Kith owner API", "version": "1"},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {
                "Error": {
                    "description": "An error: {error: {status, message, field?}}",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        },
    }


@web.middleware
async def auth_middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    if request.path.startswith(API_PREFIX + "/") and request.path not in _PUBLIC:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        ctx = request.app[CONTEXT]
        if not (
            hmac.compare_digest(scheme.lower(), "bearer") and token and await ctx.tokens.check(token.strip())
        ):
            resp = json_error(
                401,
                "missing or wrong owner token: send 'Authorization: Bearer <token>' (see `kith token show`)",
            )
            resp.headers["WWW-Authenticate"] = 'Bearer realm="kith"'
            return resp
    return await handler(request)


_PUBLIC = {r.path for r in ROUTES if r.public}


def setup_api(app: web.Application) -> None:
    for r in ROUTES:
        app.router.add_route(r.method, r.path, r.handler)


def add_api_fallback(app: web.Application) -> None:
    """A JSON 404 for every other /api path; added last, after other packages' routes."""

    async def not_found(request: web.Request) -> web.Response:
        raise NotFound(f"no API route {request.method} {request.path}")

    app.router.add_route("*", API_PREFIX + "/{tail:.*}", not_found)
