"""The public federation routes: discovery (WebFinger, host-meta, NodeInfo), every account's actor with its
inbox, outbox, followers, following and card, the server's actor, the shared inbox, and relationship records.
Private things (relationship records, cards, follower lists) are never listed here.

Each route is a function of an :class:`Asked` (method, path, headers, the body to read) answering an
:class:`Answer`: aiohttp serves them (``federation_routes``) and the local transport (federation/local.py) calls
the very same functions for requests one account of this server makes to another, so that a local delivery
skips the network but none of the checks.

Accounts (``/users/NAME...``): an active account answers; a suspended one answers 404 (and its inbox takes
nothing); a removed one, or one whose actor was deleted, answers 410 (its actor with a ``Tombstone``).

Blocks (federation/blocks.py) are the account's: the card and relationship records answer a blocked signer, or
a server actor speaking only for blocked actors, as if they did not exist (404); a signed fetch of a collection
by a blocked actor or domain is refused (403). Actor documents are served to anyone, the blocked included: they
hold only what is public, and the keys that let a blocked server verify the Undo, Reject and Block we send it."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from federation import org_api
from federation.cards import render_card
from federation.edge import error_response
from federation.errors import Blocked, Gone, NotFound
from federation.inbox import read_body
from federation.ports import LocalAccount, RemoteActor
from federation.service import Federation
from federation.signing import signature_key_id
from federation.urls import KITH_PROTOCOL, NODE_USERNAME, Urls
from protocol.addresses import normalize, normalize_acct
from protocol.errors import InvalidRecord, KithError, MalformedInput, SignatureError, TooLarge

__all__ = [
    "FEDERATION",
    "NODEINFO_VERSIONS",
    "ROUTES",
    "VERSION",
    "Answer",
    "Asked",
    "federation_routes",
    "nodeinfo_document",
    "respond",
]

FEDERATION = web.AppKey("kith.federation", Federation)

_AS_JSON = "application/activity+json"
_LD_JSON = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
VERSION = "0.1.0"
#: NodeInfo versions served at /nodeinfo/<version>, newest first (the order of the discovery links).
NODEINFO_VERSIONS = ("2.1", "2.0")


@dataclass(frozen=True, slots=True)
class Asked:
    """One request to a federation route, as the route sees it."""

    method: str
    path: str  # decoded, as routes match it
    path_qs: str  # as sent: signatures cover it
    query: Mapping[str, str]
    headers: Mapping[str, str]
    remote: str | None
    match: Mapping[str, str]  # the route's path parameters
    read_body: Callable[[], Awaitable[bytes]]


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    content_type: str
    headers: Mapping[str, str] = field(default_factory=dict)


def _json(
    doc: Any,
    *,
    status: int = 200,
    content_type: str = "application/json",
    headers: Mapping[str, str] | None = None,
) -> Answer:
    return Answer(status, json.dumps(doc).encode(), content_type, dict(headers or {}))


def _as(asked: Asked, doc: dict[str, Any], status: int = 200) -> Answer:
    accept = asked.headers.get("Accept", "")
    ctype = _LD_JSON if "application/ld+json" in accept and _AS_JSON not in accept else _AS_JSON
    return _json(doc, status=status, content_type=ctype, headers={"Vary": "Accept"})


def _error(exc: KithError) -> Answer:
    resp = error_response(exc)
    assert isinstance(resp.body, bytes)
    return Answer(resp.status, resp.body, "application/json", dict(resp.headers))


_Core = Callable[[Federation, Asked], Awaitable[Answer]]


# ---- accounts ------------------------------------------------------------------------------------------


async def _account(fed: Federation, name: str, *, gone_ok: bool = False) -> LocalAccount:
    """The account a ``/users/NAME`` path names, if it answers: NotFound for an unknown or suspended one, Gone
    for a removed one or one whose actor was deleted (unless ``gone_ok``: the caller serves the tombstone)."""
    account = await fed.local.account(name.lower()) if len(name) <= 64 else None
    if account is None or account.state == "suspended":
        raise NotFound("no such actor")
    if not gone_ok and (
        account.state in ("removed", "purged")
        or await fed.store.tombstone(fed.urls.of(account.name).owner) is not None
    ):
        raise Gone(f"{fed.urls.of(account.name).owner} was deleted; its objects are gone with it")
    return account


async def _owner_actor(fed: Federation, asked: Asked) -> Answer:
    account = await _account(fed, asked.match["username"], gone_ok=True)
    actor = fed.urls.of(account.name).owner
    tomb = await fed.store.tombstone(actor)
    if tomb is not None or account.state in ("removed", "purged"):
        doc: dict[str, Any] = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": actor,
            "type": "Tombstone",
            "formerType": tomb.former_type if tomb is not None else account.actor_type,
        }
        if tomb is not None:
            doc["deleted"] = datetime.fromtimestamp(tomb.deleted_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return _as(asked, doc, status=410)
    async with fed.acting(account.name) as me:
        return _as(asked, await me.actor_document("owner"))


async def _node_actor(fed: Federation, asked: Asked) -> Answer:
    return _as(asked, fed.node_document())


async def _inbox(fed: Federation, asked: Asked) -> Answer:
    name = asked.match.get("username")
    account = (await _account(fed, name)).name if name is not None else None
    admitted = fed.intake.admit(asked.remote, asked.headers)
    body = await asked.read_body()
    said = await fed.intake.take(
        admitted,
        method=asked.method,
        path_qs=asked.path_qs,
        headers=asked.headers,
        body=body,
        account=account,
    )
    return Answer(202, said.encode(), "text/plain")


def _collection(asked: Asked, url: str, total: int, items: list[Any] | None = None) -> Answer:
    doc: dict[str, Any] = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": url,
        "type": "OrderedCollection",
        "totalItems": total,
    }
    if items is not None:
        doc["orderedItems"] = items
    return _as(asked, doc)


async def _refuse_blocked_signer(fed: Federation, asked: Asked, account: str) -> None:
    """A signed fetch names who asks: an actor (by any of its keys) or domain the account blocks is refused.
    Unsigned fetches get what is public anyway; the signature itself is not checked, since only its signer
    could gain from naming someone else's key, and it would gain a refusal."""
    try:
        _, key_id = signature_key_id(asked.headers)
    except SignatureError:
        return
    if await fed.blocks_of(account).refuses_key(key_id):
        raise Blocked("blocked")


