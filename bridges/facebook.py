"""Facebook "Download your information" friends list, both layouts (docs/SILOS.md §1).

Rules kept:
- ``your_friends.json`` (``friends_v2``) and the older ``friends.json`` (``friends``) are read; other files
  in the export are ignored.
- Facebook writes UTF-8 bytes as ``\\u00XX`` escapes, so names arrive as mojibake. A name is re-decoded
  (Latin-1 bytes → UTF-8) only when every character fits in Latin-1 and the bytes are valid UTF-8: a genuine
  "Zoë" written correctly stays as it is.
- Entries carry only a name and a timestamp: contacts without identities, which the importer never merges on
  its own (docs/ARCHITECTURE.md §7, the "ask the owner" tier).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from bridges._files import Source
from bridges._jsarray import MalformedElement, iter_js_array
from bridges._util import stable_id
from bridges.base import Bridge, ContactDraft, ExportError, ImportItem, Skipped

__all__ = ["FacebookBridge", "repair_mojibake"]

_FILES = ("your_friends.json", "friends.json")
_KEYS = ("friends_v2", "friends")


def repair_mojibake(text: str) -> str:
    try:
        fixed = text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text
    return fixed


def _friend_files(src: Source) -> list[str]:
    return [n for n in src.names() if PurePosixPath(n).name.lower() in _FILES]


class FacebookBridge(Bridge):
    name: ClassVar[str] = "facebook"
    scheme: ClassVar[str] = "facebook"
    description: ClassVar[str] = "Facebook friends (your_friends.json or friends.json, or the whole export)"

    @classmethod
    def detect(cls, path: Path) -> bool:
        with Source(path) as src:
            for name in _friend_files(src) or (src.names() if src.is_single_file else []):
                head = src.head_text(name, 512)
                if '"friends_v2"' in head or '"friends"' in head:
                    return True
        return False

    def parse_export(self, path: Path) -> Iterator[ImportItem]:
        with Source(path) as src:
            names = _friend_files(src) or (src.names() if src.is_single_file else [])
            if not names:
                raise ExportError(f"{path} holds no your_friends.json or friends.json")
            for name in names:
                yield from _friends(src, name)


def _friends(src: Source, name: str) -> Iterator[ImportItem]:
    shown = src.display(name)
    head = src.head_text(name, 4096)
    before = head[: head.find("[")] if "[" in head else head
    if not any(f'"{k}"' in before for k in _KEYS) and not before.strip() == "":
        raise ExportError(f"{shown} has no friends_v2 or friends list; is this the friends file?")
    fh, warning = src.open_text(name)
    if warning is not None:
        yield warning
    with fh:
        try:
            for line, entry in iter_js_array(fh, shown):
                yield _friend(shown, line, entry)
        except MalformedElement as exc:
            yield Skipped(
                file=shown, line=exc.line, reason=f"{exc.message}; the rest of this file was not read"
            )


def _friend(shown: str, line: int, entry: Any) -> ContactDraft | Skipped:
    raw_name = entry.get("name") if isinstance(entry, dict) else None
    if not isinstance(raw_name, str) or not raw_name.strip():
        return Skipped(file=shown, line=line, reason="a friend entry without a name")
    display = repair_mojibake(raw_name.strip())
    stamp = entry.get("timestamp")
    met = None
    if isinstance(stamp, int | float) and 0 < stamp < 1 << 33:
        met = datetime.fromtimestamp(stamp, UTC).date()
    return ContactDraft(
        source_record_id="friend:" + stable_id(display, str(stamp)),
        display_name=display,
        met_on=met,
        relationship="contact",
    )
