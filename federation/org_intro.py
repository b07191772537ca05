"""Warm introductions (specs/ORGANISATIONS.md §Introductions; the lifecycle is protocol/states.py INTRODUCTION).

1. A member asks their organisation for an introduction to someone (federation/org_api.py takes the ask).
2. The organisation asks the best-connected members who share that person (``INTRO_ASKS`` of them, by the
   strength they shared; never viewers, never the one asking): an ``Offer`` of an ``Introduction`` naming who
   asks and which of the introducer's own records it is about, so that their node finds the person.
3. An introducer accepts or declines from their own node (``Accept``/``Reject`` of the ask, with a note).
   The first acceptance makes the introduction: the one who asked is told who accepted (never who declined
   or who was asked: introducers stay anonymous until they accept), the others still asked are told it is no
   longer needed. Once everyone asked declined, the one who asked is told it was declined.
4. Both sides keep the introduction in their log with its source (the organisation, the introducer, the
   person). Nothing is ever sent to the person introduced: the introducer makes the introduction themselves.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from federation import org_wire as wire
from federation.errors import NotFound
from federation.kith import now_of
from federation.org import is_org, memberships, port
from federation.store import Outgoing
from protocol.errors import InvalidRecord, MalformedInput, OriginMismatch
from protocol.org_records import Introduction
from protocol.org_serialize import org_from_jsonld, org_to_jsonld
from protocol.records import same_origin
from protocol.states import INTRODUCTION

if TYPE_CHECKING:
    from federation.service import AccountFederation

__all__ = [
    "INTRO_ASKS",
    "INTRO_DAYS",
    "answer",
    "answered",
    "ask",
    "ask_received",
    "expire",
    "outcome_received",
    "requester_view",
]

_log = logging.getLogger("kith.federation.org")

INTRO_ASKS = 2  # members asked for one introduction
INTRO_DAYS = 30  # an introduction nobody answered expires


def _outgoing(activity: dict[str, Any], inbox: str, recipient: str) -> Outgoing:
    return Outgoing(
        activity_id=activity["id"],
        type=activity["type"],
        body=json.dumps(activity),
        inboxes=[inbox],
        recipient=recipient,
    )


async def _inbox(fed: AccountFederation, actor: str) -> str | None:
    cached = await fed.store.actor(actor)
    return None if cached is None or cached.gone else cached.actor.inbox


def requester_view(row: dict[str, Any]) -> dict[str, Any]:
    """An introduction as the one who asked may see it: whom it was asked of stays unsaid."""
    return {
        "id": row["id"],
        "name": row["name"],
        "note": row.get("note"),
        "state": row["state"],
        "asked": row.get("asked", len(row.get("asks", ()))),
        "introducer": row.get("introducer") if row["state"] == "accepted" else None,
        "introducer_note": row.get("introducer_note") if row["state"] == "accepted" else None,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


# ---- the organisation's side --------------------------------------------------------------------------------


async def ask(fed: AccountFederation, requester: str, query: str, note: str | None) -> dict[str, Any]:
    """``requester`` (an active member) asks for an introduction to the person ``query`` names."""
    the_port = port(fed)
    names, found = await the_port.candidates(query, exclude=[requester])
    if not names:
        raise NotFound(f"nobody here shares someone matching {query!r}; try `kith org who-knows`")
    if len(names) > 1:
        listed = "; ".join(names[:5])
        raise InvalidRecord(
            f"{len(names)} people match {query!r} ({listed}); ask with their address or their full name",
            field="query",
        )
    if not found:
        raise NotFound(f"nobody but you shares {names[0]} here; no one can introduce you")
    chosen: list[dict[str, Any]] = []
    for c in found:
        if c["member"] not in {x["member"] for x in chosen}:
            chosen.append(c)
        if len(chosen) == INTRO_ASKS:
            break
    now = now_of(fed)
    intro_id = fed.new_id("introductions")
    asks = [{"ask_id": fed.new_id(), "member": c["member"], "record_id": c["record_id"]} for c in chosen]
    await the_port.add_intro({"id": intro_id, "requester": requester, "name": names[0], "note": note}, asks)
    items = []
    for a in asks:
        inbox = await _inbox(fed, a["member"])
        if inbox is None:
            continue
        doc = org_to_jsonld(
            Introduction(
                id=intro_id,
                organization=fed.urls.owner,
                requester=requester,
                name=names[0],
                about=a["record_id"],
                summary=note,
                updated=now,
            )
        )
        items.append(
            _outgoing(
                wire.ask_introduction(a["ask_id"], fed.urls.owner, doc, a["member"]), inbox, a["member"]
            )
        )
    await fed.send_all(items)
    row = await the_port.intro(intro_id)
    assert row is not None
    return requester_view(row)


async def answered(
    fed: AccountFederation, actor_id: str, ask_id: str, activity: dict[str, Any], *, accepted: bool
) -> None:
    """An introducer answered the organisation's ask. One answer at a time: the inbox processes two
    introducers' answers side by side, and "everyone asked declined" must see both."""
    async with fed.org_intro_lock:
        await _answered(fed, actor_id, ask_id, activity, accepted=accepted)