async def _signer(fed: Federation, asked: Asked, account: str, body: bytes = b"") -> RemoteActor:
    """The verified signer of a request for something private; a blocked one finds nothing (PROTOCOL.md §9)."""
    try:
        return await fed.intake.signed_fetcher(
            remote=asked.remote,
            headers=asked.headers,
            path_qs=asked.path_qs,
            account=account,
            method=asked.method,
            body=body,
        )
    except Blocked:
        raise NotFound("not found") from None


async def _outbox(fed: Federation, asked: Asked) -> Answer:
    name = asked.match.get("username")
    if name is None:  # the server's actor sends nothing public
        return _collection(asked, fed.urls.outbox(fed.urls.node), 0, [])
    account = await _account(fed, name)
    await _refuse_blocked_signer(fed, asked, account.name)
    total, items = await fed.store.public_outbox(account.name)
    return _collection(asked, fed.urls.outbox(fed.urls.of(account.name).owner), total, items)


def _follow_count(direction: str, url: Callable[[Urls], str]) -> _Core:
    async def core(fed: Federation, asked: Asked) -> Answer:
        # counts only: who follows the account is part of its contact graph, which is private
        account = await _account(fed, asked.match["username"])
        await _refuse_blocked_signer(fed, asked, account.name)
        rows = await fed.store.follows(account.name, direction, ["accepted"])
        return _collection(asked, url(fed.urls.of(account.name)), len(rows))

    return core


async def _card(fed: Federation, asked: Asked) -> Answer:
    # private (PROTOCOL.md §9): only a signed fetch by a peer the card is rendered for; missing and forbidden
    # both answer 404
    account = await _account(fed, asked.match["username"])
    signer = await _signer(fed, asked, account.name)
    async with fed.acting(account.name) as me:
        fields = None
        for actor_id in await me.blocks.speaks_for(signer):
            fields = await me.graph.card_for(actor_id)
            if fields:
                break
        if not fields:
            raise NotFound("no such card")
        return _as(asked, render_card(me, fields, await me.graph.card_version()))


