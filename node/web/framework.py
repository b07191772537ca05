"""The web UI's plumbing: a route table of pages and form actions, login and CSRF checks, flash messages,
security headers and HTML error pages.

Pages (GET) return a template name and its values; actions (POST) return where to go next and what to say.
Every action passes the CSRF check before its handler runs and answers with a 303 redirect (post/redirect/get),
so that reloading a page never repeats a write. Errors from the graph (node.errors) become a flash message on
the page the form came from, never a half-done write: each graph call is one transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiDictProxy

from node.api import ACCOUNT
from node.context import AccountContext
from node.errors import NodeError
from node.models import AccountRow
from node.server import Server
from node.web.sessions import SESSION_COOKIE, LoginLimiter, Sessions
from protocol.errors import KithError

__all__ = [
    "CSP",
    "ROUTES",
    "WEB",
    "WEB_APP",
    "ActionHandler",
    "Done",
    "Form",
    "PageHandler",
    "PageResult",
    "WebApp",
    "WebRoute",
    "WebState",
    "action",
    "page",
    "render",
    "safe_next",
    "security_headers",
    "session_cookie",
    "session_id",
    "set_cookie",
    "state",
    "web_middleware",
]

Form = MultiDictProxy[Any]


@dataclass
class WebApp:
    """The web UI's state for the whole server: sign-in limits, and each account's sessions once loaded."""

    server: Server
    limiter: LoginLimiter
    secure_cookies: bool
    sessions: dict[int, Sessions] = field(default_factory=dict)

    async def sessions_of(self, ctx: AccountContext) -> Sessions:
        found = self.sessions.get(ctx.account.pk)
        if found is None or found.store is not ctx.store:  # first use, or the graph was reopened
            found = Sessions(ctx.store)
            await found.load()
            self.sessions[ctx.account.pk] = found
        return found


@dataclass
class WebState:
    """What a signed-in request works with: its account (the session's, and no other) and that account's
    sessions. Set by the page and action wrappers; ``state(request)`` returns it."""

    app: WebApp
    ctx: AccountContext
    sessions: Sessions
    sid: str

    @property
    def limiter(self) -> LoginLimiter:
        return self.app.limiter

    @property
    def secure_cookies(self) -> bool:
        return self.app.secure_cookies


WEB_APP: web.AppKey[WebApp] = web.AppKey("kith_web", WebApp)
WEB: web.RequestKey[WebState] = web.RequestKey("kith_web_state", WebState)


@dataclass(frozen=True, kw_only=True, slots=True)
class PageResult:
    template: str
    values: Mapping[str, Any]
    status: int = 200
    title: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class Done:
    """Where an action sends the browser next, and the message shown there."""

    to: str
    message: str = ""
    kind: str = "ok"
    clear_cookies: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WebRoute:
    method: str
    path: str
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    name: str


ROUTES: list[WebRoute] = []

PageHandler = Callable[[web.Request], Awaitable[PageResult | web.StreamResponse]]
ActionHandler = Callable[[web.Request, Form], Awaitable[Done]]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def security_headers(resp: web.StreamResponse) -> None:
    headers = resp.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")


def state(request: web.Request) -> WebState:
    return request[WEB]


def session_cookie(account: AccountRow, sid: str) -> str:
    """A session cookie names its account: a session exists only in that account's sessions, so it opens
    that account and no other (an account name has no ':')."""
    return f"{account.name}:{sid}"


async def session_id(request: web.Request) -> str | None:
    """The request's session id if its cookie names a live session of an active account; the request's
    :class:`WebState` is set as a side effect. None otherwise."""
    if WEB in request:
        return request[WEB].sid
    raw = request.cookies.get(SESSION_COOKIE) or ""
    name, sep, sid = raw.partition(":")
    if not sep or not sid or len(raw) > 200:
        return None
    webapp = request.app[WEB_APP]
    row = await webapp.server.account_by_name(name)
    if row is None or row.state != "active":
        return None
    ctx = await webapp.server.context(row)
    sessions = await webapp.sessions_of(ctx)
    await sessions.refresh()
    if not sessions.valid(sid):
        return None
    request[WEB] = WebState(app=webapp, ctx=ctx, sessions=sessions, sid=sid)
    request[ACCOUNT] = ctx
    return sid


def set_cookie(request: web.Request, resp: web.StreamResponse, name: str, value: str, max_age: int) -> None:
    resp.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=request.app[WEB_APP].secure_cookies or request.secure,
    )


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site paths: a ``next=`` pointing elsewhere would make the login page an open redirect."""
    if not target:
        return default
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
    ):
        return default
    return target


def _login_redirect(request: web.Request) -> web.HTTPSeeOther:
    return web.HTTPSeeOther("/login?next=" + quote(request.path_qs, safe=""))


