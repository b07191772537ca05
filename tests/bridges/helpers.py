from __future__ import annotations

from collections.abc import AsyncIterator

from bridges.live import Page, RateLimited


async def drain(agen: AsyncIterator[Page | RateLimited]) -> list[Page | RateLimited]:
    return [item async for item in agen]
