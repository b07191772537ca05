"""Direct messages and mentions (issue 16): what peers send the owner, and what the owner sends one person.

Incoming: a ``Create`` of a ``Note`` that names the owner's actor (in ``to``/``cc``, or as a ``Mention`` tag)
becomes a :class:`~federation.ports.FediMessage` told to the graph, which logs it as an interaction with the
person who holds the sender's actor. What crosses is the note's id, its link, when, and what it replies to;
never its text, as mail capture keeps no body (issue 16 §1). The note must be the sender's own: its id on the
sender's origin and ``attributedTo`` (when given) the sender, so that nobody can claim someone else's note id
and so pre-empt it (the graph keeps one interaction per note id).

Outgoing: :func:`send_direct` sends a ``Note`` addressed to one actor only (``to`` that actor, no public
collection, no followers, a ``Mention`` tag), which Mastodon shows as a private mention, through the outbox
like every other activity (docs/ARCHITECTURE.md §5), and returns the message for the graph to log.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from federation.errors import NotFound
from federation.ports import FediMessage, RemoteActor
from federation.remote import origin
from federation.urls import AS_CONTEXT, PUBLIC
from protocol.errors import MalformedInput, OriginMismatch

if TYPE_CHECKING:
    from federation.service import AccountFederation

__all__ = ["MAX_MESSAGE", "addressed", "direct_note", "note_received", "send_direct"]

#: The longest message the owner may send, in characters (Mastodon's default post limit is 500; others allow
#: more, and a longer private note is still read whole by the servers we tested).
MAX_MESSAGE = 5000
_PUBLIC = frozenset({PUBLIC, "as:Public", "Public"})
_ADDRESS_FIELDS = ("to", "cc", "bto", "bcc", "audience")


def _ids(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        item = item.get("id") if isinstance(item, dict) else item
        if isinstance(item, str):
            out.append(item)
    return out


def _mentions(note: dict[str, Any]) -> list[str]:
    tags = note.get("tag")
    return [
        t["href"]
        for t in (tags if isinstance(tags, list) else [tags])
        if isinstance(t, dict) and t.get("type") == "Mention" and isinstance(t.get("href"), str)
    ]


def addressed(owner: str, activity: dict[str, Any], note: dict[str, Any]) -> bool:
    """Whether the note names ``owner``: as a recipient of the activity or the note, or as a Mention."""
    named = {i for doc in (activity, note) for name in _ADDRESS_FIELDS for i in _ids(doc.get(name))}
    return owner in named or owner in _mentions(note)


def _published(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _urls(value: Any) -> list[str]:
    out = []
    for item in value if isinstance(value, list) else [value]:
        href = item.get("href") if isinstance(item, dict) else item
        if isinstance(href, str):
            out.append(href)
    return out


def _link(note: dict[str, Any], object_id: str) -> str:
    """The note's human-facing page (Mastodon's ``url``) when it is an http(s) URL on the sender's origin,
    else its id: a link elsewhere could send the owner anywhere under the sender's name."""
    for candidate in _urls(note.get("url")):
        scheme = urlsplit(candidate).scheme
        if scheme in ("https", "http") and origin(candidate) == origin(object_id) and len(candidate) < 2048:
            return candidate
    return object_id


