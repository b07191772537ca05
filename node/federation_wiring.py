"""Wires federation into the node's application (``node.app`` calls ``setup_federation`` as an extension).

The public federation routes (WebFinger, NodeInfo, actors, inboxes) come from ``federation.setup``; the owner's
``/api/federation/...`` routes come from node/api_federation.py and sit behind the node's bearer-token middleware
like the rest of ``/api``. The contact graph is reached only through ``NodeGraphPort``.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

import federation
from federation.fetch import GuardedClient
from node.api_federation import routes as owner_routes
from node.context import NodeContext
from node.federation_port import NodeGraphPort

__all__ = ["setup_federation"]


def setup_federation(
    app: web.Application, ctx: NodeContext, *, client_factory: Callable[[], GuardedClient] | None = None
) -> None:
    """``client_factory`` replaces the guarded client (tests pass one with their own DNS resolver)."""
    if ctx.keys is None:  # a node opened without its keys (e.g. for read-only tools) does not federate
        return
    fctx = federation.FederationContext(
        config=ctx.config,
        keys=ctx.keys,
        db=ctx.db,
        graph=NodeGraphPort(ctx.graph),
        client_factory=client_factory,
    )
    federation.setup(app, fctx)
    app.router.add_routes(owner_routes())
