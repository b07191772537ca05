from __future__ import annotations

from pathlib import Path

import pytest

import bridges.registry as registry
from bridges.base import ExportError
from bridges.registry import BRIDGES, bridge_for, detect
from tests.bridges.carwriter import Repo

SAMPLES = Path(__file__).parent / "samples"


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("linkedin/export", "linkedin"),
        ("linkedin/Connections_bom.csv", "linkedin"),
        ("linkedin/messages_old.csv", "linkedin"),
        ("x/archive", "x"),
        ("x/archive/data/following.js", "x"),
        ("facebook/export", "facebook"),
        ("facebook/old/friends/friends.json", "facebook"),
        ("google/contacts.csv", "google"),
        ("google/google_legacy.csv", "google"),
        ("vcard/apple_icloud.vcf", "vcard"),
        ("vcard/rfc6350.vcf", "vcard"),
        ("mastodon/export", "mastodon"),
        ("mastodon/fedifinder.csv", "mastodon"),
    ],
)
def test_detect_samples(path: str, name: str) -> None:
    assert detect(SAMPLES / path).name == name


def test_detect_car(tmp_path: Path) -> None:
    repo = Repo(did="did:plc:me")
    repo.put_record("app.bsky.graph.follow/3k", {"$type": "app.bsky.graph.follow", "subject": "did:plc:a"})
    car = tmp_path / "download"  # no extension: told by content
    car.write_bytes(repo.car())
    assert detect(car).name == "bluesky"


def test_unknown_file_says_what_to_do(tmp_path: Path) -> None:
    f = tmp_path / "mystery.csv"
    f.write_text("a,b\n1,2\n")
    with pytest.raises(ExportError, match="pass the source name: kith import linkedin FILE"):
        detect(f)
    with pytest.raises(ExportError, match="does not exist"):
        detect(tmp_path / "nope")


def test_bridges_by_name() -> None:
    assert sorted(BRIDGES) == ["bluesky", "facebook", "google", "ical", "linkedin", "mastodon", "vcard", "x"]
    assert bridge_for("LinkedIn").name == "linkedin"
    with pytest.raises(ExportError, match="known sources"):
        bridge_for("myspace")
    assert set(registry.__all__) == {"BRIDGES", "bridge_for", "detect"}
