"""Plain parsing speed of the two big imports: a 30,000-row LinkedIn Connections.csv and a 50,000-entry X
following.js, generated into a temporary folder. The node-side half (import into a node of 100,000 people)
is measured by the importer's own bench; this one is the parse baseline printed beside it.

Run: python bench/bench_parse.py [--rows 30000] [--follows 50000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bridges.base import ContactDraft
from bridges.linkedin import LinkedInBridge
from bridges.x import XBridge

# KITH_BENCH_SMOKE=1 (tests/test_benchmarks.py): the smallest sizes, only to show it runs; figures meaningless
SMOKE = os.environ.get("KITH_BENCH_SMOKE") == "1"
PREAMBLE = (
    'Notes:\r\n"When exporting your connection data, you may notice that some emails are missing."\r\n\r\n'
)


def write_connections(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(PREAMBLE + "First Name,Last Name,URL,Email Address,Company,Position,Connected On\r\n")
        for i in range(rows):
            email = f"person{i}@example.com" if i % 10 == 0 else ""
            f.write(
                f"First{i},Last{i},https://www.linkedin.com/in/person-{i:06d},{email},"
                f'Company {i % 500},"Engineer, level {i % 7}",{1 + i % 28:02d} Feb 2024\r\n'
            )


def write_following(path: Path, entries: int) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write("window.YTD.following.part0 = [\n")
        for i in range(entries):
            account = 10_000_000 + i
            sep = ",\n" if i < entries - 1 else "\n"
            link = f"https://twitter.com/intent/user?user_id={account}"
            f.write(
                f'  {{\n    "following" : {{\n      "accountId" : "{account}",\n'
                f'      "userLink" : "{link}"\n    }}\n  }}{sep}'
            )
        f.write("]\n")


def measure(parse: object, path: Path) -> tuple[int, float]:
    start = time.perf_counter()
    count = sum(1 for item in parse(path) if isinstance(item, ContactDraft))  # type: ignore[operator]
    return count, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=300 if SMOKE else 30_000)
    ap.add_argument("--follows", type=int, default=300 if SMOKE else 50_000)
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        connections = Path(tmp) / "Connections.csv"
        write_connections(connections, args.rows)
        archive = Path(tmp) / "archive" / "data"
        archive.mkdir(parents=True)
        write_following(archive / "following.js", args.follows)
        for metric, parse, path, expected in (
            ("linkedin_connections_parse", LinkedInBridge().parse_export, connections, args.rows),
            ("x_following_parse", XBridge().parse_export, archive.parent, args.follows),
        ):
            count, seconds = measure(parse, path)
            assert count == expected, (metric, count, expected)
            rate = count / seconds
            print(f"{metric}: {count} rows in {seconds:.2f} s = {rate:,.0f} rows/s")
            results.append({"metric": metric, "value": round(rate), "unit": "rows/s", "target": 25000})
    for r in results:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
