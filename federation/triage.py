"""What the inbox keeps: only what Kith acts on, and of that only the parts it reads (docs/ARCHITECTURE.md §5).

Stored inbox items are kept for 30 days (``federation.service.KEEP_DAYS``, for dedupe); an activity stored whole
because it came signed let anyone fill the disk (120 ``Create``s of 900 KB each took 431 MB in one run). So:

- :func:`wanted` decides, before a signature is checked or a key fetched, whether processing would do anything
  with the activity (federation/process.py): a ``Follow`` or ``Block`` of the owner, an ``Update`` of the actor
  itself or of a Kith record, a ``Delete`` of the actor itself, ``Accept``/``Reject``/``Undo``/``Move``/
  ``Offer``, and a ``Create`` of a ``Note`` addressed to the owner or mentioning it (a direct message or a
  mention, federation/messages.py). Everything else is answered 202 and not stored.
- :func:`bounded` cuts what is kept down to what is read: the fields processing looks at, embedded objects
  reduced to their id and type (and the references an ``Undo`` or ``Accept`` looks through), a direct message's
  ``Note`` to its known fields with every text cut to a bound. A Kith record (an ``object`` or ``result``
  that carries a proof) stays whole, since its proof covers every byte, and is refused beyond
  ``MAX_RECORD_BYTES`` (413).
Both return the activity itself when nothing is dropped, so that the bytes as sent are what is stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from federation import org_wire
from protocol.errors import TooLarge

__all__ = ["MAX_NOTE_TEXT", "MAX_RECORD_BYTES", "bounded", "wanted"]

#: The longest text of a direct message's Note kept (characters); far beyond any server's post limit.
MAX_NOTE_TEXT = 16_384
#: The largest Kith record (an object with a proof: Relationship, ProfileCard) an activity may carry, in
#: bytes of JSON: its proof covers every byte, so it is stored whole. Real ones take a few kilobytes.
MAX_RECORD_BYTES = 65_536
_MAX_TEXT = 2048  # other texts of a Note (names, URLs, dates)
_MAX_ITEMS = 32  # list entries kept (recipients, tags, attachments)
_MAX_CONTEXT = 8192  # bytes of inline @context kept

_ACTED_ON = frozenset(
    {"Follow", "Accept", "Reject", "Undo", "Block", "Update", "Delete", "Move", "Offer", "Create"}
)
_RECORD_TYPES = frozenset({"ProfileCard", "Relationship"})
_ADDRESS_FIELDS = ("to", "cc", "bto", "bcc", "audience")
_TOP_FIELDS = ("@context", "id", "type", "actor", "object", "target", "result", "to", "cc", "published")
_REFERENCE_FIELDS = ("id", "type", "actor", "object", "target")
_NOTE_TEXTS = {"content": MAX_NOTE_TEXT, "summary": MAX_NOTE_TEXT}
_NOTE_FIELDS = (
    "id", "type", "attributedTo", "to", "cc", "audience", "inReplyTo", "published", "updated", "url",
    "summary", "content", "contentMap", "sensitive", "tag", "attachment", "conversation", "context",
)  # fmt: skip
_NESTED_FIELDS = ("type", "id", "href", "name", "mediaType", "url")


def _ref(value: Any) -> str | None:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else None


def _addressed_to(ours: Callable[[str], bool], *docs: Mapping[str, Any]) -> bool:
    for doc in docs:
        for name in _ADDRESS_FIELDS:
            value = doc.get(name)
            for item in value[:_MAX_ITEMS] if isinstance(value, list) else [value]:
                ident = item.get("id") if isinstance(item, dict) else item
                if isinstance(ident, str) and ours(ident):
                    return True
    return False


def _mentioned(ours: Callable[[str], bool], note: Mapping[str, Any]) -> bool:
    tags = note.get("tag")
    for tag in (tags if isinstance(tags, list) else [tags])[:_MAX_ITEMS]:
        if isinstance(tag, dict) and tag.get("type") == "Mention":
            href = tag.get("href")
            if isinstance(href, str) and ours(href):
                return True
    return False


def wanted(activity: Mapping[str, Any], *, owner: str | Callable[[str], bool]) -> bool:
    """Whether processing would act on ``activity`` (normalised: string ``type``, ``actor`` as sent).
    ``owner``: the local actor it may concern (a personal inbox's), or a test of whether an actor id is one of
    this server's accounts (the shared inbox's)."""
    org = org_wire.wants(activity)  # the organisation's activities (federation/org_wire.py)
    if org is not None:
        return org
    ours: Callable[[str], bool] = owner.__eq__ if isinstance(owner, str) else owner
    kind = activity.get("type")
    if not isinstance(kind, str) or kind not in _ACTED_ON:
        return False
    actor, obj = _ref(activity.get("actor")), activity.get("object")
    if kind in ("Follow", "Block"):
        target = _ref(obj)
        return target is not None and ours(target)
    if kind == "Delete":
        return _ref(obj) == actor
    if kind == "Update":
        return _ref(obj) == actor or (isinstance(obj, dict) and _type(obj) in _RECORD_TYPES)
    if kind == "Create":
        return (
            isinstance(obj, dict)
            and obj.get("type") == "Note"
            and (_addressed_to(ours, activity, obj) or _mentioned(ours, obj))
        )
    return True


def _signed(value: Any) -> bool:
    return isinstance(value, dict) and ("proof" in value or _type(value) in _RECORD_TYPES)


def _type(value: Mapping[str, Any]) -> str | None:
    """An object's type when it is one string (a list or an object cannot be looked up in a set: it raised,
    a 500 for anyone who signed a request with any key id)."""
    kind = value.get("type")
    return kind if isinstance(kind, str) else None


def _reference(value: Any, depth: int = 0) -> Any:
    """An embedded object reduced to what processing looks through: id, type, and (one level down) the ids
    of its actor, object and target. Returns ``value`` itself when nothing had to go."""
    if isinstance(value, list):
        items = [_reference(v, depth) for v in value[:_MAX_ITEMS]]
        if len(items) == len(value) and all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return items
    if not isinstance(value, dict):
        return value
    if depth:
        out = {k: value[k] for k in ("id", "type") if k in value and not _deep(value[k])}
    else:
        out = {k: _reference(value[k], depth + 1) for k in _REFERENCE_FIELDS if k in value}
    return value if len(out) == len(value) and all(out[k] is value[k] for k in out) else out


def _text(value: Any, limit: int) -> Any:
    return value[:limit] if isinstance(value, str) and len(value) > limit else value


def _nested(value: Any) -> Any:
    """A recipient, tag or attachment of a Note: a string, or an object's few descriptive fields."""
    if isinstance(value, dict):
        return {k: _text(value[k], _MAX_TEXT) for k in _NESTED_FIELDS if k in value and not _deep(value[k])}
    return _text(value, _MAX_TEXT)


