"""Organisations in the web UI (specs/ORGANISATIONS.md): the same operations as `kith org` and /api/org.

A person's account sees the organisations they belong to, joins and leaves, chooses what to share (with the
preview of exactly what the organisation would see, and who can see what), asks who knows whom, reads the team
timeline, and asks for and answers introductions. An organisation's account sees its directory, answers
requests to join, gives roles, removes members, sets its cap and domains and its contact policies, and lists
every introduction. Every action is a form that redirects back (node/web/framework.py), and every error is a
message on the page it came from.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from federation import AccountFederation, org, org_api, org_intro
from node.errors import BadInput
from node.federation_access import access
from node.org_member import LEVEL_MEANS, memberships, preview, set_sharing, sharing
from node.org_policies import person_policies
from node.web.framework import Done, Form, PageResult, action, page, state
from node.web.helpers import field
from node.web.views_connections import acting
from protocol.vocab import ORG_ROLES, SHARING_LEVELS

__all__ = ["person_panel"]


@contextlib.asynccontextmanager
async def _need(request: web.Request) -> AsyncIterator[AccountFederation]:
    """The session's account acting as its actor (node/federation_access.py)."""
    if not access(request).available:
        raise BadInput("federation is not running on this server, and organisations need it", field="org")
    async with acting(request) as fed:
        yield fed


def _back(request: web.Request) -> str:
    return "/org"


def _org_of(form: Form) -> str | None:
    return field(form, "org", limit=2048) or None


async def _accts(fed: AccountFederation, actors: Any) -> dict[str, str]:
    """acct: addresses of the actors a page names, where federation knows them (the page shows them for
    actor URLs, which are long and say less)."""
    wanted = sorted({a for a in actors if isinstance(a, str)})
    known = await fed.store.actors(wanted) if wanted else {}
    return {a: f"@{c.actor.acct}" for a, c in known.items() if c.actor.acct}


def _actors(rows: Any, *keys: str) -> list[Any]:
    return [row.get(k) for row in rows for k in keys]


