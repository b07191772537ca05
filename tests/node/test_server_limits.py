"""Slow and numerous clients against the server `kith serve` builds (node.app.start_server), with real
sockets on loopback: connections per address, slow request heads, idle connections and slow bodies.

Clients come from chosen loopback addresses (127.0.0.0/8 is all ours). Counts are small and limits short;
each wait is for an outcome (a refusal, a close, a 408), bounded by GUARD only so that a broken build fails
instead of hanging."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from node.app import build_app, start_server
from node.context import AccountContext
from node.server import read_token
from node.server_limits import LimitedSite, ServerLimits

GUARD = 30.0
LIMITS = ServerLimits(idle_seconds=1.0, connections_per_address=8, connections_total=64)


class Server:
    def __init__(self, host: str, port: int, token: str, site: LimitedSite) -> None:
        self.host, self.port, self.token, self.site = host, port, token, site

    async def connect(self, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.host, self.port, local_addr=(source, 0))

    def request(self, method: str = "GET", path: str = "/api/people", body: bytes = b"") -> bytes:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {self.token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    async def ask(self, source: str) -> int:
        """One whole request from ``source``; the status of its answer."""
        reader, writer = await self.connect(source)
        try:
            writer.write(self.request())
            return await status_of(reader)
        finally:
            writer.close()


async def status_of(reader: asyncio.StreamReader) -> int:
    line = await asyncio.wait_for(reader.readline(), GUARD)
    return int(line.split()[1]) if line else 0


async def closed(reader: asyncio.StreamReader) -> bool:
    """True once the server has closed the connection (whatever it sent before)."""
    try:
        while await asyncio.wait_for(reader.read(65536), GUARD):
            pass
    except ConnectionResetError:
        pass
    return True


@pytest.fixture
async def server(
    ctx: AccountContext, data_dir: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Server]:
    limits: ServerLimits = getattr(request, "param", LIMITS)
    app = build_app(ctx.server, limits=limits)
    runner = await start_server(app, ctx.config, host="127.0.0.1", port=0, limits=limits)
    host, port = runner.addresses[0][:2]
    site = next(iter(runner.sites))
    assert isinstance(site, LimitedSite)
    try:
        yield Server(host, port, read_token(data_dir, "alice"), site)
    finally:
        await runner.cleanup()


async def test_one_address_cannot_hold_every_connection(server: Server) -> None:
    """An address opening three times its allowance of connections (and dribbling on them) gets the rest
    answered 503 and closed, while another address is served as usual; the allowance comes back as the
    held connections go."""
    held = []
    for _ in range(LIMITS.connections_per_address):
        reader, writer = await server.connect("127.0.0.2")
        writer.write(b"GET /api/people HTTP/1.1\r\n")  # a head that never ends
        held.append((reader, writer))
    await until_gate(server, 8)
    refused = []
    for _ in range(2 * LIMITS.connections_per_address):
        reader, writer = await server.connect("127.0.0.2")
        refused.append(await status_of(reader))
        assert await closed(reader)
        writer.close()
    assert refused == [503] * 16
    assert server.site.gate.open["127.0.0.2"] == 8
    assert await server.ask("127.0.0.3") == 200  # the node answers everyone else meanwhile
    for _, writer in held:
        writer.close()
    await until_gate(server, 0)
    assert await server.ask("127.0.0.2") == 200


async def until_gate(server: Server, count: int) -> None:
    """Until the server has counted the connections in or out (it learns of a close a moment later)."""
    for _ in range(int(GUARD / 0.01)):
        if server.site.gate.count == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{server.site.gate.count} connections counted, not {count}")


async def test_a_request_head_sent_a_byte_at_a_time_is_cut_off(server: Server) -> None:
    reader, writer = await server.connect("127.0.0.2")
    head = b"GET /api/people HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 10_000
    sent = 0
    read = asyncio.ensure_future(reader.read(65536))
    while not read.done() and sent < len(head):  # the head never ends: the server must give up on it
        writer.write(head[sent : sent + 1])
        sent += 1
        await asyncio.wait([read], timeout=0.05)
    assert read.done() and sent < len(head)
    assert await closed(reader)
    writer.close()
    await until_gate(server, 0)


async def test_an_idle_connection_is_closed(server: Server) -> None:
    reader, writer = await server.connect("127.0.0.2")
    writer.write(server.request())
    assert await status_of(reader) == 200
    assert await closed(reader)  # nothing more is asked: the server closes it after idle_seconds
    writer.close()
    await until_gate(server, 0)


@pytest.mark.parametrize("server", [replace(LIMITS, body_grace=0.5, body_min_rate=2000)], indirect=True)
async def test_a_body_sent_slowly_is_answered_408_and_closed(server: Server) -> None:
    body = json.dumps({"display_name": "Slow Sam"}).encode() + b" " * 6000  # JSON may end in white space
    reader, writer = await server.connect("127.0.0.2")
    message = server.request("POST", "/api/people", body)
    head_end = message.index(b"\r\n\r\n") + 4
    writer.write(message[:head_end])
    sent = head_end
    answer = asyncio.ensure_future(reader.read(65536))
    while not answer.done() and sent < len(message):  # about 200 bytes a second, ten times too slow
        writer.write(message[sent : sent + 10])
        sent += 10
        await asyncio.wait([answer], timeout=0.05)
    assert sent < len(message)
    first = await answer
    assert first.startswith(b"HTTP/1.1 408") and b"slower than 2000 bytes a second" in first
    assert b"Connection: close" in first
    assert await closed(reader)
    writer.close()
    # a body that arrives at once is served as ever, on the same node
    reader, writer = await server.connect("127.0.0.2")
    writer.write(message)
    assert await status_of(reader) == 201
    writer.close()
