"""specs/PROTOCOL.md is generated from its template and the code; its examples are real."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from protocol import jsonld, proofs
from protocol.serialize import from_jsonld

ROOT = Path(__file__).resolve().parents[2]
TEXT = (ROOT / "specs" / "PROTOCOL.md").read_text(encoding="utf-8")
EXAMPLES = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", TEXT, flags=re.S)]
KEYS = {
    "https://alice.example/users/alice": {
        "https://alice.example/users/alice#ed25519-key": "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
    },
    "https://bob.example/users/bob": {
        "https://bob.example/users/bob#ed25519-key": "z6Mkr2DSJZcA5rT8huQ7LvTnAkxpMPUowPbDmF7a5eHDZi3i"
    },
}


def test_protocol_md_is_generated_from_template_and_code() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protocol_md.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.get("type", "?"))
def test_examples_use_only_defined_terms(example: dict[str, Any]) -> None:
    assert jsonld.expand(example, strict=True)


@pytest.mark.parametrize("example", [e for e in EXAMPLES if e["type"] != "Person"], ids=lambda e: e["type"])
def test_examples_are_records_kith_reads(example: dict[str, Any]) -> None:
    assert from_jsonld(example)


def _relationships(value: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(value, dict):
        if value.get("type") == "Relationship":
            found.append(value)
        for item in value.values():
            found += _relationships(item)
    elif isinstance(value, list):
        for item in value:
            found += _relationships(item)
    return found


def test_signed_examples_verify() -> None:
    relationships = [r for example in EXAMPLES for r in _relationships(example)]
    assert len(relationships) == 3
    for record in relationships:
        signers = {p["verificationMethod"].split("#")[0] for p in proofs.proofs_of(record)}
        owners = [proofs.OwnerKeys.from_multikeys(actor, KEYS[actor]) for actor in sorted(signers)]
        assert proofs.verify_all(record, owners=owners)
