"""Who may be bridged (issue #18 "Consent first"): pure rules over what the bridge read of one Bluesky account.

Opt-in, never opt-out: an account is bridged only while it follows the bot and none of the reasons below holds.
Each reason is a word the operator sees (``kith bridge actors``), and the first one found is reported. The rules
take the time as an argument (``now``) and do no I/O, so tests can state every case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = [
    "NO_BRIDGE",
    "NO_UNAUTHENTICATED",
    "Account",
    "Decision",
    "Gates",
    "decide",
    "denied",
    "label_values",
]

#: The words with which a Bluesky user says "never bridge me" in their profile's description (as Bridgy Fed
#: reads them): a hashtag, in any case, not part of a longer word.
NO_BRIDGE = re.compile(r"(?<![\w#])#no(?:bridge|bot)\b", re.IGNORECASE)

#: The label with which an account asks that its content not be shown to anyone not logged in to Bluesky: a
#: bridge shows it to the open network, so such an account is not bridged (issue #18; Bridgy Fed honours it too).
#: It comes as a self-label of the profile record (``com.atproto.label.defs#selfLabels``) or from a labeller,
#: as the App View reports (``app.bsky.actor.getProfile``'s ``labels``).
NO_UNAUTHENTICATED = "!no-unauthenticated"


@dataclass(frozen=True, slots=True)
class Gates:
    """The operator's spam gates (settings bridge.bluesky.require_avatar, require_display_name,
    min_account_age_days) and deny-list (DIDs and handle domains)."""

    require_avatar: bool = True
    require_display_name: bool = True
    min_account_age_days: int = 0
    deny: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Account:
    """What the bridge knows of one Bluesky account, read from its PDS and the PLC directory."""

    did: str
    handle: str = ""
    follows_bot: bool = False
    blocks_bot: bool = False
    active: bool = True  # false when deactivated, suspended, taken down or deleted
    status: str = ""  # the PDS's reason when not active
    display_name: str = ""
    description: str = ""
    has_avatar: bool = False
    created_at: datetime | None = None  # the DID's first operation; None when unknown
    blocked_by_operator: bool = False
    labels: frozenset[str] = (
        frozenset()
    )  # label values of the account: its profile's self-labels, the App View's


@dataclass(frozen=True, slots=True)
class Decision:
    bridged: bool
    reason: str  # "opted-in", or why not: "not-following", "blocks-bot", "nobridge", "deactivated", ...


def denied(did: str, handle: str, deny: frozenset[str]) -> bool:
    """The DID, or the handle or any domain it ends in, is on the operator's deny-list."""
    if did.lower() in deny:
        return True
    labels = handle.lower().strip(".").split(".") if handle else []
    return any(".".join(labels[i:]) in deny for i in range(len(labels)))


def decide(account: Account, gates: Gates, *, now: datetime) -> Decision:
    """Whether ``account`` is bridged now, and why (not)."""
    if account.blocked_by_operator:
        return Decision(False, "blocked")
    if denied(account.did, account.handle, gates.deny):
        return Decision(False, "denied")
    if not account.active:
        return Decision(False, account.status or "deactivated")
    if account.blocks_bot:
        return Decision(False, "blocks-bot")
    if not account.follows_bot:
        return Decision(False, "not-following")
    if NO_BRIDGE.search(account.description) or NO_BRIDGE.search(account.display_name):
        return Decision(False, "nobridge")
    if NO_UNAUTHENTICATED in account.labels:
        return Decision(False, "no-unauthenticated")
    if gates.require_display_name and not account.display_name.strip():
        return Decision(False, "no-display-name")
    if gates.require_avatar and not account.has_avatar:
        return Decision(False, "no-avatar")
    if gates.min_account_age_days:
        young = account.created_at is None or now - account.created_at < timedelta(
            days=gates.min_account_age_days
        )
        if young:
            return Decision(False, "too-young")
    return Decision(True, "opted-in")


def label_values(labels: Any, *, limit: int = 64) -> frozenset[str]:
    """The label values of a profile record's ``labels`` (``{"$type": "com.atproto.label.defs#selfLabels",
    "values": [{"val": ...}]}``) or of an App View's ``labels`` list (``[{"val": ..., "neg": false}]``; a
    negation withdraws a label, so it is not counted). Anything else, of any shape, is no label; at most
    ``limit`` entries are looked at."""
    entries = labels.get("values") if isinstance(labels, dict) else labels
    if not isinstance(entries, list):
        return frozenset()
    return frozenset(
        e["val"]
        for e in entries[:limit]
        if isinstance(e, dict) and isinstance(e.get("val"), str) and e.get("neg") is not True
    )
