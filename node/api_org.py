"""The owner API for organisations, under ``/api/org/`` (specs/ORGANISATIONS.md). Declared like every route
(node/api_declare.py), served behind the owner token, errors turned into statuses in one place.

The same routes serve both sides. On a person's account: joining and leaving, the sharing settings with
their preview and who can see what, and the organisation's operations run at the organisation through the
member's own signed requests (``org``: which organisation, by default the only one). On an organisation's
account: the same operations, run here with every right (federation/org_api.py says who may do what).

    GET  /api/org                         memberships (a person) or the organisation's settings
    POST /api/org/join | leave            {"address"}
    GET  /api/org/sharing                 settings, counts per level, who can see what
    PUT  /api/org/sharing                 {"level", "circle"?, "person"?} (level null: the override goes)
    GET  /api/org/preview                 exactly what the organisation would see
    PUT  /api/org/notes/{id}              {"shared": true|false}
    GET  /api/org/who-knows?q= | timeline?q=
    GET  /api/org/members | requests | settings | policies | intros
    POST /api/org/requests/accept | reject, /api/org/members/role | remove, /api/org/policies, /api/org/intros
    PUT  /api/org/settings
    POST /api/org/intros/answer           {"id", "accept", "note"?}
    GET  /api/org/people/{id}/policies    the policies that apply to one person of the owner's graph
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from federation import AccountFederation, org, org_api, org_intro
from federation.errors import NotFound
from node.api_declare import ACCOUNT, Reply, Route, body, declare
from node.api_schema import Param, Schema, integer, nullable, obj, text, text_list
from node.federation_access import access
from node.org_member import choose_note, memberships, preview, set_sharing, sharing
from node.org_policies import person_policies
from protocol.vocab import ORG_ROLES, SHARING_LEVELS, STRENGTH_BUCKETS

__all__ = ["routes"]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_REMOTE = (403, 404, 409, 410, 502, 503, 504)
_P = "/api/org"


def _acting(
    handler: Callable[[web.Request, AccountFederation], Awaitable[web.Response]],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """``handler`` run for the request's account acting as its actor (node/federation_access.py)."""

    @functools.wraps(handler)
    async def run(request: web.Request) -> web.Response:
        federation = access(request)
        if not federation.available:
            raise NotFound(
                "federation is not running on this server, and organisations need it (start `kith serve`)"
            )
        async with federation.acting(request[ACCOUNT].name) as fed:
            return await handler(request, fed)

    return run


def _org_param(request: web.Request) -> str | None:
    value = request.query.get("org")
    return value.strip() if value and value.strip() else None


def _org_body(data: dict[str, Any]) -> str | None:
    value = data.get("org")
    return value.strip() if isinstance(value, str) and value.strip() else None


def _json(value: Any, status: int = 200) -> web.Response:
    return web.json_response(value, status=status)