async def _answered(
    fed: AccountFederation, actor_id: str, ask_id: str, activity: dict[str, Any], *, accepted: bool
) -> None:
    the_port = port(fed)
    asked = await the_port.intro_ask(ask_id)
    if asked is None or asked["member"] != actor_id:
        raise OriginMismatch("only the member asked answers an ask")
    if asked["state"] != "offered":
        return  # answered before, or no longer needed
    intro = await the_port.intro(asked["intro_id"])
    if intro is None:
        return
    await the_port.answer_ask(ask_id, state="accepted" if accepted else "rejected")
    if intro["state"] != "asked":
        return
    note = activity.get("summary")
    note = note[:2000] if isinstance(note, str) and note.strip() else None
    if accepted:
        INTRODUCTION.step("asked", "an introducer accepts")
        await the_port.set_intro(intro["id"], state="accepted", introducer=actor_id, note=note)
        others = [a for a in intro["asks"] if a["ask_id"] != ask_id and a["state"] == "offered"]
        await _tell(fed, intro["id"], others)
        return
    waiting = [a for a in intro["asks"] if a["ask_id"] != ask_id and a["state"] == "offered"]
    if not waiting:
        INTRODUCTION.step("asked", "every introducer declines")
        await the_port.set_intro(intro["id"], state="declined")
        await _tell(fed, intro["id"], [])


async def _tell(fed: AccountFederation, intro_id: str, also: list[dict[str, Any]]) -> None:
    """Tell the one who asked how it went, and the introducers in ``also`` that it is no longer needed."""
    row = await port(fed).intro(intro_id)
    if row is None:
        return
    now = now_of(fed)
    accepted = row["state"] == "accepted"
    outcome = Introduction(
        id=intro_id,
        organization=fed.urls.owner,
        requester=row["requester"],
        name=row["name"],
        state=row["state"],
        introducer=row["introducer"] if accepted else None,
        summary=row["introducer_note"] if accepted else None,
        updated=now,
    )
    items = []
    inbox = await _inbox(fed, row["requester"])
    if inbox is not None:
        doc = org_to_jsonld(outcome)
        items.append(
            _outgoing(
                wire.tell_introduction(fed.new_id(), fed.urls.owner, doc, row["requester"]),
                inbox,
                row["requester"],
            )
        )
    for a in also:
        inbox = await _inbox(fed, a["member"])
        if inbox is None:
            continue
        closed = Introduction(
            id=intro_id,
            organization=fed.urls.owner,
            requester=row["requester"],
            name=row["name"],
            state="cancelled",
            updated=now,
        )
        items.append(
            _outgoing(
                wire.tell_introduction(fed.new_id(), fed.urls.owner, org_to_jsonld(closed), a["member"]),
                inbox,
                a["member"],
            )
        )
    await fed.send_all(items)


async def expire(fed: AccountFederation) -> int:
    """Introductions nobody answered within INTRO_DAYS expire; the one who asked is told."""
    the_port = port(fed)
    before = (now_of(fed) - timedelta(days=INTRO_DAYS)).strftime("%Y-%m-%dT%H:%M:%SZ")
    stale = await the_port.stale_intros(before)
    for intro_id in stale:
        row = await the_port.intro(intro_id)
        if row is None or row["state"] != "asked":
            continue
        waiting = [a for a in row["asks"] if a["state"] == "offered"]
        await the_port.set_intro(intro_id, state="expired")
        await _tell(fed, intro_id, waiting)
    return len(stale)


