"""One person: identities with provenance and verification, relationships, the timeline, notes, circles and
cadence, and the forms that change them (each a POST that redirects back to the page)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from node.dav_vcard import kept_addresses
from node.errors import BadInput
from node.federation_access import access
from node.graph import Graph
from node.messaging import fediverse_address, message_person
from node.reach import actions, reach, set_preferred
from node.web.framework import Done, Form, PageResult, action, page, render, safe_next, state
from node.web.helpers import field, names_for
from node.web.views_connections import acting
from node.web.views_org import person_panel
from protocol.vocab import CHANNELS, RELATIONSHIP_TYPES

__all__: list[str] = []

_TIMELINE_PAGE = 20
_IDENTITY_KINDS = ("", "acct", "email", "tel", "web", "x", "linkedin", "bluesky", "url")


def _pid(request: web.Request) -> str:
    return request.match_info["id"]


def _back(request: web.Request) -> str:
    return f"/people/{_pid(request)}"


@page("/people/{id}", "person")
async def _person(request: web.Request) -> PageResult:
    graph = state(request).ctx.graph
    pid = _pid(request)
    who = await graph.get_person(pid)
    try:
        offset = max(0, min(int(request.query.get("offset", "0")), 10**7))
    except ValueError:
        offset = 0
    timeline = await graph.interactions(pid, offset=offset, limit=_TIMELINE_PAGE)
    relationships = await graph.relationships(pid)
    merges = [m for m in await graph.merges(pid) if m.undone_at is None]
    others = [r.other_person_id for r in relationships if r.other_person_id]
    others += [p for i in timeline.items for p in i.people if p != pid]
    others += [m.merged if m.survivor == pid else m.survivor for m in merges]
    if who.merged_into:
        others.append(who.merged_into)
    reach_actions = await actions(graph, who) if who.status != "merged" else []
    return PageResult(
        template="person.html",
        title=who.display_name or "Person",
        values={
            "p": who,
            "timeline": timeline,
            "relationships": relationships,
            "notes": await graph.notes(pid),
            "merges": merges,
            "names": await names_for(graph, others),
            "circles": await graph.circles(),
            "channels": CHANNELS,
            "rel_types": sorted(RELATIONSHIP_TYPES.values(), key=lambda t: (t.category, t.name)),
            "kinds": _IDENTITY_KINDS,
            "prev_offset": max(0, offset - _TIMELINE_PAGE) if offset else None,
            # organisations: their contact policies for this person, before reaching out (node/web/views_org.py)
            "org_panel": await person_panel(request, pid),
            # the last edit an address book app made (node/dav.py): the page says where that change came from,
            # and shows the postal addresses that card holds (kept with it; the graph has no field for them yet)
            "carddav_edit": (edit := await state(request).ctx.store.dav.provenance(pid)),
            "carddav_addresses": kept_addresses(edit[2]),
            "reach": {a.n: a for a in reach_actions},
            "fediverse": fediverse_address(who) if who.status != "merged" else None,
            "preferred": next((a for a in reach_actions if a.preferred), None),
        },
    )


@page(r"/people/{id}/reach/{n:\d+}", "person_reach")
async def _reach(request: web.Request) -> web.StreamResponse:
    """Follow a way of reaching the person through the node: the outreach is logged (the stay-in-touch clock
    starts again) and the browser goes on to the address the node built from the stored identity, never to
    one the request names. A GET, so that it is an ordinary link (mailto: opens the mail program); the
    session's CSRF token in the link keeps another site from logging outreach in the owner's name."""
    st = state(request)
    if not st.sessions.csrf_ok(st.sid, request.query.get("csrf")):
        return await render(
            request,
            PageResult(
                template="error.html",
                values={
                    "message": "This link has expired (or came from another site). Go back, reload the "
                    "person's page and follow it again."
                },
                status=403,
                title="Link expired",
            ),
            st.sid,
        )
    n = int(request.match_info["n"][:6])
    href, _interaction = await reach(
        st.ctx.graph,
        _pid(request),
        n,
        tag=request.query.get("t") or "",
        message=request.query.get("via") == "message",
    )
    resp = web.Response(status=303, headers={"Location": href, "Cache-Control": "no-store"})
    return resp


@action("/people/{id}/reach/preferred", "person_reach_preferred", back=_back)
async def _prefer(request: web.Request, form: Form) -> Done:
    raw = field(form, "n", limit=5)
    n = int(raw) if raw.isdigit() else None
    chosen = await set_preferred(state(request).ctx.graph, _pid(request), n)
    message = (
        f"{chosen.label} {chosen.display} is the way to reach them." if chosen else "No preferred channel."
    )
    return Done(to=_back(request) + "#identities", message=message)


@action("/people/{id}/interactions", "person_log", back=_back)
async def _log_interaction(request: web.Request, form: Form) -> Done:
    data = {
        "people": [_pid(request)],
        "channel": field(form, "channel", limit=20) or "message",
        "initiated_by": field(form, "initiated_by", limit=20) or "owner",
        "summary": field(form, "summary"),
    }
    if when := field(form, "occurred_at", limit=40):
        data["occurred_at"] = when
    who = await state(request).ctx.graph.get_person(_pid(request))
    await state(request).ctx.graph.log_interaction(data)
    return Done(
        to=safe_next(field(form, "back", limit=200) or None, _back(request)),
        message=f"Interaction with {who.display_name} logged; the stay-in-touch clock starts again.",
    )


@action("/people/{id}/message", "person_message", back=_back)
async def _send_message(request: web.Request, form: Form) -> Done:
    """A fediverse direct message to the person (node/messaging.py); errors come back as the page's flash."""
    if not access(request).available:
        raise BadInput("federation is not available on this server, so no message can be sent", field="text")
    graph = state(request).ctx.graph
    async with acting(request) as fed:  # the session's account writes, as its own actor
        sent = await message_person(graph, fed, _pid(request), field(form, "text", limit=5000))
    return Done(
        to=_back(request) + "#timeline",
        message=f"Message on its way to {sent.to}; logged, and the stay-in-touch clock starts again.",
    )


