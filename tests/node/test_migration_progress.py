"""Long migrations say what they do (issue 12 §7): which migration runs, that it still runs, and when it is done,
to the CLI's stderr and to a caller's ``progress`` (the server logs it). Migration 0005 rebuilds the search
index of every person and used to run silently for minutes on a large graph."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import node.store.sqlite.db as db_module
from node.graph import Graph
from node.store.sqlite.db import Database
from node.store.sqlite.driver import sqlite
from node.store.sqlite.store import SqliteGraphStore

ROOT = Path(__file__).resolve().parents[2]


def _kith(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "node", "--data", str(data), *args], cwd=ROOT, capture_output=True, text=True
    )


def _graph_at_version_4(path: Path, people: int) -> None:
    """A database as a node from before 0005 left it: migrations 0001-0004 only, and people in it."""
    path.unlink(missing_ok=True)
    conn = sqlite.connect(path)
    try:
        for m in db_module.migrations()[:4]:
            conn.executescript(f"BEGIN;\n{m.sql}\nPRAGMA user_version={m.version};\nCOMMIT;")
        now = "2026-11-01T00:00:00Z"
        for i in range(people):
            pk = conn.execute(
                "INSERT INTO person (id, display_name, created_at, updated_at) VALUES (?, ?, ?, ?)",
                (f"p_old{i:08d}", f"Person {i}", now, now),
            ).lastrowid
            conn.execute(
                "INSERT INTO identity (person_pk, uri, kind, display, verification, created_at, updated_at) "
                "VALUES (?, ?, 'email', ?, 'claimed', ?, ?)",
                (pk, f"mailto:p{i}@example.com", f"p{i}@example.com", now, now),
            )
        conn.commit()
    finally:
        conn.close()


async def test_a_migration_reports_its_start_its_progress_and_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "kith.sqlite3"
    _graph_at_version_4(path, 300)
    monkeypatch.setattr(db_module, "MIGRATION_REPORT_EVERY", 0.0)  # every look at the clock reports
    monkeypatch.setattr(db_module, "MIGRATION_CHECK_STEPS", 1000)  # and it looks often on a small graph
    said: list[str] = []
    db = await Database.open(path, progress=said.append)
    try:
        assert len((await Graph(SqliteGraphStore.of(db)).search("person", limit=500)).items) == 300
    finally:
        await db.close()
    assert any("0005_search_text_once.sql" in s and s.startswith("migrating kith.sqlite3") for s in said), (
        said
    )
    assert any(s.startswith("still applying 0005_search_text_once.sql") for s in said), said
    assert any(s.startswith("migrated kith.sqlite3: 0005_search_text_once.sql applied in") for s in said), (
        said
    )
    assert said[-1].startswith("migrated kith.sqlite3: "), said  # the last one applied says it is done
    # A new database's migrations make empty tables: nothing to report.
    quiet: list[str] = []
    fresh = await Database.open(tmp_path / "new.sqlite3", progress=quiet.append)
    await fresh.close()
    assert quiet == []


async def test_the_cli_prints_migration_progress_on_stderr(tmp_path: Path) -> None:
    data = tmp_path / "node"
    init = _kith(data, "init", "--username", "alice")
    assert init.returncode == 0, init.stderr
    _graph_at_version_4(data / "accounts" / "alice.sqlite3", 20)
    listed = _kith(data, "people", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "kith: migrating alice.sqlite3: 0005_search_text_once.sql" in listed.stderr
    assert "kith: migrated alice.sqlite3: 0005_search_text_once.sql applied in" in listed.stderr
    assert listed.stdout.lstrip().startswith("{")  # stdout stays the command's output
