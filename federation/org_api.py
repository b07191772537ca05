"""The organisation's operations, for its own account and for its members through theirs
(specs/ORGANISATIONS.md §Who acts for the organisation).

An organisation's account is run by several people without a shared password: each acts through their own
account. The organisation serves its operations at ``{actor}/org/{op}`` to requests signed (HTTP signatures,
specs/HTTP-SIGNATURES.md) by its members' own actors; a member's node calls them with the member's key. Every
operation checks the signer's membership and role when it runs:

| operation | who |
| --- | --- |
| the directory, who knows, the team timeline, the policies | every member (viewers too) |
| ask for an introduction; do-not-contact on a person they own | members and admins |
| requests to join (accept, reject), roles, removal, the cap and domains, policies, every introduction | admins |

The organisation's own account (its owner token: the API, the CLI, the web UI) may do all of it. A signer who
is not an active member finds nothing (404, as for a missing operation): missing and forbidden look the same.

The same functions serve the owner API of both sides: on an organisation's account they run here; on a
member's account they call the organisation (``--org``, or the only one the member belongs to).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from federation import org, org_intro
from federation.errors import FetchStatus, NotFound
from federation.org import MEMBERSHIP, is_org, memberships, org_actor, port, push_info
from federation.org_ports import Forbidden
from federation.signing import make_signer
from protocol.errors import InvalidRecord, KithError, MalformedInput
from protocol.vocab import ORG_ROLES, SHARING_LEVELS

if TYPE_CHECKING:
    from federation.service import AccountFederation

__all__ = [
    "MAX_BODY",
    "OWNER",
    "RemoteOrgError",
    "accept_request",
    "call",
    "directory",
    "intros",
    "operation",
    "policies",
    "reject_request",
    "remove_member",
    "request_intro",
    "requests",
    "serve",
    "set_policy",
    "set_role",
    "settings",
    "timeline",
    "who_knows",
]

_log = logging.getLogger("kith.federation.org")

#: The role of the organisation's own account: everything an admin may do, and more (it cannot be removed).
OWNER = "owner"
#: The largest body an operation takes (federation/routes.py serves them at ``{actor}/org/{op}``).
MAX_BODY = 65_536
_MEMBERS = ("owner", "admin", "member", "viewer")
_CONTRIBUTORS = ("owner", "admin", "member")
_ADMINS = ("owner", "admin")


class RemoteOrgError(KithError):
    """The organisation answered a member's call with an error; its status and message are passed on."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status_hint = status if 400 <= status < 600 else 502


def _need(role: str, allowed: tuple[str, ...], what: str) -> None:
    if role not in allowed:
        raise Forbidden(
            f"{what} is for {' and '.join(r + 's' for r in allowed if r != OWNER)}; your role is {role}"
        )


# ---- the operations, as the organisation runs them --------------------------------------------------------


async def _directory(fed: AccountFederation, who: str, role: str, args: Mapping[str, Any]) -> Any:
    _need(role, _MEMBERS, "the directory")
    doc = await org.info_document(fed)
    members = await port(fed).members()
    return {
        "org": fed.urls.owner,
        "cap": doc["sharingCap"],
        "domains": doc["domains"],
        "policies": doc["policies"],
        "members": [
            {
                "actor": m["actor"],
                "acct": m.get("acct"),
                "name": m.get("name"),
                "role": m["role"],
                "level": m["level"],
                "joined_at": m["joined_at"],
            }
            for m in members
        ],
    }


def _query(args: Mapping[str, Any]) -> str:
    q = args.get("q")
    if not isinstance(q, str) or not q.strip() or len(q) > 300:
        raise InvalidRecord(
            "q must be the words or the address to look for (up to 300 characters)", field="q"
        )
    return q.strip()


async def _who_knows(fed: AccountFederation, who: str, role: str, args: Mapping[str, Any]) -> Any:
    _need(role, _MEMBERS, "who knows")
    items = await port(fed).who_knows(_query(args))
    return [{k: v for k, v in item.items() if not k.startswith("_")} for item in items]


async def _timeline(fed: AccountFederation, who: str, role: str, args: Mapping[str, Any]) -> Any:
    _need(role, _MEMBERS, "the team timeline")
    return await port(fed).timeline(_query(args))


async def _requests(fed: AccountFederation, who: str, role: str, args: Mapping[str, Any]) -> Any:
    _need(role, _ADMINS, "requests to join")
    out = []
    for row in await memberships(fed, direction="in", states=("offered",)):
        cached = await fed.store.actor(row.actor_id)
        out.append(
            {
                "id": row.offer_id,
                "actor": row.actor_id,
                "acct": cached.actor.acct if cached else None,
                "state": row.state,
                "created_at": row.created_at,
            }
        )
    return out


