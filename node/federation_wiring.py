"""Plugs federation into the node: the GraphPort over the real graph, the OrgPort over the account's
organisation records, federation's public routes and workers, and its owner API under /api/federation and
/api/org (behind the node's bearer auth, documented in the OpenAPI)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from federation import FederationContext, setup
from federation.fetch import GuardedClient
from federation.org_api import org_routes
from federation.urls import Urls
from node.api_federation import routes as federation_api_routes
from node.api_org import routes as org_api_routes
from node.errors import NodeError
from node.federation_port import NodeGraphPort
from node.org_port import NodeOrgPort
from node.server import Server
from node.store.factory import federation_database

_log = logging.getLogger("kith.federation")

__all__ = ["setup_federation"]


def setup_federation(
    app: web.Application,
    server: Server,
    *,
    client_factory: Callable[[], GuardedClient] | None = None,
    run_workers: bool = True,
) -> None:
    """``client_factory`` replaces the guarded client (tests pass one with their own DNS resolver);
    ``run_workers=False`` leaves the delivery and inbox loops to the caller (tests step them one cycle at a
    time with ``Federation.run_once``)."""

    async def make() -> FederationContext | None:
        try:
            ctx = await server.context()
        except NodeError as exc:
            _log.warning("federation is off: %s", exc.message)
            return None
        server.hold(ctx)  # its loops run between requests: the pool must not close this graph under them
        keys = await ctx.load_keys()
        return FederationContext(
            config=ctx.config,
            keys=keys,
            db=federation_database(ctx.store),
            graph=NodeGraphPort(ctx.graph),
            client_factory=client_factory,
            run_workers=run_workers,
            # organisations (specs/ORGANISATIONS.md): the account's records, on its own database
            org=NodeOrgPort(
                ctx.store, ctx.graph, actor=Urls(ctx.config.base_url, ctx.config.node.username).owner
            ),
        )

    setup(app, make)
    app.router.add_routes(org_routes())
    app.router.add_routes(federation_api_routes())
    app.router.add_routes(org_api_routes())
