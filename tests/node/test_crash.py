"""A node killed with SIGKILL in the middle of writes opens cleanly, consistent, with every acknowledged write.

A child process (tests/node/_crash_child.py) writes people, interactions and notes through the Graph with
several writes in flight, printing each one only after it is acknowledged. We kill it at random moments, over
several rounds on the same file, and check the file after each kill.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from node.graph import Graph
from node.store.sqlite.db import Database
from node.store.sqlite.driver import sqlite
from node.store.sqlite.store import SqliteGraphStore
from tests.conftest import FixedClock

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 6


def _run_and_kill(path: Path, round_no: int, delay: float) -> list[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.node._crash_child", str(path), str(round_no)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    try:
        ready = proc.stdout.readline()
        assert ready.strip() == "READY", ready + (proc.stderr.read() if proc.stderr else "")
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, err
    # Only whole lines count as acknowledged: a line cut by the kill was being printed, not yet reported.
    return [line for line in out.split("\n")[:-1] if line]


def _check(path: Path, acked: list[str]) -> tuple[int, int]:
    conn = sqlite.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        conn.execute("INSERT INTO person_fts(person_fts) VALUES ('integrity-check')")
        people = {r[0] for r in conn.execute("SELECT id FROM person")}
        interactions = {r[0]: set() for r in conn.execute("SELECT id FROM interaction")}
        for iid, pid in conn.execute(
            "SELECT i.id, p.id FROM interaction_person ip JOIN interaction i ON i.pk = ip.interaction_pk "
            "JOIN person p ON p.pk = ip.person_pk"
        ):
            interactions[iid].add(pid)
        notes = {
            r[0]: r[1]
            for r in conn.execute("SELECT n.id, p.id FROM note n JOIN person p ON p.pk = n.person_pk")
        }
        for line in acked:
            kind, oid, *rest = line.split()
            if kind == "P":
                assert oid in people, line
            elif kind == "I":
                assert interactions.get(oid) == set(rest), line
            elif kind == "N":
                assert notes.get(oid) == rest[0], line
        # Search rows match people: one per person, none for people that are not there.
        assert (
            conn.execute(
                "SELECT count(*) FROM person p WHERE p.pk NOT IN (SELECT rowid FROM person_fts)"
            ).fetchone()[0]
            == 0
        )
        assert (
            conn.execute(
                "SELECT count(*) FROM person_fts WHERE rowid NOT IN (SELECT pk FROM person)"
            ).fetchone()[0]
            == 0
        )
        # Materialised statistics agree with the interaction rows.
        wrong = conn.execute(
            """SELECT p.id FROM person p WHERE p.interaction_count !=
                   (SELECT count(*) FROM interaction_person ip WHERE ip.person_pk = p.pk)
               OR coalesce(p.last_interaction_at, '') != coalesce((SELECT max(i.occurred_at)
                   FROM interaction_person ip JOIN interaction i ON i.pk = ip.interaction_pk
                   WHERE ip.person_pk = p.pk), '')"""
        ).fetchall()
        assert wrong == []
        # No interaction without people, no identity without its provenance row.
        assert (
            conn.execute(
                "SELECT count(*) FROM interaction WHERE pk NOT IN (SELECT interaction_pk FROM interaction_person)"
            ).fetchone()[0]
            == 0
        )
        assert (
            conn.execute(
                "SELECT count(*) FROM identity WHERE pk NOT IN (SELECT identity_pk FROM provenance)"
            ).fetchone()[0]
            == 0
        )
        return len(people), len(interactions)
    finally:
        conn.close()


@pytest.mark.timeout(300)
async def test_sigkill_loses_nothing_acknowledged(tmp_path: Path) -> None:
    path = tmp_path / "crash.sqlite3"
    db = await Database.open(path)  # created and migrated before the first child
    await db.close()
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    total_acked = 0
    for round_no in range(ROUNDS):
        acked = _run_and_kill(path, round_no, rng.uniform(0.3, 1.5))
        total_acked += len(acked)
        people, _ = _check(path, acked)
        assert people >= sum(1 for line in acked if line.startswith("P")), f"seed {seed}"
    assert total_acked > ROUNDS * 5, f"the child barely wrote anything (seed {seed})"
    # The node's own code opens the file after the last kill and keeps working on it.
    db = await Database.open(path)
    try:
        graph = Graph(SqliteGraphStore.of(db), FixedClock())
        assert (await graph.search("zebra")).items
        person = await graph.create_person({"display_name": "After the storm"})
        assert (await graph.get_person(person.id)).display_name == "After the storm"
    finally:
        await db.close()
