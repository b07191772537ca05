"""Bluesky: the repository CAR export (follows and blocks) and the live follow lists (FORMATS.md §1, §2).

Rules kept:
- The CAR's root is the signed commit; its ``data`` is the MST whose keys are ``collection/rkey``. Only
  ``app.bsky.graph.follow`` (and ``app.bsky.graph.block``) records are decoded.
- A follow's subject is a DID (``kind="bluesky"``). The 2022 form ``subject: {did, declarationCid}`` is
  reported and skipped, as FORMATS.md advises.
- The record id is ``collection/rkey``: stable across exports of the same repository.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, ClassVar

from bridges._car import CarReader, Link, read_varint
from bridges._files import Source
from bridges.base import (
    BlockDraft,
    Bridge,
    ContactDraft,
    ExportError,
    IdentityDraft,
    ImportItem,
    OwnerDraft,
    Skipped,
)

__all__ = ["BlueskyBridge"]

FOLLOW = "app.bsky.graph.follow"
BLOCK = "app.bsky.graph.block"


def _car_members(src: Source) -> list[str]:
    names = [n for n in src.names() if n.lower().endswith(".car")]
    return names or (src.names() if src.is_single_file else [])


def _looks_like_car(head: bytes) -> bool:
    try:
        length, pos = read_varint(head, 0)
    except ExportError:
        return False
    # The header is a small map {roots, version}: CBOR map of 2 (0xa2) with those keys.
    return 0 < length < 1024 and head[pos : pos + 1] == b"\xa2" and b"roots" in head[pos : pos + length]


class BlueskyBridge(Bridge):
    name: ClassVar[str] = "bluesky"
    scheme: ClassVar[str] = "bluesky"
    description: ClassVar[str] = "Bluesky repository export (repo.car)"

    @classmethod
    def detect(cls, path: Path) -> bool:
        with Source(path) as src:
            return any(_looks_like_car(src.head(n, 512)) for n in _car_members(src))

    def owner(self, path: Path) -> OwnerDraft | None:
        with Source(path) as src:
            for name in _car_members(src):
                with _seekable(src, name) as fh:
                    car = CarReader(fh)
                    did = _commit(car, src.display(name)).get("did")
                    if isinstance(did, str):
                        return OwnerDraft(identities=(IdentityDraft(address=did, kind="bluesky"),))
        return None

    def parse_export(self, path: Path) -> Iterator[ImportItem]:
        with Source(path) as src:
            names = _car_members(src)
            if not names:
                raise ExportError(f"{path} holds no .car repository file")
            for name in names:
                with _seekable(src, name) as fh:
                    yield from _records(CarReader(fh), src.display(name))


def _seekable(src: Source, name: str) -> IO[bytes]:
    """The member as a seekable file: a plain file as is, a ZIP member copied to a temporary file."""
    fh = src.open_binary(name)
    if not src.is_zip:
        return fh
    tmp = tempfile.TemporaryFile()  # noqa: SIM115 - returned to the caller's with-block
    with fh:
        shutil.copyfileobj(fh, tmp, 1 << 20)
    tmp.seek(0)
    return tmp


def _commit(car: CarReader, shown: str) -> dict[str, Any]:
    if not car.roots or car.roots[0] not in car:
        raise ExportError(f"{shown}: the CAR's root block (the repository commit) is missing")
    commit = car.get(car.roots[0])
    if not isinstance(commit, dict) or not isinstance(commit.get("data"), Link):
        raise ExportError(f"{shown}: the CAR's root is not a repository commit; is this a Bluesky repo.car?")
    return commit


def _records(car: CarReader, shown: str) -> Iterator[ImportItem]:
    commit = _commit(car, shown)
    for key, link in car.walk_mst(commit["data"]):
        collection = key.split("/", 1)[0]
        if collection not in (FOLLOW, BLOCK):
            continue
        if link not in car:
            yield Skipped(file=shown, line=None, reason=f"{key}: record block missing from the file")
            continue
        record = car.get(link)
        subject = record.get("subject") if isinstance(record, dict) else None
        if isinstance(subject, dict):
            yield Skipped(
                file=shown, line=None, reason=f"{key}: 2022-era follow record (subject object), ignored"
            )
            continue
        if not isinstance(subject, str) or not subject.startswith("did:"):
            yield Skipped(file=shown, line=None, reason=f"{key}: no subject DID")
            continue
        identity = IdentityDraft(address=subject, kind="bluesky")
        if collection == BLOCK:
            yield BlockDraft(identity=identity, source_record_id=key)
        else:
            yield ContactDraft(source_record_id=key, identities=(identity,), follow="following")
