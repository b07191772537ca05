"""How long the owner API's request check (node/api_schema.py Validator, jsonschema-rs) holds the event loop for
the largest body a node accepts, beside the pure-Python jsonschema on the same schema and body as the baseline.

The body is a POST /api/import/json document of about 1 MiB (server.max_body_bytes), checked against the schema
the route declares: once valid, once with its last cell out of range (the invalid path also writes the message).

Run: python bench/bench_api_validation.py [--rows 9000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from node.api_bodies import EXPORT_DOC
from node.api_schema import Validator
from node.errors import BadInput

# KITH_BENCH_SMOKE=1 (tests/test_benchmarks.py): the smallest sizes, only to show it runs; figures meaningless
SMOKE = os.environ.get("KITH_BENCH_SMOKE") == "1"


def document(rows: int, *, bad: bool) -> dict[str, Any]:
    table = [
        [f"p_{i:016d}", f"Person {i}", None, i % 4, 0.5, "2026-11-22T12:00:00Z", "note " * 4]
        for i in range(rows)
    ]
    if bad:
        table[-1][3] = 2**70
    columns = ["id", "display_name", "nickname", "priority", "strength", "created_at", "title"]
    return {"format": "kith-export", "version": 1, "tables": {"person": {"columns": columns, "rows": table}}}


def timed(check: Any, doc: dict[str, Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            check(doc)
        except BadInput:  # the invalid body, as the API refuses it
            pass
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100 if SMOKE else 9000)
    parser.add_argument("--repeat", type=int, default=1 if SMOKE else 5)
    args = parser.parse_args()
    ours = Validator(EXPORT_DOC)
    try:
        import jsonschema
    except ImportError:
        jsonschema = None
    baseline = jsonschema.Draft202012Validator(EXPORT_DOC) if jsonschema else None
    for bad in (False, True):
        doc = document(args.rows, bad=bad)
        size = len(json.dumps(doc).encode())
        label = "invalid" if bad else "valid"
        results = {
            "body_bytes": size,
            "case": label,
            "jsonschema_rs_s": round(timed(ours.check, doc, args.repeat), 4),
        }
        if baseline is not None:
            results["python_jsonschema_s"] = round(timed(baseline.is_valid, doc, 1), 4)
        print(json.dumps(results))


if __name__ == "__main__":
    main()
