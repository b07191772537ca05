"""`kith storage copy`: a whole server moves to another database with nothing lost (issue #14). What is
compared is every table of every database, not only the exports the command compares itself: app passwords,
sessions, queues and the registry are not in an export, and must arrive all the same."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from node.config import Config, load_config
from node.errors import Conflict
from node.storage_copy import copy_storage
from tests.conftest import run_cli


def ok(*argv: str | Path) -> str:
    result = run_cli(*argv)
    assert result.code == 0, result.err
    return result.out


@pytest.fixture
def server(data_dir: Path) -> Path:
    """A server of four accounts (one removed) holding people of the same names, notes, circles, a merge, an
    app password and an organisation."""
    a = ("--data", data_dir)
    ok(*a, "account", "add", "bob")
    ok(*a, "account", "add", "acme", "--organization", "--display-name", "Acme Corp")
    ok(*a, "account", "add", "gone")
    for account in ("alice", "bob", "acme", "gone"):
        ok(*a, "--account", account, "people", "add", "Ada Lovelace", "--identity", "ada@example.org")
    twin = json.loads(
        ok(*a, "--account", "bob", "people", "add", "Ada L.", "--identity", "ada@work.example", "--json")
    )["id"]
    ada = json.loads(ok(*a, "--account", "bob", "people", "search", "Lovelace", "--json"))["items"][0]["id"]
    ok(*a, "--account", "bob", "merge", ada, twin)
    grace = json.loads(
        ok(*a, "--account", "acme", "people", "add", "Grace Hopper", "--identity", "grace@x.org", "--json")
    )["id"]
    ok(*a, "--account", "acme", "note", "add", grace, "met at the navy yard, café au lait")
    ok(*a, "--account", "acme", "circle", "add", "clients")
    ok(*a, "--account", "acme", "circle", "join", grace, "clients")
    ok(*a, "--account", "alice", "app-password", "add", "phone")
    ok(*a, "account", "remove", "gone", "--yes")
    return data_dir


def _tables(path: Path, *, skip: tuple[str, ...] = ("sqlite_", "person_fts", "moved_fed_")) -> dict[str, Any]:
    conn = sqlite3.connect(path)
    try:
        names = [
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        ]
        return {
            n: sorted(conn.execute(f"SELECT * FROM {n}").fetchall(), key=repr)
            for n in names
            if not n.startswith(skip)
        }
    finally:
        conn.close()


def _dest(config: Config, folder: Path) -> Config:
    folder.mkdir(mode=0o700)
    return dataclasses.replace(config, data_dir=folder)


def test_every_row_of_every_database_arrives(server: Path, tmp_path: Path) -> None:
    config = load_config(server)
    dest = _dest(config, tmp_path / "copy")
    said: list[tuple[str, int, int]] = []
    report = asyncio.run(
        copy_storage(config, dest, passphrase=None, progress=lambda *a: said.append(a), say=lambda m: None)
    )
    assert sorted(report.summary.accounts) == ["acme", "alice", "bob", "gone"]
    assert sorted(report.verified) == ["acme", "alice", "bob", "gone"]
    assert said[-1][1] == said[-1][2]  # the progress ends at its total

    assert _tables(dest.data_dir / "server.sqlite3") == _tables(server / "server.sqlite3")
    for name in report.summary.accounts:
        assert _tables(dest.data_dir / "accounts" / f"{name}.sqlite3") == _tables(
            server / "accounts" / f"{name}.sqlite3"
        ), name
    # the copy is a working server: search (rebuilt there), the removed account still gone. (The owners' token
    # files stay in the data folder, which a copy to another engine keeps using.)
    (dest.data_dir / "kith.toml").write_text((server / "kith.toml").read_text())
    (dest.data_dir / "kith.toml").chmod(0o600)
    found = json.loads(ok("--data", dest.data_dir, "--account", "acme", "people", "search", "café", "--json"))
    assert [p["display_name"] for p in found["items"]] == ["Grace Hopper"]
    listed = {
        r["name"]: r["state"] for r in json.loads(ok("--data", dest.data_dir, "account", "list", "--json"))
    }
    assert listed == {"alice": "active", "bob": "active", "acme": "active", "gone": "removed"}


def test_a_copy_into_a_database_that_holds_accounts_is_refused(server: Path, tmp_path: Path) -> None:
    config = load_config(server)
    other = tmp_path / "other"
    ok("--data", other, "init", "--username", "zed", "--domain", "b.test")
    before = _tables(other / "server.sqlite3")
    with pytest.raises(Conflict, match="already holds accounts"):
        asyncio.run(
            copy_storage(
                config, load_config(other), passphrase=None, progress=lambda *a: None, say=lambda m: None
            )
        )
    assert _tables(other / "server.sqlite3") == before  # nothing written


def test_a_destination_that_is_no_storage_url_gets_one_line_saying_what_to_write(server: Path) -> None:
    result = run_cli("--data", server, "storage", "copy", "--to", "mysql://x")
    assert result.code == 1 and len(result.err.strip().splitlines()) == 1, result.err
    assert result.err.startswith("kith: 'mysql://x' is not a storage URL") and "postgresql://" in result.err


def test_the_command_refuses_to_copy_a_server_onto_itself(server: Path) -> None:
    result = run_cli("--data", server, "storage", "copy", "--to", "sqlite:")
    assert result.code == 1
    assert result.err.strip() == (
        "kith: the destination is where this server's data already is; name another database (to)"
    )


def test_a_sqlite_server_moves_to_postgresql(
    server: Path, postgres_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As an operator runs it: `kith storage copy --to postgresql://...`, then the same data folder with
    storage.url naming the database serves the same accounts (issue #14)."""
    before = {
        name: json.loads(ok("--data", server, "--account", name, "export"))
        for name in ("alice", "bob", "acme")
    }
    said = json.loads(ok("--data", server, "storage", "copy", "--to", postgres_db_url, "--json"))
    assert sorted(said["verified"]) == ["acme", "alice", "bob", "gone"]
    assert said["to"].startswith("postgresql://")
    assert said["rows"]["server"] > 0 and said["rows"]["acme"] > 0

    monkeypatch.setenv("KITH_STORAGE_URL", postgres_db_url)
    for name, doc in before.items():
        after = json.loads(ok("--data", server, "--account", name, "export"))
        assert {k: v for k, v in after.items() if k != "exported_at"} == {
            k: v for k, v in doc.items() if k != "exported_at"
        }, name
    found = json.loads(ok("--data", server, "--account", "acme", "people", "search", "cafe", "--json"))
    assert [p["display_name"] for p in found["items"]] == ["Grace Hopper"]  # search rebuilt, accents folded
    # new rows get new keys after the copied ones, and a second copy into the same database is refused
    ok("--data", server, "--account", "acme", "people", "add", "Katherine Johnson")
    monkeypatch.delenv("KITH_STORAGE_URL")
    again = run_cli("--data", server, "storage", "copy", "--to", postgres_db_url)
    assert again.code == 1 and "already holds accounts" in again.err