@action("/people/{id}/notes", "person_note", back=_back)
async def _add_note(request: web.Request, form: Form) -> Done:
    await state(request).ctx.graph.add_note(_pid(request), field(form, "body"))
    return Done(to=_back(request) + "#notes", message="Note added.")


@action("/people/{id}/identities", "person_identity", back=_back)
async def _add_identity(request: web.Request, form: Form) -> Done:
    kind = field(form, "kind", limit=20) or None
    if kind is not None and kind not in _IDENTITY_KINDS:
        raise BadInput(f"kind must be one of {', '.join(k for k in _IDENTITY_KINDS if k)}", field="kind")
    await state(request).ctx.graph.add_identity(
        _pid(request),
        field(form, "uri", limit=2048),
        kind=kind,
        label=field(form, "label", limit=200) or None,
    )
    return Done(to=_back(request) + "#identities", message="Identity added.")


@action("/people/{id}/identities/remove", "person_identity_remove", back=_back)
async def _remove_identity(request: web.Request, form: Form) -> Done:
    await state(request).ctx.graph.remove_identity(_pid(request), field(form, "uri", limit=2048))
    return Done(to=_back(request) + "#identities", message="Identity removed.")


@action("/people/{id}/circles", "person_circle", back=_back)
async def _join_circle(request: web.Request, form: Form) -> Done:
    name = field(form, "circle", limit=100)
    await state(request).ctx.graph.set_membership(_pid(request), name, member=True)
    return Done(to=_back(request) + "#circles", message=f"Added to {name}.")


@action("/people/{id}/circles/remove", "person_circle_remove", back=_back)
async def _leave_circle(request: web.Request, form: Form) -> Done:
    name = field(form, "circle", limit=100)
    await state(request).ctx.graph.set_membership(_pid(request), name, member=False)
    return Done(to=_back(request) + "#circles", message=f"Removed from {name}.")


@action("/people/{id}/cadence", "person_cadence", back=_back)
async def _set_cadence(request: web.Request, form: Form) -> Done:
    days = field(form, "cadence_days", limit=10) or None
    await state(request).ctx.graph.set_person_cadence(_pid(request), days)
    return Done(
        to=_back(request) + "#circles",
        message=f"Stay in touch every {days} days." if days else "Personal cadence cleared.",
    )


@action("/people/{id}/edit", "person_edit", back=_back)
async def _edit(request: web.Request, form: Form) -> Done:
    data: dict[str, object] = {
        name: field(form, name, limit=500) or None for name in ("display_name", "organization", "title")
    }
    if not data["display_name"]:
        raise BadInput("the name must not be empty", field="display_name")
    data["priority"] = field(form, "priority", limit=2) or "0"
    await state(request).ctx.graph.update_person(_pid(request), data)
    return Done(to=_back(request), message="Saved.")


@action("/people/{id}/relationships", "person_relationship", back=_back)
async def _add_relationship(request: web.Request, form: Form) -> Done:
    await state(request).ctx.graph.add_relationship(
        _pid(request),
        {
            "type": field(form, "type", limit=100),
            "since": field(form, "since", limit=20) or None,
            "how_we_met": field(form, "how_we_met") or None,
        },
    )
    return Done(to=_back(request) + "#relationships", message="Relationship added.")


# Deleting a note, an interaction or a relationship through one person's page: the item must be that person's,
# so that a forged form cannot delete another person's record by id.
async def _note_ids(graph: Graph, pid: str) -> set[str]:
    return {n.id for n in await graph.notes(pid)}


async def _interaction_ids(graph: Graph, pid: str) -> set[str]:
    return {i.id for i in (await graph.interactions(pid, limit=500)).items}


async def _relationship_ids(graph: Graph, pid: str) -> set[str]:
    return {r.id for r in await graph.relationships(pid) if r.status == "local"}


_DELETABLE: dict[str, tuple[str, Callable[[Graph, str], Awaitable[set[str]]], str]] = {
    "notes": ("note", _note_ids, "#notes"),
    "interactions": ("interaction", _interaction_ids, "#timeline"),
    "relationships": ("relationship", _relationship_ids, "#relationships"),
}


@action("/people/{id}/{what:notes|interactions|relationships}/{item}/delete", "person_delete", back=_back)
async def _delete(request: web.Request, form: Form) -> Done:
    graph = state(request).ctx.graph
    what, wanted = request.match_info["what"], request.match_info["item"]
    noun, ids, anchor = _DELETABLE[what]
    if wanted not in await ids(graph, _pid(request)):
        raise BadInput(f"that {noun} is not on this person's page", field=noun)
    delete = {"notes": graph.delete_note, "interactions": graph.delete_interaction}.get(
        what, graph.delete_relationship
    )
    await delete(wanted)
    return Done(to=_back(request) + anchor, message=f"{noun.capitalize()} deleted.")


@action("/people/{id}/archive", "person_archive", back=_back)
async def _archive(request: web.Request, form: Form) -> Done:
    restore = field(form, "restore", limit=5) == "1"
    p = await state(request).ctx.graph.archive(_pid(request), not restore)
    return Done(
        to=_back(request),
        message=f"{p.display_name} is back in your lists." if restore else f"{p.display_name} is archived.",
    )
