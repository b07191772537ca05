"""Restore speed: a node made by importing a LinkedIn export of N connections (people, identities, provenance,
source records) is exported, then its document is checked value by value (node/restore.py) and restored into an
empty node. Printed beside the baseline from the same run: encoding and decoding the same document as JSON,
which any restore has to do.

Run: python bench/bench_restore.py [--rows 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_parse import write_connections

from bridges.linkedin import LinkedInBridge
from node.graph import Graph
from node.importer import Importer
from node.restore import check_document
from node.store.sqlite.db import Database
from node.store.sqlite.store import SqliteGraphStore

# KITH_BENCH_SMOKE=1 (tests/test_benchmarks.py): the smallest sizes, only to show it runs; figures meaningless
SMOKE = os.environ.get("KITH_BENCH_SMOKE") == "1"


async def run(rows: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        csv = tmp / "Connections.csv"
        write_connections(csv, rows)
        source = await Database.open(tmp / "source.sqlite3")
        target = await Database.open(tmp / "target.sqlite3")
        try:
            graph = Graph(SqliteGraphStore.of(source))
            await Importer(graph.store).run(LinkedInBridge(), csv)
            doc = await graph.export_json()
            values = sum(len(spec["rows"]) * len(spec["columns"]) for spec in doc["tables"].values())
            table_rows = sum(len(spec["rows"]) for spec in doc["tables"].values())

            start = time.perf_counter()
            json.loads(json.dumps(doc))
            baseline = time.perf_counter() - start

            empty = Graph(SqliteGraphStore.of(target))
            start = time.perf_counter()
            check_document(doc, empty, empty.clock())
            checked = time.perf_counter() - start

            start = time.perf_counter()
            await empty.import_json(doc)
            restored = time.perf_counter() - start
        finally:
            await source.close()
            await target.close()
    print(f"document: {rows:,} people, {table_rows:,} rows, {values:,} values")
    print(f"  JSON encode + decode (baseline)  {baseline:6.2f} s  {table_rows / baseline:>10,.0f} rows/s")
    print(f"  check every value                {checked:6.2f} s  {table_rows / checked:>10,.0f} rows/s")
    print(f"  restore (check, then write)      {restored:6.2f} s  {table_rows / restored:>10,.0f} rows/s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--rows", type=int, default=200 if SMOKE else 20_000, help="LinkedIn connections imported first"
    )
    asyncio.run(run(ap.parse_args().rows))


if __name__ == "__main__":
    main()