async def _answer_request(
    fed: AccountFederation, who: str, role: str, args: Mapping[str, Any], *, accepted: bool
) -> Any:
    _need(role, _ADMINS, "answering requests to join")
    request_id = args.get("id")
    offer = await fed.store.offer(request_id) if isinstance(request_id, str) else None
    if offer is None or offer.rel_type != MEMBERSHIP or offer.direction != "in":
        raise NotFound(f"no request to join {str(request_id)[:200]}; see `kith org requests`")
    wanted = args.get("role", "member")
    if wanted not in ORG_ROLES:
        raise InvalidRecord(f"role must be one of {', '.join(ORG_ROLES)}", field="role")
    if accepted:
        await org.accept(fed, offer, role=wanted)
    else:
        await org.reject(fed, offer)
    done = await fed.store.offer(offer.offer_id)
    assert done is not None
    return {
        "id": done.offer_id,
        "actor": done.actor_id,
        "state": done.state,
        "role": wanted if accepted else None,
    }


async def _set_role(fed: AccountFederation, who: str, role: str, args: Mapping[str, Any]) -> Any:
    _need(role, _ADMINS, "changing roles")
    member, wanted = args.get("member"), args.get("role")
    if wanted not in ORG_ROLES:
        raise InvalidRecord(f"role must be one of {', '.join(ORG_ROLES)}", field="role")
    row = await _active(fed, member)
    await port(fed).set_role(row["actor"], str(wanted))
    await push_info(fed)
    return {"actor": row["actor"], "role": wanted}


async def _active(fed: AccountFederation, member: Any) -> dict[str, Any]:
    if not isinstance(member, str) or not member.strip():
        raise InvalidRecord("member must name a member: their actor URL or acct: address", field="member")
    the_port = port(fed)
    text = member.strip().removeprefix("acct:").removeprefix("@")
    for row in await the_port.members():
        if text in (row["actor"], row.get("acct")):
            return row
    raise NotFound(f"{member} is not a member; see `kith org members`")


async def _remove(fed: AccountFederation, who: str, role: str, args: Mapping[str, Any]) -> Any:
    _need(role, _ADMINS, "removing members")
    row = await _active(fed, args.get("member"))
    return await org.remove(fed, row["actor"])


async def _settings(fed: AccountFederation, who: str, role: str, args: Mapping[str, Any]) -> Any:
    _need(role, _MEMBERS, "the organisation's settings")
    s = await port(fed).settings()
    return {"cap": s.cap, "domains": list(s.domains), "cool_down_days": s.cool_down_days}


async def _set_settings(fed: AccountFederation, who: str, role: str, args: Mapping[str, Any]) -> Any:
    _need(role, _ADMINS, "changing the organisation's settings")
    the_port = port(fed)
    before = await the_port.settings()
    cap = args.get("cap")
    if cap is not None and cap not in SHARING_LEVELS:
        raise InvalidRecord(f"cap must be one of {', '.join(SHARING_LEVELS)}", field="cap")
    domains = args.get("domains")
    if domains is not None and (
        not isinstance(domains, list) or not all(isinstance(d, str) for d in domains)
    ):
        raise InvalidRecord("domains must be a list of host names like acme.example", field="domains")
    days = args.get("cool_down_days")
    after = await the_port.set_settings(cap=cap, domains=domains, cool_down_days=days)
    # what the organisation may no longer hold goes at once: records above a lowered cap, about a new domain
    removed = 0
    if SHARING_LEVELS.index(after.cap) < SHARING_LEVELS.index(before.cap):
        removed += await the_port.purge(above=after.cap)
    added = [d for d in after.domains if d not in before.domains]
    if added:
        removed += await the_port.purge(hosts=added)
    await push_info(fed)
    return {
        "cap": after.cap,
        "domains": list(after.domains),
        "cool_down_days": after.cool_down_days,
        "removed": removed,
    }


async def _policies(fed: AccountFederation, who: str, role: str, args: Mapping[str, Any]) -> Any:
    _need(role, _MEMBERS, "contact policies")
    return await port(fed).policies()


