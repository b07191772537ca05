"""Builds the node's aiohttp Application: owner API, federation endpoints and the web UI, on one port."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
from collections.abc import Callable
from typing import Any

from aiohttp import web

from node import api_import, api_loop  # noqa: F401  (their routes join node.api's table)
from node.api import SERVER, add_api_fallback, auth_middleware, setup_api
from node.bridge_bluesky import setup_bridge
from node.config import Config
from node.dav import setup_dav
from node.federation_access import ACCESS, NoFederation
from node.federation_wiring import setup_federation
from node.http import error_middleware
from node.loop import setup_loop
from node.server import Server
from node.server_limits import LimitedSite, ServerLimits, body_pace_middleware
from node.web import setup_web

__all__ = [
    "APP_EXTENSIONS",
    "DEFAULT_EXTENSIONS",
    "NO_WORKER_EXTENSIONS",
    "Extension",
    "build_app",
    "run_node",
    "start_server",
]

Extension = Callable[[web.Application, Server], None]

#: The parts of a full server besides the owner API, wired in this order: the web UI, federation, CardDAV,
#: the stay-in-touch loop (digests, capture) and the Bluesky bridge (when enabled; after federation, which it
#: tells of changes).
DEFAULT_EXTENSIONS: tuple[Extension, ...] = (setup_web, setup_federation, setup_dav, setup_loop, setup_bridge)
#: More setup functions called after those (tests add theirs here).
APP_EXTENSIONS: list[Extension] = []


def build_app(
    server: Server, *, extensions: list[Extension] | None = None, limits: ServerLimits | None = None
) -> web.Application:
    """The server's one aiohttp application. ``extensions`` replaces the default parts (a test of the API
    alone passes an empty list); ``limits``: the server limits the body-pace middleware keeps (by default
    from the configuration)."""
    app = web.Application(
        client_max_size=server.config.server.max_body_bytes,
        middlewares=[
            body_pace_middleware(limits or ServerLimits.from_config(server.config)),
            error_middleware,
            auth_middleware,
        ],
    )
    app[SERVER] = server
    app[ACCESS] = NoFederation()  # what runs without federation; setup_federation puts the running one here
    setup_api(app)
    for ext in extensions if extensions is not None else [*DEFAULT_EXTENSIONS, *APP_EXTENSIONS]:
        ext(app, server)
    add_api_fallback(app)
    return app


async def start_server(
    app: web.Application, config: Config, *, host: str, port: int, limits: ServerLimits | None = None
) -> web.AppRunner:
    """Serve ``app`` on host:port within the server limits (node/server_limits.py): idle and header time and
    connections per client address and in all (the body pace is build_app's middleware). The caller cleans
    the runner up."""
    limits = limits or ServerLimits.from_config(config)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, **limits.runner_kwargs())
    await runner.setup()
    try:
        await LimitedSite(runner, host, port, limits=limits).start()
    except BaseException:  # e.g. the port is taken: leave nothing open behind the error
        await runner.cleanup()
        raise
    return runner


#: ``kith serve --no-workers``: the parts that answer requests, federation taking them in only (node/worker.py
#: says what runs where).
NO_WORKER_EXTENSIONS: tuple[Extension, ...] = (
    setup_web,
    functools.partial(setup_federation, intake_only=True),
    setup_dav,
)


async def run_node(
    server: Server,
    *,
    host: str,
    port: int,
    ready: Callable[[str], Any] | None = None,
    workers: bool = True,
) -> None:
    """Serve until SIGINT/SIGTERM, then close the databases cleanly. ``workers=False``: the queues and
    background jobs are left to ``kith worker`` processes."""
    app = build_app(server, extensions=None if workers else [*NO_WORKER_EXTENSIONS, *APP_EXTENSIONS])
    try:
        runner = await start_server(app, server.config, host=host, port=port)
    except BaseException:
        await server.close()
        raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    bound = runner.addresses[0] if runner.addresses else (host, port)
    # The worker process the next import runs in is started now (node/import_jobs.py); imports a stopped node
    # left behind are marked interrupted when their account is first used (Server.context).
    server.import_workers.warm()
    if ready is not None:
        ready(f"http://{bound[0]}:{bound[1]}")
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await server.close()
