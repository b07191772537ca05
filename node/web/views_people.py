"""People: the list (by tie strength, filtered by circle, searched as you type, 50 a page) and adding a person.

With ``?fragment=1`` the list comes back as the bare results block, which static/kith.js swaps in while the
owner types; without JavaScript the same form submits and the whole page comes back."""

from __future__ import annotations

from aiohttp import web

from node.web.framework import Done, Form, PageResult, action, page, state
from node.web.helpers import field

__all__: list[str] = []

_PAGE_SIZE = 50


@page("/people", "people")
async def _people(request: web.Request) -> PageResult:
    graph = state(request).ctx.graph
    q = request.query.get("q", "").strip()[:200]
    circle = request.query.get("circle", "").strip()[:100] or None
    try:
        offset = max(0, min(int(request.query.get("offset", "0")), 10**7))
    except ValueError:
        offset = 0
    if q:
        result = await graph.search(q, circle=circle, offset=offset, limit=_PAGE_SIZE)
    else:
        result = await graph.list_people(circle=circle, order="strength", offset=offset, limit=_PAGE_SIZE)
    fragment = request.query.get("fragment") == "1"
    return PageResult(
        template="people_results.html" if fragment else "people.html",
        title="People",
        values={
            "q": q,
            "circle": circle or "",
            "circles": [] if fragment else await graph.circles(),
            "page": result,
            "prev_offset": max(0, offset - _PAGE_SIZE) if offset else None,
        },
    )


@page("/people/new", "person_new")
async def _new_person_form(request: web.Request) -> PageResult:
    return PageResult(
        template="person_new.html",
        title="Add a person",
        values={"circles": await state(request).ctx.graph.circles()},
    )


@action("/people/new", "person_create", back=lambda r: "/people/new")
async def _create_person(request: web.Request, form: Form) -> Done:
    data: dict[str, object] = {}
    for name in ("display_name", "organization", "title"):
        if value := field(form, name, limit=500):
            data[name] = value
    identities = [line.strip() for line in field(form, "identities", limit=5000).splitlines() if line.strip()]
    if identities:
        data["identities"] = identities[:20]
    if circle := field(form, "circle", limit=100):
        data["circles"] = [circle]
    person = await state(request).ctx.graph.create_person(data)
    return Done(to=f"/people/{person.id}", message=f"Added {person.display_name}.")
