"""A member's consent, as the owner API, the CLI and the web UI change and show it (specs/ORGANISATIONS.md
§Sharing): the default level per organisation, per-circle and per-person overrides, the notes chosen; the
preview of exactly what the organisation would see; and who can see what of the member's.

Every change is saved and then shared at once (federation/org_share.py ``reconcile``): a level lowered or a
person marked never shared leaves the outbox in that same call, and the organisation deletes its copy when
the delivery arrives (the next delivery cycle).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from federation import AccountFederation, org, org_share
from node.context import AccountContext
from node.errors import BadInput, NotFound
from node.graph import iso
from node.org_port import NodeOrgPort
from node.org_sharing import desired_records, shared_contact, summary
from node.store.org import ShareInputs
from protocol.org_records import OrganizationInfo
from protocol.org_serialize import org_to_jsonld
from protocol.vocab import SHARING_LEVELS

__all__ = [
    "LEVEL_MEANS",
    "choose_note",
    "memberships",
    "preview",
    "set_sharing",
    "sharing",
]

#: What the organisation sees of a person at each level, in words (the CLI and the web UI say it).
LEVEL_MEANS = {
    "none": "nothing",
    "knows": "their name, organisation, addresses and how strong your relationship is (a bucket)",
    "last-contact": "as knows, plus the date and channel of your last contact",
    "interactions": "as last-contact, plus each interaction's date, channel and who started it (never what was "
    "said), and the strength with its explanation",
    "notes": "as interactions, plus the notes you choose to share",
}


def _port(fed: AccountFederation) -> NodeOrgPort:
    the_port = org.port(fed)
    assert isinstance(the_port, NodeOrgPort)
    return the_port


def _level(value: Any, field: str = "level") -> str:
    if value not in SHARING_LEVELS:
        raise BadInput(f"{field} must be one of {', '.join(SHARING_LEVELS)}", field=field)
    return str(value)


async def memberships(fed: AccountFederation) -> list[dict[str, Any]]:
    """The organisations the owner asked to join or belongs to, with their sharing and what they told."""
    the_port = _port(fed)
    rows = {m["org"]: m for m in await the_port.memberships()}
    out = []
    for offer in await fed.store.offers(["offered", "accepted", "ended", "rejected"]):
        if offer.rel_type != org.MEMBERSHIP or offer.direction != "out":
            continue
        cached = await fed.store.actor(offer.actor_id)
        mine = rows.get(offer.actor_id, {})
        info = await the_port.info(offer.actor_id)
        role = None
        if info is not None:
            role = next((e.role for e in info.members if e.member == fed.urls.owner), None)
        out.append(
            {
                "org": offer.actor_id,
                "acct": cached.actor.acct if cached else None,
                "name": cached.actor.name if cached else None,
                "state": offer.state,
                "role": role if offer.state == "accepted" else None,
                "level": mine.get("level", "none"),
                "cap": info.cap if info else None,
                "deleted": {"count": mine["deleted_count"], "at": mine["deleted_at"]}
                if mine.get("deleted_at")
                else None,
                "since": offer.created_at,
            }
        )
    # the latest offer per organisation (a member who left and joined again has both)
    latest: dict[str, dict[str, Any]] = {}
    for item in out:
        latest[item["org"]] = item
    return list(latest.values())


async def _org(fed: AccountFederation, address: str | None) -> str:
    return await org.org_actor(fed, address)


def _who_can_see(
    info: OrganizationInfo | None, counts: Mapping[str, int], me: str, org_id: str
) -> dict[str, Any]:
    """Everyone who can see what the member shares, and what that is (every member of the organisation runs
    who-knows and the timeline over all that is shared; its admins run the organisation too)."""
    members = (
        [] if info is None else [{"actor": e.member, "role": e.role} for e in info.members if e.member != me]
    )
    return {
        "organization": org_id,
        "members": members,
        "sees": [
            {"level": level, "people": counts[level], "what": LEVEL_MEANS[level]}
            for level in SHARING_LEVELS
            if counts.get(level)
        ],
    }


async def sharing(ctx: AccountContext, fed: AccountFederation, address: str | None) -> dict[str, Any]:
    """The owner's sharing with one organisation: settings, what is shared at each level, who can see it."""
    org_id = await _org(fed, address)
    the_port = _port(fed)
    row = next((m for m in await the_port.memberships() if m["org"] == org_id), None)
    info = await the_port.info(org_id)
    desired = await the_port.desired_shares(org_id, info)
    counts: dict[str, int] = {}
    for d in desired.values():
        counts[d.level] = counts.get(d.level, 0) + 1
    return {
        "org": org_id,
        "level": row["level"] if row else "none",
        "cap": info.cap if info else None,
        "rules": await the_port.mine.rules(org_id),
        "notes": await the_port.mine.chosen_notes(org_id),
        "shared": counts,
        "visible_to": _who_can_see(info, counts, fed.urls.owner, org_id),
    }