# -- schemas ---------------------------------------------------------------------------------------------------
_LEVEL = {
    "type": "string",
    "enum": list(SHARING_LEVELS),
    "description": "none, knows, last-contact, interactions, notes",
}
_ROLE = {"type": "string", "enum": list(ORG_ROLES)}
_LEVEL_OR_NULL = {
    "type": ["string", "null"],
    "enum": [*SHARING_LEVELS, None],
    "description": "null: the default",
}
_ROLE_OR_NULL = {"type": ["string", "null"], "enum": [*ORG_ROLES, None]}
_ADDRESS = text(2048, nonblank=True, description="acct:org@host, org@host or the organisation's actor URL")
_ORG = nullable(
    text(2048, nonblank=True, description="which organisation (default: the only one you belong to)")
)
# Query values stay short enough that all of a route's, percent-encoded (12 bytes for a 4-byte character),
# fit the 8 KiB request line aiohttp reads (its 400 beyond is not JSON).
_ORG_QUERY = Param(
    "org", text(300, nonblank=True), "Which organisation (default: the only one you belong to)"
)
_Q = Param("q", text(300, nonblank=True), "A name, a company or an address", required=True)
_STR = {"type": "string"}
_OPT_STR = {"type": ["string", "null"]}
_NUM = {"type": ["number", "string"]}
_PERSON = obj(
    {"display_name": _STR, "organization": _OPT_STR, "identities": {"type": "array", "items": _STR}},
    required=("display_name", "organization", "identities"),
)
_KNOWN_BY = obj(
    {
        "member": _STR,
        "strength": {"type": "number", "minimum": 0, "maximum": 1},
        "bucket": {"type": "string", "enum": [b for b, _ in STRENGTH_BUCKETS]},
        "last_contact": _OPT_STR,
        "last_channel": _OPT_STR,
        "level": _LEVEL,
        "explained": _OPT_STR,
        "notes": {"type": "array", "items": _STR},
    },
    required=("member", "strength", "bucket", "last_contact"),
)
_WHO_KNOWS = {
    "type": "array",
    "items": obj(
        {"person": _PERSON, "known_by": {"type": "array", "items": _KNOWN_BY}, "matched": _STR},
        required=("person", "known_by"),
    ),
}
_TIMELINE = {
    "type": "array",
    "items": obj(
        {
            "occurred_at": _STR,
            "channel": _OPT_STR,
            "initiated_by": _OPT_STR,
            "member": _STR,
            "person": obj({"display_name": _STR, "organization": _OPT_STR}, required=("display_name",)),
            "kind": {"type": "string", "enum": ["interaction", "last-contact"]},
        },
        required=("occurred_at", "member", "person", "kind"),
    ),
}
_MEMBER = obj(
    {
        "actor": _STR,
        "acct": _OPT_STR,
        "name": _OPT_STR,
        "role": _ROLE,
        "level": _LEVEL,
        "joined_at": _OPT_STR,
    },
    required=("actor", "role", "level"),
)
_MEMBERSHIP = obj(
    {
        "org": _STR,
        "acct": _OPT_STR,
        "name": _OPT_STR,
        "state": _STR,
        "role": {"type": ["string", "null"]},
        "level": _LEVEL,
        "cap": {"type": ["string", "null"]},
        "deleted": {"type": ["object", "null"]},
        "since": _NUM,
    },
    required=("org", "state", "level"),
)
_JOINED = obj(
    {
        "id": _STR,
        "direction": _STR,
        "org": _STR,
        "member": _STR,
        "acct": _OPT_STR,
        "state": _STR,
        "record": {"type": "object"},
        "created_at": _NUM,
    },
    required=("id", "state", "record"),
)
_SETTINGS = obj(
    {
        "cap": _LEVEL,
        "domains": {"type": "array", "items": _STR},
        "cool_down_days": {"type": ["integer", "null"]},
        "removed": {"type": "integer"},
    },
    required=("cap", "domains", "cool_down_days"),
)
_SHARING = obj(
    {
        "org": _STR,
        "level": _LEVEL,
        "cap": {"type": ["string", "null"]},
        "rules": {
            "type": "array",
            "items": obj(
                {"scope": _STR, "target": _STR, "level": _LEVEL}, required=("scope", "target", "level")
            ),
        },
        "notes": {"type": "array", "items": _STR},
        "shared": {"type": "object", "additionalProperties": {"type": "integer"}},
        "visible_to": {"type": "object"},
        "sent": {"type": "object"},
    },
    required=("org", "level", "rules", "shared", "visible_to"),
)
_POLICY = obj(
    {
        "id": _STR,
        "kind": {"type": "string", "enum": ["person", "company"]},
        "name": _STR,
        "identities": {"type": "array", "items": _STR},
        "owner": _OPT_STR,
        "do_not_contact": _OPT_STR,
        "do_not_contact_by": _OPT_STR,
        "cool_down_days": {"type": ["integer", "null"]},
        "last_contact": _OPT_STR,
        "cool_down_until": _OPT_STR,
        "updated_at": _OPT_STR,
        "cleared": {"type": "boolean"},
        "org": _STR,
    },
    required=("id", "kind", "name"),
)
_INTRO = obj(
    {
        "id": _STR,
        "name": _STR,
        "state": _STR,
        "note": _OPT_STR,
        "asked": {"type": "integer"},
        "introducer": _OPT_STR,
        "introducer_note": _OPT_STR,
        "requester": _OPT_STR,
        "org": _STR,
        "role": _STR,
        "created_at": _OPT_STR,
        "updated_at": _OPT_STR,
    },
    required=("id", "name", "state"),
    additional=True,
)


