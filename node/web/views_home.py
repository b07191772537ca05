"""Home: who is due today, whose relationships are fading, what happened lately, and which Dunbar layers are
over budget."""

from __future__ import annotations

from aiohttp import web

from node.web.framework import PageResult, page, state
from node.web.helpers import names_for

__all__: list[str] = []


@page("/", "home")
async def _home(request: web.Request) -> PageResult:
    graph = state(request).ctx.graph
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
            "soon": [e for e in week.items if e.person.id not in due_ids][:10],
            "fading": fading,
            "recent": recent.items,
            "names": names,
            "layers": layers,
            "warnings": [layer for layer in layers if layer.over_budget],
            "people_total": everyone.total or 0,
        },
    )
