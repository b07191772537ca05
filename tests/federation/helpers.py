"""Shared pieces for federation tests: real aiohttp servers on loopback, and a scriptable DNS resolver."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult


@asynccontextmanager
async def serve(app: web.Application, host: str = "127.0.0.1") -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


class ScriptedResolver(AbstractResolver):
    """Answers host names from a script: each name maps to a list of answers, one per look-up (the last one
    repeats), so a test can make an answer change between look-ups the way DNS rebinding does."""

    def __init__(self, script: dict[str, list[tuple[str, int]]]) -> None:
        self.script = script
        self.calls: dict[str, int] = {}

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        n = self.calls.get(host, 0)
        self.calls[host] = n + 1
        answers = self.script.get(host)
        if not answers:
            raise OSError(f"no such host {host}")
        ip, real_port = answers[min(n, len(answers) - 1)]
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        return [{"hostname": host, "host": ip, "port": real_port, "family": fam, "proto": 0, "flags": 0}]

    async def close(self) -> None:
        return None
