"""Home: who is due today, whose relationships are fading, birthdays coming up, cadence suggestions, what
happened lately, and which Dunbar layers are over budget. Reminders are the digest's items (node/digest.py):
the owner snoozes them or marks them done here, and the mailed digest leaves them out too."""

from __future__ import annotations

from aiohttp import web

from node.capture.proposals import accept_proposal, dismiss_proposal, list_proposals
from node.digest import build_digest, cadence_suggestions, mark_done, snooze
from node.errors import BadInput
from node.web.framework import Done, Form, PageResult, action, page, state
from node.web.helpers import field, names_for

__all__: list[str] = []


@page("/", "home")
async def _home(request: web.Request) -> PageResult:
    ctx = state(request).ctx
    graph = ctx.graph
    hidden = await ctx.store.outreach.hidden(graph.now())
    digest = await build_digest(ctx)
    due = await graph.due(within_days=0, limit=25)
    week = await graph.due(within_days=7, limit=40)
    due_ids = {e.person.id for e in due.items}
    fading = await graph.fading(limit=10)
    recent = await graph.interactions(limit=10)
    layers = await graph.layers()
    everyone = await graph.list_people(order="created", limit=1)
    names = await names_for(graph, [p for i in recent.items for p in i.people])
    return PageResult(
        template="home.html",
        title="Today",
        values={
            "due": due,
            "due_items": [e for e in due.items if f"due:{e.person.id}:{e.due_at[:10]}" not in hidden],
            "birthdays": digest.of("birthday"),
            "introductions": digest.of("introduction"),
            "suggestions": digest.of("cadence"),
            "proposals": await list_proposals(graph, limit=10),
            "soon": [e for e in week.items if e.person.id not in due_ids][:10],
            "fading": fading,
            "recent": recent.items,
            "names": names,
            "layers": layers,
            "warnings": [layer for layer in layers if layer.over_budget],
            "people_total": everyone.total or 0,
        },
    )


def _today(request: web.Request) -> str:
    return "/"


@action("/today/snooze", "today_snooze", back=_today)
async def _snooze(request: web.Request, form: Form) -> Done:
    days = field(form, "days", limit=3) or "1"
    until = await snooze(state(request).ctx, field(form, "key", limit=250), days)
    return Done(to="/", message=f"Snoozed until {until[:10]}.")


@action("/today/done", "today_done", back=_today)
async def _done(request: web.Request, form: Form) -> Done:
    await mark_done(state(request).ctx, field(form, "key", limit=250))
    return Done(to="/", message="Done.")


@action("/today/cadence", "today_cadence", back=_today)
async def _accept_cadence(request: web.Request, form: Form) -> Done:
    """Accept a cadence suggestion in one click: the cadence the suggestion names, for its person."""
    ctx = state(request).ctx
    pid = field(form, "person", limit=100)
    found = next((i for i in await cadence_suggestions(ctx, limit=50) if i.person_id == pid), None)
    if found is None or found.suggest_days is None:
        raise BadInput("that suggestion is no longer open; reload the page", field="person")
    person = await ctx.graph.set_person_cadence(pid, found.suggest_days)
    return Done(to="/", message=f"Stay in touch with {person.display_name} every {found.suggest_days} days.")


@action("/today/proposals/accept", "today_proposal_accept", back=_today)
async def _accept_proposal(request: web.Request, form: Form) -> Done:
    """A correspondent from the owner's mail becomes a person, with their past messages as interactions."""
    person, linked = await accept_proposal(state(request).ctx.graph, field(form, "address", limit=320))
    return Done(
        to=f"/people/{person.id}", message=f"{person.display_name} added, with {linked} past messages."
    )


@action("/today/proposals/dismiss", "today_proposal_dismiss", back=_today)
async def _dismiss_proposal(request: web.Request, form: Form) -> Done:
    address = field(form, "address", limit=320)
    await dismiss_proposal(state(request).ctx.graph, address)
    return Done(to="/", message=f"{address.removeprefix('mailto:')} will not be proposed again.")