def _ok(schema: Schema, status: int = 200) -> dict[int, Reply]:
    return {status: Reply(schema)}


def _list(item: Schema) -> dict[int, Reply]:
    return {200: Reply({"type": "array", "items": item})}


# -- handlers --------------------------------------------------------------------------------------------------
@_acting
async def _overview(request: web.Request, fed: AccountFederation) -> web.Response:
    if org.is_org(fed):
        return _json(
            {
                "account": "organization",
                "org": fed.urls.owner,
                "memberships": [],
                "settings": await org_api.settings(fed),
            }
        )
    return _json({"account": "person", "org": None, "memberships": await memberships(fed), "settings": None})


@_acting
async def _join(request: web.Request, fed: AccountFederation) -> web.Response:
    return _json(await org.join(fed, body(request)["address"]), 201)


@_acting
async def _leave(request: web.Request, fed: AccountFederation) -> web.Response:
    return _json(await org.leave(fed, body(request)["address"]))


@_acting
async def _get_sharing(request: web.Request, fed: AccountFederation) -> web.Response:
    return _json(await sharing(request[ACCOUNT], fed, _org_param(request)))


@_acting
async def _put_sharing(request: web.Request, fed: AccountFederation) -> web.Response:
    data = body(request)
    result = await set_sharing(
        request[ACCOUNT],
        fed,
        _org_body(data),
        level=data.get("level"),
        circle=data.get("circle"),
        person=data.get("person"),
    )
    return _json(result)


@_acting
async def _preview(request: web.Request, fed: AccountFederation) -> web.Response:
    q = request.query
    result = await preview(
        request[ACCOUNT],
        fed,
        _org_param(request),
        level=q.get("level"),
        circle=q.get("circle"),
        person=q.get("person"),
        offset=int(q.get("offset", "0")),
        limit=int(q.get("limit", "50")),
    )
    return _json(result)


@_acting
async def _note(request: web.Request, fed: AccountFederation) -> web.Response:
    data = body(request)
    return _json(
        await choose_note(
            request[ACCOUNT], fed, _org_body(data), request.match_info["id"], bool(data["shared"])
        )
    )


@_acting
async def _who_knows(request: web.Request, fed: AccountFederation) -> web.Response:
    return _json(await org_api.who_knows(fed, request.query["q"].strip(), _org_param(request)))


@_acting
async def _timeline(request: web.Request, fed: AccountFederation) -> web.Response:
    return _json(await org_api.timeline(fed, request.query["q"].strip(), _org_param(request)))


@_acting
async def _members(request: web.Request, fed: AccountFederation) -> web.Response:
    found = await org_api.directory(fed, _org_param(request))
    return _json(found["members"])


@_acting
async def _requests(request: web.Request, fed: AccountFederation) -> web.Response:
    return _json(await org_api.requests(fed, _org_param(request)))


@_acting
async def _accept(request: web.Request, fed: AccountFederation) -> web.Response:
    data = body(request)
    return _json(await org_api.accept_request(fed, data["id"], data.get("role") or "member", _org_body(data)))


@_acting
async def _reject(request: web.Request, fed: AccountFederation) -> web.Response:
    data = body(request)
    return _json(await org_api.reject_request(fed, data["id"], _org_body(data)))


@_acting
async def _role(request: web.Request, fed: AccountFederation) -> web.Response:
    data = body(request)
    return _json(await org_api.set_role(fed, data["member"], data["role"], _org_body(data)))


@_acting
async def _remove(request: web.Request, fed: AccountFederation) -> web.Response:
    data = body(request)
    return _json(await org_api.remove_member(fed, data["member"], _org_body(data)))


@_acting
async def _get_settings(request: web.Request, fed: AccountFederation) -> web.Response:
    return _json(await org_api.settings(fed, None, _org_param(request)))


