"""The organisations' contact policies as a member sees them on a person of their own graph
(specs/ORGANISATIONS.md §Coordination): shown on the person's page and before reaching out.

The policies come with each organisation's info (federation/org.py tells every member when one changes), so
that a person's page never waits on another server. A person policy applies to the person holding one of its
addresses; a company policy to everyone whose organisation begins with the company's words (case, accents and
spacing do not matter: "Initech" covers "initech" and "Initech Corp"). The cool-down runs from the latest contact any member shared with them.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from federation import AccountFederation, org
from node.context import AccountContext
from node.org_port import NodeOrgPort
from node.store.org import words

__all__ = ["person_policies"]


async def person_policies(
    ctx: AccountContext, fed: AccountFederation, person_id: str
) -> list[dict[str, Any]]:
    """The policies of every organisation the owner belongs to that apply to ``person_id``."""
    person = await ctx.graph.get_person(person_id)  # NotFound for a missing (or another account's) person
    uris = {i.uri for i in person.identities if i.state == "active"}
    company = words(person.organization or "")
    the_port = org.port(fed)
    assert isinstance(the_port, NodeOrgPort)
    today = ctx.graph.clock().date()
    out: list[dict[str, Any]] = []
    for row in await org.memberships(fed, states=("accepted",)):
        info = await the_port.info(row.actor_id)
        if info is None:
            continue
        for policy in info.policies:
            if policy.identities:
                applies = bool(uris & set(policy.identities))
            else:  # "Initech" covers "Initech Corp" and "initech": its words begin the organisation's
                named = words(policy.company or "")
                applies = bool(named) and company[: len(named)] == named
            if not applies:
                continue
            until = None
            if policy.last_contact and policy.cool_down_days:
                ends = policy.last_contact + timedelta(days=policy.cool_down_days)
                until = ends.isoformat() if ends > today else None
            out.append(
                {
                    "org": row.actor_id,
                    "id": policy.id,
                    "kind": "company" if policy.company else "person",
                    "name": policy.name,
                    "identities": list(policy.identities),
                    "owner": policy.owner,
                    "do_not_contact": policy.do_not_contact,
                    "cool_down_days": policy.cool_down_days,
                    "last_contact": policy.last_contact.isoformat()
                    if isinstance(policy.last_contact, date)
                    else None,
                    "cool_down_until": until,
                }
            )
    return out
