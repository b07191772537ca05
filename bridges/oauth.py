"""OAuth 2.0 Authorization Code with PKCE (RFC 7636, S256), token exchange and refresh (RFC 6749 §4.1, §6).

X API v2 uses this flow (docs/SILOS.md §2 "X API v2"): access tokens last two hours; ``offline.access`` adds a
refresh token, exchanged with ``grant_type=refresh_token``. A refused grant (400 ``invalid_grant`` or 401)
means the owner revoked access: it raises ``Revoked``. Tokens are plain JSON-able values the node stores
(encrypted when the owner has set a passphrase); nothing here persists anything.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bridges.live import Clock, LiveError, Revoked, read_body, utcnow

__all__ = [
    "OAuthTokens",
    "authorization_url",
    "code_challenge",
    "exchange_code",
    "make_code_verifier",
    "make_state",
    "refresh_tokens",
]

_SKEW = timedelta(seconds=60)  # refresh a little early: a token that expires in flight is a wasted request


@dataclass(frozen=True, kw_only=True, slots=True)
class OAuthTokens:
    access_token: str
    refresh_token: str | None = None
    expires_at: datetime | None = None
    scope: str = ""

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now + _SKEW >= self.expires_at

    def to_json(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "scope": self.scope,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OAuthTokens:
        expires = data.get("expires_at")
        return cls(
            access_token=str(data["access_token"]),
            refresh_token=data.get("refresh_token"),
            expires_at=datetime.fromisoformat(expires) if expires else None,
            scope=str(data.get("scope") or ""),
        )


def make_code_verifier() -> str:
    """43-128 characters from the unreserved set (RFC 7636 §4.1): 64 random bytes, base64url."""
    return secrets.token_urlsafe(64)[:128]


def make_state() -> str:
    return secrets.token_urlsafe(24)


def code_challenge(verifier: str) -> str:
    """S256: base64url(sha256(verifier)) without padding (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorization_url(
    *,
    authorize_url: str,
    client_id: str,
    redirect_uri: str,
    scopes: tuple[str, ...],
    state: str,
    verifier: str,
) -> str:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(scopes),
        "state": state,
        "code_challenge": code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    return f"{authorize_url}?{urlencode(query)}"


async def _token_request(
    session: aiohttp.ClientSession,
    token_url: str,
    form: dict[str, str],
    *,
    client_id: str,
    client_secret: str | None,
    now: datetime,
    previous_refresh: str | None = None,
) -> OAuthTokens:
    # A confidential client authenticates with Basic; a public client names itself in the body.
    auth = aiohttp.BasicAuth(client_id, client_secret) if client_secret else None
    if not client_secret:
        form = {**form, "client_id": client_id}
    async with session.post(token_url, data=form, auth=auth, allow_redirects=False) as resp:
        try:
            data = json.loads(await read_body(resp))
        except ValueError:
            data = None
        if resp.status == 401 or (resp.status == 400 and isinstance(data, dict) and data.get("error") in (
            "invalid_grant", "invalid_client", "unauthorized_client"
        )):  # fmt: skip
            detail = data.get("error_description") or data.get("error") if isinstance(data, dict) else ""
            raise Revoked(
                f"the token endpoint refused the grant ({detail}); link the account again", status=401
            )
        if resp.status != 200 or not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
            raise LiveError(
                f"token endpoint answered {resp.status} without an access token", status=resp.status
            )
    expires_in = data.get("expires_in")
    return OAuthTokens(
        access_token=data["access_token"],
        # Some servers rotate refresh tokens, others keep the old one valid and send none.
        refresh_token=data.get("refresh_token") or previous_refresh,
        expires_at=now + timedelta(seconds=int(expires_in)) if isinstance(expires_in, int | float) else None,
        scope=str(data.get("scope") or ""),
    )


async def exchange_code(
    session: aiohttp.ClientSession,
    *,
    token_url: str,
    client_id: str,
    code: str,
    redirect_uri: str,
    verifier: str,
    client_secret: str | None = None,
    now: Clock = utcnow,
) -> OAuthTokens:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    return await _token_request(
        session, token_url, form, client_id=client_id, client_secret=client_secret, now=now()
    )


async def refresh_tokens(
    session: aiohttp.ClientSession,
    *,
    token_url: str,
    client_id: str,
    refresh_token: str,
    client_secret: str | None = None,
    now: Clock = utcnow,
) -> OAuthTokens:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return await _token_request(
        session,
        token_url,
        form,
        client_id=client_id,
        client_secret=client_secret,
        now=now(),
        previous_refresh=refresh_token,
    )
