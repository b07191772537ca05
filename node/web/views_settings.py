"""Settings: the owner's card and what each circle may see of it, the web password, the owner token, sessions,
and where the passphrase stands."""

from __future__ import annotations

import json

from aiohttp import web

from node.errors import BadInput, Unauthorized
from node.exporting import people_csv, vcards
from node.server import new_token
from node.web.disclosure import (
    CARD_FIELDS,
    EVERYONE,
    LIST_FIELDS,
    PUBLIC,
    card,
    disclosure_settings,
    publish_card,
    save_card,
    save_disclosure,
)
from node.web.framework import Done, Form, PageResult, action, page, state
from node.web.helpers import field
from node.web.sessions import check_password, has_password, set_password

__all__: list[str] = []

_FIELD_LABELS = {
    "name": "Name",
    "summary": "About me",
    "email": "E-mail addresses",
    "phone": "Phone numbers",
    "website": "Web sites",
    "organization": "Organisation",
    "title": "Title",
    "photo": "Photo URL",
    "identities": "Other accounts",
}


def _back(request: web.Request) -> str:
    return "/settings"


async def _keys_encrypted(request: web.Request) -> bool:
    return await state(request).ctx.server.keys_sealed()


@page("/settings", "settings")
async def _settings(request: web.Request) -> PageResult:
    ctx = state(request).ctx
    circles = await ctx.graph.circles()
    current = await card(ctx)
    if not current.get("name"):
        current = {**current, "name": ctx.account.display_name or ctx.account.name}
    fields = [f for f in CARD_FIELDS if f in _FIELD_LABELS]
    return PageResult(
        template="settings.html",
        title="Settings",
        values={
            "card": current,
            "fields": fields,
            "labels": _FIELD_LABELS,
            "list_fields": LIST_FIELDS,
            "rules": await disclosure_settings(ctx),
            "circles": [c.name for c in circles],
            "circle_rows": circles,
            "everyone": EVERYONE,
            "public": PUBLIC,
            "has_password": await has_password(ctx.store),
            "keys_encrypted": await _keys_encrypted(request),
            "data_dir": str(ctx.config.data_dir),
            "address": f"acct:{ctx.config.node.username}@{ctx.config.node.domain}",
        },
    )


@action("/settings/card", "settings_card", back=_back)
async def _save_card_form(request: web.Request, form: Form) -> Done:
    data: dict[str, object] = {}
    for name in CARD_FIELDS:
        if name not in _FIELD_LABELS:
            continue
        value = field(form, name, limit=5000)
        data[name] = [v.strip() for v in value.splitlines() if v.strip()] if name in LIST_FIELDS else value
    await save_card(state(request).ctx, data)
    return Done(to="/settings#card", message="Card saved." + _sent(await publish_card(request)))


@action("/settings/disclosure", "settings_disclosure", back=_back)
async def _save_disclosure_form(request: web.Request, form: Form) -> Done:
    ctx = state(request).ctx
    known = {EVERYONE, PUBLIC, *(c.name for c in await ctx.graph.circles())}
    rules: dict[str, list[str]] = {}
    for name in CARD_FIELDS:
        chosen = [v for v in form.getall(f"show:{name}", []) if isinstance(v, str)]
        unknown = [c for c in chosen if c not in known]
        if unknown:
            raise BadInput(f"there is no circle named {unknown[0]!r}", field=name)
        rules[name] = chosen
    await save_disclosure(ctx, rules)
    return Done(to="/settings#disclosure", message="Saved." + _sent(await publish_card(request)))


def _sent(peers: int | None) -> str:
    if peers is None:
        return ""
    return f" Sent to {peers} connection{'s' if peers != 1 else ''} allowed to see it." if peers else ""


