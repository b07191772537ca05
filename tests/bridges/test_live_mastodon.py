from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bridges.base import ContactDraft, IdentityDraft
from bridges.live import LiveError, Page, RateLimited, Revoked
from bridges.mastodon import lookup_account_id, sync_followers, sync_following
from tests.bridges.conftest import Serve
from tests.bridges.helpers import drain

TOTAL = 200
RESET = "2026-11-22T04:05:00.019685Z"


def account(i: int) -> dict[str, Any]:
    local = i % 50 == 0  # local accounts come without a domain
    acct = f"user{i}" if local else f"user{i}@remote{i % 3}.example"
    host = "social.example" if local else f"remote{i % 3}.example"
    return {
        "id": str(1000 + i),
        "username": f"user{i}",
        "acct": acct,
        "display_name": f"User {i}",
        "url": f"https://{host}/@user{i}",
        "uri": f"https://{host}/users/user{i}",
        "avatar": f"https://{host}/avatars/{i}.png",
    }


class Fake:
    def __init__(self) -> None:
        self.fail_at: set[int] = set()  # max_id values answered once with 429
        self.requests: list[str] = []
        self.next_host: str | None = None

    async def follows(self, request: web.Request) -> web.Response:
        self.requests.append(str(request.rel_url))
        if request.headers.get("Authorization") != "Bearer good":
            return web.json_response({"error": "The access token is invalid"}, status=401)
        limit = int(request.query.get("limit", "40"))
        assert limit <= 80
        max_id = int(request.query.get("max_id", "0"))
        if max_id in self.fail_at:
            self.fail_at.discard(max_id)
            return web.json_response(
                {"error": "Too many requests"},
                status=429,
                headers={
                    "X-RateLimit-Limit": "300",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": RESET,
                },
            )
        page = [account(i) for i in range(max_id, min(max_id + limit, TOTAL))]
        headers = {}
        if max_id + limit < TOTAL:
            host = self.next_host or f"{request.host}"
            nxt = f"http://{host}{request.path}?limit={limit}&max_id={max_id + limit}"
            headers["Link"] = (
                f'<{nxt}>; rel="next", <http://{request.host}{request.path}?min_id=1>; rel="prev"'
            )
        return web.json_response(page, headers=headers)

    async def lookup(self, request: web.Request) -> web.Response:
        if request.query.get("acct") == "sam@social.example":
            return web.json_response({"id": "42", "acct": "sam"})
        return web.json_response({"error": "Record not found"}, status=404)


@pytest.fixture
async def server(serve: Serve) -> tuple[Fake, str]:
    fake = Fake()
    app = web.Application()
    app.router.add_get("/api/v1/accounts/lookup", fake.lookup)
    app.router.add_get("/api/v1/accounts/{id}/following", fake.follows)
    app.router.add_get("/api/v1/accounts/{id}/followers", fake.follows)
    return fake, await serve(app)


async def test_pages_until_done(server: tuple[Fake, str]) -> None:
    fake, base = server
    async with aiohttp.ClientSession() as session:
        items = await drain(sync_following(session, base_url=base, account_id="42", token="good"))
    pages = [i for i in items if isinstance(i, Page)]
    assert [len(p.drafts) for p in pages] == [80, 80, 40]
    assert pages[-1].cursor is None and pages[0].cursor is not None
    drafts = [d for p in pages for d in p.drafts]
    assert len({d.source_record_id for d in drafts}) == TOTAL
    assert drafts[1] == ContactDraft(
        source_record_id="following:user1@remote1.example",
        display_name="User 1",
        photo_url="https://remote1.example/avatars/1.png",
        identities=(
            IdentityDraft(address="user1@remote1.example", kind="acct"),
            IdentityDraft(address="https://remote1.example/users/user1", kind="url"),
            IdentityDraft(address="https://remote1.example/@user1", kind="url"),
        ),
        follow="following",
    )
    assert drafts[50].identities[0] == IdentityDraft(address="user50@social.example", kind="acct")
    assert fake.requests[0] == "/api/v1/accounts/42/following?limit=80"


async def test_rate_limit_keeps_partial_and_resumes_without_duplicates(server: tuple[Fake, str]) -> None:
    fake, base = server
    fake.fail_at = {80}
    async with aiohttp.ClientSession() as session:
        first = await drain(sync_followers(session, base_url=base, account_id="42", token="good"))
        assert [type(i).__name__ for i in first] == ["Page", "RateLimited"]
        limited = first[-1]
        assert isinstance(limited, RateLimited)
        assert limited.resume_at == datetime(2026, 11, 22, 4, 5, 0, 19685, tzinfo=UTC)
        assert [d.source_record_id for d in limited.partial] == [
            d.source_record_id
            for d in first[0].drafts  # type: ignore[union-attr]
        ]
        assert limited.cursor["fetched"] == 80 and limited.cursor["direction"] == "follower"
        rest = await drain(
            sync_followers(session, base_url=base, account_id="42", token="good", cursor=limited.cursor)
        )
    ids = [d.source_record_id for p in first + rest if isinstance(p, Page) for d in p.drafts]
    assert len(ids) == len(set(ids)) == TOTAL
    assert all(i.startswith("follower:") for i in ids)
    assert rest[-1].cursor is None  # type: ignore[union-attr]


async def test_401_is_revoked(server: tuple[Fake, str]) -> None:
    _fake, base = server
    async with aiohttp.ClientSession() as session:
        with pytest.raises(Revoked, match="401"):
            await drain(sync_following(session, base_url=base, account_id="42", token="stale"))


async def test_cap_and_cursor_checks(server: tuple[Fake, str]) -> None:
    _fake, base = server
    async with aiohttp.ClientSession() as session:
        items = await drain(sync_following(session, base_url=base, account_id="42", token="good", cap=100))
        assert [(len(p.drafts), p.capped, p.cursor is None) for p in items] == [  # type: ignore[union-attr]
            (80, False, False),
            (20, True, True),
        ]
        cursor = items[0].cursor  # type: ignore[union-attr]
        with pytest.raises(LiveError, match="another sync"):
            await drain(sync_following(session, base_url=base, account_id="43", token="good", cursor=cursor))


async def test_next_link_to_another_host_is_refused(server: tuple[Fake, str]) -> None:
    fake, base = server
    fake.next_host = "evil.example:80"
    async with aiohttp.ClientSession() as session:
        with pytest.raises(LiveError, match="leaves"):
            await drain(sync_following(session, base_url=base, account_id="42", token="good"))


async def test_lookup(server: tuple[Fake, str]) -> None:
    _fake, base = server
    async with aiohttp.ClientSession() as session:
        assert await lookup_account_id(session, base_url=base, acct="@sam@social.example") == "42"
        with pytest.raises(LiveError, match="404"):
            await lookup_account_id(session, base_url=base, acct="nobody@social.example")
