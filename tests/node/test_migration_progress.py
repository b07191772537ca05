"""Long migrations say what they do (issue 12 §7): which migration runs, that it still runs, and when it is done,
to the CLI's stderr and to a caller's ``progress`` (the server logs it). Migration 0005 rebuilds the search
index of every person and used to run silently for minutes on a large graph."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import node.store.db as db_module
from node.graph import Graph
from node.store import Database, GraphStore
from node.store.driver import sqlite

ROOT = Path(__file__).resolve().parents[2]


def _kith(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "node", "--data", str(data), *args], cwd=ROOT, capture_output=True, text=True
    )


async def _graph_at_version_4(path: Path, people: int) -> None:
    db = await Database.open(path)
    graph = Graph(GraphStore.sqlite(db))
    for i in range(people):
        await graph.create_person({"display_name": f"Person {i}", "identities": [f"p{i}@example.com"]})
    await db.close()
    conn = sqlite.connect(path)
    conn.execute("PRAGMA user_version = 4")  # as a node from before 0005 left it (0005 only rebuilds a view)
    conn.commit()
    conn.close()


async def test_a_migration_reports_its_start_its_progress_and_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "kith.sqlite3"
    await _graph_at_version_4(path, 300)
    monkeypatch.setattr(db_module, "MIGRATION_REPORT_EVERY", 0.0)  # every look at the clock reports
    monkeypatch.setattr(db_module, "MIGRATION_CHECK_STEPS", 1000)  # and it looks often on a small graph
    said: list[str] = []
    db = await Database.open(path, progress=said.append)
    try:
        assert len((await Graph(GraphStore.sqlite(db)).search("person", limit=500)).items) == 300
    finally:
        await db.close()
    assert any("0005_search_text_once.sql" in s and s.startswith("migrating kith.sqlite3") for s in said), (
        said
    )
    assert any(s.startswith("still applying 0005_search_text_once.sql") for s in said), said
    assert said[-1].startswith("migrated kith.sqlite3: 0005_search_text_once.sql applied in"), said
    # A new database's migrations make empty tables: nothing to report.
    quiet: list[str] = []
    fresh = await Database.open(tmp_path / "new.sqlite3", progress=quiet.append)
    await fresh.close()
    assert quiet == []


async def test_the_cli_prints_migration_progress_on_stderr(tmp_path: Path) -> None:
    data = tmp_path / "node"
    init = _kith(data, "init", "--username", "alice")
    assert init.returncode == 0, init.stderr
    await _graph_at_version_4(data / "kith.sqlite3", 20)
    listed = _kith(data, "people", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "kith: migrating kith.sqlite3: 0005_search_text_once.sql" in listed.stderr
    assert "kith: migrated kith.sqlite3: 0005_search_text_once.sql applied in" in listed.stderr
    assert listed.stdout.lstrip().startswith("{")  # stdout stays the command's output