async def _reauthenticate(request: web.Request, form: Form) -> None:
    """Changing how the owner signs in needs the current password or the token, not just an open session.

    The check is a password guess like a sign-in, so it spends the sign-in's budget (node/web/sessions.py
    LoginLimiter, shared with /login): otherwise whoever holds a session could guess the password here at
    full speed, and then lock the owner out with it."""
    st = state(request)
    client = st.limiter.client(request.remote)
    wait = st.limiter.blocked(client)
    if wait:
        raise Unauthorized(
            f"Too many failed attempts; nothing was changed. Try again in {int(wait // 60) + 1} minutes.",
            field="current",
        )
    secret = field(form, "current", limit=2048)
    passwords_wait = st.limiter.passwords_blocked()
    ok = bool(secret) and (
        await st.ctx.server.check_token(st.ctx.account, secret)
        or (not passwords_wait and await check_password(st.ctx.store, secret))
    )
    if not ok:
        st.limiter.failed(client, password_checked=not passwords_wait)
        if passwords_wait:
            raise Unauthorized(
                "Too many failed password checks on this node lately: passwords are not accepted for "
                f"{int(passwords_wait // 60) + 1} more minutes; nothing was changed. The owner token still "
                "works (`kith token show`).",
                field="current",
            )
        raise Unauthorized(
            "the current password or owner token is wrong; nothing was changed", field="current"
        )
    st.limiter.succeeded(client)


@action("/settings/password", "settings_password", back=_back)
async def _change_password(request: web.Request, form: Form) -> Done:
    await _reauthenticate(request, form)
    new, again = field(form, "password", limit=2048), field(form, "password_again", limit=2048)
    if new != again:
        raise BadInput("the two new passwords differ; nothing was changed", field="password_again")
    st = state(request)
    await set_password(st.ctx.store, new)
    ended = await st.sessions.end_all_but(st.sid)
    return Done(to="/settings#password", message=f"Password set; {ended} other session(s) signed out.")


@action("/settings/token", "settings_token", back=_back)
async def _rotate_token(request: web.Request, form: Form) -> Done:
    await _reauthenticate(request, form)
    ctx = state(request).ctx
    token = new_token()
    await ctx.set_token(token)
    return Done(
        to="/settings#token",
        message=f"New owner token (shown once; also `kith --account {ctx.name} token show`): {token}",
    )


@action("/settings/sessions", "settings_sessions", back=_back)
async def _end_sessions(request: web.Request, form: Form) -> Done:
    st = state(request)
    ended = await st.sessions.end_all_but(st.sid)
    return Done(to="/settings#sessions", message=f"Signed out {ended} other session(s).")


@action("/settings/circles", "settings_circles", back=_back)
async def _circle(request: web.Request, form: Form) -> Done:
    """Create a circle, or set a circle's stay-in-touch cadence (blank clears it)."""
    graph = state(request).ctx.graph
    name = field(form, "name", limit=100)
    days = field(form, "cadence_days", limit=10) or None
    if field(form, "create", limit=5) == "1":
        await graph.create_circle(name, days)
        return Done(to="/settings#circles", message=f"Circle {name} created.")
    await graph.set_circle_cadence(name, days)
    return Done(
        to="/settings#circles",
        message=f"Everyone in {name} is due every {days} days." if days else f"{name} has no cadence now.",
    )


@page("/export", "export")
async def _export(request: web.Request) -> web.StreamResponse:
    """Everything, in open formats, as a download (a GET: it changes nothing)."""
    graph = state(request).ctx.graph
    fmt = request.query.get("format", "")
    stamp = graph.now()[:10]
    if fmt == "json":
        body = json.dumps(await graph.export_json(), ensure_ascii=False, indent=1)
        kind, ext = "application/json", "json"
    elif fmt == "vcard":
        body, kind, ext = await vcards(graph), "text/vcard", "vcf"
    elif fmt == "csv":
        body, kind, ext = await people_csv(graph), "text/csv", "csv"
    else:
        raise BadInput("format must be json, vcard or csv", field="format")
    resp = web.Response(text=body, content_type=kind, charset="utf-8")
    resp.headers["Content-Disposition"] = f'attachment; filename="kith-{stamp}.{ext}"'
    resp.headers["Cache-Control"] = "no-store"
    return resp
