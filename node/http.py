"""The HTTP edge shared by the owner API and the web UI: JSON errors from the one exception tree, body limits,
and safe JSON parsing. Statuses are decided here and nowhere else."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from node.errors import BadInput, NodeError
from protocol.errors import KithError, TooLarge
from protocol.jsonld import check_shape

__all__ = ["MAX_JSON_DEPTH", "error_middleware", "json_error", "json_response", "read_json"]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MAX_JSON_DEPTH = 32


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda v: json.dumps(v, ensure_ascii=False))


def json_error(status: int, message: str, field: str | None = None) -> web.Response:
    body: dict[str, Any] = {"status": status, "message": message}
    if field is not None:
        body["field"] = field
    return json_response({"error": body}, status=status)


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 that says what is wrong with it."""
    raw = await request.read()  # bounded by the application's client_max_size (413 beyond it)
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, RecursionError):
        raise BadInput("the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadInput("the request body must be a JSON object")
    try:
        check_shape(data, max_depth=MAX_JSON_DEPTH, max_nodes=10**9)  # the size is bounded by client_max_size
    except TooLarge:
        raise BadInput(f"the request body is nested deeper than {MAX_JSON_DEPTH} levels") from None
    return data


@web.middleware
async def error_middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except (NodeError, KithError) as exc:
        return json_error(exc.status_hint, exc.message, exc.field)
    except web.HTTPRequestEntityTooLarge:
        limit = request.app._client_max_size
        return json_error(413, f"the request body is larger than the {limit}-byte limit")
    except web.HTTPException as exc:
        if exc.status >= 400 and request.path.startswith("/api/"):
            return json_error(exc.status, exc.reason)
        raise
