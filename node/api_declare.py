"""How the owner API's routes are declared, and what is built from the declarations.

A route is declared once: method, path, summary, the schemas of its query and path parameters and of its request
body, and every answer it gives with the schema of its body. From that one declaration come the handler that is
served (it checks the request against those schemas before the route's own code runs, so the document cannot
promise what is not enforced), the router entry, and the route's part of ``/api/openapi.json``. Errors the
checks raise are node.errors, turned into statuses in one place (node.http, docs/ARCHITECTURE.md §3.4).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import hdrs, web
from aiohttp.helpers import parse_mimetype
from aiohttp.http_exceptions import HttpProcessingError

from node.api_schema import COMPONENTS, ERROR_STATUSES, Param, Schema, Validator, obj, query_value, ref
from node.context import AccountContext
from node.errors import BadInput, NotFound
from node.http import json_error, read_json
from node.server import Server

__all__ = [
    "ACCOUNT",
    "API_PREFIX",
    "DECLARED",
    "NO_CONTENT",
    "ROUTES",
    "SERVER",
    "Reply",
    "Route",
    "account",
    "add_api_fallback",
    "body",
    "created",
    "declare",
    "items_of",
    "ok",
    "openapi",
    "route",
]

API_PREFIX = "/api"
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: The server this application serves, and the account a request acts for (set by node.api's auth_middleware
#: from the token: a token names exactly one account, and nothing in a handler takes the account from anywhere
#: else).
SERVER: web.AppKey[Server] = web.AppKey("kith_server", Server)
ACCOUNT: web.RequestKey[AccountContext] = web.RequestKey("kith_account", AccountContext)


def account(request: web.Request) -> AccountContext:
    return request[ACCOUNT]


_BODY: web.RequestKey[dict[str, Any]] = web.RequestKey("kith_api_body", dict)


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer of a route: its status's meaning and body (``schema`` None: no body)."""

    schema: Schema | None
    description: str = "OK"
    media: tuple[str, ...] = ("application/json",)


@dataclass(frozen=True, slots=True)
class Route:
    """One declared route. ``handler`` is what the router serves: the route's code behind the checks."""

    method: str
    path: str
    handler: _Handler
    summary: str
    name: str
    replies: Mapping[int, Reply]
    errors: tuple[int, ...] = ()
    query: tuple[Param, ...] = ()
    params: tuple[Param, ...] = ()  # path parameters with constraints; the others are any non-empty text
    body: Schema | None = None
    body_required: bool = True
    multipart: Schema | None = None  # also accepted as multipart/form-data (streamed by the handler itself)
    public: bool = False
    # What the success answer makes: (path prefix, body member) when its body's member names the thing the
    # routes under that prefix act on, e.g. ("/api/people/{id}", "id"). Becomes OpenAPI links, which clients
    # (and schemathesis's stateful phase) follow from the created thing to the routes that use it.
    creates: tuple[str, str] | None = None
    declared: bool = True

    def statuses(self) -> dict[int, Reply]:
        """Every status this route answers, with the errors implied by what it reads."""
        out = dict(self.replies)
        implied = set(self.errors)
        if not self.public:
            implied.add(401)
        if self.query or self.params or self.body is not None or self.multipart is not None:
            implied.add(400)
        if self.body is not None or self.multipart is not None:
            implied.add(413)
        for status in sorted(implied):
            out[status] = Reply(ref("Error"), ERROR_STATUSES[status])
        return dict(sorted(out.items()))


#: The routes of node/api.py and node/api_import.py, registered by ``setup_api``.
ROUTES: list[Route] = []
#: Every declared route by (method, path), whoever serves it: the OpenAPI document describes them from here.
DECLARED: dict[tuple[str, str], Route] = {}


def body(request: web.Request) -> dict[str, Any]:
    """The request's JSON body, already checked against the route's schema."""
    return request.get(_BODY) or {}


