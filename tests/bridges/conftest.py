from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.bridges.atproto_net import Devnet, session_devnet

Serve = Callable[[web.Application], Awaitable[str]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start an aiohttp app on 127.0.0.1 (a free port) and return its base URL; closed after the test."""
    servers: list[TestServer] = []

    async def start(app: web.Application) -> str:
        srv = TestServer(app, host="127.0.0.1", port=0)
        await srv.start_server()
        servers.append(srv)
        return str(srv.make_url("")).rstrip("/")

    yield start
    for srv in servers:
        await srv.close()


@pytest.fixture(scope="session")
def atproto_devnet() -> Iterator[Devnet]:
    """A real AT Protocol network (PLC directory + reference PDS) on loopback, shared by the session; see
    tests/bridges/atproto_net.py and scripts/atproto-devnet."""
    yield from session_devnet()


@pytest.fixture(scope="session")
def atproto_appview() -> Iterator[Devnet]:
    """The same network with the Bluesky App View (and the PostgreSQL and Redis it needs), for
    ``app.bsky.*`` queries such as getFollowers; slower to start, so only tests that need it use it."""
    yield from session_devnet(appview=True)
