from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web

from bridges.base import ContactDraft, IdentityDraft
from bridges.live import Page, RateLimited, Revoked
from bridges.oauth import (
    OAuthTokens,
    authorization_url,
    code_challenge,
    exchange_code,
    make_code_verifier,
    refresh_tokens,
)
from bridges.x import X_SCOPES, XAuth, lookup_users, sync_followers, sync_following
from tests.bridges.conftest import Serve
from tests.bridges.helpers import drain

VECTORS = Path(__file__).resolve().parents[2] / "specs" / "test-vectors" / "rfc7636-pkce-s256.json"
TOTAL = 2500
NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
IN_9_MIN = str(int((NOW + timedelta(minutes=9)).timestamp()))


class Fake:
    def __init__(self) -> None:
        self.valid_access = {"a1"}
        self.valid_refresh = {"r1"}
        self.challenges: dict[str, str] = {}  # code -> challenge
        self.limited: dict[str, tuple[int, dict[str, str]]] = {}  # pagination_token -> (status, headers)
        self.issued = 1
        self.token_forms: list[dict[str, str]] = []

    async def token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.token_forms.append({k: str(v) for k, v in form.items()})
        if form.get("client_id") != "kith-client":
            return web.json_response({"error": "invalid_client"}, status=401)
        if form.get("grant_type") == "authorization_code":
            challenge = self.challenges.pop(str(form.get("code")), None)
            if challenge is None or code_challenge(str(form.get("code_verifier"))) != challenge:
                return web.json_response(
                    {"error": "invalid_grant", "error_description": "bad verifier"}, status=400
                )
        elif form.get("grant_type") == "refresh_token":
            if form.get("refresh_token") not in self.valid_refresh:
                return web.json_response(
                    {
                        "error": "invalid_grant",
                        "error_description": "Value passed for the token was invalid.",
                    },
                    status=400,
                )
            self.valid_refresh.discard(str(form["refresh_token"]))
        else:
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        self.issued += 1
        access, refresh = f"a{self.issued}", f"r{self.issued}"
        self.valid_access.add(access)
        self.valid_refresh.add(refresh)
        return web.json_response(
            {"token_type": "bearer", "expires_in": 7200, "access_token": access,
             "scope": " ".join(X_SCOPES), "refresh_token": refresh}
        )  # fmt: skip

    async def users(self, request: web.Request) -> web.Response:
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer not in self.valid_access:
            return web.json_response(
                {"title": "Unauthorized", "status": 401, "detail": "Unauthorized"}, status=401
            )
        token = request.query.get("pagination_token", "")
        if token in self.limited:
            status, headers = self.limited.pop(token)
            return web.json_response(
                {"title": "Too Many Requests", "status": status}, status=status, headers=headers
            )
        start = int(token.removeprefix("T") or 0)
        size = int(request.query["max_results"])
        users = [
            {"id": str(5000 + i), "name": f"User {i}", "username": f"user_{i}",
             "profile_image_url": f"https://pbs.twimg.com/profile_images/{i}/n.jpg"}
            for i in range(start, min(start + size, TOTAL))
        ]  # fmt: skip
        meta: dict[str, Any] = {"result_count": len(users)}
        if start + size < TOTAL:
            meta["next_token"] = f"T{start + size}"
        if start:
            meta["previous_token"] = f"T{start - size}"
        return web.json_response({"data": users, "meta": meta} if users else {"meta": meta})

    async def lookup(self, request: web.Request) -> web.Response:
        ids = request.query["ids"].split(",")
        assert len(ids) <= 100
        if ids[0] in self.limited:
            status, headers = self.limited.pop(ids[0])
            return web.json_response({"title": "Too Many Requests"}, status=status, headers=headers)
        found = [{"id": i, "name": f"N{i}", "username": f"h{i}"} for i in ids if int(i) < 9000]
        missing = [{"value": i, "detail": f"Could not find user with ids: [{i}].", "title": "Not Found Error"}
                   for i in ids if int(i) >= 9000]  # fmt: skip
        return web.json_response({"data": found, "errors": missing} if missing else {"data": found})


