"""Builds the node's aiohttp Application: owner API, federation endpoints and the web UI, on one port."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from typing import Any

from aiohttp import web

from node import api_import, api_loop  # noqa: F401  (their routes join node.api's table)
from node.api import SERVER, add_api_fallback, auth_middleware, setup_api
from node.federation_wiring import setup_federation
from node.http import error_middleware
from node.loop import setup_loop
from node.server import Server
from node.web import setup_web

__all__ = ["APP_EXTENSIONS", "DEFAULT_EXTENSIONS", "Extension", "build_app", "run_node"]

Extension = Callable[[web.Application, Server], None]

#: The parts of a full server besides the owner API, wired in this order: the web UI, federation and the
#: stay-in-touch loop (digests, capture).
DEFAULT_EXTENSIONS: tuple[Extension, ...] = (setup_web, setup_federation, setup_loop)
#: More setup functions called after those (tests add theirs here).
APP_EXTENSIONS: list[Extension] = []


def build_app(server: Server, *, extensions: list[Extension] | None = None) -> web.Application:
    """The server's one aiohttp application. ``extensions`` replaces the default parts (a test of the API
    alone passes an empty list)."""
    app = web.Application(
        client_max_size=server.config.server.max_body_bytes,
        middlewares=[error_middleware, auth_middleware],
    )
    app[SERVER] = server
    setup_api(app)
    for ext in extensions if extensions is not None else [*DEFAULT_EXTENSIONS, *APP_EXTENSIONS]:
        ext(app, server)
    add_api_fallback(app)
    return app


async def run_node(
    server: Server, *, host: str, port: int, ready: Callable[[str], Any] | None = None
) -> None:
    """Serve until SIGINT/SIGTERM, then close the databases cleanly."""
    app = build_app(server)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:  # e.g. the port is taken: leave nothing open behind the error
        await runner.cleanup()
        await server.close()
        raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    bound = runner.addresses[0] if runner.addresses else (host, port)
    if ready is not None:
        ready(f"http://{bound[0]}:{bound[1]}")
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await server.close()