async def _relationship(fed: Federation, asked: Asked) -> Answer:
    record_id = fed.urls.base + asked.path
    for name in await fed.store.accounts_holding_record(record_id):
        account = await fed.local.account(name)
        if account is None or account.state != "active":
            continue
        if await fed.store.tombstone(fed.urls.of(name).owner) is not None:
            continue
        signer = await _signer(fed, asked, name)
        store = fed.account_store(name)
        offer = await store.offer_by_record(record_id)
        if (
            offer is not None
            and offer.state == "accepted"
            and offer.final is not None
            and offer.actor_id in await fed.blocks_of(name).speaks_for(signer)
        ):
            return _as(asked, offer.final)
    raise NotFound("no such record")


async def _org(fed: Federation, asked: Asked) -> Answer:
    """An organisation's operation, for a request its member's actor signed (federation/org_api.py). Anyone
    else, a blocked signer, or an account that is no organisation, finds nothing (404)."""
    account = await _account(fed, asked.match["username"])
    op = org_api.operation(asked.method, asked.match["op"])
    if op is None or fed.orgs is None or account.actor_type != "Organization":
        raise NotFound("no such operation")
    body = await asked.read_body() if asked.method == "POST" else b""
    if len(body) > org_api.MAX_BODY:
        raise TooLarge(f"an operation's body is at most {org_api.MAX_BODY} bytes")
    args: Any = dict(asked.query)
    if asked.method == "POST":
        try:
            args = json.loads(body or b"{}")
        except ValueError:
            raise MalformedInput("the body must be a JSON object") from None
        if not isinstance(args, dict):
            raise MalformedInput("the body must be a JSON object")
    signer = await _signer(fed, asked, account.name, body)
    async with fed.acting(account.name) as me:
        return _json(await org_api.serve(me, signer.id, op, args))


# ---- discovery ---------------------------------------------------------------------------------------------


def _resource_key(resource: str) -> str:
    """The canonical form of a WebFinger resource (RFC 7033 §4.1): an ``acct:`` URI, a bare ``user@host``, or
    a URL, read by protocol/addresses.py, so that every spelling of an address finds it: a port
    (``acct:alice@127.0.0.1:8722``), a differently cased or IDNA-encoded host, a trailing dot, percent-escapes.
    An unreadable resource names no one here: 404, as Mastodon answers, with what to write instead."""
    text = unquote(resource).strip()
    try:
        if text[:8].lower().startswith(("http://", "https://")):
            return normalize(text, kind="url").uri
        if text[:5].lower() == "acct:":
            text = text[5:]
        return normalize_acct("acct:" + text.lstrip("@"))
    except InvalidRecord as exc:
        raise NotFound(
            f"no such account here: {resource[:200]!r} is not an account or actor URL ({exc.message}); "
            "pass ?resource=acct:user@host"
        ) from None


def _own(kind: str, text: str) -> str:
    # our own names in canonical form; a domain the address rules cannot read (a one-label host without a
    # port) is compared as written, lowercased, rather than failing every lookup
    try:
        return normalize_acct("acct:" + text) if kind == "acct" else normalize(text, kind="url").uri
    except InvalidRecord:
        return ("acct:" + text if kind == "acct" else text).lower()


@functools.lru_cache(maxsize=16)
def _server_names(urls: Urls) -> tuple[str, str, frozenset[str]]:
    """The canonical ``acct:…@host`` suffix, the canonical prefix of actor URLs, and the resources that name
    the server's own actor."""
    # FEP-d556: the server's own actor is also found by WebFinger on the server's URL
    node = {_own("acct", urls.node_acct), _own("url", urls.node), _own("url", urls.base)}
    suffix = _own("acct", f"x@{urls.host}")[len("acct:x") :]
    prefix = _own("url", urls.of("x").owner)[: -len("x")]
    return suffix, prefix, frozenset(node)


