"""eddsa-jcs-2022 proofs on a typical relationship record, against the raw Ed25519 primitive.

Measures, on one core in one process: our sign (create_proof: JCS of record and proof configuration, two
SHA-256, Ed25519, multibase) and our verify (the full check a receiver runs: shape, contexts, owner key,
canonical forms, signature), each beside `cryptography`'s Ed25519 sign/verify of the same 64 bytes of hashData
measured in the same run. Target: our verification at least half the raw primitive's rate, i.e. canonical
forms and parsing must not dominate.

Run: python bench/bench_proofs.py [--seconds 2]
The last lines are one JSON object per metric: metric, value, unit, target, baseline, ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol import proofs
from protocol.records import Relationship
from protocol.serialize import to_jsonld

# KITH_BENCH_SMOKE=1 (tests/test_benchmarks.py): the smallest sizes, only to show it runs; figures meaningless
SMOKE = os.environ.get("KITH_BENCH_SMOKE") == "1"
ALICE = "https://alice.example/users/alice"
BOB = "https://bob.example/users/bob"
NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


def rate(func: Callable[[], object], seconds: float) -> float:
    """Calls per second, after a short warm-up, over at least ``seconds``."""
    for _ in range(50):
        func()
    calls = 0
    batch = 100
    start = time.perf_counter()
    while True:
        for _ in range(batch):
            func()
        calls += batch
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return calls / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=0.05 if SMOKE else 2.0, help="time per measurement (default 2)"
    )
    args = parser.parse_args()

    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    method = ALICE + "#ed25519-key"
    record = to_jsonld(
        Relationship(
            id=ALICE + "/relationships/7f3a",
            relationship_type="colleague",
            subject=ALICE,
            object=BOB,
            mutual=True,
            since=date(2019, 5, 1),
            how_we_met="At the 2019 mapping conference in Lyon, over a shared interest in old survey maps",
        )
    )
    signed = proofs.sign(record, private_key=key, verification_method=method, created=NOW)
    owner = proofs.OwnerKeys(owner=ALICE, keys={method: public})
    proof = signed["proof"]
    config = {k: v for k, v in proof.items() if k != "proofValue"}
    hash_data = proofs.hash_data(
        proofs.canonical_proof_config(config, cryptosuite=proofs.EDDSA_JCS_2022),
        proofs.canonical_document(record, cryptosuite=proofs.EDDSA_JCS_2022),
    )
    signature = key.sign(hash_data)
    assert proofs.verify(signed, owner=owner, now=NOW)

    measured = {
        "raw_sign": rate(lambda: key.sign(hash_data), args.seconds),
        "raw_verify": rate(lambda: public.verify(signature, hash_data), args.seconds),
        "jcs_sign": rate(
            lambda: proofs.create_proof(record, private_key=key, verification_method=method, created=NOW),
            args.seconds,
        ),
        "jcs_verify": rate(lambda: proofs.verify(signed, owner=owner, now=NOW), args.seconds),
    }
    print(
        f"record: {len(json.dumps(signed))} bytes signed; hashData over JCS of record and proof configuration"
    )
    for name, value in measured.items():
        print(f"  {name:<11} {value:>10,.0f} /s")
    results = [
        ("eddsa_jcs_2022_sign", measured["jcs_sign"], measured["raw_sign"], None),
        ("eddsa_jcs_2022_verify", measured["jcs_verify"], measured["raw_verify"], 0.5),
    ]
    for metric, value, baseline, target in results:
        line = {
            "metric": metric,
            "value": round(value, 1),
            "unit": "ops/s",
            "target": f">= {target} x raw Ed25519" if target is not None else "none (reported)",
            "baseline": round(baseline, 1),
            "ratio": round(value / baseline, 3),
        }
        print(json.dumps(line))


if __name__ == "__main__":
    main()
