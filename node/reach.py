"""Reaching out from a person's record (issue 16): every identity as an action, the owner's preferred channel,
and outreach logged as an interaction that resets the stay-in-touch clock.

Rules kept:
- Each action's address is built here from the stored, normalised identity (protocol/addresses.py), never from
  a request: ``mailto:`` and ``tel:`` as they are, each silo's profile page, and a direct-message link where the
  silo documents one (X: ``https://x.com/messages/compose?recipient_id=`` with the numeric account id). Nothing
  but ``mailto:``, ``tel:`` and ``https://``/``http://`` addresses is ever produced, so following an action
  through the node (``/people/{id}/reach/{n}``) can never become an open redirect.
- An action is named by its position and a short digest of its identity, so a page left open while identities
  changed is told it is out of date instead of reaching someone else.
- Following an action logs one interaction (source ``reach``); following it again within ``_SAME_OUTREACH``
  does not log a second one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

from node.errors import NotFound
from node.graph import Graph, new_id, parse_when
from node.models import Identity, Interaction, Person
from node.store import InteractionInput

__all__ = ["ReachAction", "actions", "reach", "set_preferred"]

_SAME_OUTREACH = timedelta(minutes=10)
_CHANNEL = {"email": "email", "tel": "call"}
_VERB = {
    "email": "E-mail",
    "tel": "Call",
    "acct": "Fediverse profile",
    "x": "X profile",
    "linkedin": "LinkedIn profile",
    "bluesky": "Bluesky profile",
    "url": "Profile",
    "web": "Web site",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class ReachAction:
    n: int  # position among the person's identities
    tag: str  # short digest of the identity: a stale link is refused, not followed to someone else
    uri: str
    kind: str
    display: str
    label: str  # what following it does: "E-mail", "Call", "X profile"...
    href: str  # where it goes: mailto:, tel:, or the silo's page
    channel: str  # the interaction channel it logs
    message_href: str | None  # a direct-message link, where the silo documents one
    preferred: bool


def _tag(uri: str) -> str:
    return hashlib.sha256(uri.encode()).hexdigest()[:10]


def _links(ident: Identity) -> tuple[str, str | None] | None:
    """(profile or address link, direct-message link) of one identity; None when it has no safe link."""
    uri, kind = ident.uri, ident.kind
    if kind in ("email", "tel"):
        return (uri, None) if uri.startswith(("mailto:", "tel:")) else None
    if kind == "acct" and uri.startswith("acct:") and "@" in uri:
        user, host = uri[5:].rsplit("@", 1)
        return f"https://{host}/@{quote(user, safe='._~+-')}", None
    if kind == "x" and uri.startswith("https://x.com/"):
        if uri.startswith("https://x.com/i/user/"):
            user_id = uri.rsplit("/", 1)[-1]
            dm = f"https://x.com/messages/compose?recipient_id={user_id}" if user_id.isdigit() else None
            return uri, dm
        return uri, None
    if kind == "bluesky":
        actor = uri[5:] if uri.startswith("at://") else uri
        return f"https://bsky.app/profile/{quote(actor, safe=':._-')}", None
    if uri.startswith(("https://", "http://")):
        return uri, None
    return None


async def actions(graph: Graph, person: Person) -> list[ReachAction]:
    """Every identity of the person that can be acted on, the preferred one first."""
    preferred = await graph.store.outreach.preferred(person.id)
    out: list[ReachAction] = []
    for n, ident in enumerate(person.identities):
        if ident.state != "active":
            continue
        links = _links(ident)
        if links is None:
            continue
        out.append(
            ReachAction(
                n=n,
                tag=_tag(ident.uri),
                uri=ident.uri,
                kind=ident.kind,
                display=ident.display,
                label=_VERB.get(ident.kind, "Profile"),
                href=links[0],
                channel=_CHANNEL.get(ident.kind, "message"),
                message_href=links[1],
                preferred=ident.uri == preferred,
            )
        )
    out.sort(key=lambda a: (not a.preferred, a.n))
    return out


async def _action(graph: Graph, person_id: str, n: int, tag: str | None) -> tuple[Person, ReachAction]:
    person = await graph.get_person(person_id)
    if person.status == "merged":
        raise NotFound(
            f"{person.display_name} was merged into another person; reach them there", field="person"
        )
    for action in await actions(graph, person):
        if action.n == n:
            if tag is not None and tag != action.tag:
                break
            return person, action
    raise NotFound(
        f"{person.display_name} has no such way to be reached any more; reload their page", field="identity"
    )


async def reach(
    graph: Graph, person_id: str, n: int, *, tag: str | None = None, message: bool = False
) -> tuple[str, Interaction]:
    """Log the outreach through identity ``n`` (its direct-message link when ``message``) and return where it
    goes. An outreach repeated within ten minutes is logged once."""
    person, action = await _action(graph, person_id, n, tag)
    href = action.message_href if message else action.href
    if href is None:
        # Like an identity that is gone: this way to reach them does not exist (404, as node/errors.py has it).
        raise NotFound(f"{action.display} has no direct-message link; use its profile", field="message")
    summary = f"Reached out: {'message' if message else action.label.lower()} {action.display}"
    now = graph.clock()
    for recent in (await graph.interactions(person.id, limit=10)).items:
        if (
            recent.source == "reach"
            and recent.summary == summary
            and now - parse_when(recent.occurred_at, "occurred_at") < _SAME_OUTREACH
        ):
            return href, recent
    interaction = await graph.store.people.add_interaction(
        interaction_id=new_id("i"),
        person_ids=[person.id],
        interaction=InteractionInput(
            occurred_at=now, channel=action.channel, initiated_by="owner", summary=summary, source="reach"
        ),
        now=now,
    )
    return href, interaction


async def set_preferred(graph: Graph, person_id: str, n: int | None) -> ReachAction | None:
    """Make identity ``n`` the person's preferred channel (None: no preference)."""
    if n is None:
        await graph.get_person(person_id)
        await graph.store.outreach.set_preferred(person_id, None, graph.now())
        return None
    _person, action = await _action(graph, person_id, n, None)
    await graph.store.outreach.set_preferred(person_id, action.uri, graph.now())
    return action
