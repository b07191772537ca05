from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pyld import jsonld as pyld_jsonld

from protocol import _contexts, jsonld
from protocol.errors import CanonicalizationLimit, MalformedInput, TooLarge, UnknownContext

ROOT = Path(__file__).resolve().parents[2]


def test_generated_contexts_match_specs() -> None:
    # protocol/ never reads files, so the contexts live in a generated module; it must equal specs/contexts.
    index = json.loads((ROOT / "specs/contexts/index.json").read_text(encoding="utf-8"))
    assert list(_contexts.CONTEXT_TEXTS) == list(index)
    for iri, filename in index.items():
        assert _contexts.CONTEXT_TEXTS[iri] == (ROOT / "specs/contexts" / filename).read_text(
            encoding="utf-8"
        )
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts/gen_contexts.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_loader_serves_shipped_contexts_as_copies() -> None:
    first = jsonld.document_loader(jsonld.KITH_V1)
    first["document"]["@context"]["evil"] = "https://evil.example/"
    again = jsonld.document_loader(jsonld.KITH_V1)
    assert "evil" not in again["document"]["@context"]
    assert again["documentUrl"] == jsonld.KITH_V1


def test_loader_refuses_unknown_url_without_fetching() -> None:
    with pytest.raises(UnknownContext, match="never fetches"):
        jsonld.document_loader("https://evil.example/context.jsonld")


def test_unknown_context_surfaces_from_pyld() -> None:
    with pytest.raises(UnknownContext):
        jsonld.expand(
            {"@context": ["https://www.w3.org/ns/activitystreams", "https://x.example/c"], "name": "a"}
        )


def test_process_wide_pyld_cache_is_not_trusted() -> None:
    # Another library in the process may have resolved a context with pyld's default loader; our calls must
    # still refuse a URL we do not ship rather than pick it up from pyld's global cache.
    fake = "https://cached.example/ctx"

    def other_loader(url: str, options: object = None) -> dict[str, object]:
        return {
            "contextUrl": None,
            "documentUrl": url,
            "document": {"@context": {"x": "https://x/"}},
            "tag": "static",
        }

    pyld_jsonld.expand({"@context": fake, "x": 1}, {"documentLoader": other_loader})
    with pytest.raises(UnknownContext):
        jsonld.expand({"@context": fake, "x": 1})


def test_activitystreams_aliases() -> None:
    doc = {
        "@context": "http://www.w3.org/ns/activitystreams",
        "type": "Follow",
        "actor": "https://a.example/u",
    }
    expanded = jsonld.expand(doc)
    assert expanded[0]["@type"] == ["https://www.w3.org/ns/activitystreams#Follow"]


def test_strict_expansion_refuses_undefined_terms() -> None:
    doc = {"@context": jsonld.ACTIVITYSTREAMS, "type": "Note", "madeUp": "x"}
    assert jsonld.expand(doc)  # lenient by default: ActivityStreams keeps it under a blank-node IRI
    with pytest.raises(MalformedInput, match="madeUp"):
        jsonld.expand(doc, strict=True)


def test_compact_round_trip_with_kith_context() -> None:
    ctx = [jsonld.ACTIVITYSTREAMS, jsonld.DATA_INTEGRITY_V2, jsonld.KITH_V1]
    doc = {
        "@context": ctx,
        "type": "Relationship",
        "subject": "https://a.example/u",
        "mutual": True,
        "since": "2020-01-02",
    }
    expanded = jsonld.expand(doc, strict=True)
    assert expanded[0]["https://w3id.org/kith/ns#mutual"] == [
        {"@value": True, "@type": "http://www.w3.org/2001/XMLSchema#boolean"}
    ]
    compacted = jsonld.compact(expanded[0], ctx)
    assert compacted == doc


def test_shape_limits() -> None:
    deep: dict[str, object] = {}
    cursor = deep
    for _ in range(40):
        cursor["a"] = {}
        cursor = cursor["a"]  # type: ignore[assignment]
    with pytest.raises(TooLarge, match="nests deeper"):
        jsonld.check_shape(deep)
    with pytest.raises(TooLarge, match="more than"):
        jsonld.check_shape({"a": list(range(30_000))})


def test_parse_json_limits() -> None:
    with pytest.raises(TooLarge, match="over the"):
        jsonld.parse_json(b"{" + b" " * 2_000_000 + b"}")
    with pytest.raises(TooLarge):
        jsonld.parse_json(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(MalformedInput, match="JSON object"):
        jsonld.parse_json(b"[1, 2]")
    with pytest.raises(MalformedInput, match="not valid JSON"):
        jsonld.parse_json(b"{nope")
    assert jsonld.parse_json('{"a": 1}') == {"a": 1}


def test_rdfc_of_json_ld_stops_on_poisoned_graph() -> None:
    # The W3C clique poison graph written as JSON-LD: every blank node points at every other.
    nodes = [
        {"@id": f"_:n{i}", "http://example.com/p": [{"@id": f"_:n{j}"} for j in range(10)]} for i in range(10)
    ]
    with pytest.raises(CanonicalizationLimit, match="poisoned"):
        jsonld.canonicalize_rdfc({"@graph": nodes})


def test_rdfc_work_limit_is_honoured_exactly() -> None:
    nodes = [
        {"@id": f"_:n{i}", "http://example.com/p": [{"@id": f"_:n{j}"} for j in range(4)]} for i in range(4)
    ]
    assert jsonld.canonicalize_rdfc({"@graph": nodes}, max_work=10_000).count("_:c14n") == 32
    with pytest.raises(CanonicalizationLimit, match="after 3 steps"):
        jsonld.canonicalize_rdfc({"@graph": nodes}, max_work=3)
