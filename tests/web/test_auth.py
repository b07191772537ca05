"""Signing in and out, sessions, CSRF and the security headers, over real HTTP against the whole node app."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from node.config import load_config
from node.context import AccountContext
from node.web.framework import WEB_APP
from node.web.sessions import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    LoginLimiter,
    has_password,
    hash_password,
    verify_password,
)

from .conftest import Browserish, Node, cookie, run_cli, serve, sign_in


def jar() -> aiohttp.CookieJar:
    return aiohttp.CookieJar(unsafe=True)


async def test_pages_need_a_session_and_come_back_after_login(node: Node) -> None:
    async with aiohttp.ClientSession(cookie_jar=jar()) as s:
        async with s.get(node.base + "/people?q=ada", allow_redirects=False) as resp:
            assert resp.status == 303
            location = URL(resp.headers["Location"])
            assert location.path == "/login" and location.query["next"] == "/people?q=ada"
        async with s.get(node.base + "/login?next=%2Fpeople%3Fq%3Dada") as resp:
            html = await resp.text()
        csrf = re.search(r'name="login_csrf" value="([^"]+)"', html)
        assert csrf
        async with s.post(
            node.base + "/login",
            data={"login_csrf": csrf.group(1), "secret": node.token, "next": "/people?q=ada"},
        ) as resp:
            assert resp.status == 200
            assert resp.url.path == "/people" and resp.url.query["q"] == "ada"


async def test_session_cookie_flags(node: Node) -> None:
    async with aiohttp.ClientSession(cookie_jar=jar()) as s:
        resp = await sign_in(node, s, node.token)
        set_cookies = [
            h for h in resp.history[0].headers.getall("Set-Cookie") if h.startswith(SESSION_COOKIE)
        ]
        assert len(set_cookies) == 1
        flags = set_cookies[0].lower()
        assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
        assert "secure" not in flags  # plain http here: a Secure cookie would never come back


async def test_secure_cookie_when_served_over_tls(node_dir: Path) -> None:
    config = load_config(node_dir, env={"KITH_NODE_HTTPS": "true"})
    ctx = await AccountContext.open(config, load_keys=False)
    node, runner = await serve(ctx, node_dir)
    try:
        async with aiohttp.ClientSession(cookie_jar=jar()) as s, s.get(node.base + "/login") as resp:
            login_cookie = [h for h in resp.headers.getall("Set-Cookie") if h.startswith(LOGIN_CSRF_COOKIE)]
            assert "secure" in login_cookie[0].lower()
            assert resp.headers["Strict-Transport-Security"] == "max-age=31536000"
    finally:
        await runner.cleanup()
        await ctx.close()


async def test_wrong_secret_is_refused_and_guessing_is_slowed(node: Node) -> None:
    async with aiohttp.ClientSession(cookie_jar=jar()) as s:
        for _ in range(10):
            resp = await sign_in(node, s, "kith_wrong")
            assert resp.status == 401
            assert cookie(s, node, SESSION_COOKIE) is None
        resp = await sign_in(node, s, node.token)  # even the right token waits once the limit is reached
        assert resp.status == 429
        assert cookie(s, node, SESSION_COOKIE) is None


async def test_login_form_needs_its_own_csrf_cookie(node: Node) -> None:
    async with aiohttp.ClientSession(cookie_jar=jar()) as s:
        async with s.post(node.base + "/login", data={"login_csrf": "forged", "secret": node.token}) as resp:
            assert resp.status == 403
        assert cookie(s, node, SESSION_COOKIE) is None


async def test_next_cannot_leave_the_site(node: Node) -> None:
    for evil in ("//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        async with aiohttp.ClientSession(cookie_jar=jar()) as s:
            async with s.get(node.base + "/login") as resp:
                csrf = re.search(r'name="login_csrf" value="([^"]+)"', await resp.text())
            assert csrf
            async with s.post(
                node.base + "/login",
                data={"login_csrf": csrf.group(1), "secret": node.token, "next": evil},
                allow_redirects=False,
            ) as resp:
                assert resp.status == 303
                assert resp.headers["Location"] == "/"


async def test_logout_ends_the_session_on_the_server(client: Browserish) -> None:
    sid = cookie(client.session, client.node, SESSION_COOKIE)
    assert sid
    await client.get("/")
    path, _ = await client.post("/logout", {})
    assert path.startswith("/login")
    # Replaying the old cookie does not work: the server forgot the session.
    async with aiohttp.ClientSession(cookie_jar=jar()) as s:
        s.cookie_jar.update_cookies({SESSION_COOKIE: sid}, response_url=URL(client.node.base))
        async with s.get(client.node.base + "/", allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"].startswith("/login")


async def test_forms_without_the_right_csrf_token_change_nothing(client: Browserish, node: Node) -> None:
    person = await node.ctx.graph.create_person({"display_name": "Ada Lovelace"})
    url = node.base + f"/people/{person.id}/notes"
    for token in (None, "0" * 64):
        data = {"body": "forged"} if token is None else {"body": "forged", "csrf": token}
        async with client.session.post(url, data=data) as resp:
            assert resp.status == 403
            assert "form has expired" in await resp.text()
    assert await node.ctx.graph.notes(person.id) == []
    # Another session's token is no good either: tokens are bound to the session.
    async with aiohttp.ClientSession(cookie_jar=jar()) as other:
        await sign_in(node, other, node.token)
        async with other.get(node.base + f"/people/{person.id}") as resp:
            other_csrf = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
        assert other_csrf
    await client.get(f"/people/{person.id}")
    assert client.csrf() != other_csrf.group(1)
    async with client.session.post(url, data={"body": "forged", "csrf": other_csrf.group(1)}) as resp:
        assert resp.status == 403
    assert await node.ctx.graph.notes(person.id) == []


async def test_security_headers(client: Browserish) -> None:
    for path in ("/", "/people", "/login", "/static/kith.css", "/no-such-page"):
        async with client.session.get(client.node.base + path) as resp:
            csp = resp.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp
            assert "frame-ancestors 'none'" in csp
            assert resp.headers["X-Frame-Options"] == "DENY"
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert resp.headers["Referrer-Policy"] == "same-origin"
            assert "Strict-Transport-Security" not in resp.headers  # plain http: it would be ignored anyway
    async with client.session.get(client.node.base + "/no-such-page") as resp:
        assert resp.status == 404
        assert "There is nothing here" in await resp.text()
    # The owner API keeps its JSON errors.
    async with client.session.get(client.node.base + "/api/people") as resp:
        assert resp.status == 401 and (await resp.json())["error"]["status"] == 401


async def test_templates_escape_what_people_typed(client: Browserish, node: Node) -> None:
    evil = '<script>alert("x")</script>'
    person = await node.ctx.graph.create_person({"display_name": evil, "organization": "<b>Org</b>"})
    await node.ctx.graph.add_note(person.id, '"><img src=x onerror=alert(1)>')
    html = await client.get(f"/people/{person.id}")
    assert evil not in html and "&lt;script&gt;" in html
    assert "<img src=x" not in html and "<b>Org</b>" not in html
    assert "<script>" not in (await client.get("/people"))


async def test_password_from_the_cli_signs_in_and_ends_sessions(
    client: Browserish, node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    code, out, err = await asyncio.to_thread(run_cli, "--data", node.data_dir, "password", "set", "--stdin")
    assert code == 0, err
    assert "1 web session ended" in out
    assert await has_password(node.ctx.store)
    assert "is set" in (await asyncio.to_thread(run_cli, "--data", node.data_dir, "password", "status"))[1]
    # The running node re-reads sessions every two seconds; expire its copy rather than sleep.
    node.app[WEB_APP].sessions[node.ctx.account.pk].read_at = -1e9
    async with client.session.get(node.base + "/", allow_redirects=False) as resp:
        assert resp.status == 303
    async with aiohttp.ClientSession(cookie_jar=jar()) as s:
        assert (await sign_in(node, s, "not the password")).status == 401
        resp = await sign_in(node, s, "correct horse battery")
        assert resp.status == 200 and resp.url.path == "/"
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    code, _, err = await asyncio.to_thread(run_cli, "--data", node.data_dir, "password", "set", "--stdin")
    assert code == 1 and "at least 10" in err


async def test_sessions_survive_a_restart(client: Browserish, node: Node) -> None:
    sid = cookie(client.session, node, SESSION_COOKIE)
    assert sid
    again, runner = await serve(node.ctx, node.data_dir)  # a second app over the same database
    try:
        async with aiohttp.ClientSession(cookie_jar=jar()) as s:
            s.cookie_jar.update_cookies({SESSION_COOKIE: sid}, response_url=URL(again.base))
            async with s.get(again.base + "/", allow_redirects=False) as resp:
                assert resp.status == 200
    finally:
        await runner.cleanup()


def test_password_hash_format_and_verification() -> None:
    stored = hash_password("a long enough password")
    scheme, n, r, _p, _salt, digest = stored.split("$")
    assert scheme == "scrypt" and int(n) >= 2**14 and int(r) == 8
    assert verify_password("a long enough password", stored)
    assert not verify_password("a long enough passwore", stored)
    assert not verify_password("a long enough password", stored.replace(digest, digest[::-1]))
    assert stored != hash_password("a long enough password")  # salted


def test_login_limiter_counts_clients_and_the_whole_node() -> None:
    limiter = LoginLimiter(limit=3, total=5, window=300.0)
    assert (
        limiter.client("2001:db8:1:2:aaaa::1")
        == limiter.client("2001:db8:1:2:bbbb::9")
        == "2001:db8:1:2::/64"
    )
    assert limiter.client("2001:db8:1:3::1") != limiter.client("2001:db8:1:2::1")
    assert limiter.client("::ffff:192.0.2.7") == limiter.client("192.0.2.7") == "192.0.2.7"
    assert limiter.client(None) == "?"
    for _ in range(3):
        limiter.failed("192.0.2.7")
    assert limiter.blocked("192.0.2.7") > 0 and limiter.blocked("192.0.2.8") == 0
    assert limiter.passwords_blocked() == 0
    for n in range(2):  # a sweep: every guess from another address
        limiter.failed(f"198.51.100.{n}")
    assert 0 < limiter.passwords_blocked() <= 300.0  # five guesses node-wide: passwords wait
    assert limiter.blocked("198.51.100.9") == 0  # a new client is not blocked: its token is still checked
    limiter.failed("198.51.100.9", password_checked=False)  # a token-only failure spends no password budget
    assert len(limiter.everyone) == 5


async def test_guessing_from_many_addresses_holds_passwords_back_but_not_the_token(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    code, _out, err = await asyncio.to_thread(run_cli, "--data", node.data_dir, "password", "set", "--stdin")
    assert code == 0, err
    # Every request here comes from 127.0.0.1: a per-client limit above the node-wide one stands in for a sweep.
    node.app[WEB_APP].limiter = LoginLimiter(limit=100, total=3)
    async with aiohttp.ClientSession(cookie_jar=jar()) as s:
        for _ in range(3):
            assert (await sign_in(node, s, "not the password")).status == 401
        resp = await sign_in(node, s, "correct horse battery")
        assert resp.status == 401 and "passwords are not accepted" in await resp.text()
        assert cookie(s, node, SESSION_COOKIE) is None
        resp = await sign_in(node, s, node.token)
        assert resp.status == 200 and cookie(s, node, SESSION_COOKIE) is not None
