"""The bridge's bot account writing on its own PDS (issue #18: ``bridge.bluesky.bot_password``): it logs in
(``com.atproto.server.createSession``) and posts its answers to asks (``com.atproto.repo.createRecord`` of an
``app.bsky.feed.post``) in its own repository. It never writes anywhere else: the bridge holds no other
account's password.

Answers are bounded like every read of the bridge (bridges/live.py's ``read_body``), and any failure is a
:class:`BotError` naming the call; an expired session is made again once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bridges.live import LiveError, read_body

__all__ = ["BlueskyBot", "BotError"]

_MAX_ANSWER = 1 << 20


class BotError(Exception):
    """The bot could not log in or post; the message says which call failed and what to check."""


@dataclass
class BlueskyBot:
    session: aiohttp.ClientSession
    pds_url: str
    handle: str
    password: str = field(repr=False)
    _access: str = field(default="", repr=False)
    did: str = ""

    async def _call(self, method: str, body: dict[str, Any], token: str = "") -> dict[str, Any]:
        url = f"{self.pds_url.rstrip('/')}/xrpc/{method}"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            async with self.session.post(url, json=body, headers=headers, allow_redirects=False) as resp:
                raw = await read_body(resp, _MAX_ANSWER)
                try:
                    data = json.loads(raw) if raw else {}
                except (ValueError, RecursionError):
                    data = {}
                if not isinstance(data, dict):
                    data = {}
                if resp.status != 200:
                    error = str(data.get("error", ""))[:100]
                    raise _Refused(f"{method}: HTTP {resp.status} {error}".rstrip(), error)
                return data
        except (aiohttp.ClientError, LiveError, TimeoutError) as exc:
            raise BotError(
                f"{method}: {url} cannot be reached ({exc}); check bridge.bluesky.pds_url"
            ) from None

    async def login(self) -> None:
        try:
            out = await self._call(
                "com.atproto.server.createSession", {"identifier": self.handle, "password": self.password}
            )
        except _Refused as exc:
            raise BotError(
                f"the bot {self.handle} cannot log in ({exc}); check bridge.bluesky.bot_handle and "
                "bot_password (KITH_BRIDGE_BLUESKY_BOT_PASSWORD)"
            ) from None
        token, did = out.get("accessJwt"), out.get("did")
        if not isinstance(token, str) or not isinstance(did, str):
            raise BotError(f"the bot {self.handle} logged in but no session came back")
        self._access, self.did = token, did

    async def post(self, record: dict[str, Any]) -> str:
        """Write ``record`` (an app.bsky.feed.post) in the bot's repository; its at:// URI."""
        if not self._access:
            await self.login()
        body = {"repo": self.did, "collection": "app.bsky.feed.post", "record": record}
        try:
            out = await self._call("com.atproto.repo.createRecord", body, self._access)
        except _Refused as exc:
            if exc.error not in ("ExpiredToken", "InvalidToken", "AuthenticationRequired"):
                raise BotError(f"the bot could not post ({exc})") from None
            await self.login()  # the session expired: once more with a new one
            try:
                out = await self._call("com.atproto.repo.createRecord", body, self._access)
            except _Refused as again:
                raise BotError(f"the bot could not post ({again})") from None
        uri = out.get("uri")
        return uri if isinstance(uri, str) else ""


class _Refused(BotError):
    def __init__(self, message: str, error: str) -> None:
        super().__init__(message)
        self.error = error
