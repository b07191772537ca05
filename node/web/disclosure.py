"""The owner's card and what each circle may see of it, as the settings page reads and writes them.

The card and the disclosure map live in node.owner_card (two JSON documents in the meta table), which
federation reads when it sends the card to a peer; this module adapts them to the settings form and sends the
changed card to the peers allowed to see it, as the owner API's PUT /api/card does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web

from node.api import ACCOUNT
from node.context import AccountContext
from node.federation_access import access
from node.owner_card import CARD_FIELDS, EVERYONE, PUBLIC, get_card, get_disclosure, set_card, set_disclosure

__all__ = [
    "CARD_FIELDS",
    "EVERYONE",
    "LIST_FIELDS",
    "PUBLIC",
    "card",
    "disclosure_settings",
    "publish_card",
    "save_card",
    "save_disclosure",
]

LIST_FIELDS = frozenset({"email", "phone", "website", "identities"})


async def card(ctx: AccountContext) -> dict[str, Any]:
    return await get_card(ctx.store)


async def disclosure_settings(ctx: AccountContext) -> dict[str, list[str]]:
    """Card field → the circles allowed to see it (``"*"``: every connected Kith peer; ``"@public"``: anyone,
    on the owner's fediverse profile)."""
    return await get_disclosure(ctx.store)


async def save_card(ctx: AccountContext, data: Mapping[str, Any]) -> dict[str, Any]:
    return await set_card(ctx.store, data)


async def save_disclosure(ctx: AccountContext, rules: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    return await set_disclosure(ctx.store, rules)


async def publish_card(request: web.Request) -> int | None:
    """Send the session's account's saved card to the peers allowed to see it, and its public profile to
    followers when it changed; None when this server runs without federation."""
    return await access(request).publish_card(request[ACCOUNT].name)