async def _set_policy(fed: AccountFederation, who: str, role: str, args: Mapping[str, Any]) -> Any:
    target = args.get("target")
    if not isinstance(target, str) or not target.strip() or len(target) > 500:
        raise InvalidRecord(
            "target must name a person (an address or a name) or company:NAME", field="target"
        )
    owner, reason, days = args.get("owner"), args.get("do_not_contact"), args.get("cool_down_days")
    clear = bool(args.get("clear"))
    if role not in _ADMINS:
        # a member may set (or lift) do-not-contact on a relationship they own, and nothing else
        _need(role, _CONTRIBUTORS, "contact policies")
        held = await port(fed).find_policy(target)
        if held is None or held.get("owner") != who or owner is not None or days is not None or clear:
            raise Forbidden("a member may set do-not-contact only on a relationship an admin made theirs")
    if owner is not None:
        owner = (await _active(fed, owner))["actor"]
    policy_id = fed.urls.owner + "/org/policies/" + fed.new_id("x").rsplit("/", 1)[-1]
    result = await port(fed).set_policy(
        target.strip(),
        by=who,
        owner=owner,
        do_not_contact=reason,
        cool_down_days=days,
        clear=clear,
        policy_id=policy_id,
    )
    await push_info(fed)
    return result


async def _intros(fed: AccountFederation, who: str, role: str, args: Mapping[str, Any]) -> Any:
    _need(role, _MEMBERS, "introductions")
    if role in _ADMINS:
        return [org_intro.requester_view(r) | {"requester": r["requester"]} for r in await port(fed).intros()]
    return [org_intro.requester_view(r) for r in await port(fed).intros(requester=who)]


async def _ask(fed: AccountFederation, who: str, role: str, args: Mapping[str, Any]) -> Any:
    if role == OWNER:
        raise Forbidden("introductions are asked by members, through their own accounts")
    _need(role, _CONTRIBUTORS, "asking for introductions")
    note = args.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > 2000):
        raise InvalidRecord("note must be text of at most 2,000 characters", field="note")
    return await org_intro.ask(fed, who, _query({"q": args.get("query")}), note.strip() if note else None)


_Op = Callable[["AccountFederation", str, str, Mapping[str, Any]], Awaitable[Any]]


async def _accept_op(fed: AccountFederation, who: str, role: str, args: Mapping[str, Any]) -> Any:
    return await _answer_request(fed, who, role, args, accepted=True)


async def _reject_op(fed: AccountFederation, who: str, role: str, args: Mapping[str, Any]) -> Any:
    return await _answer_request(fed, who, role, args, accepted=False)


_GET: dict[str, _Op] = {
    "directory": _directory,
    "who-knows": _who_knows,
    "timeline": _timeline,
    "requests": _requests,
    "settings": _settings,
    "policies": _policies,
    "intros": _intros,
}
_POST: dict[str, _Op] = {
    "requests/accept": _accept_op,
    "requests/reject": _reject_op,
    "role": _set_role,
    "remove": _remove,
    "settings": _set_settings,
    "policy": _set_policy,
    "intros": _ask,
}


# ---- served to members -------------------------------------------------------------------------------------


def operation(method: str, name: str) -> _Op | None:
    """The operation ``name`` served to members for ``method`` (GET reads, POST changes), or None."""
    return (_GET if method == "GET" else _POST if method == "POST" else {}).get(name)


async def serve(fed: AccountFederation, signer: str, op: _Op, args: Mapping[str, Any]) -> Any:
    """Run ``op`` for ``signer``, whose signature federation/routes.py verified, as their role allows: one who
    is not an active member finds nothing (missing and forbidden look the same to someone outside)."""
    if fed.org is None or not is_org(fed):
        raise NotFound("no such operation")
    member = await port(fed).member(signer)
    if member is None or member["state"] != "active":
        raise NotFound("not found")
    return await op(fed, signer, member["role"], args)


# ---- called by a member's node -------------------------------------------------------------------------------


async def call(
    fed: AccountFederation,
    org_id: str,
    method: str,
    op: str,
    *,
    query: Mapping[str, str] | None = None,
    body: Mapping[str, Any] | None = None,
) -> Any:
    """One operation at the organisation ``org_id``, signed by our owner's key; its answer, or its error."""
    url = f"{org_id}/org/{op}" + (f"?{urlencode(dict(query))}" if query else "")
    payload = json.dumps(dict(body)).encode() if body is not None else None
    headers = {"Accept": "application/json"}
    if payload is not None:
        headers["Content-Type"] = "application/json"
    signer = make_signer(key_id=fed.urls.owner_key, private_key=fed.keys.rsa, clock=fed.clock)
    resp = await fed.client.request(
        method, url, headers=headers, body=payload, signer=signer, follow_redirects=False
    )
    try:
        data = json.loads(resp.body or b"null")
    except ValueError:
        data = None
    if 200 <= resp.status < 300:
        return data
    message = data.get("message") if isinstance(data, dict) else None
    if resp.status == 404:
        raise NotFound(
            message
            if message and message != "not found"
            else f"{org_id} knows no such thing, or you are not its member"
        )
    if resp.status == 403 and message:
        raise Forbidden(message)
    if resp.status in (400, 409) and message:
        raise InvalidRecord(message)
    raise FetchStatus(
        f"{org_id} answered {resp.status}{': ' + message if message else ''}", status=resp.status
    )