@_acting
async def _put_settings(request: web.Request, fed: AccountFederation) -> web.Response:
    data = body(request)
    changes = {k: data[k] for k in ("cap", "domains", "cool_down_days") if data.get(k) is not None}
    return _json(await org_api.settings(fed, changes or None, _org_body(data)))


@_acting
async def _policies(request: web.Request, fed: AccountFederation) -> web.Response:
    return _json(await org_api.policies(fed, _org_param(request)))


@_acting
async def _set_policy(request: web.Request, fed: AccountFederation) -> web.Response:
    data = body(request)
    args = {
        k: data[k]
        for k in ("target", "owner", "do_not_contact", "cool_down_days", "clear")
        if data.get(k) is not None
    }
    return _json(await org_api.set_policy(fed, args, _org_body(data)))


@_acting
async def _intros(request: web.Request, fed: AccountFederation) -> web.Response:
    return _json(await org_api.intros(fed, _org_param(request)))


@_acting
async def _ask(request: web.Request, fed: AccountFederation) -> web.Response:
    data = body(request)
    return _json(await org_api.request_intro(fed, data["query"], data.get("note"), _org_body(data)), 201)


@_acting
async def _answer(request: web.Request, fed: AccountFederation) -> web.Response:
    data = body(request)
    return _json(
        await org_intro.answer(fed, data["id"], accepted=bool(data["accept"]), note=data.get("note"))
    )


@_acting
async def _person_policies(request: web.Request, fed: AccountFederation) -> web.Response:
    return _json(await person_policies(request[ACCOUNT], fed, request.match_info["id"]))


