"""Connections: who I follow and who follows me, pending requests both ways, connecting to another Kith owner
with a relationship type, accept/reject, and delivery problems per peer.

Everything here goes through federation's owner operations (federation.owner), as the session's account
(node/federation_access.py). A server running without federation shows the page saying so.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from federation import AccountFederation
from federation import owner as _owner
from node.api import ACCOUNT
from node.errors import BadInput
from node.federation_access import access
from node.web.framework import Done, Form, PageResult, action, page
from node.web.helpers import field
from protocol.vocab import RELATIONSHIP_TYPES

__all__ = ["acting"]


@contextlib.asynccontextmanager
async def acting(request: web.Request) -> AsyncIterator[AccountFederation]:
    """The session's account acting as its actor (BadInput when federation is not running)."""
    async with access(request).acting(request[ACCOUNT].name) as me:
        yield me


async def _named(fed: AccountFederation, row: dict[str, Any]) -> dict[str, Any]:
    """Requests name their actor by URL; show the acct: address federation has cached for it, if any."""
    if row.get("acct") or not row.get("actor"):
        return row
    cached = await fed.store.actor(row["actor"])
    acct = getattr(getattr(cached, "actor", None), "acct", None)
    return {**row, "acct": acct} if acct else row


def _back(request: web.Request) -> str:
    return "/connections"


@page("/connections", "connections")
async def _connections(request: web.Request) -> PageResult:
    available = access(request).available
    values: dict[str, Any] = {
        "available": available,
        "rel_types": sorted(RELATIONSHIP_TYPES.values(), key=lambda t: (t.category, t.name)),
        "address": request.query.get("address", "")[:300],
    }
    if available:
        async with acting(request) as fed:
            pending = [await _named(fed, r) for r in await _owner.requests(fed)]
            values.update(
                incoming=[r for r in pending if r["direction"] == "incoming"],
                outgoing=[r for r in pending if r["direction"] == "outgoing"],
                following=await _owner.following(fed),
                followers=await _owner.followers(fed),
                peers=[p for p in await _owner.peers(fed) if p["status"] != "ok"],
            )
    return PageResult(template="connections.html", title="Connections", values=values)


@action("/connections/connect", "connections_connect", back=_back)
async def _connect(request: web.Request, form: Form) -> Done:
    address = field(form, "address", limit=300)
    rel_type = field(form, "type", limit=100) or "contact"
    if not address:
        raise BadInput("give the address to connect to, like acct:bob@example.org", field="address")
    async with acting(request) as fed:
        await _owner.connect(
            fed,
            address,
            rel_type,
            how_we_met=field(form, "how_we_met", limit=2000) or None,
            since=field(form, "since", limit=20) or None,
        )
    return Done(to="/connections#outgoing", message=f"Asked {address} to confirm: {rel_type}.")


@action("/connections/follow", "connections_follow", back=_back)
async def _follow(request: web.Request, form: Form) -> Done:
    address = field(form, "address", limit=300)
    if not address:
        raise BadInput("give the address to follow, like acct:bob@example.org", field="address")
    async with acting(request) as fed:
        await _owner.follow(fed, address)
    return Done(to="/connections#following", message=f"Follow request sent to {address}.")


@action("/connections/unfollow", "connections_unfollow", back=_back)
async def _unfollow(request: web.Request, form: Form) -> Done:
    address = field(form, "address", limit=2048)
    async with acting(request) as fed:
        await _owner.unfollow(fed, address)
    return Done(to="/connections#following", message="Unfollowed.")


@action("/connections/answer", "connections_answer", back=_back)
async def _answer(request: web.Request, form: Form) -> Done:
    request_id = field(form, "id", limit=2048)
    verdict = field(form, "verdict", limit=10)
    if verdict not in ("accept", "reject"):
        raise BadInput("answer accept or reject", field="verdict")
    async with acting(request) as fed:
        await _owner.answer(fed, request_id, accepted=verdict == "accept")
    return Done(to="/connections", message="Accepted." if verdict == "accept" else "Declined.")