async def set_sharing(
    ctx: AccountContext,
    fed: AccountFederation,
    address: str | None,
    *,
    level: str | None,
    circle: str | None = None,
    person: str | None = None,
) -> dict[str, Any]:
    """Set the default level (neither ``circle`` nor ``person``), a circle's or a person's (``level`` None:
    the override goes, back to the default); then share the change at once."""
    if circle is not None and person is not None:
        raise BadInput("give a circle or a person, not both", field="person")
    if level is not None:
        _level(level)
    org_id = await _org(fed, address)
    the_port = _port(fed)
    if circle is not None:
        names = {c.name.casefold(): c.name for c in await ctx.graph.circles()}
        if circle.strip().casefold() not in names:
            raise NotFound(f"no circle named {circle!r}; see `kith circles`", field="circle")
        await the_port.mine.set_rule(org_id, "circle", names[circle.strip().casefold()], level)
    elif person is not None:
        found = await ctx.graph.get_person(person)  # NotFound for someone else's id as for a missing one
        await the_port.mine.set_rule(org_id, "person", found.id, level)
    else:
        if level is None:
            raise BadInput("give the level to share at", field="level")
        await the_port.mine.set_level(org_id, level)
    sent = await org_share.reconcile(fed, org_id)
    return {**await sharing(ctx, fed, org_id), "sent": sent}


async def choose_note(
    ctx: AccountContext, fed: AccountFederation, address: str | None, note_id: str, shared: bool
) -> dict[str, Any]:
    """Choose a note to share (at level notes) or take it back."""
    org_id = await _org(fed, address)
    if not await _port(fed).mine.note_exists(note_id):
        raise NotFound(f"no note {note_id}")
    await _port(fed).mine.choose_note(org_id, note_id, shared)
    sent = await org_share.reconcile(fed, org_id)
    return {"note": note_id, "org": org_id, "shared": shared, "sent": sent}


async def preview(
    ctx: AccountContext,
    fed: AccountFederation,
    address: str | None,
    *,
    level: str | None = None,
    circle: str | None = None,
    person: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> dict[str, Any]:
    """Exactly what the organisation would see: the records themselves, as they would be sent (unsigned), with
    the current settings or with the change given (``level`` for the default, a circle's or a person's)."""
    org_id = await _org(fed, address)
    the_port = _port(fed)
    inputs = await the_port.mine.inputs(org_id)
    if level is not None:
        _level(level)
        if circle is not None:
            inputs = replace(inputs, rules={**inputs.rules, ("circle", circle.strip().casefold()): level})
        elif person is not None:
            inputs = replace(inputs, rules={**inputs.rules, ("person", person.casefold()): level})
        else:
            inputs = ShareInputs(level=level, rules=inputs.rules, people=inputs.people)
    info = await the_port.info(org_id)
    now = ctx.graph.clock()
    desired = desired_records(inputs, org=org_id, info=info, now=now)
    ordered = sorted(desired.values(), key=lambda d: (d.fields["name"].casefold(), d.person_id))
    page = ordered[offset : offset + limit]
    records = []
    for d in page:
        record = org_to_jsonld(shared_contact(d, member=fed.urls.owner, org=org_id, version=1, updated=now))
        records.append({"person_id": d.person_id, "record": record})
    return {
        "org": org_id,
        "cap": info.cap if info else None,
        "counts": summary(desired.values()),
        "total": len(ordered),
        "offset": offset,
        "next_offset": offset + limit if offset + limit < len(ordered) else None,
        "items": records,
        "generated_at": iso(now),
    }
