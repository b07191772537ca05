"""The owner's card and what each circle may see of it, as the settings page reads and writes them.

Federation keeps the card and the disclosure map in node.owner_card (two JSON documents in the meta table:
``owner_card`` and ``card_disclosure``) and reads them when it sends a card to a peer. When that module is
present this one only adapts it to the settings form; without it (a build with no federation), the same two
documents are kept here with the same keys and shapes, so that nothing is lost when federation arrives.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from node.context import NodeContext
from node.errors import BadInput

__all__ = [
    "CARD_FIELDS",
    "EVERYONE",
    "LIST_FIELDS",
    "card",
    "disclosure_settings",
    "save_card",
    "save_disclosure",
]

_owner_card: Any
try:  # federation's own module, when this build has it
    _owner_card = importlib.import_module("node.owner_card")
except ImportError:
    _owner_card = None

CARD_FIELDS: tuple[str, ...] = (
    tuple(_owner_card.CARD_FIELDS)
    if _owner_card
    else ("name", "summary", "email", "phone", "website", "organization", "title", "photo", "identities")
)
EVERYONE: str = _owner_card.EVERYONE if _owner_card else "*"
LIST_FIELDS = frozenset({"email", "phone", "website", "identities"})
_CARD_KEY, _DISCLOSURE_KEY = "owner_card", "card_disclosure"


async def _meta_json(ctx: NodeContext, key: str) -> dict[str, Any]:
    raw = await ctx.store.misc.meta_get(key)
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        value = {}
    return value if isinstance(value, dict) else {}


async def card(ctx: NodeContext) -> dict[str, Any]:
    if _owner_card:
        got: dict[str, Any] = await _owner_card.get_card(ctx.store)
        return got
    return await _meta_json(ctx, _CARD_KEY)


async def save_card(ctx: NodeContext, data: Mapping[str, Any]) -> dict[str, Any]:
    if _owner_card:
        saved: dict[str, Any] = await _owner_card.set_card(ctx.store, data)
        return saved
    clean: dict[str, Any] = {}
    for name, value in data.items():
        if name not in CARD_FIELDS:
            raise BadInput(f"unknown card field {name!r}", field=name)
        if value in (None, "", []):
            continue
        if name in LIST_FIELDS:
            items = [value] if isinstance(value, str) else list(value)
            if len(items) > 20 or not all(isinstance(v, str) and len(v) <= 2000 for v in items):
                raise BadInput(f"{name} must be at most 20 addresses", field=name)
            clean[name] = items
        elif isinstance(value, str) and len(value) <= 2000:
            clean[name] = value.strip()
        else:
            raise BadInput(f"{name} must be text of at most 2000 characters", field=name)
    if not clean.get("name"):
        raise BadInput("the card needs a name", field="name")
    await ctx.store.misc.meta_set(_CARD_KEY, json.dumps(clean, sort_keys=True))
    return clean


async def disclosure_settings(ctx: NodeContext) -> dict[str, list[str]]:
    """Card field → the circles allowed to see it (``"*"``: every connected Kith peer)."""
    if _owner_card:
        rules_now: dict[str, list[str]] = await _owner_card.get_disclosure(ctx.store)
        return rules_now
    rules = await _meta_json(ctx, _DISCLOSURE_KEY)
    return {k: [str(c) for c in v] for k, v in rules.items() if isinstance(v, list)}


async def save_disclosure(ctx: NodeContext, rules: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    if _owner_card:
        stored: dict[str, list[str]] = await _owner_card.set_disclosure(ctx.store, rules)
        return stored
    clean: dict[str, list[str]] = {}
    for name, circles in rules.items():
        if name not in CARD_FIELDS:
            raise BadInput(f"unknown card field {name!r}", field=name)
        names = sorted({str(c).strip() for c in circles if str(c).strip()})
        if names:
            clean[name] = names
    await ctx.store.misc.meta_set(_DISCLOSURE_KEY, json.dumps(clean, sort_keys=True))
    return clean
