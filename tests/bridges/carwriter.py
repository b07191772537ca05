"""A small writer of atproto repository CARs for tests: real CIDv1 (dag-cbor, sha2-256) blocks, a commit and a
Merkle Search Tree laid out by key-hash layers (fanout 4, as atproto's MST), so the reader walks what a PDS
would export. Written from the atproto repository spec, independently of bridges/_car.py."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import cbor2


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def cid_for(data: bytes) -> bytes:
    return bytes([0x01, 0x71, 0x12, 0x20]) + hashlib.sha256(data).digest()


def link(cid: bytes) -> cbor2.CBORTag:
    return cbor2.CBORTag(42, b"\x00" + cid)


def key_layer(key: bytes) -> int:
    """Leading zero bits of sha256(key), counted in pairs (fanout 4)."""
    digest = hashlib.sha256(key).digest()
    zeros = 0
    for byte in digest:
        if byte == 0:
            zeros += 8
            continue
        zeros += 8 - byte.bit_length()
        break
    return zeros // 2


@dataclass
class Repo:
    did: str
    blocks: dict[bytes, bytes] = field(default_factory=dict)  # cid -> data, in insertion order
    records: dict[str, bytes] = field(default_factory=dict)  # key -> record cid

    def put_block(self, obj: Any) -> bytes:
        data = cbor2.dumps(obj, canonical=True)
        cid = cid_for(data)
        self.blocks.setdefault(cid, data)
        return cid

    def put_record(self, key: str, record: dict[str, Any]) -> bytes:
        cid = self.put_block(record)
        self.records[key] = cid
        return cid

    def _node(self, items: list[tuple[bytes, bytes, int]], layer: int) -> bytes | None:
        if not items:
            return None
        entries: list[dict[str, Any]] = []
        left: bytes | None = None
        pending: list[tuple[bytes, bytes, int]] = []
        previous = b""
        for key, value, klayer in items:
            if klayer == layer:
                sub = self._node(pending, layer - 1)
                if entries:
                    entries[-1]["t"] = link(sub) if sub else None
                else:
                    left = sub
                prefix = 0
                while prefix < min(len(key), len(previous)) and key[prefix] == previous[prefix]:
                    prefix += 1
                entries.append({"p": prefix, "k": key[prefix:], "v": link(value), "t": None})
                previous, pending = key, []
            else:
                pending.append((key, value, klayer))
        sub = self._node(pending, layer - 1)
        if entries:
            entries[-1]["t"] = link(sub) if sub else None
        else:
            left = sub
        return self.put_block({"l": link(left) if left else None, "e": entries})

    def car(self, *, drop: set[bytes] = frozenset(), corrupt: set[bytes] = frozenset()) -> bytes:  # type: ignore[assignment]
        items = sorted((k.encode(), v, key_layer(k.encode())) for k, v in self.records.items())
        top = max((i[2] for i in items), default=0)
        root = self._node(items, top)
        assert root is not None
        commit = self.put_block(
            {"did": self.did, "version": 3, "data": link(root), "rev": "3l2abcdefgh22", "prev": None,
             "sig": b"\x01" * 64}
        )  # fmt: skip
        header = cbor2.dumps({"roots": [link(commit)], "version": 1}, canonical=True)
        out = bytearray(varint(len(header)) + header)
        for cid, data in [(commit, self.blocks[commit])] + [
            (c, d) for c, d in self.blocks.items() if c != commit
        ]:
            if cid in drop:
                continue
            if cid in corrupt:
                data = data[:-1] + bytes([data[-1] ^ 0xFF])
            out += varint(len(cid) + len(data)) + cid + data
        return bytes(out)
