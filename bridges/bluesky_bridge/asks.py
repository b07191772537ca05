"""Follows from Bluesky towards the fediverse (issue #18 "Follows in the other direction"): what a bridged
account asks the bridge's bot for, read from one of its posts. Pure: the caller reads the post, this says
what it asks and what the bot answers.

The bridge holds no Bluesky user's password, so it cannot write a follow into their repository; the user asks
instead, in public, with a post that *mentions the bot* (a ``app.bsky.richtext.facet#mention`` facet naming the
bot's DID: a mention by handle alone is plain text anyone can type, and is not an ask) and says
``follow @bob@kith.example`` or ``unfollow @bob@kith.example``. The post's URI is the ask's id, so that an ask
read twice (by the event stream and by a full pass) is acted on once.

Everything here is bounded: a post longer than :data:`MAX_TEXT` or with more than :data:`MAX_FACETS` facets is
not read at all, and an address is cut before it is parsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from protocol.addresses import normalize_acct
from protocol.errors import InvalidRecord

__all__ = [
    "MAX_FACETS",
    "MAX_TEXT",
    "MENTION",
    "POST",
    "Ask",
    "Unclear",
    "mention_facet",
    "parse_ask",
    "reply_record",
]

POST = "app.bsky.feed.post"
MENTION = "app.bsky.richtext.facet#mention"
#: A post's text as the app.bsky.feed.post lexicon bounds it (3000 bytes); a PDS that stores an unvalidated
#: record may hold more, which is not read.
MAX_TEXT = 3000
MAX_FACETS = 100
_MAX_ADDRESS = 300
#: ``follow`` or ``unfollow`` as a word, then an address: ``@user@host`` (the leading @ optional)
_ASK = re.compile(r"(?<![\w@])(un)?follow\s+(@?[^\s@]{1,200}@[^\s]{1,200})", re.IGNORECASE)
_TRAILING = ".,;:!?)]}>\"'"


@dataclass(frozen=True, slots=True)
class Ask:
    """One request: ``verb`` is "follow" or "unfollow"; ``address`` is canonical (``acct:user@host``)."""

    uri: str  # the post's at:// URI: the request's id
    cid: str
    author: str  # the DID that asked
    verb: str
    address: str
    root: tuple[str, str]  # (uri, cid) of the thread's first post: a reply keeps the thread

    @property
    def display(self) -> str:
        """The address as people write it: ``@user@host``."""
        return "@" + self.address.removeprefix("acct:")


@dataclass(frozen=True, slots=True)
class Unclear:
    """A post that mentions the bot but asks for nothing it can do; ``reason`` is said in the reply."""

    uri: str
    cid: str
    author: str
    reason: str
    root: tuple[str, str]


def _mentions(record: dict[str, Any], did: str) -> bool:
    facets = record.get("facets")
    if not isinstance(facets, list):
        return False
    for facet in facets[:MAX_FACETS]:
        features = facet.get("features") if isinstance(facet, dict) else None
        if not isinstance(features, list):
            continue
        for feature in features[:MAX_FACETS]:
            if isinstance(feature, dict) and feature.get("$type") == MENTION and feature.get("did") == did:
                return True
    return False


def _root(record: dict[str, Any], uri: str, cid: str) -> tuple[str, str]:
    reply = record.get("reply")
    root = reply.get("root") if isinstance(reply, dict) else None
    if not isinstance(root, dict):
        return uri, cid
    root_uri, root_cid = root.get("uri"), root.get("cid")
    # copied into the bot's answer: an at:// URI, bounded
    if isinstance(root_uri, str) and isinstance(root_cid, str) and root_uri.startswith("at://"):
        return (root_uri, root_cid) if len(root_uri) < 500 and len(root_cid) < 200 else (uri, cid)
    return uri, cid


def parse_ask(*, uri: str, cid: str, author: str, record: Any, bot_did: str) -> Ask | Unclear | None:
    """What the post ``record`` (at ``uri``, by ``author``) asks the bot ``bot_did`` for: an :class:`Ask`, an
    :class:`Unclear` one (it mentions the bot but names no usable address: the bot says so), or None when it
    is no ask at all (not a post, no mention facet of the bot, the bot's own post, text too long)."""
    if not isinstance(record, dict) or author == bot_did or record.get("$type", POST) != POST:
        return None
    text = record.get("text")
    if not isinstance(text, str) or len(text) > MAX_TEXT or not _mentions(record, bot_did):
        return None
    root = _root(record, uri, cid)
    match = _ASK.search(text)
    if match is None:
        return Unclear(uri, cid, author, "say “follow @user@host” or “unfollow @user@host”", root)
    raw = match.group(2)[:_MAX_ADDRESS].rstrip(_TRAILING)
    try:
        address = normalize_acct(raw)
    except InvalidRecord:
        # the bot does not repeat what it could not read: its posts carry no text an asker chose
        return Unclear(uri, cid, author, "that is not a fediverse address; write it as @user@host", root)
    verb = "unfollow" if match.group(1) else "follow"
    return Ask(uri, cid, author, verb, address, root)


def mention_facet(text: str, start: int, end: int, did: str) -> dict[str, Any]:
    """A mention facet over ``text[start:end]`` (facets count UTF-8 bytes, not characters)."""
    byte_start = len(text[:start].encode())
    byte_end = byte_start + len(text[start:end].encode())
    return {
        "index": {"byteStart": byte_start, "byteEnd": byte_end},
        "features": [{"$type": MENTION, "did": did}],
    }


def reply_record(ask: Ask | Unclear, *, text: str, handle: str, created_at: str) -> dict[str, Any]:
    """The bot's answer to ``ask``: an app.bsky.feed.post in reply to it (``reply.root``/``parent``), starting
    with a mention of the asker (``@handle``) so that they are told."""
    prefix = f"@{handle} " if handle and len(handle) < 200 else ""  # a handle is at most 253 characters
    body = (prefix + text)[:280]
    record: dict[str, Any] = {
        "$type": POST,
        "text": body,
        "createdAt": created_at,
        "reply": {
            "root": {"uri": ask.root[0], "cid": ask.root[1]},
            "parent": {"uri": ask.uri, "cid": ask.cid},
        },
    }
    if prefix:
        record["facets"] = [mention_facet(body, 0, len(prefix) - 1, ask.author)]
    return record
