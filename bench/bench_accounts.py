"""Accounts benchmark (the accounts issue): one server of 1,000 accounts of 100 people each plus one account of
100,000 people, beside a one-account node holding the same 100,000-person graph, both measured in this run by
bench_node's real `kith serve` process over loopback HTTP:

- start-up (process start to the first 200 from /api/health), idle RSS, open file descriptors and threads;
- search and due-list p50/p99 of the big account, which must be no worse on the crowded server.

    python bench/bench_accounts.py [--accounts 1000] [--people 100000] [--queries 400]

The 1,000 accounts share one key pair and copies of one 100-person graph (generating a thousand RSA keys and
graphs would measure the set-up, not the server). Output ends with one JSON line per metric, each with the
one-account figure of the same run as its baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

# KITH_BENCH_SMOKE=1 (tests/test_benchmarks.py): the smallest sizes, only to show it runs; figures meaningless
SMOKE = os.environ.get("KITH_BENCH_SMOKE") == "1"
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from node.keys import ActorKeys  # noqa: E402
from node.store.sqlite.accounts import SqliteAccounts  # noqa: E402
from node.store.sqlite.db import GRAPH_MIGRATIONS, SERVER_MIGRATIONS, Database  # noqa: E402


def _bench_node():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_node", ROOT / "bench" / "bench_node.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bn = _bench_node()


def kith(data: Path, *argv: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "node", "--data", str(data), *argv],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


async def add_small_accounts(data: Path, count: int, template: Path) -> None:
    pems = ActorKeys.generate().to_pems(None)
    db = await Database.open(data / "server.sqlite3", schema=SERVER_MIGRATIONS)
    try:
        accounts = SqliteAccounts(db)
        for i in range(count):
            name = f"user{i:04d}"
            graph = f"accounts/{name}.sqlite3"
            shutil.copyfile(template, data / graph)
            await accounts.create(
                name=name,
                type="Person",
                display_name=f"User {i}",
                graph_file=graph,
                token_sha256=None,
                keys=pems,
                now=datetime(2026, 12, 1, tzinfo=UTC),
            )
    finally:
        await db.close()


async def _empty_graph(path: Path) -> None:
    await (await Database.open(path, schema=GRAPH_MIGRATIONS)).close()


def make_template(path: Path, people: int) -> None:
    asyncio.run(_empty_graph(path))
    bn.generate(path, people)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=3 if SMOKE else 1000)
    parser.add_argument("--people", type=int, default=300 if SMOKE else 100_000)
    parser.add_argument(
        "--small", type=int, default=20 if SMOKE else 100, help="people in each of the many accounts"
    )
    parser.add_argument("--queries", type=int, default=10 if SMOKE else 400)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kith-bench-accounts-"))
    try:
        one = tmp / "one"
        kith(one, "init", "--username", "bench")
        took = bn.generate(one / "accounts" / "bench.sqlite3", args.people)
        print(f"one-account node: {args.people:,} people generated in {took:.1f} s")
        many = tmp / "many"
        shutil.copytree(one, many)
        template = tmp / "small.sqlite3"
        t0 = time.perf_counter()
        make_template(template, args.small)
        asyncio.run(add_small_accounts(many, args.accounts, template))
        files = len(list((many / "accounts").glob("*.sqlite3")))
        print(f"crowded server: {args.accounts:,} more accounts of {args.small} people in {time.perf_counter() - t0:.1f} s "
              f"({files} graph files)")  # fmt: skip
        base = asyncio.run(bn.measure(one, args.queries))
        crowd = asyncio.run(bn.measure(many, args.queries))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    metrics = [
        ("accounts_startup", "startup", "ms", 2000),
        ("accounts_idle_rss", "rss", "MB", 250),
        ("accounts_open_fds", "fds", "", None),
        ("accounts_threads", "threads", "", None),
        ("accounts_search_p50", "search_p50", "ms", None),
        ("accounts_search_p99", "search_p99", "ms", 20),
        ("accounts_due_p50", "due_p50", "ms", None),
        ("accounts_due_p99", "due_p99", "ms", 50),
    ]
    print(f"{'metric':<22} {'1,001 accounts':>15} {'one account':>12}  target")
    for name, key, unit, target in metrics:
        print(
            f"{name:<22} {crowd[key]:>12.2f} {unit:<2} {base[key]:>10.2f} {unit:<2}  {'' if target is None else f'< {target} {unit}'}"
        )
    for name, key, unit, target in metrics:
        print(json.dumps({"metric": name, "value": round(crowd[key], 2), "unit": unit, "target": target,
                          "baseline": round(base[key], 2), "baseline_of": "one-account node, same graph"}))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
