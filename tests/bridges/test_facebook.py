from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bridges.base import ContactDraft, ExportError, Skipped
from bridges.facebook import FacebookBridge, repair_mojibake

SAMPLES = Path(__file__).parent / "samples" / "facebook"


def names_and_dates(items: list[object]) -> list[tuple[str | None, date | None] | Skipped]:
    return [(i.display_name, i.met_on) if isinstance(i, ContactDraft) else i for i in items]  # type: ignore[misc]


def test_current_layout_with_mojibake_repaired() -> None:
    items = list(FacebookBridge().parse_export(SAMPLES / "export"))
    assert names_and_dates(items) == [
        ("Дмитрий Иванов", date(2024, 1, 1)),
        ("José Müller", date(2020, 1, 1)),
        ("Plain Name", date(2010, 1, 1)),
        ("Zoë Valid", date(2010, 1, 1)),  # a real "ë" (not UTF-8 bytes) is left alone
        Skipped(
            file="export/connections/friends/your_friends.json",
            line=19,
            reason="a friend entry without a name",
        ),
        ("Ана", None),  # a timestamp that is not a number loses the date, not the friend
    ]
    # Name-only: no identities, so the importer can only ever suggest, never merge (docs/ARCHITECTURE.md §7).
    assert all(
        i.identities == () and i.relationship == "contact" for i in items if isinstance(i, ContactDraft)
    )
    # sent_friend_requests.json in the same folder is not read as friends.
    assert "Not A Friend" not in str(items)


def test_older_layout_and_stable_ids() -> None:
    (first,) = FacebookBridge().parse_export(SAMPLES / "old")
    (again,) = FacebookBridge().parse_export(SAMPLES / "old" / "friends" / "friends.json")
    assert isinstance(first, ContactDraft)
    assert (first.display_name, first.met_on) == ("Søren Kierkegaard", date(2015, 1, 1))
    assert again == first


def test_repair_only_when_it_round_trips() -> None:
    assert repair_mojibake("JosÃ©") == "José"
    assert repair_mojibake("José") == "José"  # é alone is not valid UTF-8: unchanged
    assert repair_mojibake("Дмитрий") == "Дмитрий"  # not Latin-1 at all: unchanged


def test_detect_and_wrong_json(tmp_path: Path) -> None:
    assert FacebookBridge.detect(SAMPLES / "export")
    bad = tmp_path / "friends.json"
    bad.write_text('{"likes": [1, 2]}')
    assert not FacebookBridge.detect(bad)
    with pytest.raises(ExportError, match="no friends_v2"):
        list(FacebookBridge().parse_export(bad))