def _named(urls: Urls, key: str) -> str | None:
    """The account name a canonical resource names on this server, if any."""
    suffix, prefix, _ = _server_names(urls)
    if key.startswith("acct:") and key.endswith(suffix):
        name = key[len("acct:") : -len(suffix)]
    elif key.startswith(prefix):
        name = key[len(prefix) :]
    else:
        return None
    return name if name and "/" not in name and "@" not in name and name != NODE_USERNAME else None


def _alias_name(domains: tuple[str, ...], key: str) -> str | None:
    """The user part of ``acct:USER@D`` for D one of the alias domains (FederationSettings.alias_domains)."""
    for domain in domains:
        suffix = _own("acct", f"x@{domain}")[len("acct:x") :]
        if key.startswith("acct:") and key.endswith(suffix) and len(key) > len(suffix) + 5:
            user = key[len("acct:") : -len(suffix)]
            return user if "/" not in user and "@" not in user else None
    return None


async def _webfinger(fed: Federation, asked: Asked) -> Answer:
    resource = asked.query.get("resource", "").strip()
    if not resource:
        raise MalformedInput("pass ?resource=acct:user@host")
    urls = fed.urls
    key = _resource_key(resource)
    _, _, node = _server_names(urls)
    if key in node:
        subject, actor = _own("acct", urls.node_acct), urls.node
    else:
        name = _named(urls, key)
        aliased = _alias_name(fed.settings.alias_domains, key) if name is None else None
        if aliased:
            name = aliased
        if name is None:
            raise NotFound(f"no such account here: {resource[:200]}")
        try:
            account = await _account(fed, name)
        except Gone:
            raise Gone(f"acct:{name}@{urls.host} was deleted") from None
        except NotFound:
            raise NotFound(f"no such account here: {resource[:200]}") from None
        alias = _own("acct", account.alias.removeprefix("acct:")) if account.alias else ""
        if aliased and alias != key:  # another domain answers only for the accounts that go by it
            raise NotFound(f"no such account here: {resource[:200]}")
        mine = urls.of(account.name)
        subject, actor = alias or _own("acct", mine.owner_acct), mine.owner
    jrd = {
        "subject": subject,
        "aliases": [actor],
        "links": [
            {"rel": "self", "type": _AS_JSON, "href": actor},
            {"rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": actor},
        ],
    }
    return _json(jrd, content_type="application/jrd+json", headers={"Access-Control-Allow-Origin": "*"})


async def _host_meta(fed: Federation, asked: Asked) -> Answer:
    base = fed.urls.base
    xrd = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
        f'  <Link rel="lrdd" template="{base}/.well-known/webfinger?resource={{uri}}"/>\n'
        "</XRD>\n"
    )
    return Answer(200, xrd.encode(), "application/xrd+xml")


def _nodeinfo_profile(version: str) -> str:
    return f"http://nodeinfo.diaspora.software/ns/schema/{version}"


async def _nodeinfo_links(fed: Federation, asked: Asked) -> Answer:
    # Both versions, newest first, as servers that serve both list them: a client that knows only 2.0
    # (Mastodon reads 2.0) finds its link, one that takes the first finds 2.1.
    base = fed.urls.base
    links = [{"rel": _nodeinfo_profile(v), "href": f"{base}/nodeinfo/{v}"} for v in NODEINFO_VERSIONS]
    return _json({"links": links})


def nodeinfo_document(version: str, *, node_name: str, users: int) -> dict[str, Any]:
    """NodeInfo ``version`` (2.0 or 2.1) with exactly the fields that version's schema allows: 2.0 has no
    ``software.repository`` (``additionalProperties: false``), so one document cannot serve both. The schemas
    are kept in specs/test-vectors/nodeinfo/ and the tests validate against them."""
    software: dict[str, str] = {"name": "kith", "version": VERSION}
    if version == "2.1":
        software["repository"] = "https://w3id.org/kith"
    return {
        "version": version,
        "software": software,
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": False,
        "usage": {"users": {"total": users, "activeMonth": users, "activeHalfyear": users}, "localPosts": 0},
        "metadata": {"nodeName": node_name, "implements": [KITH_PROTOCOL]},
    }


