"""Builds the node's aiohttp Application: owner API, federation endpoints and the web UI, on one port."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from typing import Any

from aiohttp import web

from node import api_import  # noqa: F401  (its routes join node.api's table)
from node.api import CONTEXT, add_api_fallback, auth_middleware, setup_api
from node.config import Config
from node.context import NodeContext
from node.http import error_middleware
from node.server_limits import LimitedSite, ServerLimits, body_pace_middleware

__all__ = ["APP_EXTENSIONS", "build_app", "run_node", "start_server"]

#: Other packages' setup functions (federation, web UI), called with (app, ctx) in order. Kept as a list so that
#: a node can be built without them in tests of the API alone.
APP_EXTENSIONS: list[Callable[[web.Application, NodeContext], None]] = []


def _default_extensions() -> list[Callable[[web.Application, NodeContext], None]]:
    exts: list[Callable[[web.Application, NodeContext], None]] = []
    with contextlib.suppress(ImportError):
        from node.web import setup_web

        exts.append(setup_web)
    with contextlib.suppress(ImportError):
        from node.federation_wiring import setup_federation

        exts.append(setup_federation)
    return exts


def build_app(
    ctx: NodeContext,
    *,
    extensions: list[Callable[[web.Application, NodeContext], None]] | None = None,
    limits: ServerLimits | None = None,
) -> web.Application:
    """``limits``: the server limits the body-pace middleware keeps (by default from the configuration)."""
    app = web.Application(
        client_max_size=ctx.config.server.max_body_bytes,
        middlewares=[
            body_pace_middleware(limits or ServerLimits.from_config(ctx.config)),
            error_middleware,
            auth_middleware,
        ],
    )
    app[CONTEXT] = ctx
    setup_api(app)
    for ext in extensions if extensions is not None else [*_default_extensions(), *APP_EXTENSIONS]:
        ext(app, ctx)
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


async def run_node(
    ctx: NodeContext, *, host: str, port: int, ready: Callable[[str], Any] | None = None
) -> None:
    """Serve until SIGINT/SIGTERM, then close the database cleanly."""
    app = build_app(ctx)
    try:
        runner = await start_server(app, ctx.config, host=host, port=port)
    except BaseException:
        await ctx.close()
        raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    bound = runner.addresses[0] if runner.addresses else (host, port)
    # Imports a stopped node left behind are marked interrupted and their uploads removed; the worker process
    # the next import runs in is started now (node/import_jobs.py, node/import_worker.py).
    await ctx.imports.recover()
    ctx.imports.warm()
    if ready is not None:
        ready(f"http://{bound[0]}:{bound[1]}")
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await ctx.close()
