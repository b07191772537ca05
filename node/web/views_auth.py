"""Login and logout. A person signs in to their account with its password (`kith password set`) or its owner
token (`kith token show`); either opens a session of that account, and of no other. A server with several
accounts asks which one (a token names its account by itself)."""

from __future__ import annotations

import asyncio
import secrets

from aiohttp import web

from node.models import AccountRow
from node.web.framework import (
    ROUTES,
    WEB_APP,
    Done,
    Form,
    PageResult,
    WebRoute,
    action,
    page,
    render,
    safe_next,
    session_cookie,
    session_id,
    set_cookie,
    state,
)
from node.web.sessions import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_SECONDS,
    check_password,
    verify_password,
)

__all__: list[str] = []

_MAX_SECRET = 2048
_TYPED_NAME: web.RequestKey[str] = web.RequestKey("kith_login_name", str)  # shown again after a failure
#: What an unknown account's password is checked against, so that a wrong name costs as long as a wrong
#: password and the sign-in form does not tell which accounts exist.
_NOBODY = "scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


async def _live_accounts(request: web.Request) -> list[AccountRow]:
    return await request.app[WEB_APP].server.accounts.list(states=("active",))


async def _login_page(
    request: web.Request, *, error: str = "", status: int = 200, next_url: str = "/"
) -> web.Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE)
    fresh = not token or len(token) > 100
    if fresh:
        token = secrets.token_urlsafe(24)
    assert token is not None
    resp = await render(
        request,
        PageResult(
            template="login.html",
            values={
                "error": error,
                "login_csrf": token,
                "next": next_url,
                "several": len(await _live_accounts(request)) > 1,
                "username": request.get(_TYPED_NAME, ""),
            },
            status=status,
            title="Sign in",
        ),
        None,
    )
    if fresh:
        set_cookie(request, resp, LOGIN_CSRF_COOKIE, token, 3600)
    return resp


@page("/login", "login", public=True)
async def _login_form(request: web.Request) -> web.StreamResponse:
    next_url = safe_next(request.query.get("next"))
    if await session_id(request) is not None:
        raise web.HTTPSeeOther(next_url)
    return await _login_page(request, next_url=next_url)


async def _login_submit(request: web.Request) -> web.StreamResponse:
    webapp = request.app[WEB_APP]
    server = webapp.server
    form = await request.post()
    raw_next = form.get("next")
    next_url = safe_next(raw_next if isinstance(raw_next, str) else None)
    raw_name = form.get("username")
    name = raw_name.strip().lower()[:64] if isinstance(raw_name, str) else ""
    request[_TYPED_NAME] = name
    cookie, presented = request.cookies.get(LOGIN_CSRF_COOKIE), form.get("login_csrf")
    if not cookie or not isinstance(presented, str) or not secrets.compare_digest(cookie, presented):
        return await _login_page(
            request,
            error="The sign-in form expired. Please try again.",
            status=403,
            next_url=next_url,
        )
    limiter = webapp.limiter
    client = limiter.client(request.remote)
    wait = limiter.blocked(client)
    if wait:
        return await _login_page(
            request,
            error=f"Too many failed attempts. Try again in {int(wait // 60) + 1} minutes.",
            status=429,
            next_url=next_url,
        )
    secret = form.get("secret")
    secret = secret.strip() if isinstance(secret, str) else ""
    passwords_wait = limiter.passwords_blocked()
    account: AccountRow | None = None
    password_checked = False
    if secret and len(secret) <= _MAX_SECRET:
        by_token = await server.account_for_token(secret)
        if by_token is not None and (not name or name == by_token.name):
            account = by_token  # a token names its account: no name needed
        elif not passwords_wait:
            live = await _live_accounts(request)
            named = next((a for a in live if a.name == name), None) if name else None
            if named is None and not name and len(live) == 1:
                named = live[0]
            password_checked = True
            if named is not None:
                ctx = await server.context(named)
                if await check_password(ctx.store, secret):
                    account = named
            else:  # as slow as a real check: the form must not tell which accounts exist
                await asyncio.get_running_loop().run_in_executor(None, verify_password, secret, _NOBODY)
    if account is None:
        limiter.failed(client, password_checked=password_checked or not passwords_wait)
        if passwords_wait:
            error = (
                "Too many failed sign-ins on this server lately: passwords are not accepted for "
                f"{int(passwords_wait // 60) + 1} more minutes. The owner token still works (`kith token show`)."
            )
        else:
            error = (
                "That account and password (or owner token) do not match. "
                "`kith --account NAME token show` prints the token; `kith --account NAME password set` sets a "
                "password."
            )
        return await _login_page(request, error=error, status=401, next_url=next_url)
    limiter.succeeded(client)
    ctx = await server.context(account)
    sessions = await webapp.sessions_of(ctx)
    old = request.cookies.get(SESSION_COOKIE) or ""
    if old.startswith(account.name + ":"):  # never reuse a session id from before login
        await sessions.end(old.partition(":")[2])
    sid = await sessions.create()
    resp = web.HTTPSeeOther(next_url)
    set_cookie(request, resp, SESSION_COOKIE, session_cookie(account, sid), SESSION_SECONDS)
    resp.del_cookie(LOGIN_CSRF_COOKIE, path="/")
    raise resp


ROUTES.append(WebRoute("POST", "/login", _login_submit, "login_submit"))


@action("/logout", "logout")
async def _logout(request: web.Request, form: Form) -> Done:
    st = state(request)
    await st.sessions.end(st.sid)
    return Done(to="/login", clear_cookies=(SESSION_COOKIE,))
