"""The settings page's current-password check (changing the password, rotating the token) is a password guess
like a sign-in, and spends the sign-in's budget (issue 12 §6): whoever holds a session cannot guess the password
there at full speed, nor around the limit by alternating with /login."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import aiohttp
import pytest

from node.server import read_token
from node.web.framework import WEB_APP
from node.web.sessions import LoginLimiter, check_password

from .conftest import Browserish, Node, run_cli, sign_in

FORMS = {
    "/settings/password": {"password": "a new long password", "password_again": "a new long password"},
    "/settings/token": {},
}


@pytest.fixture
async def with_password(node: Node, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Browserish]:
    """A signed-in client of a node whose web password is "correct horse battery" (set before signing in:
    setting it ends every session)."""
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    code, _out, err = await asyncio.to_thread(run_cli, "--data", node.data_dir, "password", "set", "--stdin")
    assert code == 0, err
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        resp = await sign_in(node, session, node.token)
        assert resp.status == 200 and resp.url.path == "/"
        yield Browserish(node=node, session=session)


@pytest.mark.parametrize("path", sorted(FORMS))
async def test_guesses_on_the_settings_page_are_limited_per_client(
    with_password: Browserish, node: Node, path: str
) -> None:
    client = with_password
    node.app[WEB_APP].limiter = LoginLimiter(limit=3, total=100)
    token = read_token(node.data_dir, "alice")
    for guess in ("wrong 1", "wrong 2", "wrong 3"):
        _, html = await client.post(path, {"current": guess, **FORMS[path]}, from_page="/settings")
        assert "is wrong; nothing was changed" in html
    # Over the limit, even the right secret is not looked at: a guesser learns nothing from the answer.
    for right in ("correct horse battery", token):
        _, html = await client.post(path, {"current": right, **FORMS[path]}, from_page="/settings")
        assert "Too many failed attempts; nothing was changed" in html
    assert read_token(node.data_dir, "alice") == token
    assert await check_password(node.ctx.store, "correct horse battery")
    # The sign-in form shares the budget: this client is held back there too.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        assert (await sign_in(node, other, token)).status == 429


async def test_sign_in_failures_count_on_the_settings_page(with_password: Browserish, node: Node) -> None:
    client = with_password
    node.app[WEB_APP].limiter = LoginLimiter(limit=3, total=100)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        for _ in range(2):
            assert (await sign_in(node, other, "not it")).status == 401
    _, html = await client.post("/settings/token", {"current": "not it either"}, from_page="/settings")
    assert "is wrong" in html
    _, html = await client.post(
        "/settings/token", {"current": "correct horse battery"}, from_page="/settings"
    )
    assert "Too many failed attempts" in html


async def test_the_node_wide_budget_holds_passwords_back_but_not_the_token(
    with_password: Browserish, node: Node
) -> None:
    client = with_password
    node.app[WEB_APP].limiter = LoginLimiter(limit=100, total=3)
    form = FORMS["/settings/password"]
    for _ in range(3):
        _, html = await client.post("/settings/password", {"current": "nope", **form}, from_page="/settings")
        assert "is wrong" in html
    _, html = await client.post(
        "/settings/password", {"current": "correct horse battery", **form}, from_page="/settings"
    )
    assert "passwords are not accepted" in html and "The owner token still works" in html
    assert await check_password(node.ctx.store, "correct horse battery")
    token = read_token(node.data_dir, "alice")
    _, html = await client.post("/settings/password", {"current": token, **form}, from_page="/settings")
    assert "Password set" in html
    assert await check_password(node.ctx.store, "a new long password")
