"""Which local accounts an activity concerns (specs/FEDERATION.md, "The shared inbox").

An activity posted to an account's personal inbox concerns that account. One posted to the shared inbox
concerns every local account that:

- it is addressed to: ``to``/``cc``/``bto``/``bcc``/``audience`` (of the activity or of its embedded object)
  name the account's actor or its followers collection, or its embedded object (a ``Note``) tags the account
  with a ``Mention`` (federation/messages.py);
- it names: its ``object`` or ``target`` is the account's actor, or the actor or object of the activity it
  embeds is (a Follow of the account, Accept of the account's Follow, an Offer to it, an Undo of a Follow of it);
- holds an id it cites as something exchanged with the sender: an activity the account sent (an Accept of its
  Follow, cited by id), a follow, offer, relationship record or block between the two;
- deals with the sender, when the activity is what a follower or peer receives (``Update``, ``Delete`` or
  ``Move`` of the sender): a live follow either way, a pending or confirmed offer, a card received.

And to no other: nothing here reads a graph or trusts a name it cannot check against the store. Only active
accounts take activities, and suspended ones (theirs wait until they are resumed); removed and purged ones
take nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from federation.urls import Urls

__all__ = ["ADDRESS_FIELDS", "FOLLOWER_TYPES", "MAX_MENTIONS", "mentioned", "referenced_ids"]

ADDRESS_FIELDS = ("to", "cc", "bto", "bcc", "audience")
#: Activities a follower or peer of the sender receives, whoever they are addressed to.
FOLLOWER_TYPES = frozenset({"Update", "Delete", "Move"})
#: Local accounts one activity may name (addressing included); beyond, the rest are not looked at.
MAX_MENTIONS = 64
_REFERENCE_FIELDS = ("object", "target")
_EMBEDDED_FIELDS = ("actor", "object", "target")


def _ids(value: Any) -> Iterator[str]:
    for item in value[:MAX_MENTIONS] if isinstance(value, list) else [value]:
        ident = item.get("id") if isinstance(item, dict) else item
        if isinstance(ident, str):
            yield ident


def _addresses(doc: Mapping[str, Any]) -> Iterator[str]:
    for name in ADDRESS_FIELDS:
        yield from _ids(doc.get(name))


def _mentions(obj: Mapping[str, Any]) -> Iterator[str]:
    tags = obj.get("tag")
    for tag in tags[:MAX_MENTIONS] if isinstance(tags, list) else [tags]:
        if isinstance(tag, dict) and tag.get("type") == "Mention" and isinstance(tag.get("href"), str):
            yield tag["href"]


def mentioned(activity: Mapping[str, Any], urls: Urls) -> set[str]:
    """Names of local accounts the activity addresses or names (unchecked against the registry)."""
    candidates: list[str] = list(_addresses(activity))
    for name in _REFERENCE_FIELDS:
        value = activity.get(name)
        candidates += _ids(value)
        if isinstance(value, dict):
            candidates += _addresses(value)
            for inner in _EMBEDDED_FIELDS:
                candidates += _ids(value.get(inner))
            candidates += _mentions(value)
    found: set[str] = set()
    for url in candidates:
        account = urls.account_of(url)
        if account is not None:
            found.add(account)
            if len(found) >= MAX_MENTIONS:
                break
    return found


def referenced_ids(activity: Mapping[str, Any]) -> list[str]:
    """The ids an activity cites that may be something one of our accounts exchanged with its sender: its
    object's id and, one level down, the id of what that object names (an Undo of an Accept of a Follow)."""
    out: list[str] = []
    obj = activity.get("object")
    out += _ids(obj)
    if isinstance(obj, dict):
        out += _ids(obj.get("object"))
    return [i for i in out if len(i) <= 2048][:8]
