"""Fixtures for the web UI tests: a node folder made by `kith init`, the node's whole app served on
127.0.0.1 (a free port), and a signed-in HTTP client that fills forms the way a browser does (CSRF field from
the page, cookies kept, redirects followed)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from node.app import build_app
from node.cli import main as cli_main
from node.config import load_config
from node.context import AccountContext
from node.server import read_token


def run_cli(*argv: str | Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli_main([str(a) for a in argv])
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="session")
def _web_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("webtemplate") / "node"
    with pytest.MonkeyPatch.context() as mp:
        for var in ("KITH_DATA", "KITH_PASSPHRASE"):
            mp.delenv(var, raising=False)
        code, _, err = run_cli("--data", folder, "init", "--username", "alice", "--domain", "127.0.0.1:8700")
    assert code == 0, err
    return folder


@pytest.fixture
def node_dir(tmp_path: Path, _web_template: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("KITH_DATA", "KITH_PASSPHRASE"):
        monkeypatch.delenv(var, raising=False)
    folder = tmp_path / "node"
    shutil.copytree(_web_template, folder)
    return folder


@dataclass
class Node:
    base: str
    token: str
    ctx: AccountContext
    data_dir: Path
    app: web.Application


async def serve(ctx: AccountContext, data_dir: Path) -> tuple[Node, web.AppRunner]:
    """The web UI and the API over ``ctx``'s server, without federation (federating_node has it)."""
    from node.web import setup_web

    app = build_app(ctx.server, extensions=[setup_web])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return Node(
        base=f"http://{host}:{port}", token=read_token(data_dir, "alice"), ctx=ctx, data_dir=data_dir, app=app
    ), runner


@pytest.fixture
async def node(node_dir: Path) -> AsyncIterator[Node]:
    ctx = await AccountContext.open(load_config(node_dir, env={}), load_keys=False)
    served, runner = await serve(ctx, node_dir)
    try:
        yield served
    finally:
        await runner.cleanup()
        await ctx.close()


_CSRF = re.compile(r'name="(?:csrf|login_csrf)" value="([^"]+)"')


@dataclass
class Browserish:
    """An HTTP client that behaves like a browser without JavaScript."""

    node: Node
    session: aiohttp.ClientSession
    last_html: str = ""

    async def get(self, path: str, *, status: int = 200) -> str:
        async with self.session.get(self.node.base + path) as resp:
            self.last_html = await resp.text()
            assert resp.status == status, (resp.status, self.last_html[:2000])
            return self.last_html

    def csrf(self, html: str | None = None) -> str:
        found = _CSRF.search(html if html is not None else self.last_html)
        assert found, "no CSRF field on the page"
        return found.group(1)

    async def post(
        self, path: str, data: dict[str, Any], *, from_page: str | None = None, status: int = 200
    ) -> tuple[str, str]:
        """Submit a form as the page ``from_page`` (default: the last page fetched) has it; returns the final
        URL path and the HTML after redirects."""
        if from_page is not None:
            await self.get(from_page)
        body = {"csrf": self.csrf(), **data}
        async with self.session.post(self.node.base + path, data=body) as resp:
            self.last_html = await resp.text()
            assert resp.status == status, (resp.status, self.last_html[:2000])
            return resp.url.path + (
                f"?{resp.url.query_string}" if resp.url.query_string else ""
            ), self.last_html


async def sign_in(node: Node, session: aiohttp.ClientSession, secret: str) -> aiohttp.ClientResponse:
    async with session.get(node.base + "/login") as resp:
        html = await resp.text()
    found = _CSRF.search(html)
    assert found
    async with session.post(
        node.base + "/login", data={"login_csrf": found.group(1), "secret": secret, "next": "/"}
    ) as resp:
        await resp.read()
        return resp


@pytest.fixture
async def client(node: Node) -> AsyncIterator[Browserish]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        resp = await sign_in(node, session, node.token)
        assert resp.status == 200 and resp.url.path == "/", resp.status
        yield Browserish(node=node, session=session)


def cookie(session: aiohttp.ClientSession, node: Node, name: str) -> str | None:
    morsel = session.cookie_jar.filter_cookies(URL(node.base)).get(name)
    return morsel.value if morsel else None


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def federating_node(folder: Path, username: str) -> AsyncIterator[Node]:
    """A node with its keys and federation, on the port its domain names, allowed to reach loopback peers over
    plain http (the configuration the README gives for two nodes on one machine)."""
    port = free_port()
    code, _, err = await asyncio.to_thread(
        run_cli, "--data", folder, "init", "--username", username, "--domain", f"127.0.0.1:{port}"
    )
    assert code == 0, err
    env = {"KITH_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8", "KITH_ALLOW_HTTP": "1"}
    ctx = await AccountContext.open(load_config(folder, env=env))
    app = build_app(ctx.server)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield Node(
            base=f"http://127.0.0.1:{port}",
            token=read_token(folder, username),
            ctx=ctx,
            data_dir=folder,
            app=app,
        )
    finally:
        await runner.cleanup()
        await ctx.close()
