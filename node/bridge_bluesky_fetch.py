"""The guarded GET with which the Bluesky bridge reads what a DID document names (issue #18): a did:web host's
``/.well-known/did.json`` and any PDS other than the configured one (bridges/bluesky_bridge/reader.py's
``fetch_hostile``). A DID document is its account's to write, so these URLs go through federation's guarded
client (docs/ARCHITECTURE.md §5): private, loopback and link-local addresses refused however they are spelled or
resolved (``federation.allow_private_networks`` is the tests' allowance), plain http only with
``federation.allow_http``, 5 s to connect, ``federation.fetch_timeout`` in all, bodies past 1 MiB abandoned, at
most 3 redirects each checked again. Every failure is the reader's ReadError, saying what was refused and why.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from bridges.bluesky_bridge import ReadError
from bridges.bluesky_bridge.reader import JsonFetch
from federation.errors import FetchError
from federation.fetch import FetchPolicy, GuardedClient
from node.federation_wiring import federation_settings
from node.server import Server

__all__ = ["GuardedJson", "guarded_fetch"]


class GuardedJson:
    """``fetch_hostile`` over a guarded client: the JSON at ``url`` (with ``params``), or a ReadError carrying
    the status and XRPC error code of a refusal (the reader tells RecordNotFound from an outage by them)."""

    def __init__(self, client: GuardedClient) -> None:
        self.client = client

    async def __call__(self, url: str, params: Mapping[str, str]) -> Any:
        full = f"{url}?{urlencode(dict(params))}" if params else url
        try:
            resp = await self.client.request(
                "GET", full, headers={"Accept": "application/json"}, accept_types=("application/json",)
            )
            if resp.status != 200:
                code = _error_code(resp.body)
                raise ReadError(
                    f"{urlsplit(full).hostname} answered {resp.status}" + (f" ({code})" if code else ""),
                    status=resp.status,
                    error=code,
                )
            return resp.json_object()
        except FetchError as exc:
            raise ReadError(f"{exc} (refused by the guarded client; the account is not read)") from None


def _error_code(body: bytes) -> str:
    try:
        data = json.loads(body[: 16 << 10])
    except (ValueError, RecursionError):
        return ""
    code = data.get("error") if isinstance(data, dict) else None
    return "".join(ch for ch in code[:100] if ch.isprintable()) if isinstance(code, str) else ""


@contextlib.asynccontextmanager
async def guarded_fetch(server: Server, client: GuardedClient | None = None) -> AsyncIterator[JsonFetch]:
    """``fetch_hostile`` for one pass: over ``client`` (the running federation's) when given, else over a
    guarded client of the server's federation settings made for the pass and closed after it."""
    if client is not None:
        yield GuardedJson(client)
        return
    own = GuardedClient(FetchPolicy.from_settings(federation_settings(server.config)))
    try:
        yield GuardedJson(own)
    finally:
        await own.close()
