"""Every benchmark under bench/ still starts and prints its figures: each ``bench/bench_*.py`` runs in a
subprocess at its smallest sizes (``KITH_BENCH_SMOKE=1``, which each one reads). Only the exit status and the
figures' presence are checked, never a time: speed is bench/'s business, beside its baselines.

The benchmarks run side by side (as many at once as the machine has cores), once for the module, so that the
whole check stays within about a minute; each benchmark is then its own test, with its output on failure.
Those needing dovecot or PostgreSQL are skipped as their tests are (failed under CI=true) when it is missing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = sorted(p.name for p in (ROOT / "bench").glob("bench_*.py"))
TIMEOUT = 300.0  # seconds for one benchmark at its smallest: far above what any takes, only against a hang
WORKERS = max(2, os.cpu_count() or 2)
#: pytest-timeout counts a fixture's setup against the first test that asks for it, and the module's fixture
#: runs every benchmark: its bound is the pool's worst case (each run is bounded by TIMEOUT), not one test's
POOL_TIMEOUT = TIMEOUT * -(-len(BENCHMARKS) // WORKERS) + 60


@dataclass(frozen=True)
class Run:
    returncode: int | None  # None: it did not finish within TIMEOUT
    stdout: str
    output: str  # stdout, then stderr
    seconds: float


def _missing(name: str) -> str | None:
    """Why this benchmark cannot run on this machine (what to install), or None."""
    if name == "bench_capture.py":
        from tests.capture.servers import need

        try:
            need("dovecot", "apt-get install dovecot-imapd")
        except pytest.skip.Exception as exc:
            return str(exc)
    if name.startswith("bench_pg_"):
        from tests.support import pgcluster

        missing = pgcluster.missing_packages()
        if missing:
            return f"PostgreSQL is not installed here: run `apt-get install {' '.join(missing)}`"
    return None


def _run(name: str) -> Run:
    env = {**os.environ, "KITH_BENCH_SMOKE": "1", "PYTHONPATH": str(ROOT)}
    start = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, str(ROOT / "bench" / name)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        return Run(None, out, out, time.monotonic() - start)
    return Run(done.returncode, done.stdout, done.stdout + done.stderr, time.monotonic() - start)


@pytest.fixture(scope="module")
def runs() -> dict[str, Run | str]:
    """Each benchmark's run, or why it was not run."""
    out: dict[str, Run | str] = {}
    todo = []
    for name in BENCHMARKS:
        why = _missing(name)
        if why is None:
            todo.append(name)
        else:
            out[name] = why
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        out.update(zip(todo, pool.map(_run, todo), strict=True))
    return out


#: a figure in a printed table: a number and its unit ("0.11 s", "9,250 rows/s", "12.5 ms")
_TABLE_FIGURE = re.compile(r"\d[\d,.]* *(?:s|ms|MB|[a-z]+/s)\b")


def _figures(stdout: str) -> list[object]:
    """The figures the benchmark printed: its JSON objects, one a line, or else the lines of its table."""
    found: list[object] = []
    for line in stdout.splitlines():
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict) and value:
                found.append(value)
    return found or [line for line in stdout.splitlines() if _TABLE_FIGURE.search(line)]


def test_every_benchmark_is_covered() -> None:
    assert BENCHMARKS, "no bench/bench_*.py found"
    assert "bench_fanout.py" in BENCHMARKS and "bench_inbox.py" in BENCHMARKS


@pytest.mark.timeout(POOL_TIMEOUT)
@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_runs_and_prints_its_figures(runs: dict[str, Run | str], name: str) -> None:
    run = runs[name]
    if isinstance(run, str):
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true, so {name} must run, but: {run}", pytrace=False)
        pytest.skip(f"{name}: {run}")
    tail = run.output[-4000:]
    assert run.returncode is not None, f"{name} did not finish in {TIMEOUT:.0f} s:\n{tail}"
    assert run.returncode == 0, f"{name} exited {run.returncode}:\n{tail}"
    assert _figures(run.stdout), f"{name} printed no figures (JSON objects, or a table of them):\n{tail}"