# ---- a member's side -----------------------------------------------------------------------------------------


async def _from_our_org(fed: AccountFederation, actor_id: str, raw: Any) -> Introduction:
    intro = org_from_jsonld(raw)
    if (
        not isinstance(intro, Introduction)
        or intro.organization != actor_id
        or not same_origin(intro.id, actor_id)
    ):
        raise OriginMismatch("an organisation speaks only of its own introductions")
    if not any(r.actor_id == actor_id for r in await memberships(fed, states=("accepted",))):
        raise MalformedInput(f"{actor_id} is not an organisation we belong to")
    return intro


async def ask_received(fed: AccountFederation, actor_id: str, activity: dict[str, Any]) -> None:
    """The organisation asks the owner to introduce a colleague to someone of the owner's graph."""
    if is_org(fed):
        raise MalformedInput("an organisation introduces no one")
    intro = await _from_our_org(fed, actor_id, activity.get("object"))
    if intro.state != "asked" or intro.about is None:
        raise MalformedInput("an ask names the record it is about, and is asked")
    the_port = port(fed)
    found = await the_port.person_for_record(actor_id, intro.about)
    now = the_port.now()
    if found is None:  # we no longer share that person: nobody to introduce here
        inbox = await _inbox(fed, actor_id)
        if inbox is not None:
            reply = wire.answer_ask(
                fed.new_id(), fed.urls.owner, activity["id"], actor_id, accepted=False, note=None
            )
            await fed.send(reply, [inbox], recipient=actor_id)
        return
    person_id, _ = found
    await the_port.save_intro(
        {
            "id": intro.id,
            "org": actor_id,
            "role": "introducer",
            "name": intro.name,
            "person_id": person_id,
            "requester": intro.requester,
            "note": intro.summary,
            "ask_id": activity["id"],
            "state": "asked",
            "now": now,
        }
    )


async def answer(
    fed: AccountFederation, intro_id: str, *, accepted: bool, note: str | None = None
) -> dict[str, Any]:
    """The owner accepts (they will make the introduction themselves) or declines an ask."""
    the_port = port(fed)
    row = await the_port.local_intro(intro_id)
    if row is None or row["role"] != "introducer":
        raise NotFound(f"no introduction {intro_id} was asked of you; see `kith org intros`")
    if row["state"] != "asked":
        raise NotFound(f"the introduction {intro_id} is {row['state']}; there is nothing to answer")
    inbox = await _inbox(fed, row["org"])
    if inbox is None:
        raise NotFound(f"{row['org']} cannot be reached; try again later")
    reply = wire.answer_ask(
        fed.new_id(), fed.urls.owner, row["ask_id"], row["org"], accepted=accepted, note=note
    )
    await fed.send(reply, [inbox], recipient=row["org"])
    state = "accepted" if accepted else "declined"
    await the_port.save_intro({**row, "state": state, "answer": note, "now": the_port.now()})
    done = await the_port.local_intro(intro_id)
    assert done is not None
    return done


async def outcome_received(fed: AccountFederation, actor_id: str, raw: dict[str, Any]) -> None:
    """How an introduction went: to the one who asked (accepted, with the introducer; declined; expired), or to
    an introducer still asked (no longer needed)."""
    intro = await _from_our_org(fed, actor_id, raw)
    the_port = port(fed)
    row = await the_port.local_intro(intro.id)
    now = the_port.now()
    if row is not None and row["role"] == "introducer":
        if row["state"] == "asked":
            await the_port.save_intro({**row, "state": "cancelled", "now": now})
        return
    if intro.requester != fed.urls.owner:
        raise OriginMismatch("an introduction's outcome goes to the one who asked")
    await the_port.save_intro(
        {
            "id": intro.id,
            "org": actor_id,
            "role": "requester",
            "name": intro.name,
            "requester": intro.requester,
            "introducer": intro.introducer,
            "answer": intro.summary,
            "note": row.get("note") if row else None,
            "state": intro.state,
            "now": now,
        }
    )
