"""Plugs federation into the node: the GraphPort over the real graph, federation's public routes and workers,
and its owner API under /api/federation (behind the node's bearer auth, documented in the OpenAPI)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from federation import FederationContext, setup
from federation.fetch import GuardedClient
from node.api_federation import routes as federation_api_routes
from node.context import NodeContext
from node.federation_port import NodeGraphPort

__all__ = ["setup_federation"]


def setup_federation(
    app: web.Application, ctx: NodeContext, *, client_factory: Callable[[], GuardedClient] | None = None
) -> None:
    """``client_factory`` replaces the guarded client (tests pass one with their own DNS resolver)."""
    if ctx.keys is None:  # a node opened without its keys (some CLI paths) does not federate
        return
    fctx = FederationContext(
        config=ctx.config,
        keys=ctx.keys,
        db=ctx.db,
        graph=NodeGraphPort(ctx.graph),
        client_factory=client_factory,
    )
    setup(app, fctx)
    app.router.add_routes(federation_api_routes())
