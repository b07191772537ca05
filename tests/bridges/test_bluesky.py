from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from bridges._car import CarReader
from bridges.base import BlockDraft, ContactDraft, ExportError, IdentityDraft, OwnerDraft, Skipped
from bridges.bluesky import BlueskyBridge
from tests.bridges.carwriter import Repo, key_layer
from tests.bridges.helpers import plc

OWNER = "did:plc:ownerownerowner"


def did(i: int) -> str:
    return plc(f"friend{i:04d}")


def make_repo() -> tuple[Repo, dict[str, str]]:
    repo = Repo(did=OWNER)
    follows: dict[str, str] = {}
    for i in range(60):  # enough keys for a tree several layers deep
        key = f"app.bsky.graph.follow/3kfollow{i:04d}"
        repo.put_record(key, {"$type": "app.bsky.graph.follow", "subject": did(i),
                              "createdAt": "2024-02-01T10:00:00.000Z"})  # fmt: skip
        follows[key] = did(i)
    for i in range(20):
        repo.put_record(
            f"app.bsky.feed.post/3kpost{i:04d}",
            {"$type": "app.bsky.feed.post", "text": f"post {i}", "createdAt": "2024-02-01T10:00:00Z"},
        )
    repo.put_record(
        "app.bsky.graph.follow/2zold0000",
        {"$type": "app.bsky.graph.follow", "subject": {"did": did(999), "declarationCid": "bafyold"},
         "createdAt": "2022-11-01T10:00:00Z"},
    )  # fmt: skip
    repo.put_record(
        "app.bsky.graph.block/3kblock0001",
        {"$type": "app.bsky.graph.block", "subject": plc("troll"), "createdAt": "2024-03-01T00:00:00Z"},
    )
    return repo, follows


def test_repo_car_follows_blocks_and_old_form(tmp_path: Path) -> None:
    repo, follows = make_repo()
    assert len({key_layer(k.encode()) for k in repo.records}) > 1  # the tree really has inner nodes
    car = tmp_path / "repo.car"
    car.write_bytes(repo.car())
    assert BlueskyBridge.detect(car)
    items = list(BlueskyBridge().parse_export(car))
    expected: list[object] = [
        BlockDraft(
            identity=IdentityDraft(address=plc("troll"), kind="bluesky"),
            source_record_id="app.bsky.graph.block/3kblock0001",
        ),
        Skipped(
            file="repo.car",
            line=None,
            reason="app.bsky.graph.follow/2zold0000: 2022-era follow record (subject object), ignored",
        ),
    ]
    expected += [
        ContactDraft(
            source_record_id=key,
            identities=(IdentityDraft(address=subject, kind="bluesky"),),
            follow="following",
        )
        for key, subject in sorted(follows.items())
    ]
    assert items == expected  # in MST key order; posts are never decoded into drafts
    assert BlueskyBridge().owner(car) == OwnerDraft(
        identities=(IdentityDraft(address=OWNER, kind="bluesky"),)
    )


def test_car_in_zip_and_missing_record(tmp_path: Path) -> None:
    repo, follows = make_repo()
    first = sorted(follows)[0]
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("repo.car", repo.car(drop={repo.records[first]}))
    items = list(BlueskyBridge().parse_export(archive))
    assert (
        Skipped(file="export.zip/repo.car", line=None, reason=f"{first}: record block missing from the file")
        in items
    )
    assert sum(isinstance(i, ContactDraft) for i in items) == 59


def test_corrupt_block_and_not_a_car(tmp_path: Path) -> None:
    repo, follows = make_repo()
    car = tmp_path / "repo.car"
    car.write_bytes(repo.car(corrupt={repo.records[sorted(follows)[3]]}))
    with pytest.raises(ExportError, match="does not match its CID"):
        list(BlueskyBridge().parse_export(car))
    other = tmp_path / "x.car"
    other.write_bytes(b"\x05hello world")
    assert not BlueskyBridge.detect(other)
    with pytest.raises(ExportError, match="not a CAR"):
        list(BlueskyBridge().parse_export(other))


def test_reader_indexes_every_block(tmp_path: Path) -> None:
    repo, _ = make_repo()
    car = tmp_path / "repo.car"
    car.write_bytes(repo.car())
    with car.open("rb") as fh:
        reader = CarReader(fh)
        assert len(reader) == len(repo.blocks)
        commit = reader.get(reader.roots[0])
        keys = [k for k, _v in reader.walk_mst(commit["data"])]
    assert keys == sorted(repo.records)
