"""Login and logout. The owner signs in with the password set by `kith password set` or with the owner token
(`kith token show`); either opens a session."""

from __future__ import annotations

import secrets

from aiohttp import web

from node.web.framework import (
    ROUTES,
    Done,
    Form,
    PageResult,
    WebRoute,
    action,
    page,
    render,
    safe_next,
    session_id,
    set_cookie,
    state,
)
from node.web.sessions import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_SECONDS,
    check_password,
    has_password,
)

__all__: list[str] = []

_MAX_SECRET = 2048


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
                "has_password": await has_password(state(request).ctx.store),
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
    st = state(request)
    form = await request.post()
    raw_next = form.get("next")
    next_url = safe_next(raw_next if isinstance(raw_next, str) else None)
    cookie, presented = request.cookies.get(LOGIN_CSRF_COOKIE), form.get("login_csrf")
    if not cookie or not isinstance(presented, str) or not secrets.compare_digest(cookie, presented):
        return await _login_page(
            request,
            error="The sign-in form expired. Please try again.",
            status=403,
            next_url=next_url,
        )
    client = st.limiter.client(request.remote)
    wait = st.limiter.blocked(client)
    if wait:
        return await _login_page(
            request,
            error=f"Too many failed attempts. Try again in {int(wait // 60) + 1} minutes.",
            status=429,
            next_url=next_url,
        )
    secret = form.get("secret")
    secret = secret.strip() if isinstance(secret, str) else ""
    ok = bool(secret) and len(secret) <= _MAX_SECRET
    passwords_wait = st.limiter.passwords_blocked()
    if ok:
        ok = await st.ctx.tokens.check(secret) or (
            not passwords_wait and await check_password(st.ctx.store, secret)
        )
    if not ok:
        st.limiter.failed(client, password_checked=not passwords_wait)
        if passwords_wait:
            error = (
                "Too many failed sign-ins on this node lately: passwords are not accepted for "
                f"{int(passwords_wait // 60) + 1} more minutes. The owner token still works (`kith token show`)."
            )
        else:
            error = (
                "That is neither the password nor the owner token. "
                "`kith token show` prints the token; `kith password set` sets a password."
            )
        return await _login_page(request, error=error, status=401, next_url=next_url)
    st.limiter.succeeded(client)
    await st.sessions.end(request.cookies.get(SESSION_COOKIE))  # never reuse a session id from before login
    sid = await st.sessions.create()
    resp = web.HTTPSeeOther(next_url)
    set_cookie(request, resp, SESSION_COOKIE, sid, SESSION_SECONDS)
    resp.del_cookie(LOGIN_CSRF_COOKIE, path="/")
    raise resp


ROUTES.append(WebRoute("POST", "/login", _login_submit, "login_submit"))


@action("/logout", "logout")
async def _logout(request: web.Request, form: Form) -> Done:
    await state(request).sessions.end(request.cookies.get(SESSION_COOKIE))
    return Done(to="/login", clear_cookies=(SESSION_COOKIE,))