async def render(request: web.Request, result: PageResult, sid: str | None) -> web.Response:
    st = request.get(WEB) if sid else None
    values = dict(result.values)
    values.setdefault("title", result.title)
    values["csrf"] = st.sessions.csrf(sid) if st and sid else ""
    values["flashes"] = st.sessions.take_flashes(sid) if st and sid else []
    values["logged_in"] = st is not None
    values["path"] = request.path
    values["account"] = st.ctx.account if st else None
    resp = aiohttp_jinja2.render_template(result.template, request, values, status=result.status)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def page(path: str, name: str, *, public: bool = False) -> Callable[[PageHandler], PageHandler]:
    """A GET page; unless ``public``, it needs a session (else: to the login page and back)."""

    def deco(fn: PageHandler) -> PageHandler:
        async def handler(request: web.Request) -> web.StreamResponse:
            sid = await session_id(request)
            if sid is None:
                if not public:
                    raise _login_redirect(request)
                return await _finish(request, await fn(request), sid)
            async with request.app[WEB_APP].server.borrow(state(request).ctx.account):
                return await _finish(request, await fn(request), sid)

        ROUTES.append(WebRoute("GET", path, handler, name))
        return fn

    return deco


async def _finish(
    request: web.Request, result: PageResult | web.StreamResponse, sid: str | None
) -> web.StreamResponse:
    if isinstance(result, web.StreamResponse):
        return result
    return await render(request, result, sid)


def action(
    path: str, name: str, *, back: Callable[[web.Request], str] | None = None
) -> Callable[[ActionHandler], ActionHandler]:
    """A POST form handler: session and CSRF checked first; errors go back to ``back`` as a message."""

    def deco(fn: ActionHandler) -> ActionHandler:
        async def handler(request: web.Request) -> web.StreamResponse:
            sid = await session_id(request)
            if sid is None:
                raise web.HTTPSeeOther("/login")
            st = state(request)
            async with request.app[WEB_APP].server.borrow(st.ctx.account):
                return await run(request, st, sid)

        async def run(request: web.Request, st: WebState, sid: str) -> web.StreamResponse:
            form = await request.post()
            if not st.sessions.csrf_ok(sid, _field(form, "csrf")):
                return await render(
                    request,
                    PageResult(
                        template="error.html",
                        values={
                            "message": "This form has expired (or came from another site). "
                            "Go back, reload the page and try again."
                        },
                        status=403,
                        title="Form expired",
                    ),
                    sid,
                )
            try:
                done = await fn(request, form)
            except (NodeError, KithError) as exc:
                where = back(request) if back else _referer_path(request)
                st.sessions.flash(sid, "error", exc.message)
                raise web.HTTPSeeOther(where) from None
            if done.message:
                st.sessions.flash(sid, done.kind, done.message)
            resp = web.HTTPSeeOther(done.to)
            for name in done.clear_cookies:
                resp.del_cookie(name, path="/")
            raise resp

        ROUTES.append(WebRoute("POST", path, handler, name))
        return fn

    return deco


def _referer_path(request: web.Request) -> str:
    """Back to the page the form was on (Referrer-Policy same-origin keeps it for our own forms)."""
    ref = urlsplit(request.headers.get("Referer", ""))
    if ref.netloc and ref.netloc != request.host:
        return "/"
    return safe_next(ref.path + (f"?{ref.query}" if ref.query else ""), "/")


def _field(form: Form, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


_ERROR_TEXT = {
    400: "That request was not understood.",
    403: "You may not do that.",
    404: "There is nothing here. It may have been merged, deleted, or never existed.",
    405: "That page does not take this kind of request.",
    413: "That upload is too large.",
}


def _is_ui(request: web.Request) -> bool:
    """The web UI's own routes, and unknown paths outside the API and federation (which keep their JSON)."""
    name = request.match_info.route.name
    if name is not None:
        return name.startswith("web_")
    return not request.path.startswith(_NOT_UI)


_NOT_UI = ("/api/", "/.well-known/", "/users/", "/actor", "/inbox", "/nodeinfo")


@web.middleware
async def web_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Security headers on everything; HTML error pages for the UI's own paths."""
    try:
        resp = await handler(request)
    except (NodeError, KithError) as exc:
        if request.method != "GET" or not _is_ui(request):
            raise
        resp = await _error_page(request, exc.status_hint, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.status >= 500 or not _is_ui(request):
            security_headers(exc)
            raise
        resp = await _error_page(request, exc.status, _ERROR_TEXT.get(exc.status, exc.reason))
    security_headers(resp)
    if request.app[
        WEB_APP
    ].secure_cookies:  # served over TLS (node.https): browsers should never try plain http
        resp.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return resp


async def _error_page(request: web.Request, status: int, message: str) -> web.Response:
    sid = await session_id(request)
    return await render(
        request,
        PageResult(
            template="error.html", values={"message": message}, status=status, title=f"Error {status}"
        ),
        sid,
    )