async def note_received(fed: AccountFederation, actor_id: str, activity: dict[str, Any]) -> None:
    """A verified ``Create`` from ``actor_id`` (its signer): if it carries a note that names the owner, tell
    the graph. Other Creates (posts to followers that do not name the owner) mean nothing here."""
    note = activity.get("object")
    if not isinstance(note, dict) or note.get("type") != "Note":
        return
    owner = fed.urls.owner
    if not addressed(owner, activity, note):
        return
    object_id = note.get("id")
    if not isinstance(object_id, str) or urlsplit(object_id).scheme not in ("https", "http"):
        raise MalformedInput("a Note without an http(s) id")
    if origin(object_id) != origin(actor_id):
        raise OriginMismatch(f"{actor_id} sent a Note whose id {object_id} is on another origin")
    authors = _ids(note.get("attributedTo"))
    if authors and authors != [actor_id]:
        raise OriginMismatch(f"{actor_id} sent a Note attributed to {authors[0]}")
    recipients = {i for doc in (activity, note) for name in ("to", "cc") for i in _ids(doc.get(name))}
    # a note to the public or to the sender's followers that names the owner is a mention; one addressed to
    # named actors only is a private message (how Mastodon tells "direct" visibility apart)
    named = {owner, actor_id, *_mentions(note)}
    private = not (recipients & _PUBLIC) and recipients <= named
    reply_to = _ids(note.get("inReplyTo"))
    await fed.graph.message_received(
        FediMessage(
            object_id=object_id,
            actor_id=actor_id,
            direction="in",
            url=_link(note, object_id),
            published=_published(note.get("published")),
            in_reply_to=reply_to[0] if reply_to and len(reply_to[0]) < 2048 else None,
            private=private,
        )
    )


def _mention_name(actor: RemoteActor) -> str:
    if actor.acct:
        return "@" + actor.acct.removeprefix("acct:")
    return f"@{actor.preferred_username or 'someone'}@{actor.host}"


def direct_note(
    fed: AccountFederation,
    actor: RemoteActor,
    text: str,
    *,
    note_id: str,
    in_reply_to: str | None,
    now: datetime,
) -> dict[str, Any]:
    """The ``Note`` of a private message to ``actor``: addressed to it alone, mentioning it first in the text
    (Mastodon's own shape for a direct message; its clients show the mention as the recipient)."""
    name = _mention_name(actor)
    profile = actor.url or actor.id
    body = "<br>".join(html.escape(line) for line in text.splitlines())
    mention = (
        f'<span class="h-card"><a href="{html.escape(profile)}" class="u-url mention">'
        f"@<span>{html.escape(name.split('@')[1])}</span></a></span>"
    )
    note: dict[str, Any] = {
        "id": note_id,
        "type": "Note",
        "attributedTo": fed.urls.owner,
        "to": [actor.id],
        "cc": [],
        "published": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "content": f"<p>{mention} {body}</p>",
        "tag": [{"type": "Mention", "href": actor.id, "name": name}],
    }
    if in_reply_to is not None:
        note["inReplyTo"] = in_reply_to
    return note


async def send_direct(
    fed: AccountFederation, address: str, text: str, *, in_reply_to: str | None = None
) -> FediMessage:
    """Send ``text`` to the actor at ``address`` as a private message; the message, for the graph to log.
    Refused before anything is written when the actor is blocked or the owner's actor was deleted."""
    from federation.owner import ensure_alive  # owner imports process, which imports this module

    await ensure_alive(fed)
    text = text.strip()
    if not text:
        raise MalformedInput("a message needs some text", field="text")
    if len(text) > MAX_MESSAGE:
        raise MalformedInput(f"a message is at most {MAX_MESSAGE} characters", field="text")
    if in_reply_to is not None and (
        urlsplit(in_reply_to).scheme not in ("https", "http") or len(in_reply_to) > 2048
    ):
        raise MalformedInput("in_reply_to must be the http(s) id of a note", field="in_reply_to")
    actor = await fed.actors.resolve(address, source="fetch")
    if await fed.blocks.refuses_actor(actor):
        raise NotFound(f"{actor.id} is blocked; unblock it before writing to them")
    now = datetime.fromtimestamp(fed.clock(), UTC)
    note = direct_note(fed, actor, text, note_id=fed.new_id("notes"), in_reply_to=in_reply_to, now=now)
    create = {
        "@context": AS_CONTEXT,
        "id": note["id"] + "/activity",
        "type": "Create",
        "actor": fed.urls.owner,
        "published": note["published"],
        "to": [actor.id],
        "cc": [],
        "object": note,
    }
    await fed.send(create, [actor.inbox], recipient=actor.id)
    return FediMessage(
        object_id=note["id"],
        actor_id=actor.id,
        direction="out",
        url=note["id"],
        published=now,
        in_reply_to=in_reply_to,
        private=True,
    )
