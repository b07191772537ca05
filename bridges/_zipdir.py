"""A streaming check of a ZIP archive's central directory, before ``zipfile`` reads it (PKWARE APPNOTE 6.3).

``zipfile.ZipFile`` reads the whole central directory into memory and builds a ``ZipInfo`` for every entry it
holds, however many: a 150 MB directory of three million one-byte names becomes over a gigabyte before any
limit of ours could look at ``infolist()``. It also walks the directory by its byte size and never by the
entry count in the end record, so that count may lie. This module finds the end record the way ``zipfile``
does (the last 22 bytes, else the last occurrence of its signature in the final 64 KiB), takes the ZIP64 end
record placed just before it when there is one, and reads the directory in chunks, entry by entry, counting
entries and adding up declared sizes (ZIP64 sizes included): it stops at the first limit crossed, having held
one chunk. Only an archive that passes is handed to ``zipfile``.
"""

from __future__ import annotations

import os
import struct
from typing import IO

from bridges.base import ExportError

__all__ = ["check_central_directory"]

_END = b"PK\x05\x06"
_END64 = b"PK\x06\x06"
_LOCATOR64 = b"PK\x06\x07"
_ENTRY = b"PK\x01\x02"
_END_SIZE = 22
_END64_SIZE = 56
_LOCATOR64_SIZE = 20
_ENTRY_SIZE = 46
# An entry's signature, then (past version, flags, method, time, date and CRC) its sizes and field lengths.
_ENTRY_STRUCT = struct.Struct("<4s16x2L3H")
_CHUNK = 1 << 20
_WIDE = 0xFFFF_FFFF  # a 32-bit size field that defers to the ZIP64 extra field


def _refuse(shown: str, what: str) -> ExportError:
    return ExportError(f"{shown} is not a readable ZIP file ({what}); download the export again")


def _end_record(fh: IO[bytes], size: int, shown: str) -> tuple[int, int, int]:
    """(entry count, directory size, directory start) from the end records."""
    tail_size = min(size, _END_SIZE + (1 << 16))
    fh.seek(size - tail_size)
    tail = fh.read(tail_size)
    at = len(tail) - _END_SIZE
    if not (tail[at : at + 4] == _END and tail[-2:] == b"\x00\x00"):  # a comment follows the record
        at = tail.rfind(_END)
        if at < 0 or len(tail) - at < _END_SIZE:
            raise _refuse(shown, "no end-of-archive record")
    count, dir_size = struct.unpack_from("<10xHL", tail, at)
    end_at = size - tail_size + at
    if end_at >= _LOCATOR64_SIZE + _END64_SIZE:
        fh.seek(end_at - _LOCATOR64_SIZE - _END64_SIZE)
        block = fh.read(_END64_SIZE + _LOCATOR64_SIZE)
        if block[_END64_SIZE : _END64_SIZE + 4] == _LOCATOR64 and block[:4] == _END64:
            count, dir_size = struct.unpack_from("<32xQQ", block)
            end_at -= _LOCATOR64_SIZE + _END64_SIZE
    start = end_at - dir_size
    if start < 0:
        raise _refuse(shown, "its central directory would begin before the file does")
    return count, dir_size, start


def _zip64_sizes(extra: bytes, file_size: int, compress_size: int) -> tuple[int, int]:
    """Sizes from the ZIP64 extended-information field, read the way ``zipfile`` reads them."""
    pos = 0
    while pos + 4 <= len(extra):
        kind, length = struct.unpack_from("<HH", extra, pos)
        if kind == 0x0001:
            data = extra[pos + 4 : pos + 4 + length]
            taken = 0
            if file_size == _WIDE and len(data) >= taken + 8:
                (file_size,) = struct.unpack_from("<Q", data, taken)
                taken += 8
            if compress_size == _WIDE and len(data) >= taken + 8:
                (compress_size,) = struct.unpack_from("<Q", data, taken)
            break
        pos += 4 + length
    return file_size, compress_size


def check_central_directory(
    fh: IO[bytes],
    shown: str,
    *,
    max_members: int,
    max_directory_bytes: int,
    max_total_bytes: int,
    max_ratio: int,
    ratio_floor_bytes: int,
) -> None:
    """ExportError unless the archive in ``fh`` (seekable, binary) is within every limit."""
    size = fh.seek(0, os.SEEK_END)
    count, dir_size, start = _end_record(fh, size, shown)
    over = f"over the limit of {max_members}; this is not an export (unpack it and import the folder)"
    if count > max_members:
        raise ExportError(f"{shown} has {count} entries, {over}")
    if dir_size > max_directory_bytes:
        raise ExportError(
            f"{shown} has a central directory of {dir_size} bytes, more than the {max_directory_bytes} "
            "an export needs; this is not an export"
        )
    fh.seek(start)
    buf = b""
    pos = 0
    walked = entries = total = 0
    while walked < dir_size:
        if len(buf) - pos < _ENTRY_SIZE:
            buf = buf[pos:] + fh.read(_CHUNK)
            pos = 0
            if len(buf) < _ENTRY_SIZE:
                raise _refuse(shown, "its central directory is cut short")
        signature, compress_size, file_size, name_len, extra_len, comment_len = _ENTRY_STRUCT.unpack_from(
            buf, pos
        )
        if signature != _ENTRY:
            raise _refuse(shown, "a central directory entry has a bad signature")
        length = _ENTRY_SIZE + name_len + extra_len + comment_len
        while len(buf) - pos < length:  # at most 46 + 3 x 65,535 bytes: one entry's own fields
            more = fh.read(_CHUNK)
            if not more:
                raise _refuse(shown, "its central directory is cut short")
            buf = buf[pos:] + more
            pos = 0
        entries += 1
        if entries > max_members:
            raise ExportError(f"{shown} has more than {max_members} entries, {over}")
        name_end = pos + _ENTRY_SIZE + name_len
        if not (name_len and buf[name_end - 1] == 0x2F):  # a name ending in "/" is a folder: nothing to read
            if _WIDE in (file_size, compress_size):
                file_size, compress_size = _zip64_sizes(
                    buf[name_end : name_end + extra_len], file_size, compress_size
                )
            total += file_size
            if total > max_total_bytes:
                raise ExportError(
                    f"{shown} would unpack to more than {max_total_bytes} bytes; this is not an export"
                )
            ratio = file_size / max(compress_size, 1)
            if file_size > ratio_floor_bytes and ratio > max_ratio:
                name = buf[pos + _ENTRY_SIZE : name_end].decode("utf-8", "replace")
                raise ExportError(
                    f"{shown}: entry {name!r} inflates {ratio:.0f}x (limit {max_ratio}x); this looks like a "
                    "ZIP bomb, not an export"
                )
        pos += length
        walked += length
