"""Kith federation: ActivityPub on aiohttp (docs/ARCHITECTURE.md §4-§5), for every account of a server.

Federation never imports node: it declares what it needs in federation/ports.py. The node wires it in with one
call (node/federation_wiring.py)::

    federation.setup(app, FederationContext(settings=..., store=..., local=..., graphs=...))

which adds the public routes (WebFinger, host-meta, NodeInfo, every account's actor, the server's actor,
inboxes, outboxes, collections) and runs the delivery and inbox workers for the application's lifetime
(``cleanup_ctx``). The running :class:`Federation` is ``app[FEDERATION]``; ``fed.acting(name)`` is one account
acting as its actor (:class:`AccountFederation`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from federation.ports import (
    ActorSource,
    FederationSettings,
    FederationStore,
    GraphPort,
    GraphPorts,
    LocalAccount,
    LocalActors,
    RemoteActor,
    SigningKeys,
)
from federation.routes import FEDERATION, federation_routes
from federation.service import AccountFederation, Federation, FederationContext

__all__ = [
    "FEDERATION",
    "AccountFederation",
    "ActorSource",
    "Federation",
    "FederationContext",
    "FederationSettings",
    "FederationStore",
    "GraphPort",
    "GraphPorts",
    "LocalAccount",
    "LocalActors",
    "RemoteActor",
    "SigningKeys",
    "setup",
]


def setup(
    app: web.Application,
    ctx: FederationContext | Callable[[], Awaitable[FederationContext | None]],
) -> None:
    """``ctx``, or a coroutine function that makes it once the application starts (None: no federation)."""
    app.router.add_routes(federation_routes())

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        made = ctx if isinstance(ctx, FederationContext) else await ctx()
        if made is None:
            yield
            return
        fed = Federation(made)
        app[FEDERATION] = fed
        await fed.start()
        try:
            yield
        finally:
            await fed.close()

    app.cleanup_ctx.append(lifetime)