def _maybe(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


@page("/org", "org")
async def _org_page(request: web.Request) -> PageResult:
    values: dict[str, Any] = {
        "available": access(request).available,
        "levels": SHARING_LEVELS,
        "roles": ORG_ROLES,
        "means": LEVEL_MEANS,
        "is_org": False,
    }
    if not values["available"]:
        return PageResult(template="org.html", title="Organisation", values=values)
    async with _need(request) as fed:
        return await _org_values(request, fed, values)


async def _org_values(request: web.Request, fed: AccountFederation, values: dict[str, Any]) -> PageResult:
    if org.is_org(fed):
        directory = await org_api.directory(fed)
        values.update(
            is_org=True,
            me=fed.urls.owner_acct,
            members=directory["members"],
            requests=await org_api.requests(fed),
            settings=await org_api.settings(fed),
            policies=await org_api.policies(fed),
            intros=await org_api.intros(fed),
        )
        values["accts"] = await _accts(
            fed, _actors(values["intros"], "requester", "introducer") + _actors(values["policies"], "owner")
        )
        return PageResult(template="org.html", title="Organisation", values=values)
    ctx = state(request).ctx
    joined = await memberships(fed)
    shares = []
    for m in joined:
        if m["state"] == "accepted":
            shares.append(await sharing(ctx, fed, m["org"]))
    values.update(
        memberships=joined,
        shares={s["org"]: s for s in shares},
        circles=[c.name for c in await ctx.graph.circles()],
        intros=await org_api.intros(fed) if shares else [],
    )
    seen = [m["actor"] for s in shares for m in s["visible_to"]["members"]]
    values["accts"] = await _accts(fed, seen + _actors(values["intros"], "requester", "introducer"))
    return PageResult(template="org.html", title="Organisation", values=values)


@action("/org/join", "org_join", back=_back)
async def _join(request: web.Request, form: Form) -> Done:
    async with _need(request) as fed:
        address = field(form, "address", limit=300)
        if not address:
            raise BadInput("give the organisation's address, like acct:acme@example.org", field="address")
        await org.join(fed, address)
        return Done(
            to="/org", message=f"Asked to join {address}. Nothing is shared until you choose a level."
        )


@action("/org/leave", "org_leave", back=_back)
async def _leave(request: web.Request, form: Form) -> Done:
    async with _need(request) as fed:
        address = field(form, "org", limit=2048)
        await org.leave(fed, address)
        return Done(
            to="/org", message="You left. The organisation deletes everything you shared, and will say so."
        )


@action("/org/share", "org_share", back=_back)
async def _share(request: web.Request, form: Form) -> Done:
    async with _need(request) as fed:
        level = field(form, "level", limit=20)
        if level == "default":  # an override taken back
            level_or_none: str | None = None
        elif level in SHARING_LEVELS:
            level_or_none = level
        else:
            raise BadInput(f"level must be one of {', '.join(SHARING_LEVELS)}", field="level")
        circle, person = _maybe(field(form, "circle", limit=100)), _maybe(field(form, "person", limit=100))
        result = await set_sharing(
            state(request).ctx, fed, _org_of(form), level=level_or_none, circle=circle, person=person
        )
        sent = result.get("sent", {})
        back = field(form, "back", limit=200)
        to = back if back.startswith("/people/") else "/org"
        what = f"circle {circle}" if circle else ("this person" if person else "your default")
        return Done(
            to=to,
            message=f"Sharing for {what} set to {level or 'the default'}: {sent.get('shared', 0)} sent, "
            f"{sent.get('withdrawn', 0)} withdrawn.",
        )


@page("/org/preview", "org_preview")
async def _preview(request: web.Request) -> PageResult:
    async with _need(request) as fed:
        q = request.query
        level = q.get("level") if q.get("level") in SHARING_LEVELS else None
        result = await preview(state(request).ctx, fed, q.get("org") or None, level=level, limit=100)
        return PageResult(
            template="org_preview.html",
            title="What the organisation would see",
            values={"p": result, "level": level, "means": LEVEL_MEANS},
        )


@page("/org/who-knows", "org_who_knows")
async def _who_knows(request: web.Request) -> PageResult:
    async with _need(request) as fed:
        q = request.query.get("q", "").strip()[:300]
        results = await org_api.who_knows(fed, q, request.query.get("org") or None) if q else None
        accts = await _accts(fed, [k["member"] for i in results or [] for k in i["known_by"]])
        return PageResult(
            template="org_search.html",
            title="Who knows",
            values={"q": q, "results": results, "mode": "who", "accts": accts},
        )


@page("/org/timeline", "org_timeline")
async def _timeline(request: web.Request) -> PageResult:
    async with _need(request) as fed:
        q = request.query.get("q", "").strip()[:300]
        results = await org_api.timeline(fed, q, request.query.get("org") or None) if q else None
        accts = await _accts(fed, [e["member"] for e in results or []])
        return PageResult(
            template="org_search.html",
            title="Team timeline",
            values={"q": q, "results": results, "mode": "timeline", "accts": accts},
        )


@action("/org/intros/ask", "org_ask", back=lambda r: "/org#intros")
async def _ask(request: web.Request, form: Form) -> Done:
    async with _need(request) as fed:
        query = field(form, "query", limit=500)
        if not query:
            raise BadInput("say whom you would like to be introduced to", field="query")
        answer = await org_api.request_intro(
            fed, query, _maybe(field(form, "note", limit=2000)), _org_of(form)
        )
        return Done(
            to="/org#intros", message=f"Asked {answer['asked']} members to introduce you to {answer['name']}."
        )


@action("/org/intros/answer", "org_answer", back=lambda r: "/org#intros")
async def _answer(request: web.Request, form: Form) -> Done:
    async with _need(request) as fed:
        verdict = field(form, "verdict", limit=10)
        if verdict not in ("accept", "decline"):
            raise BadInput("answer accept or decline", field="verdict")
        done = await org_intro.answer(
            fed,
            field(form, "id", limit=2048),
            accepted=verdict == "accept",
            note=_maybe(field(form, "note", limit=2000)),
        )
        said = (
            "Accepted: now introduce them yourself (Kith sends them nothing)."
            if verdict == "accept"
            else "Declined."
        )
        return Done(to="/org#intros", message=f"{said} ({done['name']})")


# -- the organisation's own account ---------------------------------------------------------------------------
@action("/org/requests/answer", "org_request_answer", back=_back)
async def _request_answer(request: web.Request, form: Form) -> Done:
    async with _need(request) as fed:
        request_id = field(form, "id", limit=2048)
        if field(form, "verdict", limit=10) == "accept":
            role = field(form, "role", limit=20) or "member"
            done = await org_api.accept_request(fed, request_id, role)
            return Done(to="/org", message=f"{done['actor']} is now a member ({role}).")
        await org_api.reject_request(fed, request_id)
        return Done(to="/org", message="Declined.")


@action("/org/role", "org_role", back=_back)
async def _role(request: web.Request, form: Form) -> Done:
    async with _need(request) as fed:
        done = await org_api.set_role(fed, field(form, "member", limit=2048), field(form, "role", limit=20))
        return Done(to="/org", message=f"{done['actor']} is now {done['role']}.")


@action("/org/remove", "org_remove", back=_back)
async def _remove(request: web.Request, form: Form) -> Done:
    async with _need(request) as fed:
        done = await org_api.remove_member(fed, field(form, "member", limit=2048))
        return Done(to="/org", message=f"Removed; the {done['deleted']} records they shared are deleted.")


@action("/org/settings", "org_settings", back=_back)
async def _settings(request: web.Request, form: Form) -> Done:
    async with _need(request) as fed:
        changes: dict[str, Any] = {"cap": field(form, "cap", limit=20)}
        domains = [
            d.strip() for d in field(form, "domains", limit=5000).replace(",", "\n").splitlines() if d.strip()
        ]
        changes["domains"] = domains
        days = field(form, "cool_down_days", limit=10)
        if days:
            if not days.isdigit():
                raise BadInput("the cool-down is a number of days", field="cool_down_days")
            changes["cool_down_days"] = int(days)
        done = await org_api.settings(fed, changes)
        removed = (
            f" {done['removed']} records the organisation may no longer hold were deleted."
            if done.get("removed")
            else ""
        )
        return Done(to="/org", message=f"Saved.{removed}")


@action("/org/policy", "org_policy", back=_back)
async def _policy(request: web.Request, form: Form) -> Done:
    async with _need(request) as fed:
        target = field(form, "target", limit=500)
        if not target:
            raise BadInput(
                "name the person (an address or a name) or the company (company:NAME)", field="target"
            )
        args: dict[str, Any] = {"target": target}
        if field(form, "clear", limit=5):
            args["clear"] = True
        else:
            if owner := _maybe(field(form, "owner", limit=2048)):
                args["owner"] = owner
            if reason := _maybe(field(form, "do_not_contact", limit=2000)):
                args["do_not_contact"] = reason
            if (days := field(form, "cool_down_days", limit=10)) and days.isdigit():
                args["cool_down_days"] = int(days)
        done = await org_api.set_policy(fed, args)
        return Done(
            to="/org#policies",
            message=f"Policy for {done['name']} {'cleared' if done.get('cleared') else 'saved'}.",
        )


async def person_panel(request: web.Request, person_id: str) -> dict[str, Any]:
    """What the person page shows of organisations: the policies that apply (before reaching out) and this
    person's sharing with each organisation the owner belongs to."""
    if not access(request).available:
        return {"policies": [], "orgs": [], "accts": {}}
    async with _need(request) as fed:
        return await _panel(request, fed, person_id)


async def _panel(request: web.Request, fed: AccountFederation, person_id: str) -> dict[str, Any]:
    if org.is_org(fed):
        return {"policies": [], "orgs": [], "accts": {}}
    ctx = state(request).ctx
    joined = [m for m in await memberships(fed) if m["state"] == "accepted"]
    orgs = []
    for m in joined:
        s = await sharing(ctx, fed, m["org"])
        own = next(
            (r["level"] for r in s["rules"] if r["scope"] == "person" and r["target"] == person_id), None
        )
        orgs.append({"org": m["org"], "acct": m.get("acct"), "level": s["level"], "own": own})
    policies = await person_policies(ctx, fed, person_id)
    accts = await _accts(fed, [m["org"] for m in joined] + _actors(policies, "org", "owner"))
    return {"policies": policies, "orgs": orgs, "accts": accts}