def _nodeinfo(version: str) -> _Core:
    async def core(fed: Federation, asked: Asked) -> Answer:
        name = fed.settings.server_name or fed.urls.host
        users = 0
        for account in await fed.local.accounts(("active",)):
            if await fed.store.tombstone(fed.urls.of(account.name).owner) is None:
                users += 1
        doc = nodeinfo_document(version, node_name=name, users=users)
        return _json(doc, content_type=f'application/json; profile="{_nodeinfo_profile(version)}#"')

    return core


# ---- the table, and serving it ------------------------------------------------------------------------------


#: Every federation route: (method, path, handler). aiohttp serves them; federation/local.py matches them too.
ROUTES: tuple[tuple[str, str, _Core], ...] = (
    ("GET", "/.well-known/webfinger", _webfinger),
    ("GET", "/.well-known/host-meta", _host_meta),
    ("GET", "/.well-known/nodeinfo", _nodeinfo_links),
    *(("GET", f"/nodeinfo/{v}", _nodeinfo(v)) for v in NODEINFO_VERSIONS),
    ("GET", "/users/{username}", _owner_actor),
    ("POST", "/users/{username}/inbox", _inbox),
    ("GET", "/users/{username}/outbox", _outbox),
    ("GET", "/users/{username}/followers", _follow_count("in", lambda u: u.followers(u.owner))),
    ("GET", "/users/{username}/following", _follow_count("out", lambda u: u.following(u.owner))),
    ("GET", "/users/{username}/card", _card),
    ("GET", "/relationships/{rid}", _relationship),
    ("GET", "/users/{username}/org/{op:.+}", _org),
    ("POST", "/users/{username}/org/{op:.+}", _org),
    ("GET", "/actor", _node_actor),
    ("POST", "/actor/inbox", _inbox),
    ("GET", "/actor/outbox", _outbox),
    ("POST", "/inbox", _inbox),
)


def _pattern(path: str) -> re.Pattern[str]:
    """A route's path as aiohttp reads it: ``{name}`` is one segment, ``{name:regex}`` what the regex takes."""

    def group(found: re.Match[str]) -> str:
        return f"(?P<{found[1]}>{found[2] or '[^/]+'})"

    return re.compile("^" + re.sub(r"\{(\w+)(?::([^}]+))?\}", group, path) + "$")


_PATTERNS = [(method, _pattern(path), core) for method, path, core in ROUTES]


async def respond(fed: Federation, asked: Asked) -> Answer:
    """Answer ``asked`` as the routes do (``asked.match`` is filled from the path here); errors become their
    status, as on the network (federation/edge.py)."""
    for method, pattern, core in _PATTERNS:
        found = pattern.match(asked.path)
        if found is not None and method == asked.method:
            return await _answer(core, fed, Asked(**{**_fields(asked), "match": found.groupdict()}))
    return _error(NotFound(f"no federation route {asked.method} {asked.path[:200]}"))


def _fields(asked: Asked) -> dict[str, Any]:
    return {name: getattr(asked, name) for name in Asked.__slots__}


async def _answer(core: _Core, fed: Federation, asked: Asked) -> Answer:
    try:
        return await core(fed, asked)
    except KithError as exc:
        return _error(exc)


def _fed(request: web.Request) -> Federation:
    return request.config_dict[FEDERATION]


def _serve(core: _Core) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        asked = Asked(
            method=request.method,
            path=request.path,
            path_qs=request.path_qs,
            query=request.query,
            headers=request.headers,
            remote=request.remote,
            match=request.match_info,
            read_body=functools.partial(read_body, request),
        )
        answer = await _answer(core, _fed(request), asked)
        resp = web.Response(status=answer.status, body=answer.body, headers=answer.headers)
        resp.headers["Content-Type"] = answer.content_type
        return resp

    handler.__name__ = core.__name__
    return handler


def federation_routes() -> list[web.RouteDef]:
    return [web.route(method, path, _serve(core)) for method, path, core in ROUTES]