def _deep(value: Any) -> bool:
    return isinstance(value, dict | list)


def _note(note: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _NOTE_FIELDS:
        if name not in note:
            continue
        value = note[name]
        limit = _NOTE_TEXTS.get(name, _MAX_TEXT)
        if name == "contentMap" and isinstance(value, dict):
            value = {
                str(k)[:32]: _text(v, MAX_NOTE_TEXT) for k, v in list(value.items())[:8] if isinstance(v, str)
            }
        elif isinstance(value, list):
            value = [_nested(v) for v in value[:_MAX_ITEMS]]
        elif isinstance(value, dict):
            value = _nested(value)
        else:
            value = _text(value, limit)
        out[name] = value
    return out


def _context(value: Any) -> Any:
    items = value if isinstance(value, list) else [value]
    if all(isinstance(v, str) and len(v) <= 512 for v in items) and len(items) <= _MAX_ITEMS:
        return value  # URLs only (check_contexts refused unknown ones): the usual case, nothing to measure
    if len(json.dumps(value)) <= _MAX_CONTEXT:
        return value
    # inline term definitions that large define nothing processing reads (it reads compacted JSON as such)
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else value


def bounded(activity: dict[str, Any]) -> dict[str, Any]:
    """``activity`` (verified, and one :func:`wanted` keeps) reduced to what processing reads."""
    whole = org_wire.keep(activity)  # the organisation's activities are read whole (federation/org_wire.py)
    if whole is not None:
        return whole
    kind = activity.get("type")
    out: dict[str, Any] = {}
    for name in _TOP_FIELDS:
        if name not in activity:
            continue
        value = activity[name]
        if name == "@context":
            value = _context(value)
        elif name == "object" and kind == "Create" and isinstance(value, dict):
            value = _note(value)
        elif name in ("object", "result") and _signed(value):
            size = len(json.dumps(value))
            if size > MAX_RECORD_BYTES:  # a proof covers every byte, so it is kept whole: within bounds
                raise TooLarge(f"a Kith record of {size} bytes; records are at most {MAX_RECORD_BYTES} bytes")
        elif name in ("object", "target", "result"):
            value = _reference(value)
        elif name in ("to", "cc") and isinstance(value, list) and len(value) > _MAX_ITEMS:
            value = value[:_MAX_ITEMS]
        out[name] = value
    note = activity.get("summary")
    if kind in ("Accept", "Reject") and isinstance(note, str):
        out["summary"] = _text(note, _MAX_TEXT)  # hook: an introducer's word with their answer (org_intro.py)
    same = len(out) == len(activity) and all(out[k] is activity[k] for k in out)
    return activity if same else out