async def _run(
    fed: AccountFederation, op: str, method: str, args: Mapping[str, Any], org_address: str | None
) -> Any:
    """Run ``op`` here (an organisation's own account) or at the member's organisation."""
    if is_org(fed):
        ops = _GET if method == "GET" else _POST
        return await ops[op](fed, fed.urls.owner, OWNER, args)
    target = await org_actor(fed, org_address)
    if method == "GET":
        return await call(fed, target, "GET", op, query={k: str(v) for k, v in args.items() if v is not None})
    return await call(fed, target, "POST", op, body=args)


async def directory(fed: AccountFederation, org_address: str | None = None) -> Any:
    return await _run(fed, "directory", "GET", {}, org_address)


async def who_knows(fed: AccountFederation, query: str, org_address: str | None = None) -> Any:
    return await _run(fed, "who-knows", "GET", {"q": query}, org_address)


async def timeline(fed: AccountFederation, query: str, org_address: str | None = None) -> Any:
    return await _run(fed, "timeline", "GET", {"q": query}, org_address)


async def requests(fed: AccountFederation, org_address: str | None = None) -> Any:
    return await _run(fed, "requests", "GET", {}, org_address)


async def accept_request(
    fed: AccountFederation, request_id: str, role: str = "member", org_address: str | None = None
) -> Any:
    return await _run(fed, "requests/accept", "POST", {"id": request_id, "role": role}, org_address)


async def reject_request(fed: AccountFederation, request_id: str, org_address: str | None = None) -> Any:
    return await _run(fed, "requests/reject", "POST", {"id": request_id}, org_address)


async def set_role(fed: AccountFederation, member: str, role: str, org_address: str | None = None) -> Any:
    return await _run(fed, "role", "POST", {"member": member, "role": role}, org_address)


async def remove_member(fed: AccountFederation, member: str, org_address: str | None = None) -> Any:
    return await _run(fed, "remove", "POST", {"member": member}, org_address)


async def settings(
    fed: AccountFederation, changes: Mapping[str, Any] | None = None, org_address: str | None = None
) -> Any:
    if changes:
        return await _run(fed, "settings", "POST", changes, org_address)
    return await _run(fed, "settings", "GET", {}, org_address)


async def policies(fed: AccountFederation, org_address: str | None = None) -> Any:
    return await _run(fed, "policies", "GET", {}, org_address)


async def set_policy(fed: AccountFederation, args: Mapping[str, Any], org_address: str | None = None) -> Any:
    return await _run(fed, "policy", "POST", args, org_address)


async def intros(fed: AccountFederation, org_address: str | None = None) -> Any:
    """On an organisation's account: every introduction. On a member's: those asked for and asked of them."""
    if is_org(fed):
        return await _run(fed, "intros", "GET", {}, None)
    target = await org_actor(fed, org_address) if org_address else None
    return await port(fed).local_intros(target)


async def request_intro(
    fed: AccountFederation, query: str, note: str | None = None, org_address: str | None = None
) -> Any:
    """A member asks their organisation for an introduction; kept in their own log too."""
    if is_org(fed):
        raise Forbidden("introductions are asked by members, through their own accounts")
    target = await org_actor(fed, org_address)
    answer = await call(fed, target, "POST", "intros", body={"query": query, "note": note})
    if (
        not isinstance(answer, dict)
        or not isinstance(answer.get("id"), str)
        or not isinstance(answer.get("name"), str)
    ):
        raise MalformedInput(f"{target} answered the introduction with something Kith cannot read")
    await port(fed).save_intro(
        {
            "id": answer["id"],
            "org": target,
            "role": "requester",
            "name": answer["name"][:500],
            "requester": fed.urls.owner,
            "note": note,
            "state": "asked",
            "now": port(fed).now(),
        }
    )
    return answer
