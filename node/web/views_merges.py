"""Duplicates: suggestions with their evidence, merging (from a suggestion or by hand from a person's page),
and undoing any merge exactly."""

from __future__ import annotations

from aiohttp import web

from node.errors import BadInput
from node.web.framework import Done, Form, PageResult, action, page, state
from node.web.helpers import field, names_for

__all__: list[str] = []

_HISTORY = 30


@page("/merges", "merges")
async def _merges(request: web.Request) -> PageResult:
    graph = state(request).ctx.graph
    suggestions = await graph.suggestions(status="open", limit=100)
    history = list(reversed(await graph.merges()))[:_HISTORY]
    names = await names_for(graph, [i for m in history for i in (m.survivor, m.merged)])
    return PageResult(
        template="merges.html",
        title="Duplicates",
        values={"suggestions": suggestions.items, "history": history, "names": names},
    )


@action("/merges/refresh", "merges_refresh", back=lambda r: "/merges")
async def _refresh(request: web.Request, form: Form) -> Done:
    found = await state(request).ctx.graph.suggest_merges()
    return Done(to="/merges", message=f"Found {found} new possible duplicate{'s' if found != 1 else ''}.")


@action("/suggestions/{id}/accept", "suggestion_accept", back=lambda r: "/merges")
async def _accept(request: web.Request, form: Form) -> Done:
    record = await state(request).ctx.graph.accept_suggestion(request.match_info["id"])
    return Done(to="/merges#history", message=f"Merged. Undo it below if that was wrong ({record.id}).")


@action("/suggestions/{id}/dismiss", "suggestion_dismiss", back=lambda r: "/merges")
async def _dismiss(request: web.Request, form: Form) -> Done:
    await state(request).ctx.graph.dismiss_suggestion(request.match_info["id"])
    return Done(to="/merges", message="Dismissed; it will not be suggested again.")


@action("/merges/{id}/undo", "merge_undo", back=lambda r: "/merges")
async def _undo(request: web.Request, form: Form) -> Done:
    record = await state(request).ctx.graph.unmerge(request.match_info["id"])
    back = field(form, "back", limit=200)
    to = back if back.startswith("/people/") else "/merges#history"
    return Done(to=to, message=f"Merge undone: both people are separate again ({record.id}).")


@page("/people/{id}/merge", "person_merge_pick")
async def _pick(request: web.Request) -> PageResult:
    graph = state(request).ctx.graph
    who = await graph.get_person(request.match_info["id"])
    q = request.query.get("q", "").strip()[:200]
    found = await graph.search(q, limit=20) if q else None
    candidates = [p for p in (found.items if found else ()) if p.id != who.id]
    return PageResult(
        template="person_merge.html",
        title=f"Merge into {who.display_name}",
        values={"p": who, "q": q, "candidates": candidates, "searched": found is not None},
    )


@action("/people/{id}/merge", "person_merge", back=lambda r: f"/people/{r.match_info['id']}/merge")
async def _merge(request: web.Request, form: Form) -> Done:
    graph = state(request).ctx.graph
    survivor = request.match_info["id"]
    other = field(form, "other", limit=100)
    if not other:
        raise BadInput("choose the person to merge into this one", field="other")
    reason = field(form, "reason", limit=500) or "merged by the owner"
    record = await graph.merge(survivor, other, evidence=[{"kind": "owner", "detail": reason}])
    return Done(
        to=f"/people/{survivor}#merges", message=f"Merged ({record.id}); undo below if that was wrong."
    )
