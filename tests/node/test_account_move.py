"""An account moves between servers: `kith account export NAME` on one, `kith restore FILE --account NAME` on
the other (issue #13 §6). What moves is everything of that account and nothing of its neighbours; a restore
that fails leaves no account behind; hostile files get a clear error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli


def ok(*argv: str | Path) -> str:
    result = run_cli(*argv)
    assert result.code == 0, result.err
    return result.out


def fails(*argv: str | Path) -> str:
    result = run_cli(*argv)
    assert result.code != 0, result.out
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    return lines[0]


def _stable(doc: dict[str, Any]) -> dict[str, Any]:
    """An export without what a later run may change by itself (when it was made, and the account block)."""
    return {k: v for k, v in doc.items() if k not in ("exported_at", "account")}


@pytest.fixture
def two_servers(data_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Server A (data_dir: alice, plus bob and acme with people of the same names) and an empty server B."""
    a = ("--data", data_dir)
    ok(*a, "account", "add", "bob")
    ok(*a, "account", "add", "acme", "--organization", "--display-name", "Acme Corp")
    for account in ("alice", "bob", "acme"):
        ok(*a, "--account", account, "people", "add", "Ada Lovelace", "--identity", "ada@example.org")
    ok(*a, "--account", "bob", "people", "add", "Bob's Secret", "--identity", "secret@example.org")
    grace = json.loads(
        ok(*a, "--account", "acme", "people", "add", "Grace Hopper", "--identity", "grace@x.org", "--json")
    )["id"]
    ok(*a, "--account", "acme", "note", "add", grace, "met at the navy yard")
    ok(*a, "--account", "acme", "circle", "add", "clients")
    ok(*a, "--account", "acme", "circle", "join", grace, "clients")
    b = tmp_path / "b"
    ok("--data", b, "init", "--username", "zed", "--domain", "b.test")
    return data_dir, b


def test_an_account_moves_whole_and_alone(two_servers: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = two_servers
    file = tmp_path / "acme.json"
    said = json.loads(ok("--data", a, "account", "export", "acme", "--output", file, "--json"))
    assert said["account"] == "acme" and said["people"] == 2 and file.stat().st_mode & 0o077 == 0
    exported = json.loads(file.read_text())
    assert exported["account"] == {"name": "acme", "type": "Organization", "display_name": "Acme Corp"}
    assert "Bob's Secret" not in file.read_text()  # nothing of a neighbour's

    restored = json.loads(ok("--data", b, "restore", file, "--account", "acme", "--json"))
    assert restored["created"] is True and restored["restored"]["person"] == 2
    listed = {r["name"]: r for r in json.loads(ok("--data", b, "account", "list", "--json"))}
    assert listed["acme"]["type"] == "Organization" and listed["acme"]["display_name"] == "Acme Corp"
    assert listed["acme"]["actor"] == "http://b.test/users/acme"
    # the new account's own token works, and the move lost nothing: the exports are the same
    assert ok("--data", b, "--account", "acme", "token", "show").strip() == restored["token"]
    again = json.loads(ok("--data", b, "--account", "acme", "export"))
    assert _stable(again) == _stable(exported)
    # the server's other account is untouched
    zed = json.loads(ok("--data", b, "--account", "zed", "people", "list", "--json"))
    assert zed["total"] == 0


def test_a_failed_restore_leaves_no_account(two_servers: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = two_servers
    file = tmp_path / "alice.json"
    ok("--data", a, "account", "export", "alice", "--output", file)
    doc = json.loads(file.read_text())
    person = doc["tables"]["person"]
    person["rows"][0][person["columns"].index("last_interaction_at")] = "garbage"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))

    line = fails("--data", b, "restore", bad, "--account", "alice")
    assert "person" in line and "last_interaction_at" in line
    names = [r["name"] for r in json.loads(ok("--data", b, "account", "list", "--json"))]
    assert names == ["zed"]
    assert not (b / "accounts" / "alice.sqlite3").exists() and not (b / "tokens" / "alice").exists()
    # the name is free again: the good file restores under it
    ok("--data", b, "restore", file, "--account", "alice")
    assert json.loads(ok("--data", b, "--account", "alice", "people", "list", "--json"))["total"] == 1


def test_restore_into_a_used_account_is_refused_and_changes_nothing(
    two_servers: tuple[Path, Path], tmp_path: Path
) -> None:
    a, _ = two_servers
    file = tmp_path / "alice.json"
    ok("--data", a, "account", "export", "alice", "--output", file)
    before = json.loads(ok("--data", a, "--account", "bob", "export"))
    line = fails("--data", a, "restore", file, "--account", "bob")
    assert "empty" in line
    assert _stable(json.loads(ok("--data", a, "--account", "bob", "export"))) == _stable(before)


@pytest.mark.parametrize(
    "block",
    [
        {"name": "acme", "type": "Admin"},
        {"name": "acme", "type": "Person", "display_name": "x\u0000y"},
        {"name": "acme", "display_name": "x" * 10_000},
        {"name": "a" * 1_000_000},
        {"name": "acme", "keys": "-----BEGIN PRIVATE KEY-----"},
        "acme",
    ],
)
def test_a_hostile_account_block_is_refused_before_anything_is_made(
    two_servers: tuple[Path, Path], tmp_path: Path, block: Any
) -> None:
    a, b = two_servers
    file = tmp_path / "acme.json"
    ok("--data", a, "account", "export", "acme", "--output", file)
    doc = json.loads(file.read_text())
    doc["account"] = block
    file.write_text(json.dumps(doc))
    line = fails("--data", b, "restore", file, "--account", "acme")
    assert "account" in line
    assert [r["name"] for r in json.loads(ok("--data", b, "account", "list", "--json"))] == ["zed"]


def test_export_of_an_account_that_is_not_there(two_servers: tuple[Path, Path]) -> None:
    a, _ = two_servers
    assert "no account carol" in fails("--data", a, "account", "export", "carol")
    ok("--data", a, "account", "remove", "bob", "--yes")
    assert "no account bob" in fails("--data", a, "account", "export", "bob")


def test_each_account_backs_up_to_a_file_of_its_own(data_dir: Path) -> None:
    ok("--data", data_dir, "account", "add", "bob")
    paths = {
        name: Path(json.loads(ok("--data", data_dir, "--account", name, "backup", "--json"))["path"])
        for name in ("alice", "bob")
    }
    assert paths["alice"] != paths["bob"]
    assert paths["alice"].name.startswith("alice-") and paths["bob"].name.startswith("bob-")
