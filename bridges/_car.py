"""CAR v1 files of DAG-CBOR blocks, as atproto repositories are exported (docs/SILOS.md §1 "Bluesky repository
CAR").

Rules kept:
- Layout: varint length + DAG-CBOR header ``{version: 1, roots: [CID]}``, then sections of varint length +
  CID + block bytes. CIDs are v1 (version, codec, multihash) or v0 (a bare 34-byte sha2-256 multihash).
- The file is indexed in one pass (CID → offset) and blocks are decoded on demand while walking the
  repository, so a large repo is never held decoded. Every decoded block's sha2-256 digest is checked against
  its CID.
- Links are CBOR tag 42 whose bytes are 0x00 + binary CID; they decode to ``Link``.
- Sizes are capped: a header, a block, the number of blocks, and a tree key (a record path is a collection
  NSID of at most 317 characters, a slash and a record key of at most 512: draft-holmgren-at-repository §3.1).
  Keys are prefix-compressed, so without that cap one 2 MB node of one-byte suffixes spelled keys of tens of
  thousands of bytes each, quadratic in the node's size, in time and in memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import cbor2

from bridges.base import ExportError

__all__ = ["MAX_BLOCK", "CarReader", "Link", "decode_dag_cbor", "read_cid", "read_varint"]

MAX_BLOCK = 2 << 20  # atproto caps records at 1 MB; MST nodes are far smaller
MAX_BLOCKS = 5_000_000
MAX_KEY = 1024
_SHA256 = 0x12


@dataclass(frozen=True, slots=True)
class Link:
    cid: bytes  # binary CID


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """Unsigned LEB128 at ``pos``: (value, next position)."""
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ExportError("truncated or overlong varint in CAR file")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def read_cid(data: bytes, pos: int) -> tuple[bytes, int]:
    """A binary CID starting at ``pos``: (cid bytes, next position)."""
    if data[pos : pos + 2] == b"\x12\x20":  # CIDv0
        return data[pos : pos + 34], pos + 34
    start = pos
    version, pos = read_varint(data, pos)
    if version != 1:
        raise ExportError(f"unsupported CID version {version} in CAR file")
    _codec, pos = read_varint(data, pos)
    _hash, pos = read_varint(data, pos)
    length, pos = read_varint(data, pos)
    if pos + length > len(data):
        raise ExportError("truncated CID in CAR file")
    return data[start : pos + length], pos + length


def _digest(cid: bytes) -> tuple[int, bytes]:
    if cid[:2] == b"\x12\x20":
        return _SHA256, cid[2:]
    pos = 0
    for _ in range(2):  # version, codec
        _v, pos = read_varint(cid, pos)
    code, pos = read_varint(cid, pos)
    length, pos = read_varint(cid, pos)
    return code, cid[pos : pos + length]


def _tag_hook(*args: Any) -> Any:
    # cbor2's hook signature changed across releases; find the tag among the arguments.
    tag = next(a for a in args if isinstance(a, cbor2.CBORTag))
    if tag.tag == 42 and isinstance(tag.value, bytes) and tag.value[:1] == b"\x00":
        return Link(tag.value[1:])
    return tag


def decode_dag_cbor(data: bytes) -> Any:
    return cbor2.loads(data, tag_hook=_tag_hook, max_depth=64)


class CarReader:
    """Random access to the blocks of a CAR held in a seekable binary file."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh
        self._index: dict[bytes, tuple[int, int]] = {}
        head = fh.read(10)
        length, pos = read_varint(head, 0)
        if length > 1 << 16 or length == 0:
            raise ExportError("not a CAR file: the header length is implausible")
        fh.seek(pos)
        try:
            header = decode_dag_cbor(fh.read(length))
        except (cbor2.CBORDecodeError, ValueError) as exc:
            raise ExportError(f"not a CAR file: unreadable header ({exc})") from exc
        if not isinstance(header, dict) or header.get("version") != 1:
            raise ExportError("not a CAR v1 file (header version is not 1)")
        roots = header.get("roots")
        if not isinstance(roots, list) or not all(isinstance(r, Link) for r in roots):
            raise ExportError("CAR header has no roots")
        self.roots: list[Link] = roots
        self._scan(pos + length)

    def _scan(self, offset: int) -> None:
        fh = self._fh
        fh.seek(offset)
        while True:
            prefix = fh.read(10)
            if not prefix:
                return
            length, used = read_varint(prefix, 0)
            if length > MAX_BLOCK + 64:
                raise ExportError(f"CAR section of {length} bytes at offset {offset} is over the limit")
            fh.seek(offset + used)
            section = fh.read(length)
            if len(section) != length:
                raise ExportError(f"CAR file cut short at offset {offset}")
            cid, cid_end = read_cid(section, 0)
            self._index[cid] = (offset + used + cid_end, length - cid_end)
            if len(self._index) > MAX_BLOCKS:
                raise ExportError(f"CAR file has more than {MAX_BLOCKS} blocks")
            offset += used + length
            fh.seek(offset)

    def __contains__(self, link: Link) -> bool:
        return link.cid in self._index

    def __len__(self) -> int:
        return len(self._index)

    def get(self, link: Link) -> Any:
        """The decoded block; KeyError when it is not in the file, ExportError when it is corrupt."""
        offset, length = self._index[link.cid]
        self._fh.seek(offset)
        data = self._fh.read(length)
        code, digest = _digest(link.cid)
        if code == _SHA256 and hashlib.sha256(data).digest() != digest:
            raise ExportError("a CAR block does not match its CID (corrupt file)")
        try:
            return decode_dag_cbor(data)
        except (cbor2.CBORDecodeError, ValueError) as exc:
            raise ExportError(f"an undecodable block in the CAR file: {exc}") from exc

    def walk_mst(self, root: Link) -> Iterator[tuple[str, Link]]:
        """(key, record link) for every entry of the Merkle Search Tree at ``root``, in key order."""
        seen: set[bytes] = set()
        # A stack of pending work: a node link to expand, or an already-known (key, value) to emit.
        stack: list[Link | tuple[str, Link]] = [root]
        while stack:
            item = stack.pop()
            if isinstance(item, tuple):
                yield item
                continue
            if item.cid in seen:
                raise ExportError("the repository tree has a cycle")
            seen.add(item.cid)
            if item not in self:
                raise ExportError(
                    "a block of the repository tree is missing from the CAR file (cut short?); download the "
                    "repository again"
                )
            node = self.get(item)
            if not isinstance(node, dict) or not isinstance(node.get("e"), list):
                raise ExportError("a repository tree node is malformed")
            pending: list[Link | tuple[str, Link]] = []
            if isinstance(node.get("l"), Link):
                pending.append(node["l"])
            key = b""
            for entry in node["e"]:
                if not isinstance(entry, dict):
                    raise ExportError("a repository tree entry is malformed")
                prefix, suffix, value = entry.get("p"), entry.get("k"), entry.get("v")
                if (
                    not isinstance(prefix, int)
                    or not isinstance(suffix, bytes)
                    or not isinstance(value, Link)
                ):
                    raise ExportError("a repository tree entry is malformed")
                if prefix > len(key) or prefix + len(suffix) > MAX_KEY:
                    raise ExportError(f"a repository tree key is malformed or longer than {MAX_KEY} bytes")
                key = key[:prefix] + suffix
                pending.append((key.decode("utf-8", "replace"), value))
                if isinstance(entry.get("t"), Link):
                    pending.append(entry["t"])
            stack.extend(reversed(pending))
