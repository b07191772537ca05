"""Requests one account of this server makes to another, served without the network (issue #13 §5).

Two accounts on one server federate exactly as with remote ones: one resolves the other by WebFinger, fetches
its actor document and key, and delivers to its inbox. The guarded client (federation/fetch.py) hands every
request for this server's own origin to :class:`LocalTransport`, which answers it with the very functions that
answer the network (federation/routes.py): a delivery is signed as for any peer, and its receiving account's
intake verifies that signature, its origin, blocks and dedupe, as it would for a remote one. Only the hop is
skipped (a server behind a proxy or NAT often cannot reach its own public address, and need not).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlsplit

from multidict import CIMultiDict, CIMultiDictProxy

from federation.fetch import FetchResponse
from federation.remote import origin
from protocol.errors import TooLarge
from protocol.jsonld import MAX_DOCUMENT_BYTES

if TYPE_CHECKING:
    from federation.service import Federation

__all__ = ["LOCAL_CLIENT", "LocalTransport"]

#: The address a local request is charged to by the intake's rate limits (it has no network address).
LOCAL_CLIENT = "local"


class LocalTransport:
    """This server's origin, served in-process (GuardedClient.local)."""

    def __init__(self, fed: Federation) -> None:
        self.fed = fed
        self.origin = origin(fed.urls.base)
        self.requests = 0  # counters for tests

    def owns(self, url: str) -> bool:
        return origin(url) == self.origin

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> FetchResponse:
        from federation.routes import Asked, respond

        if body is not None and len(body) > MAX_DOCUMENT_BYTES:
            raise TooLarge(f"body is over the {MAX_DOCUMENT_BYTES} byte limit")
        parts = urlsplit(url)
        raw_path = parts.path or "/"
        payload = body or b""

        async def read_body() -> bytes:
            return payload

        self.requests += 1
        asked = Asked(
            method=method,
            path=unquote(raw_path),
            path_qs=raw_path + (f"?{parts.query}" if parts.query else ""),
            query=dict(parse_qsl(parts.query)),
            headers=CIMultiDictProxy(CIMultiDict(headers)),
            remote=LOCAL_CLIENT,
            match={},
            read_body=read_body,
        )
        answer = await respond(self.fed, asked)
        out = CIMultiDict(answer.headers)
        out["Content-Type"] = answer.content_type
        return FetchResponse(
            status=answer.status,
            url=url,
            headers=CIMultiDictProxy(out),
            body=answer.body,
            content_type=answer.content_type,
        )
