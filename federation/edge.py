"""The one place where federation's errors become HTTP answers on the public (federation) routes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from federation.errors import RateLimited
from protocol.errors import KithError

__all__ = [
    "edge",
    "error_response",
]

_log = logging.getLogger("kith.federation")

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(exc: KithError) -> web.Response:
    status = exc.status_hint if 400 <= exc.status_hint < 600 else 500
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else {}
    body = {"error": type(exc).__name__, "message": exc.message}
    return web.json_response(body, status=status, headers=headers)


def edge(handler: _Handler) -> _Handler:
    """Wrap a public handler so that every KithError it raises is answered with its status hint."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except KithError as exc:
            if exc.status_hint >= 500:
                _log.warning("%s %s: %s", request.method, request.path, exc.message)
            return error_response(exc)

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped
