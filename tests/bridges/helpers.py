from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator

from bridges.live import Page, RateLimited


async def drain(agen: AsyncIterator[Page | RateLimited]) -> list[Page | RateLimited]:
    return [item async for item in agen]


def plc(tag: str) -> str:
    """A valid did:plc identifier (24 characters of a-z and 2-7) made from ``tag``, the same for the same tag."""
    digest = base64.b32encode(hashlib.sha256(tag.encode()).digest()).decode().lower()
    return "did:plc:" + digest[:24]
