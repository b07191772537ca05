"""The owner's public profile (issue #19 item 1): the card fields the owner discloses to the public are their
actor document, and a change reaches followers as an ``Update`` of the actor sent to their shared inboxes, as
Mastodon sends it when a profile is saved.

How the public card reads as an actor (Mastodon's reading of an actor document): ``name`` -> ``name``,
``summary`` -> ``summary`` (HTML, escaped), ``photo`` -> ``icon`` (an ``Image``), and website, e-mail, phone,
organization, title and identities -> ``attachment`` ``PropertyValue`` fields (Mastodon's profile metadata).
Nothing else of the card is ever on the actor: what the owner did not make public stays off it.

The Update is rendered again when it is sent (federation/service.py's send-time check), from the profile as it
is then, and an older one still queued for an inbox is withdrawn once a newer one is queued after it: a field
the owner took back off their profile never goes out in a stale copy. These Updates are not listed in the
public outbox collection for the same reason (the actor document itself is the current profile).
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from federation import activities as act
from federation.store import DeliveryRow, Outgoing
from federation.urls import PUBLIC

if TYPE_CHECKING:
    from federation.service import AccountFederation

__all__ = [
    "actor_fields",
    "digest",
    "follower_inboxes",
    "profile_delivery",
    "profile_outgoing",
    "publish_actor",
]

#: fed_settings key: the digest of the actor document followers were last sent
_SENT_KEY = "actor_published_digest"
_LABELS = (
    ("website", "Website"),
    ("email", "E-mail"),
    ("phone", "Phone"),
    ("organization", "Organization"),
    ("title", "Title"),
    ("identities", "Elsewhere"),
)


def _link(value: str) -> str:
    text = value.removeprefix("mailto:").removeprefix("tel:")
    if value.startswith(("https://", "http://", "mailto:", "tel:")):
        href = html.escape(value, quote=True)
        return (
            f'<a href="{href}" rel="me nofollow noopener noreferrer" target="_blank">{html.escape(text)}</a>'
        )
    return html.escape(text)


def actor_fields(public: Mapping[str, Any] | None) -> dict[str, Any]:
    """The actor-document fields of the public part of the card (empty when nothing is public)."""
    if not public:
        return {}
    out: dict[str, Any] = {}
    name = public.get("name")
    if isinstance(name, str) and name.strip():
        out["name"] = name.strip()
    summary = public.get("summary")
    if isinstance(summary, str) and summary.strip():
        paragraphs = [p for p in summary.strip().split("\n\n") if p.strip()]
        out["summary"] = "".join(
            "<p>" + html.escape(p.strip()).replace("\n", "<br>") + "</p>" for p in paragraphs
        )
    photo = public.get("photo")
    if isinstance(photo, str) and photo.startswith("https://"):
        out["icon"] = {"type": "Image", "url": photo}
    attachment = []
    for field, label in _LABELS:
        value = public.get(field)
        values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        for item in values:
            if isinstance(item, str) and item.strip():
                attachment.append({"type": "PropertyValue", "name": label, "value": _link(item.strip())})
    if attachment:
        out["attachment"] = attachment
    return out


def digest(doc: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


async def follower_inboxes(fed: AccountFederation) -> list[str]:
    """Followers' inboxes with shared-inbox de-duplication (only for public items), none of a blocked actor or
    domain."""
    inboxes = set()
    follows = await fed.store.follows("in", ["accepted"])
    # every follower's actor in one read (a bridged account's 10,000 followers were 10,000 reads, issue #18)
    known = await fed.store.actors(sorted({row.actor_id for row in follows}))
    for row in follows:
        cached = known.get(row.actor_id)
        if cached is None or cached.gone or await fed.blocks.refuses_actor(cached.actor):
            continue
        inbox = cached.actor.shared_inbox or cached.actor.inbox
        if not await fed.blocks.refuses(inbox):
            inboxes.add(inbox)
    return sorted(inboxes)


def _update(fed: AccountFederation, activity_id: str, doc: dict[str, Any]) -> dict[str, Any]:
    activity = act.update(activity_id, fed.urls.owner, doc, to=[PUBLIC])
    activity["cc"] = [fed.urls.followers(fed.urls.owner)]
    return activity


async def profile_outgoing(fed: AccountFederation, *, force: bool) -> tuple[list[Outgoing], dict[str, Any]]:
    """The Update of the owner's actor for followers, when its document differs from what they were last sent
    (or ``force``), and the setting that records it, to be written in the same transaction."""
    doc = await fed.actor_document("owner")
    current = digest(doc)
    if not force and current == await fed.store.setting(_SENT_KEY):
        return [], {}
    inboxes = await follower_inboxes(fed)
    activity = _update(fed, fed.new_id(), doc)
    item = Outgoing(
        activity_id=activity["id"],
        type="Update",
        body=json.dumps(activity),
        inboxes=inboxes,
        kind="profile",
    )
    return ([item] if inboxes else []), {_SENT_KEY: current}


async def profile_delivery(fed: AccountFederation, row: DeliveryRow) -> str:
    """At send time: the actor as it is now, never a stale copy (an older Update still waiting for the same
    inbox was withdrawn when a newer one was queued: AccountFederation.send_all). The body is the same for every
    inbox, so the rows of one Update prepared at the same moment share the render under way: a fan-out to
    thousands of inboxes read the card and settings, and encoded the JSON, once per row (issue #18). A render
    is never kept once done: the next row renders afresh."""

    async def render() -> str:
        return json.dumps(_update(fed, row.activity_id, await fed.actor_document("owner")))

    return await fed.profile_renders.read(row.activity_id, render)


async def publish_actor(fed: AccountFederation) -> int:
    """Tell followers the owner's actor changed (profile, keys, aliases): a public Update to their shared
    inboxes. Returns the number of inboxes."""
    async with fed.publish_lock:
        items, settings = await profile_outgoing(fed, force=True)
        await fed.send_all(items, settings=settings)
    return len(items[0].inboxes) if items else 0
