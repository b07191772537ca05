"""Sending a fediverse direct message from a person's record (issue 16 §3): ``kith message PERSON TEXT``, the owner
API's ``POST /api/people/{id}/message`` and the form on the person's page all come here.

The message goes to the person's fediverse account (the actor their record holds, else their ``acct:``
address), as a Note addressed to that actor alone (federation/messages.py), through the outbox. It is then
logged as an interaction (source ``fediverse``, channel ``message``), which resets the stay-in-touch clock, and
kept in the graph's messages (node/store/messages.py), so that the answer, which names this note in
``inReplyTo``, joins the same conversation. The text itself is not stored here, as no captured message's is:
it lives in the note on the recipient's server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from node.errors import Conflict, NotFound
from node.graph import Graph, iso, new_id
from node.models import Interaction, Person
from node.store.messages import MessageRow

if TYPE_CHECKING:
    from federation.service import AccountFederation

__all__ = ["SentMessage", "fediverse_address", "message_person"]

_FEDIVERSE = "fediverse"


@dataclass(frozen=True, kw_only=True, slots=True)
class SentMessage:
    object_id: str  # the Note's id
    to: str  # the actor it went to
    conversation: str  # the first note of its thread
    interaction: Interaction


def fediverse_address(person: Person) -> str | None:
    """Where to write to the person on the fediverse: the actor URL that federation recorded for them (from
    the actor's own document), else their ``acct:`` address (resolved by WebFinger when sending)."""
    active = [i for i in person.identities if i.state == "active"]
    for ident in active:
        if ident.kind == "url" and any(p.source == _FEDIVERSE for p in ident.provenance):
            return ident.uri
    for ident in active:
        if ident.kind == "acct":
            return ident.uri
    return None


async def message_person(
    graph: Graph, fed: AccountFederation, person_id: str, text: str, *, in_reply_to: str | None = None
) -> SentMessage:
    from federation.messages import send_direct  # node's one door into federation's owner operations

    person = await graph.get_person(person_id)
    if person.status == "merged":
        raise NotFound(
            f"{person.display_name} was merged into another person; write to them there", field="person"
        )
    address = fediverse_address(person)
    if address is None:
        # the request is sound; the person's record lacks what it needs (409, as node/errors.py has it)
        raise Conflict(
            f"{person.display_name} has no fediverse account in Kith; add their address first "
            f"(`kith identity add {person.id} @user@their.server`, or on their page), then send the message",
            field="person",
        )
    message = await send_direct(fed, address, text, in_reply_to=in_reply_to)
    now = graph.now()
    row, _new = await graph.store.messages.record(
        person_id=person.id,
        interaction_id=new_id("i"),
        object_id=message.object_id,
        direction="out",
        actor_id=message.actor_id,
        url=message.url,
        in_reply_to=message.in_reply_to,
        private=True,
        occurred_at=iso(message.published) if message.published is not None else now,
        now=now,
    )
    return SentMessage(
        object_id=row.object_id,
        to=row.actor_id,
        conversation=row.conversation,
        interaction=await _interaction(graph, person.id, row),
    )


async def _interaction(graph: Graph, person_id: str, row: MessageRow) -> Interaction:
    for item in (await graph.interactions(person_id, limit=20)).items:
        if isinstance(item, Interaction) and item.id == row.interaction_id:
            return item
    raise NotFound("the message's interaction is gone", field="interaction")  # deleted in between
