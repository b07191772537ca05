"""Import speed on PostgreSQL beside SQLite's, in the same run (issue #14): a generated LinkedIn Connections.csv
imported through node.importer.Importer into a graph that already holds 100,000 people, on each engine.

The 100,000-person graph is bench_import.py's (a LinkedIn slug each, an e-mail for every tenth, an X id for
every fifth, with provenance and search rows), built with bulk SQL on each engine: SQLite's by bench_import's
build_graph, PostgreSQL's by COPY into a template database that every run copies. A tenth of the CSV's rows
name people the graph already holds, so resolution attaches as well as creates. On PostgreSQL the importer
writes with COPY and unnest (node/store/postgres/imports.py); each engine's figure is the best of --repeat runs,
each into a fresh copy of the graph, and the engines alternate, because other work on this shared machine
slows whichever runs beside it.

Run from the repository root: python bench/bench_pg_import.py [--people 100000] [--rows 30000] [--repeat 3].
It starts a throw-away cluster (tests/support/pgcluster.py: fsync off, so the figures are CPU, not the disk's)
unless KITH_TEST_POSTGRES_URL names a server whose user may create databases. Last lines: one JSON object per
metric.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import psycopg  # noqa: E402
from bench_import import NOW, build_graph, write_connections  # noqa: E402

from bridges.linkedin import LinkedInBridge  # noqa: E402
from node.importer import Importer  # noqa: E402
from node.store.postgres.db import GRAPH_MIGRATIONS, PgDatabase  # noqa: E402
from node.store.postgres.store import PgGraphStore  # noqa: E402
from node.store.sqlite.db import Database  # noqa: E402
from node.store.sqlite.store import SqliteGraphStore  # noqa: E402
from tests.support import pgcluster  # noqa: E402

SCHEMA = "g_bench"

# KITH_BENCH_SMOKE=1 (tests/test_benchmarks.py): the smallest sizes, only to show it runs; figures meaningless
SMOKE = os.environ.get("KITH_BENCH_SMOKE") == "1"


def _copy_rows(conn: psycopg.Connection[Any], target: str, rows: Any) -> None:
    with conn.cursor() as cur, cur.copy(f"COPY {target} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def build_pg_graph(url: str, people: int) -> None:
    """bench_import's graph on PostgreSQL, by COPY (the schema made first by the store's own migrations)."""
    idents: list[tuple[int, int, str, str, str]] = []
    for i in range(1, people + 1):
        idents.append((len(idents) + 1, i, f"https://www.linkedin.com/in/old-{i:06d}", "linkedin",
                       f"linkedin.com/in/old-{i:06d}"))  # fmt: skip
        if i % 10 == 0:
            idents.append((len(idents) + 1, i, f"mailto:old{i}@example.com", "email", f"old{i}@example.com"))
        if i % 5 == 0:
            idents.append((len(idents) + 1, i, f"https://x.com/i/user/{i}", "x", f"x.com/i/user/{i}"))
    with psycopg.connect(url) as conn:
        conn.execute(f"SET search_path TO {SCHEMA}, public")
        _copy_rows(
            conn,
            "person (pk, id, display_name, given_name, family_name, created_at, updated_at)",
            (
                (i, f"p_bench{i}", f"Old{i} Person{i}", f"Old{i}", f"Person{i}", NOW, NOW)
                for i in range(1, people + 1)
            ),
        )
        _copy_rows(
            conn,
            "identity (pk, person_pk, uri, kind, display, verification, created_at, updated_at)",
            ((*r, "claimed", NOW, NOW) for r in idents),
        )
        _copy_rows(
            conn,
            "provenance (identity_pk, source, source_record_id, seen_at)",
            ((r[0], "bench", str(r[1]), NOW) for r in idents),
        )
        _copy_rows(
            conn,
            "person_fts (pk, names, organization, identities, notes)",
            ((i, f"Old{i} Person{i}", "", f"linkedin.com/in/old-{i:06d}", "") for i in range(1, people + 1)),
        )
        for table in ("person", "identity"):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'pk'), (SELECT max(pk) FROM {table}))"
            )
        conn.commit()
        conn.execute("ANALYZE")


def _fresh_copy(base: Path, target: Path) -> Path:
    for old in target.parent.glob(target.name + "*"):
        old.unlink()
    shutil.copyfile(base, target)
    return target


async def import_sqlite(db_path: Path, csv: Path) -> tuple[int, float]:
    db = await Database.open(db_path)
    try:
        start = time.perf_counter()
        summary = await Importer(SqliteGraphStore.of(db)).run(LinkedInBridge(), csv)
        return summary.rows, summary.rows / (time.perf_counter() - start)
    finally:
        await db.close()


async def import_pg(url: str, csv: Path, folder: Path) -> tuple[int, float]:
    db = await PgDatabase.open(url, schema=SCHEMA, migrations=GRAPH_MIGRATIONS)
    try:
        start = time.perf_counter()
        summary = await Importer(PgGraphStore.of(db, imports_folder=folder)).run(LinkedInBridge(), csv)
        return summary.rows, summary.rows / (time.perf_counter() - start)
    finally:
        await db.close()


async def run(args: argparse.Namespace, admin: str, template: str) -> list[dict[str, object]]:
    base_db = f"bench_pg_import_{os.getpid()}"
    server = admin.rsplit("/", 1)[0]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{base_db}" TEMPLATE "{template}"')
    made = [base_db]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            base = folder / "base.sqlite3"
            await (await Database.open(base)).close()  # the schema, by the node's own migrations
            started = time.perf_counter()
            build_graph(base, args.people)
            sqlite_built = time.perf_counter() - started
            await (
                await PgDatabase.open(f"{server}/{base_db}", schema=SCHEMA, migrations=GRAPH_MIGRATIONS)
            ).close()
            started = time.perf_counter()
            build_pg_graph(f"{server}/{base_db}", args.people)
            print(
                f"graph of {args.people:,} people built: SQLite {sqlite_built:.1f} s, PostgreSQL "
                f"{time.perf_counter() - started:.1f} s",
                file=sys.stderr,
            )
            csv = folder / "Connections.csv"
            write_connections(csv, args.rows, args.people)
            rates: dict[str, list[float]] = {"sqlite": [], "postgres": []}
            rows = 0
            for n in range(args.repeat):
                rows, rate = await import_sqlite(_fresh_copy(base, folder / "run.sqlite3"), csv)
                rates["sqlite"].append(rate)
                run_db = f"{base_db}_r{n}"
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{run_db}" TEMPLATE "{base_db}"')
                made.append(run_db)
                rows, rate = await import_pg(f"{server}/{run_db}", csv, folder / "imports")
                rates["postgres"].append(rate)
                print(
                    f"run {n + 1}: SQLite {rates['sqlite'][-1]:,.0f} rows/s, PostgreSQL {rate:,.0f} rows/s",
                    file=sys.stderr,
                )
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in made:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    sqlite_best, pg_best = max(rates["sqlite"]), max(rates["postgres"])
    print(
        f"LinkedIn import of {rows:,} rows into {args.people:,} people, best of {args.repeat}: SQLite "
        f"{sqlite_best:,.0f} rows/s, PostgreSQL {pg_best:,.0f} rows/s (PostgreSQL/SQLite {pg_best / sqlite_best:.2f})",
        file=sys.stderr,
    )
    return [
        {"metric": "sqlite_linkedin_import", "value": round(sqlite_best), "unit": "rows/s", "target": None},
        {
            "metric": "pg_linkedin_import",
            "value": round(pg_best),
            "unit": "rows/s",
            "target": None,
            "baseline": round(sqlite_best),
            "ratio": round(pg_best / sqlite_best, 3),
        },
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", type=int, default=300 if SMOKE else 100_000)
    ap.add_argument("--rows", type=int, default=100 if SMOKE else 30_000)
    ap.add_argument(
        "--repeat", type=int, default=1 if SMOKE else 3, help="runs on each engine; the best is reported"
    )
    args = ap.parse_args()
    external = os.environ.get("KITH_TEST_POSTGRES_URL")
    cluster = None
    if external:
        admin, template = external, pgcluster.TEMPLATE
    else:
        cluster = pgcluster.start()
        admin, template = cluster.info.admin_url, cluster.info.template
    try:
        results = asyncio.run(run(args, admin, template))
    finally:
        if cluster is not None:
            cluster.stop()
    for r in results:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