@pytest.fixture
async def server(serve: Serve) -> tuple[Fake, str]:
    fake = Fake()
    app = web.Application()
    app.router.add_post("/2/oauth2/token", fake.token)
    app.router.add_get("/2/users/{id}/following", fake.users)
    app.router.add_get("/2/users/{id}/followers", fake.users)
    app.router.add_get("/2/users", fake.lookup)
    return fake, await serve(app)


def auth_for(base: str, tokens: OAuthTokens) -> XAuth:
    return XAuth(tokens=tokens, client_id="kith-client", token_url=f"{base}/2/oauth2/token")


def test_pkce_rfc7636_vector_and_verifier_shape() -> None:
    for vector in json.loads(VECTORS.read_text())["vectors"]:
        assert code_challenge(vector["code_verifier"]) == vector["code_challenge"]
    verifier = make_code_verifier()
    assert 43 <= len(verifier) <= 128
    assert set(verifier) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    url = authorization_url(
        authorize_url="https://x.com/i/oauth2/authorize", client_id="kith-client",
        redirect_uri="http://127.0.0.1:8080/cb", scopes=X_SCOPES, state="st", verifier=verifier,
    )  # fmt: skip
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge"] == [code_challenge(verifier)]
    assert query["code_challenge_method"] == ["S256"]
    assert query["scope"] == ["tweet.read users.read follows.read offline.access"]


async def test_code_exchange_and_refresh(server: tuple[Fake, str]) -> None:
    fake, base = server
    verifier = make_code_verifier()
    fake.challenges["code-1"] = code_challenge(verifier)
    async with aiohttp.ClientSession() as session:
        tokens = await exchange_code(
            session, token_url=f"{base}/2/oauth2/token", client_id="kith-client", code="code-1",
            redirect_uri="http://127.0.0.1:8080/cb", verifier=verifier, now=lambda: NOW,
        )  # fmt: skip
        assert tokens == OAuthTokens(
            access_token="a2",
            refresh_token="r2",
            expires_at=NOW + timedelta(hours=2),
            scope=" ".join(X_SCOPES),
        )
        assert OAuthTokens.from_json(json.loads(json.dumps(tokens.to_json()))) == tokens
        assert fake.token_forms[-1]["grant_type"] == "authorization_code"
        fresh = await refresh_tokens(
            session, token_url=f"{base}/2/oauth2/token", client_id="kith-client", refresh_token="r2"
        )
        assert (fresh.access_token, fresh.refresh_token) == ("a3", "r3")
        assert fake.token_forms[-1] == {
            "grant_type": "refresh_token",
            "refresh_token": "r2",
            "client_id": "kith-client",
        }
        with pytest.raises(Revoked, match="Value passed"):
            await refresh_tokens(
                session, token_url=f"{base}/2/oauth2/token", client_id="kith-client", refresh_token="r2"
            )
        fake.challenges["code-2"] = code_challenge(verifier)
        with pytest.raises(Revoked, match="bad verifier"):
            await exchange_code(
                session, token_url=f"{base}/2/oauth2/token", client_id="kith-client", code="code-2",
                redirect_uri="http://127.0.0.1:8080/cb", verifier=make_code_verifier(),
            )  # fmt: skip


async def test_following_pages(server: tuple[Fake, str]) -> None:
    _fake, base = server
    auth = auth_for(
        base, OAuthTokens(access_token="a1", refresh_token="r1", expires_at=NOW + timedelta(hours=1))
    )
    async with aiohttp.ClientSession() as session:
        items = await drain(
            sync_following(session, user_id="1000", auth=auth, base_url=base, now=lambda: NOW)
        )
    assert [len(p.drafts) for p in items if isinstance(p, Page)] == [1000, 1000, 500]
    first = items[0].drafts[0]  # type: ignore[union-attr]
    assert first == ContactDraft(
        source_record_id="following:5000",
        display_name="User 0",
        photo_url="https://pbs.twimg.com/profile_images/0/n.jpg",
        identities=(IdentityDraft(address="5000", kind="x", label="user_0"),),
        follow="following",
    )
    assert auth.tokens.access_token == "a1"  # not expired: no refresh


