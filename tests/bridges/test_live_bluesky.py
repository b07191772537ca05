from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bridges.base import ContactDraft, IdentityDraft
from bridges.bluesky import sync_followers, sync_following
from bridges.live import Page, RateLimited, Revoked
from tests.bridges.conftest import Serve
from tests.bridges.helpers import drain, plc

TOTAL = 230
NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)


def profile(i: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "did": plc(f"p{i:05d}"),
        "handle": f"person{i}.bsky.social" if i != 7 else "handle.invalid",
        "indexedAt": "2024-01-01T00:00:00.000Z",
        "viewer": {"muted": False},
        "labels": [],
    }
    if i % 2 == 0:
        out["displayName"] = f"Person {i}"
        out["avatar"] = f"https://cdn.bsky.app/img/avatar/plain/{plc(f'p{i:05d}')}/x@jpeg"
    return out


class Fake:
    def __init__(self) -> None:
        self.limited_cursor: str | None = None
        self.params: list[dict[str, str]] = []

    async def graph(self, request: web.Request) -> web.Response:
        key = "follows" if request.path.endswith("getFollows") else "followers"
        self.params.append(dict(request.query))
        if request.headers.get("Authorization", "Bearer ok") != "Bearer ok":
            # How a PDS refuses an access token it issued (400 with an XRPC error code).
            return web.json_response({"error": "ExpiredToken", "message": "Token has expired"}, status=400)
        if request.query.get("actor") != "sam.example.com":
            return web.json_response({"error": "InvalidRequest", "message": "Profile not found"}, status=400)
        start = int(request.query.get("cursor", "0"))
        if self.limited_cursor is not None and request.query.get("cursor") == self.limited_cursor:
            self.limited_cursor = None
            return web.json_response(
                {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
                status=429,
                headers={"RateLimit-Limit": "3000", "RateLimit-Remaining": "0", "RateLimit-Reset": "120",
                         "RateLimit-Policy": "3000;w=300"},
            )  # fmt: skip
        limit = int(request.query["limit"])
        body: dict[str, Any] = {
            "subject": profile(99999),
            key: [profile(i) for i in range(start, min(start + limit, TOTAL))],
        }
        if start + limit < TOTAL:
            body["cursor"] = str(start + limit)
        return web.json_response(body)


@pytest.fixture
async def server(serve: Serve) -> tuple[Fake, str]:
    fake = Fake()
    app = web.Application()
    app.router.add_get("/xrpc/app.bsky.graph.getFollows", fake.graph)
    app.router.add_get("/xrpc/app.bsky.graph.getFollowers", fake.graph)
    return fake, await serve(app)


async def test_follows_pages(server: tuple[Fake, str]) -> None:
    fake, base = server
    async with aiohttp.ClientSession() as session:
        items = await drain(sync_following(session, actor="sam.example.com", base_url=base))
    assert [len(p.drafts) for p in items if isinstance(p, Page)] == [100, 100, 30]
    assert fake.params[0] == {"actor": "sam.example.com", "limit": "100"}
    assert fake.params[1]["cursor"] == "100"
    drafts = [d for p in items if isinstance(p, Page) for d in p.drafts]
    first = plc("p00000")
    assert drafts[0] == ContactDraft(
        source_record_id=f"following:{first}",
        display_name="Person 0",
        photo_url=f"https://cdn.bsky.app/img/avatar/plain/{first}/x@jpeg",
        identities=(IdentityDraft(address=first, kind="bluesky", label="person0.bsky.social"),),
        follow="following",
    )
    assert drafts[7].identities == (IdentityDraft(address=plc("p00007"), kind="bluesky"),)


async def test_429_draft_polli_reset_and_resume(server: tuple[Fake, str]) -> None:
    fake, base = server
    fake.limited_cursor = "200"
    async with aiohttp.ClientSession() as session:
        first = await drain(sync_followers(session, actor="sam.example.com", base_url=base, now=lambda: NOW))
        limited = first[-1]
        assert isinstance(limited, RateLimited)
        assert limited.resume_at == NOW + timedelta(seconds=120)
        assert len(limited.partial) == 200 and limited.cursor["next"] == "200"
        rest = await drain(
            sync_followers(session, actor="sam.example.com", base_url=base, cursor=limited.cursor)
        )
    ids = [d.source_record_id for p in first + rest if isinstance(p, Page) for d in p.drafts]
    assert len(ids) == len(set(ids)) == TOTAL


async def test_401_revoked(server: tuple[Fake, str]) -> None:
    _fake, base = server
    async with aiohttp.ClientSession() as session:
        with pytest.raises(Revoked):
            await drain(sync_following(session, actor="sam.example.com", base_url=base, token="expired"))
