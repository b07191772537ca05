"""People proposed from mail: correspondents the owner exchanged mail with both ways, in conversations of at most
five (node/capture/mail.py), who are not in the graph yet. Accepting one makes the person and turns their past
messages into interactions; dismissing one stops it being proposed again.
"""

from __future__ import annotations

from node.capture.mail import fold_address
from node.errors import BadInput, Conflict
from node.graph import Graph, new_ids
from node.models import Person
from node.store.capture import Proposal

__all__ = ["accept_proposal", "dismiss_proposal", "list_proposals"]


def _address(raw: str) -> str:
    uri = fold_address(raw.removeprefix("mailto:"))
    if uri is None:
        raise BadInput(f"{raw[:80]!r} is not an e-mail address", field="address")
    return uri


async def list_proposals(graph: Graph, *, limit: int = 200) -> list[Proposal]:
    return await graph.store.capture.proposals(limit=max(1, min(limit, 1000)))


async def accept_proposal(graph: Graph, raw: str, *, name: str | None = None) -> tuple[Person, int]:
    """Make the proposed correspondent a person (or join the person who has the address already) and link their
    captured messages. Returns the person and how many messages became theirs."""
    capture = graph.store.capture
    address = _address(raw)
    found = await capture.proposal(address)
    if found.status == "dismissed":
        raise Conflict(
            f"{address[7:]} was dismissed; add them by hand with `kith people add`", field="address"
        )
    person = await graph.person_for_identity(address)
    if person is None:
        person = await graph.create_person(
            {
                "display_name": (name or found.name or "").strip() or address[7:],
                "identities": [{"uri": address, "source": "imap"}],
            }
        )
    count = await capture.participant_count(address)
    linked = await capture.backfill(
        address, person.id, interaction_ids=new_ids("i", max(count, 1)), now=graph.now()
    )
    return await graph.get_person(person.id), linked


async def dismiss_proposal(graph: Graph, raw: str) -> None:
    capture = graph.store.capture
    address = _address(raw)
    await capture.proposal(address)
    await capture.set_proposal_status(address, "dismissed")
