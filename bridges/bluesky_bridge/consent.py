"""Who may be bridged (issue #18 "Consent first"): pure rules over what the bridge read of one Bluesky account.

Opt-in, never opt-out: an account is bridged only while it follows the bot and none of the reasons below holds.
Each reason is a word the operator sees (``kith bridge actors``), and the first one found is reported. The rules
take the time as an argument (``now``) and do no I/O, so tests can state every case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["NO_BRIDGE", "Account", "Decision", "Gates", "decide", "denied"]

#: The words with which a Bluesky user says "never bridge me" in their profile's description (as Bridgy Fed
#: reads them): a hashtag, in any case, not part of a longer word.
NO_BRIDGE = re.compile(r"(?<![\w#])#no(?:bridge|bot)\b", re.IGNORECASE)


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
