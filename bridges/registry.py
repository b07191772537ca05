"""Every bridge by name, and telling which one an unnamed file, folder or ZIP belongs to.

Detection asks each bridge in an order where the more specific test goes first: a Google CSV has "First Name"
like LinkedIn's Connections.csv, so LinkedIn (which needs "Connected On") is asked before Google.
"""

from __future__ import annotations

from pathlib import Path

from bridges.base import Bridge, ExportError
from bridges.bluesky import BlueskyBridge
from bridges.facebook import FacebookBridge
from bridges.google import GoogleContactsBridge
from bridges.ical import ICalBridge
from bridges.linkedin import LinkedInBridge
from bridges.mastodon import MastodonBridge
from bridges.vcard import VCardBridge
from bridges.x import XBridge

__all__ = ["BRIDGES", "bridge_for", "detect"]

_ORDER: tuple[type[Bridge], ...] = (
    XBridge,
    LinkedInBridge,
    FacebookBridge,
    VCardBridge,
    ICalBridge,
    MastodonBridge,
    BlueskyBridge,
    GoogleContactsBridge,
)

BRIDGES: dict[str, type[Bridge]] = {b.name: b for b in _ORDER}


def bridge_for(name: str) -> type[Bridge]:
    try:
        return BRIDGES[name.lower()]
    except KeyError:
        known = ", ".join(sorted(BRIDGES))
        raise ExportError(f"no bridge named {name!r}; known sources: {known}") from None


def detect(path: Path) -> type[Bridge]:
    """The bridge whose export ``path`` is; ExportError when none or several claim it."""
    if not path.exists():
        raise ExportError(f"{path} does not exist")
    found = [b for b in _ORDER if b.detect(path)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise ExportError(
            f"could not tell what {path.name} is; pass the source name: kith import linkedin FILE "
            f"(sources: {', '.join(sorted(BRIDGES))})"
        )
    names = ", ".join(b.name for b in found)
    raise ExportError(
        f"{path.name} looks like an export of several sources ({names}); "
        f"pass the source name: kith import {found[0].name} FILE"
    )
