"""Kith federation: ActivityPub on aiohttp (docs/ARCHITECTURE.md §4-§5).

The node wires it in with one call::

    federation.setup(app, FederationContext(config=..., keys=..., db=..., graph=...))

which adds the public routes (WebFinger, host-meta, NodeInfo, the owner and node actors, inboxes, outbox,
collections) and runs the delivery and inbox workers for the application's lifetime (``cleanup_ctx``). The
running :class:`Federation` is ``app[FEDERATION]`` (``request.config_dict[FEDERATION]`` in sub-applications).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from federation.ports import ActorSource, GraphPort, RemoteActor
from federation.routes import FEDERATION, federation_routes
from federation.service import Federation, FederationContext

__all__ = [
    "FEDERATION",
    "ActorSource",
    "Federation",
    "FederationContext",
    "GraphPort",
    "RemoteActor",
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