async def test_expired_token_refreshed_before_the_call(server: tuple[Fake, str]) -> None:
    fake, base = server
    auth = auth_for(
        base, OAuthTokens(access_token="old", refresh_token="r1", expires_at=NOW - timedelta(minutes=1))
    )
    async with aiohttp.ClientSession() as session:
        items = await drain(
            sync_followers(session, user_id="1000", auth=auth, base_url=base, now=lambda: NOW)
        )
    assert sum(len(p.drafts) for p in items if isinstance(p, Page)) == TOTAL
    assert auth.tokens.access_token == "a2" and auth.tokens.refresh_token == "r2"  # the node persists these
    assert [f["grant_type"] for f in fake.token_forms] == ["refresh_token"]


async def test_401_mid_sync_refreshes_once_then_revokes(server: tuple[Fake, str]) -> None:
    fake, base = server
    # The stated expiry is in the future but the server has already dropped the token.
    auth = auth_for(
        base, OAuthTokens(access_token="dropped", refresh_token="r1", expires_at=NOW + timedelta(hours=1))
    )
    async with aiohttp.ClientSession() as session:
        items = await drain(
            sync_following(session, user_id="1000", auth=auth, base_url=base, now=lambda: NOW)
        )
        assert sum(len(p.drafts) for p in items if isinstance(p, Page)) == TOTAL
        fake.valid_access.clear()
        fake.valid_refresh.clear()
        with pytest.raises(Revoked):
            await drain(sync_following(session, user_id="1000", auth=auth, base_url=base, now=lambda: NOW))
        no_refresh = auth_for(base, OAuthTokens(access_token="x"))
        with pytest.raises(Revoked, match="401"):
            await drain(sync_following(session, user_id="1000", auth=no_refresh, base_url=base))


@pytest.mark.parametrize(
    ("status", "headers", "resume"),
    [
        (429, {"x-rate-limit-limit": "15", "x-rate-limit-remaining": "0", "x-rate-limit-reset": IN_9_MIN},
         NOW + timedelta(minutes=9)),
        (503, {"Retry-After": "30"}, NOW + timedelta(seconds=30)),
        (429, {}, NOW + timedelta(minutes=15)),
    ],
)  # fmt: skip
async def test_rate_limit_mid_way_then_resume(
    server: tuple[Fake, str], status: int, headers: dict[str, str], resume: datetime
) -> None:
    fake, base = server
    fake.limited["T2000"] = (status, headers)
    auth = auth_for(base, OAuthTokens(access_token="a1", refresh_token="r1"))
    async with aiohttp.ClientSession() as session:
        first = await drain(
            sync_following(session, user_id="1000", auth=auth, base_url=base, now=lambda: NOW)
        )
        limited = first[-1]
        assert isinstance(limited, RateLimited)
        assert limited.resume_at == resume
        assert len(limited.partial) == 2000
        assert json.loads(json.dumps(limited.cursor)) == limited.cursor  # the node stores it as JSON
        rest = await drain(
            sync_following(session, user_id="1000", auth=auth, base_url=base, cursor=limited.cursor)
        )
    ids = [d.source_record_id for p in first + rest if isinstance(p, Page) for d in p.drafts]
    assert len(ids) == len(set(ids)) == TOTAL


async def test_lookup_names_bare_ids_and_resumes(server: tuple[Fake, str]) -> None:
    fake, base = server
    ids = [str(7000 + i) for i in range(250)] + ["9001", "7000", "not-an-id"]  # unknown, duplicate, junk
    fake.limited["7100"] = (429, {"x-rate-limit-reset": IN_9_MIN})
    auth = auth_for(base, OAuthTokens(access_token="a1"))
    async with aiohttp.ClientSession() as session:
        first = await drain(lookup_users(session, ids=ids, auth=auth, base_url=base, now=lambda: NOW))
        limited = first[-1]
        assert isinstance(limited, RateLimited) and len(limited.partial) == 100
        rest = await drain(lookup_users(session, ids=ids, auth=auth, base_url=base, cursor=limited.cursor))
    drafts = [d for p in first + rest if isinstance(p, Page) for d in p.drafts]
    assert len(drafts) == 250
    assert drafts[0] == ContactDraft(
        source_record_id="user:7000",
        display_name="N7000",
        identities=(IdentityDraft(address="7000", kind="x", label="h7000"),),
    )