def _checked(r: Route, fn: _Handler) -> _Handler:
    """``fn`` behind the checks of its declaration: path segments, query, then the body."""
    body_check = Validator(r.body) if r.body is not None else None
    query_checks = {
        p.name: Validator(p.schema, where=f"query parameter {p.name}", field=p.name) for p in r.query
    }
    param_checks = {
        p.name: Validator(p.schema, where=f"path segment {p.name}", field=p.name) for p in r.params
    }

    async def handler(request: web.Request) -> web.StreamResponse:
        for name, check in param_checks.items():
            check.check(request.match_info[name])
        for p in r.query:
            raw = request.query.get(p.name)
            if raw is None:
                if p.required:
                    raise BadInput(f"the query parameter {p.name} is required", field=p.name)
                continue
            query_checks[p.name].check(query_value(p, raw))
        multipart = r.multipart is not None and request.content_type.startswith("multipart/")
        if multipart:
            if not parse_mimetype(request.headers.get(hdrs.CONTENT_TYPE, "")).parameters.get("boundary"):
                raise BadInput("a multipart body needs a boundary in its Content-Type (RFC 2046 §5.1.1)")
            try:  # the handler streams the parts itself; a part it cannot parse is the client's error
                return await fn(request)
            except HttpProcessingError as exc:
                raise BadInput(f"the multipart body is malformed ({exc.message}); nothing was kept") from None
        if body_check is not None:
            # An empty body is no body: it must not pass for {} where the route needs one (an empty PUT of the
            # disclosure rules once cleared them all).
            if not await request.read():
                if r.body_required:
                    raise BadInput("this route needs a JSON object as its request body; nothing was changed")
                data: dict[str, Any] = {}
            else:
                data = await read_json(request)
            body_check.check(data)
            request[_BODY] = data
        return await fn(request)

    handler.__name__ = fn.__name__
    handler.__doc__ = fn.__doc__
    return handler


def declare(
    method: str,
    path: str,
    summary: str,
    fn: _Handler,
    *,
    replies: Mapping[int, Reply],
    errors: tuple[int, ...] = (),
    query: tuple[Param, ...] = (),
    params: tuple[Param, ...] = (),
    body: Schema | None = None,
    body_required: bool = True,
    multipart: Schema | None = None,
    public: bool = False,
    name: str | None = None,
    creates: tuple[str, str] | None = None,
) -> Route:
    """Declare a route at the absolute ``path``; the returned Route's handler is the one to serve."""
    meta = Route(
        method=method,
        path=path,
        handler=fn,
        summary=summary,
        name=name or fn.__name__.lstrip("_"),
        replies=replies,
        errors=errors,
        query=query,
        params=params,
        body=body,
        body_required=body_required,
        multipart=multipart,
        public=public,
        creates=creates,
    )
    served = dataclasses.replace(meta, handler=_checked(meta, fn))
    DECLARED[(method, path)] = served
    return served


def route(
    method: str,
    path: str,
    summary: str,
    *,
    replies: Mapping[int, Reply],
    errors: tuple[int, ...] = (),
    query: tuple[Param, ...] = (),
    params: tuple[Param, ...] = (),
    body: Schema | None = None,
    body_required: bool = True,
    multipart: Schema | None = None,
    public: bool = False,
    creates: tuple[str, str] | None = None,
) -> Callable[[_Handler], _Handler]:
    """Declare a route under API_PREFIX in ROUTES, from which the router and the OpenAPI document are built."""

    def deco(fn: _Handler) -> _Handler:
        ROUTES.append(
            declare(
                method,
                API_PREFIX + path,
                summary,
                fn,
                replies=replies,
                errors=errors,
                query=query,
                params=params,
                body=body,
                body_required=body_required,
                multipart=multipart,
                public=public,
                creates=(API_PREFIX + creates[0], creates[1]) if creates else None,
            )
        )
        return fn

    return deco


def ok(schema: Schema | None, description: str = "OK") -> dict[int, Reply]:
    return {200: Reply(schema, description)}


def created(schema: Schema, description: str = "Created") -> dict[int, Reply]:
    return {201: Reply(schema, description)}


NO_CONTENT = {204: Reply(None, "Done; no body")}


def items_of(item: Schema) -> Schema:
    return obj({"items": {"type": "array", "items": item}}, required=("items",))


