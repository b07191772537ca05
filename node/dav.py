"""The CardDAV service (issue #17): a phone's address book syncs with an account, both ways, on the node's port.

What it answers and promises, for clients and operators: specs/CARDDAV.md.

Discovery follows RFC 6764: ``/.well-known/carddav`` redirects to ``/dav/``, where ``current-user-principal``
names the account the credentials belong to, its ``addressbook-home-set`` and then its books (node/dav_target.py
has the URL space). Clients sign in with HTTP Basic: the account's name and one of its app passwords
(node/app_passwords.py), never the owner token or the web password.

Rules kept:
- Isolation: the credentials name the account; a path naming any other account is answered 404, as a path that
  does not exist is, and the request only ever holds the credentials' account context (its graph file alone).
- Failed sign-ins are limited like the web sign-in's (node/web/sessions.py LoginLimiter): per client address
  and across the node; a client over the limit is answered 429 with Retry-After before any password is checked.
- Bodies are bounded by the application's client_max_size (server.max_body_bytes), read whole before anything
  is parsed; XML is parsed without DTDs (node/dav_xml.py).
- Errors are answered in one place (:func:`_error`): a status and a sentence saying what to do, as a DAV:error
  body when RFC 6352/6578 name a precondition; nothing half-written (each write is one transaction).

Why not a DAV library: xandikos and Radicale were read for this. Both are sound servers, but their storage
interfaces are synchronous (xandikos's Backend.get_resource, Collection.members, iter_differences_since;
Radicale's whole WSGI stack), while Kith's store is asynchronous: fitting either means blocking the event loop
or loading the whole book before every request. xandikos's aiohttp handler also reads bodies past aiohttp's size
limit, keeps the signed-in principal on the shared backend (set_principal) and ignores the vCard version asked
for in address-data. The protocol surface CardDAV clients use is small (PROPFIND, REPORT, GET, PUT, DELETE),
so Kith writes that and uses defusedxml for the hostile part, reading XML.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from node.app_passwords import AppPasswords
from node.dav_cards import delete_card, get_card, put_card
from node.dav_props import propfind
from node.dav_reports import DavPrecondition, report
from node.dav_target import DAV_ROOT, DavRequest, parse_target
from node.dav_xml import DAV, Prop, error_body
from node.errors import NodeError
from node.models import AccountRow
from node.server import Server
from node.web.sessions import LoginLimiter
from protocol.errors import KithError

__all__ = ["DAV_SERVICE", "DavService", "setup_dav"]

_log = logging.getLogger("kith.dav")

_ALLOW = "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, REPORT"
_DAV_HEADER = "1, 3, addressbook"
_REALM = 'Basic realm="Kith CardDAV", charset="UTF-8"'


@dataclass
class DavService:
    """The CardDAV service's state for the whole server: app password checks and sign-in limits."""

    server: Server
    passwords: AppPasswords = field(default_factory=AppPasswords)
    limiter: LoginLimiter = field(default_factory=LoginLimiter)


DAV_SERVICE: web.AppKey[DavService] = web.AppKey("kith_dav", DavService)


def setup_dav(app: web.Application, server: Server) -> None:
    app[DAV_SERVICE] = DavService(server)
    app.router.add_route("*", "/.well-known/carddav", _well_known)
    app.router.add_route("*", "/dav", _handle)
    app.router.add_route("*", "/dav/{tail:.*}", _handle)


async def _well_known(request: web.Request) -> web.StreamResponse:
    # RFC 6764 §5: the context path. 301 keeps the method (PROPFIND) in the clients that follow it.
    raise web.HTTPMovedPermanently(DAV_ROOT)


def _text(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=message + "\n", headers=headers)


def _error(exc: NodeError | KithError) -> web.Response:
    status = exc.status_hint
    if isinstance(exc, DavPrecondition):
        return web.Response(
            status=status, body=error_body(exc.condition, exc.message), content_type="application/xml"
        )
    if (
        getattr(exc, "field", None) == "etag"
    ):  # a write found the card changed after its condition was checked
        status = 412
    return _text(status, exc.message)


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value.strip() or len(value) > 2048:
        return None
    try:
        raw = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, sep, password = raw.partition(":")
    if not sep:
        return None
    # "alice@kith.example" names the account alice: a phone's form asks for a user name, people type addresses.
    return user.strip().split("@", 1)[0], password


