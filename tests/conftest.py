"""Shared fixtures: a real data folder made by `kith init`, an open AccountContext on its SQLite file, and the
node's aiohttp app served on 127.0.0.1 (a free port) with the owner token. Time comes from a fixed clock so
that stay-in-touch tests do not depend on when they run."""

from __future__ import annotations

import contextlib
import io
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from node.app import build_app
from node.cli import main as cli_main
from node.config import load_config
from node.context import AccountContext
from node.server import read_token

# PostgreSQL fixtures (a throw-away cluster per session) for any test that asks for them, and ``engine``, which
# runs a test on both storage engines.
pytest_plugins = ["tests.support.postgres", "tests.support.engines"]

#: The storage.url of each server new_server_account makes ("": SQLite files in its folder); the ``engine``
#: fixture (tests/support/engines.py) points it at a fresh PostgreSQL database.
storage_url: Callable[[], str] = str

T0 = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


class FixedClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_cli(*argv: str | Path) -> CliResult:
    """`kith ARGV...` in this process (argparse and asyncio.run as the console script does)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli_main([str(a) for a in argv])
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
    return CliResult(code, out.getvalue(), err.getvalue())


async def new_server_account(
    folder: Path, name: str = "alice", *, clock: Any = None, token: str | None = None
) -> AccountContext:
    """A new server in ``folder`` with one account ``name`` (as `kith init` makes it), opened; ``token``
    replaces the generated owner token."""
    from node.keys import save_node_key
    from node.server import Server
    from protocol.keys import generate_rsa_key

    folder.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (test set-up)
    url = storage_url()
    config = load_config(folder, env={"KITH_STORAGE_URL": url} if url else {})
    save_node_key(folder, generate_rsa_key(), None)
    server = await Server.open(config, **({"clock": clock} if clock else {}))
    try:
        await server.add_account(name)
        ctx = await server.context(name)
        if token is not None:
            await ctx.set_token(token)
    except BaseException:
        await server.close()
        raise
    ctx.owns_server = True
    return ctx


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture(scope="session")
def _initialised_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `kith init` per session (RSA key generation is slow); each test gets a copy of the folder."""
    folder = tmp_path_factory.mktemp("template") / "node"
    with pytest.MonkeyPatch.context() as mp:
        for var in ("KITH_DATA", "KITH_PASSPHRASE"):
            mp.delenv(var, raising=False)
        result = run_cli("--data", folder, "init", "--username", "alice", "--domain", "kith.test")
    assert result.code == 0, result.err
    return folder


@pytest.fixture
def data_dir(tmp_path: Path, _initialised_template: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh node folder as `kith init --username alice --domain kith.test` leaves it."""
    for var in ("KITH_DATA", "KITH_PASSPHRASE"):
        monkeypatch.delenv(var, raising=False)
    folder = tmp_path / "node"
    shutil.copytree(_initialised_template, folder)
    yield folder


@pytest.fixture
async def ctx(data_dir: Path, clock: FixedClock) -> AsyncIterator[AccountContext]:
    context = await AccountContext.open(load_config(data_dir, env={}), clock=clock, load_keys=False)
    try:
        yield context
    finally:
        await context.close()


@dataclass
class Api:
    """A client of a running node's owner API (real HTTP over loopback)."""

    base: str
    token: str
    session: aiohttp.ClientSession
    ctx: AccountContext

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | None = None,
        token: str | None = "default",
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        hdrs = dict(headers or {})
        if token == "default":
            token = self.token
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        async with self.session.request(
            method, self.base + path, json=json, data=data, params=params, headers=hdrs
        ) as resp:
            raw = await resp.read()
            if resp.content_type == "application/json":
                import json as _json

                return resp.status, _json.loads(raw)
            return resp.status, raw.decode("utf-8", "replace")

    async def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return await self.call("POST", path, json=body if body is not None else {}, **kw)

    async def patch(self, path: str, body: Any, **kw: Any) -> tuple[int, Any]:
        return await self.call("PATCH", path, json=body, **kw)

    async def put(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return await self.call("PUT", path, json=body if body is not None else {}, **kw)

    async def delete(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.call("DELETE", path, **kw)

    async def person(self, name: str, *identities: str, **fields: Any) -> dict[str, Any]:
        status, body = await self.post(
            "/api/people", {"display_name": name, "identities": list(identities), **fields}
        )
        assert status == 201, body
        return dict(body)


@pytest.fixture
async def app_runner(ctx: AccountContext) -> AsyncIterator[tuple[web.Application, str]]:
    from node.web import setup_web

    app = build_app(ctx.server, extensions=[setup_web])  # the API and the web UI, without federation
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield app, f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def api(
    app_runner: tuple[web.Application, str], ctx: AccountContext, data_dir: Path
) -> AsyncIterator[Api]:
    _, base = app_runner
    async with aiohttp.ClientSession() as session:
        yield Api(base=base, token=read_token(data_dir, "alice"), session=session, ctx=ctx)