def _served_routes(app: web.Application) -> list[Route]:
    """Every /api route the router serves, with its declaration. A route served without one (another package
    forgot to declare it) is still listed, marked ``x-undeclared``, and a test fails on it."""
    out: list[Route] = []
    for resource_route in app.router.routes():
        info = resource_route.resource.get_info() if resource_route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        method = resource_route.method
        if not path or not path.startswith(API_PREFIX + "/") or "{tail" in path or method in ("HEAD", "*"):
            continue
        known = DECLARED.get((method, path))
        if known is None:
            doc = (resource_route.handler.__doc__ or "").strip()
            summary = doc.splitlines()[0] if doc else f"{method} {path}"
            name = f"{method.lower()}{path.replace('/', '_').replace('{', '').replace('}', '')}"
            known = Route(
                method, path, resource_route.handler, summary, name, replies=ok(None), declared=False
            )
        out.append(known)
    return out


def _content(reply: Reply) -> dict[str, Any]:
    return {
        media: {"schema": reply.schema if media == "application/json" else {"type": "string"}}
        for media in reply.media
    }


def _parameters(r: Route) -> list[dict[str, Any]]:
    declared = {p.name: p for p in r.params}
    params: list[dict[str, Any]] = []
    for part in r.path.split("/"):
        if part.startswith("{"):
            name = part[1:-1]
            p = declared.get(name)
            schema = p.schema if p else {"type": "string", "minLength": 1}
            params.append({"name": name, "in": "path", "required": True, "schema": schema})
    for q in r.query:
        item: dict[str, Any] = {"name": q.name, "in": "query", "required": q.required, "schema": q.schema}
        if q.description:
            item["description"] = q.description
        params.append(item)
    return params


def _links(r: Route, served: list[Route]) -> dict[str, Any]:
    """OpenAPI links from what ``r`` creates to every served route under the prefix that uses it."""
    if r.creates is None:
        return {}
    prefix, member = r.creates
    param = prefix.rsplit("{", 1)[1].rstrip("}")
    return {
        other.name: {"operationId": other.name, "parameters": {param: f"$response.body#/{member}"}}
        for other in served
        if other is not r and (other.path == prefix or other.path.startswith(prefix + "/"))
    }


def openapi(app: web.Application) -> dict[str, Any]:
    """OpenAPI 3.1 of the routes the application actually serves under /api."""
    paths: dict[str, Any] = {}
    served = _served_routes(app)
    for r in served:
        links = _links(r, served)
        op: dict[str, Any] = {
            "summary": r.summary,
            "operationId": r.name,
            "parameters": _parameters(r),
            "responses": {
                str(status): {
                    "description": reply.description,
                    **({"content": _content(reply)} if reply.schema is not None else {}),
                    **({"links": links} if links and 200 <= status < 300 else {}),
                }
                for status, reply in r.statuses().items()
            },
        }
        content: dict[str, Any] = {}
        if r.body is not None:
            content["application/json"] = {"schema": r.body}
        if r.multipart is not None:
            content["multipart/form-data"] = {"schema": r.multipart}
        if content:
            op["requestBody"] = {"required": r.body_required, "content": content}
        if r.public:
            op["security"] = []
        if not r.declared:
            op["x-undeclared"] = True
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Kith owner API", "version": "1"},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": COMPONENTS,
        },
    }


def add_api_fallback(app: web.Application) -> None:
    """A JSON 404 for every other /api path, or a 405 naming the allowed methods when only the method is wrong;
    added last, after other packages' routes."""

    async def not_found(request: web.Request) -> web.Response:
        allowed: set[str] = set()
        for resource in request.app.router.resources():
            if resource is fallback:
                continue
            match, methods = await resource.resolve(request)
            if match is None and methods:
                allowed |= methods
        if allowed:
            listed = ", ".join(sorted(allowed))
            resp = json_error(405, f"{request.path} does not take {request.method}; it takes {listed}")
            resp.headers["Allow"] = listed
            return resp
        raise NotFound(f"no API route {request.method} {request.path}")

    fallback = app.router.add_resource(API_PREFIX + "/{tail:.*}")
    fallback.add_route("*", not_found)
