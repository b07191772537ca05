"""`kith import` from the command line, and an import killed with SIGKILL part-way."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from node.cli import main
from node.store.sqlite.driver import sqlite
from tests.node.import_helpers import SAMPLES, write_connections

ROOT = Path(__file__).resolve().parent.parent.parent


def _init(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data", str(data), "init", "--username", "me"]) == 0
    capsys.readouterr()


def test_import_detects_the_source_and_prints_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "node"
    _init(data, capsys)
    assert main(["--data", str(data), "import", str(SAMPLES / "linkedin" / "export")]) == 0
    out, err = capsys.readouterr()
    assert "Imported: export (linkedin)" in out
    assert "people created              5" in out
    assert "export/messages.csv:7: a draft, never sent" in out
    assert "rows/s" in err  # the progress line
    # Again, as JSON: nothing new.
    assert (
        main(["--data", str(data), "import", "linkedin", str(SAMPLES / "linkedin" / "export"), "--json"]) == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["people_created"] == 0 and doc["records_unchanged"] == 5 and doc["interactions_known"] == 5


def test_dry_run_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "node"
    _init(data, capsys)
    assert main(["--data", str(data), "import", str(SAMPLES / "google" / "contacts.csv"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Dry run (nothing written)") and "the export holds: 3 contacts" in out
    assert main(["--data", str(data), "people", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["items"] == []
    odd = tmp_path / "notes.txt"
    odd.write_text("hello\n")
    assert main(["--data", str(data), "import", str(odd)]) == 1
    assert "could not tell what notes.txt is; pass the source name" in capsys.readouterr().err
    assert main(["--data", str(data), "import", "myspace", str(odd)]) == 1
    assert "no bridge named 'myspace'" in capsys.readouterr().err


def _count(db: Path, sql: str) -> int:
    conn = sqlite.connect(db)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def test_an_import_killed_part_way_leaves_nothing_and_runs_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "node"
    _init(data, capsys)
    rows = 60_000
    big = write_connections(
        tmp_path / "Connections.csv",
        [
            f"First{i},Last{i},https://www.linkedin.com/in/p-{i},,Co {i % 50},Role,01 Feb 2024"
            for i in range(rows)
        ],
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "node", "--data", str(data), "import", "linkedin", str(big)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    # The first progress line comes after the first chunk was written inside the import's transaction.
    line = proc.stderr.readline()
    assert "rows/s" in line, line
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    db = data / "accounts" / "me.sqlite3"
    conn = sqlite.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("SELECT status FROM import_run").fetchall() == [("running",)]
        for table in ("person", "identity", "provenance", "source_record", "person_fts"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
    finally:
        conn.close()
    # Run again: it completes, and the killed run is recorded as interrupted.
    done = subprocess.run([*cmd, "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["people_created"] == rows
    assert _count(db, "SELECT count(*) FROM person") == rows
    assert _count(db, "SELECT count(*) FROM person_fts WHERE person_fts MATCH 'First59999'") == 1
    statuses = sqlite.connect(db).execute("SELECT status, error FROM import_run ORDER BY pk").fetchall()
    assert [s for s, _e in statuses] == ["failed", "done"] and "interrupted" in statuses[0][1]


def test_progress_bar_on_a_terminal_redraws_in_place() -> None:
    import io

    from node.cli_import import ProgressBar
    from node.importer import ImportProgress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    bar = ProgressBar("x following.js", stream)
    bar(ImportProgress(phase="import", rows=2000, elapsed=0.05))
    bar(ImportProgress(phase="done", rows=50000, elapsed=1.0))
    text = stream.getvalue()
    assert text.startswith("\r\x1b[2Kx following.js: 2,000 rows, 40,000 rows/s")
    assert text.endswith("50,000 rows, 50,000 rows/s\n")
