"""Plugs federation into the node, in this one place (docs/ARCHITECTURE.md §2): its settings from the node's
configuration, its store over the server database (node/store/sqlite/federation.py), the server's accounts as
its local actors and their graphs as its graph ports (node/federation_port.py), their organisation records as
its org ports (node/org_port.py); its public routes and workers; and its owner API under /api/federation and
/api/org (behind the node's bearer auth, documented in the OpenAPI). What the
owner API and web UI ask of federation goes through node/federation_access.py, which is the running federation
once it has started and a null one before, or without it."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from federation import FEDERATION, FederationContext, FederationSettings, GraphPorts, setup
from federation.fetch import GuardedClient
from federation.service import default_worker
from node.api_federation import routes as federation_api_routes
from node.api_org import routes as org_api_routes
from node.config import Config
from node.errors import NodeError
from node.federation_access import ACCESS, RunningFederation
from node.federation_port import NodeGraphPorts, NodeLocalActors
from node.keys import KeyError_
from node.org_port import NodeOrgPorts
from node.server import Server

_log = logging.getLogger("kith.federation")

__all__ = ["federation_context", "federation_settings", "setup_federation"]


def federation_settings(config: Config) -> FederationSettings:
    """Federation's own options, from the node's configuration (node/config.py's [federation] and [node])."""
    fed = config.federation
    return FederationSettings(
        base_url=config.base_url,
        server_name=config.node.display_name,
        allow_http=fed.allow_http,
        allow_private_networks=tuple(fed.allow_private_networks),
        fetch_timeout=float(fed.fetch_timeout),
        auto_accept_follows=fed.auto_accept_follows,
        delivery_days=fed.delivery_days,
        inbox_rate_per_host=float(fed.inbox_rate_per_host),
        inbox_burst_per_host=float(fed.inbox_burst_per_host),
        # bridged Bluesky accounts go by @HANDLE@bridge.bluesky.handle_domain (issue #18; node/bridge_bluesky.py)
        alias_domains=tuple(
            d
            for d in [config.bridge_bluesky.handle_domain.lower()]
            if d and config.bridge_bluesky.enabled and d != config.node.domain.lower()
        ),
        per_host_requests=fed.per_host_requests,
    )


def federation_context(
    server: Server,
    *,
    graphs: GraphPorts | None = None,
    client_factory: Callable[[], GuardedClient] | None = None,
    **options: object,
) -> FederationContext:
    """Federation over this server: its accounts, their graphs (``graphs`` replaces them: tests pass an
    in-memory one), its database. ``options``: FederationContext's other fields (clock, run_workers...)."""
    options.setdefault("worker_stale", float(max(server.config.federation.worker_stale_seconds, 4)))
    return FederationContext(
        settings=federation_settings(server.config),
        store=server.federation,
        local=NodeLocalActors(server),
        graphs=graphs if graphs is not None else NodeGraphPorts(server),
        # organisations (specs/ORGANISATIONS.md): each account's records, on its own graph database
        orgs=NodeOrgPorts(server) if graphs is None else None,
        client_factory=client_factory,
        **options,  # type: ignore[arg-type]
    )


def setup_federation(
    app: web.Application,
    server: Server,
    *,
    client_factory: Callable[[], GuardedClient] | None = None,
    run_workers: bool = True,
    intake_only: bool = False,
) -> None:
    """``client_factory`` replaces the guarded client (tests pass one with their own DNS resolver);
    ``run_workers=False`` leaves the delivery and inbox loops to the caller (tests step them one cycle at a
    time with ``Federation.run_once``); ``intake_only``: ``kith serve --no-workers``, whose queues
    ``kith worker`` processes work (node/worker.py)."""

    async def make() -> FederationContext | None:
        try:
            server.node_key  # noqa: B018  (the server's key signs every fetch: without it, no federation)
        except (KeyError_, NodeError) as exc:
            _log.warning("federation is off: %s", exc)
            return None
        return federation_context(
            server,
            client_factory=client_factory,
            worker=default_worker(server.config.server.port),
            run_workers=run_workers and not intake_only,
            intake_only=intake_only,
        )

    setup(app, make)
    app[ACCESS] = RunningFederation(lambda: app.get(FEDERATION))
    app.router.add_routes(federation_api_routes())
    app.router.add_routes(org_api_routes())