async def _authenticate(service: DavService, request: web.Request) -> tuple[AccountRow, str] | web.Response:
    """The account and app password a request signs in with, or the answer to send instead. A client over its
    own limit waits whatever it sends. Past the node-wide limit only passwords checked recently still pass (no
    scrypt is run for them): someone guessing at one account must not lock every phone out of every account."""
    client = LoginLimiter.client(request.remote)
    wait = service.limiter.blocked(client)
    too_many = _text(
        429,
        "too many failed sign-ins; wait and try again (check the app password: `kith app-password list`)",
        {"Retry-After": str(int(wait) + 1)},
    )
    if wait:
        return too_many
    creds = _basic(request.headers.get("Authorization", ""))
    unauthorized = _text(
        401,
        "sign in with your account name and an app password (make one with `kith app-password add NAME`)",
        {"WWW-Authenticate": _REALM},
    )
    if creds is None:
        return unauthorized
    user, password = creds
    server = service.server
    row = await server.account_by_name(user) if user else None
    name = None
    everyone_wait = service.limiter.passwords_blocked()
    if row is not None and row.state == "active":
        async with server.borrow(row) as ctx:
            checked = await service.passwords.check(
                row.pk, ctx.store, password, remembered_only=bool(everyone_wait)
            )
            if checked is not None:
                name, fresh = checked
                if fresh:
                    await ctx.store.dav.password_used(name, ctx.graph.now())
    if name is not None and row is not None:
        service.limiter.succeeded(client)
        return row, name
    if everyone_wait:
        too_many.headers["Retry-After"] = str(int(everyone_wait) + 1)
        return too_many
    service.limiter.failed(client)
    return unauthorized


async def _handle(request: web.Request) -> web.StreamResponse:
    if request.method == "OPTIONS":  # clients probe before they sign in
        return web.Response(headers={"DAV": _DAV_HEADER, "Allow": _ALLOW, "MS-Author-Via": "DAV"})
    target = parse_target(request.path)
    service = request.app[DAV_SERVICE]
    signed_in = await _authenticate(service, request)
    if isinstance(signed_in, web.Response):
        return signed_in
    row, app_password = signed_in
    if target is None or (target.account is not None and target.account != row.name):
        # Another account's URL looks exactly like a missing one: nothing tells a signed-in client whether a
        # neighbour exists, let alone what they keep.
        return _text(404, f"nothing here; your address books are under {DAV_ROOT}addressbooks/{row.name}/")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        limit = service.server.config.server.max_body_bytes
        return _text(413, f"the request body is larger than the {limit}-byte limit (server.max_body_bytes)")
    try:
        async with service.server.borrow(row) as ctx:
            epoch, seq = await ctx.store.dav.state()
            req = DavRequest(
                ctx=ctx,
                app_password=app_password,
                target=target,
                epoch=epoch,
                seq=seq,
                max_card_bytes=service.server.config.server.max_body_bytes,
            )
            return await _dispatch(req, request, body)
    except (NodeError, KithError) as exc:
        return _error(exc)


_Method = Callable[[DavRequest, web.Request, bytes], Awaitable[web.StreamResponse]]


async def _propfind(req: DavRequest, request: web.Request, body: bytes) -> web.StreamResponse:
    xml = await propfind(req, body, request.headers.get("Depth"))
    return web.Response(status=207, body=xml, content_type="application/xml", charset="utf-8")


async def _report(req: DavRequest, request: web.Request, body: bytes) -> web.StreamResponse:
    xml = await report(req, body)
    return web.Response(status=207, body=xml, content_type="application/xml", charset="utf-8")


async def _proppatch(req: DavRequest, request: web.Request, body: bytes) -> web.StreamResponse:
    # Names and descriptions come from Kith (a circle's name, "All people"): a client may not change them here.
    raise DavPrecondition(
        Prop(DAV, "cannot-modify-protected-property"),
        "address book properties are set in Kith (rename the circle there); nothing was changed",
    )


async def _get(req: DavRequest, request: web.Request, body: bytes) -> web.StreamResponse:
    if req.target.kind != "card":
        return _text(
            200, f"Kith CardDAV: add this server to your address book app; books are under {req.home}"
        )
    return await get_card(req, request)


async def _put(req: DavRequest, request: web.Request, body: bytes) -> web.StreamResponse:
    if req.target.kind != "card":
        return _text(
            405, "only cards are written here: PUT /dav/addressbooks/NAME/BOOK/CARD.vcf", {"Allow": _ALLOW}
        )
    return await put_card(req, request, body)


async def _delete(req: DavRequest, request: web.Request, body: bytes) -> web.StreamResponse:
    if req.target.kind != "card":
        return _text(
            403, "address books are not deleted here: unpublish a circle with `kith circle unpublish NAME`"
        )
    return await delete_card(req, request)


_METHODS: dict[str, _Method] = {
    "PROPFIND": _propfind,
    "REPORT": _report,
    "PROPPATCH": _proppatch,
    "GET": _get,
    "HEAD": _get,
    "PUT": _put,
    "DELETE": _delete,
}


async def _dispatch(req: DavRequest, request: web.Request, body: bytes) -> web.StreamResponse:
    method = _METHODS.get(request.method)
    if method is None:
        return _text(405, f"{request.method} is not supported here", {"Allow": _ALLOW})
    return await method(req, request, body)