# -- declarations ----------------------------------------------------------------------------------------------
def _declarations() -> list[Route]:
    person_id = (Param("id", text(100, nonblank=True), "A person's id"),)
    return [
        declare(
            "GET",
            _P,
            "Organisations: the ones you belong to, or (an organisation's account) its settings",
            _overview,
            name="org_overview",
            replies=_ok(
                obj(
                    {
                        "account": {"type": "string", "enum": ["person", "organization"]},
                        "org": _OPT_STR,
                        "memberships": {"type": "array", "items": _MEMBERSHIP},
                        "settings": {"anyOf": [_SETTINGS, {"type": "null"}]},
                    },
                    required=("account", "memberships"),
                )
            ),
            errors=(404,),
        ),
        declare(
            "POST",
            f"{_P}/join",
            "Ask to join an organisation (its admins accept with kith requests / kith accept ID)",
            _join,
            name="org_join",
            body=obj({"address": _ADDRESS}, required=("address",)),
            replies=_ok(_JOINED, 201),
            errors=(400, *_REMOTE),
        ),
        declare(
            "POST",
            f"{_P}/leave",
            "Leave an organisation: it deletes everything you shared and says so",
            _leave,
            name="org_leave",
            body=obj({"address": _ADDRESS}, required=("address",)),
            replies=_ok(_JOINED),
            errors=(400, *_REMOTE),
        ),
        declare(
            "GET",
            f"{_P}/sharing",
            "What you share with an organisation, and who can see what of it",
            _get_sharing,
            name="org_sharing",
            query=(_ORG_QUERY,),
            replies=_ok(_SHARING),
            errors=(400, 404),
        ),
        declare(
            "PUT",
            f"{_P}/sharing",
            "Set your sharing level: the default, a circle's, or a person's (level none: never shared)",
            _put_sharing,
            name="org_set_sharing",
            body=obj(
                {
                    "level": _LEVEL_OR_NULL,
                    "circle": nullable(text(100, nonblank=True)),
                    "person": nullable(text(100, nonblank=True)),
                    "org": _ORG,
                },
                required=("level",),
            )
            # a circle or a person, not both
            | {"not": {"properties": {"circle": _STR, "person": _STR}, "required": ["circle", "person"]}},
            replies=_ok(_SHARING),
            errors=(400, *_REMOTE),
        ),
        declare(
            "GET",
            f"{_P}/preview",
            "Exactly what the organisation would see, with your settings or with a change",
            _preview,
            name="org_preview",
            query=(
                _ORG_QUERY,
                Param("level", _LEVEL, "Preview this level (for the default, or the circle or person named)"),
                Param("circle", text(100, nonblank=True), "With level: a circle's level"),
                Param("person", text(100, nonblank=True), "With level: a person's level"),
                Param("offset", integer(0, 10**9), "Records to skip"),
                Param("limit", integer(1, 500), "Records to show (default 50)"),
            ),
            replies=_ok(
                obj(
                    {
                        "org": _STR,
                        "cap": {"type": ["string", "null"]},
                        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
                        "total": {"type": "integer"},
                        "offset": {"type": "integer"},
                        "next_offset": {"type": ["integer", "null"]},
                        "items": {
                            "type": "array",
                            "items": obj(
                                {"person_id": _STR, "record": {"type": "object"}},
                                required=("person_id", "record"),
                            ),
                        },
                        "generated_at": _STR,
                    },
                    required=("org", "counts", "total", "items"),
                )
            ),
            errors=(404,),
        ),
        declare(
            "PUT",
            f"{_P}/notes/{{id}}",
            "Choose a note to share with an organisation at level notes (or take it back)",
            _note,
            name="org_choose_note",
            body=obj({"shared": {"type": "boolean"}, "org": _ORG}, required=("shared",)),
            replies=_ok(
                obj(
                    {"note": _STR, "org": _STR, "shared": {"type": "boolean"}, "sent": {"type": "object"}},
                    required=("note", "org", "shared"),
                )
            ),
            errors=(400, *_REMOTE),
        ),
        declare(
            "GET",
            f"{_P}/who-knows",
            "Who knows someone: a person (a name or an address) or a company, with each member's strength",
            _who_knows,
            name="org_who_knows",
            query=(_Q, _ORG_QUERY),
            replies=_ok(_WHO_KNOWS),
            errors=_REMOTE,
        ),
        declare(
            "GET",
            f"{_P}/timeline",
            "The team timeline of a person or a company: every shared interaction, newest first",
            _timeline,
            name="org_timeline",
            query=(_Q, _ORG_QUERY),
            replies=_ok(_TIMELINE),
            errors=_REMOTE,
        ),
        declare(
            "GET",
            f"{_P}/members",
            "The organisation's directory: its members, their roles, the level each shares at",
            _members,
            name="org_members",
            query=(_ORG_QUERY,),
            replies=_list(_MEMBER),
            errors=_REMOTE,
        ),
        declare(
            "GET",
            f"{_P}/requests",
            "Requests to join, waiting (admins)",
            _requests,
            name="org_requests",
            query=(_ORG_QUERY,),
            replies=_list(
                obj(
                    {"id": _STR, "actor": _STR, "acct": _OPT_STR, "state": _STR, "created_at": _NUM},
                    required=("id", "actor", "state"),
                )
            ),
            errors=_REMOTE,
        ),
        declare(
            "POST",
            f"{_P}/requests/accept",
            "Accept a request to join (admins), as member unless role says otherwise",
            _accept,
            name="org_accept",
            body=obj({"id": text(2048, nonblank=True), "role": _ROLE_OR_NULL, "org": _ORG}, required=("id",)),
            replies=_ok(
                obj({"id": _STR, "actor": _STR, "state": _STR, "role": _OPT_STR}, required=("id", "state"))
            ),
            errors=_REMOTE,
        ),
        declare(
            "POST",
            f"{_P}/requests/reject",
            "Reject a request to join (admins)",
            _reject,
            name="org_reject",
            body=obj({"id": text(2048, nonblank=True), "org": _ORG}, required=("id",)),
            replies=_ok(
                obj({"id": _STR, "actor": _STR, "state": _STR, "role": _OPT_STR}, required=("id", "state"))
            ),
            errors=_REMOTE,
        ),
        declare(
            "POST",
            f"{_P}/members/role",
            "Give a member a role: admin, member or viewer (admins)",
            _role,
            name="org_role",
            body=obj(
                {"member": text(2048, nonblank=True), "role": _ROLE, "org": _ORG}, required=("member", "role")
            ),
            replies=_ok(obj({"actor": _STR, "role": _ROLE}, required=("actor", "role"))),
            errors=_REMOTE,
        ),
        declare(
            "POST",
            f"{_P}/members/remove",
            "Remove a member: everything they shared is deleted, and they are told (admins)",
            _remove,
            name="org_remove",
            body=obj({"member": text(2048, nonblank=True), "org": _ORG}, required=("member",)),
            replies=_ok(
                obj(
                    {"member": _STR, "state": _STR, "deleted": {"type": "integer"}},
                    required=("member", "state", "deleted"),
                )
            ),
            errors=_REMOTE,
        ),
        declare(
            "GET",
            f"{_P}/settings",
            "The organisation's cap, domains and cool-down",
            _get_settings,
            name="org_settings",
            query=(_ORG_QUERY,),
            replies=_ok(_SETTINGS),
            errors=_REMOTE,
        ),
        declare(
            "PUT",
            f"{_P}/settings",
            "Set the cap (records above it are deleted), the domains whose addresses are colleagues, the "
            "default cool-down (admins)",
            _put_settings,
            name="org_set_settings",
            body=obj(
                {
                    "cap": {"type": ["string", "null"], "enum": [*SHARING_LEVELS, None]},
                    "domains": nullable(
                        text_list(
                            {
                                "type": "string",
                                "pattern": r"^@?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+\.?$",
                                "maxLength": 253,
                            },
                            max_items=100,
                        )
                    ),
                    "cool_down_days": nullable(integer(1, 3650)),
                    "org": _ORG,
                }
            ),
            replies=_ok(_SETTINGS),
            errors=_REMOTE,
        ),
        declare(
            "GET",
            f"{_P}/policies",
            "Contact policies: relationship owners, do-not-contact, cool-downs",
            _policies,
            name="org_policies",
            query=(_ORG_QUERY,),
            replies=_list(_POLICY),
            errors=_REMOTE,
        ),
        declare(
            "POST",
            f"{_P}/policies",
            "Set (or clear) the policy for a person (an address or a name) or a company (company:NAME)",
            _set_policy,
            name="org_set_policy",
            body=obj(
                {
                    "target": text(500, nonblank=True),
                    "owner": nullable(text(2048, nonblank=True)),
                    "do_not_contact": nullable(text(2000)),
                    "cool_down_days": nullable(integer(1, 3650)),
                    "clear": nullable({"type": "boolean"}),
                    "org": _ORG,
                },
                required=("target",),
            ),
            replies=_ok(_POLICY),
            errors=(400, *_REMOTE),
        ),
        declare(
            "GET",
            f"{_P}/intros",
            "Introductions: every one (an organisation), or those you asked for and were asked (a member)",
            _intros,
            name="org_intros",
            query=(_ORG_QUERY,),
            replies=_list(_INTRO),
            errors=_REMOTE,
        ),
        declare(
            "POST",
            f"{_P}/intros",
            "Ask your organisation for an introduction to someone other members know",
            _ask,
            name="org_ask_intro",
            body=obj(
                {"query": text(500, nonblank=True), "note": nullable(text(2000)), "org": _ORG},
                required=("query",),
            ),
            replies=_ok(_INTRO, 201),
            errors=(400, *_REMOTE),
        ),
        declare(
            "POST",
            f"{_P}/intros/answer",
            "Accept (you will introduce them yourself) or decline an introduction you were asked for",
            _answer,
            name="org_answer_intro",
            body=obj(
                {
                    "id": text(2048, nonblank=True),
                    "accept": {"type": "boolean"},
                    "note": nullable(text(2000)),
                },
                required=("id", "accept"),
            ),
            replies=_ok(_INTRO),
            errors=_REMOTE,
        ),
        declare(
            "GET",
            f"{_P}/people/{{id}}/policies",
            "The organisations' contact policies that apply to one person of your graph",
            _person_policies,
            name="org_person_policies",
            params=person_id,
            replies=_list(_POLICY),
            errors=(404,),
        ),
    ]


def routes() -> list[web.RouteDef]:
    return [web.route(r.method, r.path, r.handler) for r in _declarations()]
