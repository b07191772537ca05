"""NodeInfo 2.0 and 2.1 (issue 19): a server that asks for 2.0 only finds it, and each version's document
validates against that version's published schema (specs/test-vectors/nodeinfo/, run from discovery.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from jsonschema import Draft4Validator

from federation.routes import nodeinfo_document

from .interop import dev_server, kith_node
from .nodes import FakeClock

FOLDER = Path(__file__).resolve().parents[2] / "specs" / "test-vectors" / "nodeinfo"
DISCOVERY = json.loads((FOLDER / "discovery.json").read_text(encoding="utf-8"))
VERSIONS = {v["version"]: v for v in DISCOVERY["versions"]}


def validator(version: str) -> Draft4Validator:
    schema = json.loads((FOLDER / VERSIONS[version]["schema"]).read_text(encoding="utf-8"))
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema)


def errors(version: str, doc: dict[str, Any]) -> list[str]:
    return [e.message for e in validator(version).iter_errors(doc)]


async def test_a_server_that_knows_only_nodeinfo_2_0(tmp_path: Path) -> None:
    clock = FakeClock()
    async with kith_node(tmp_path, "alice", clock) as node, dev_server(clock) as peer:
        content_type, doc = await peer.nodeinfo_2_0(node.base)
        assert peer.nodeinfo_requests == [node.base + VERSIONS["2.0"]["href"]]
        assert content_type == VERSIONS["2.0"]["content_type"]
        assert errors("2.0", doc) == []
        assert doc["version"] == "2.0" and doc["software"]["name"] == "kith"
        assert "https://w3id.org/kith/protocol/v1" in doc["metadata"]["implements"]


async def test_discovery_vector(tmp_path: Path) -> None:
    clock = FakeClock()
    async with kith_node(tmp_path, "alice", clock) as node, aiohttp.ClientSession() as http:
        async with http.get(node.base + DISCOVERY["well_known"]) as r:
            assert r.status == 200
            links = (await r.json(content_type=None))["links"]
        assert [(link["rel"], link["href"]) for link in links] == [
            (v["rel"], node.base + v["href"]) for v in DISCOVERY["versions"]
        ]
        for version, expected in VERSIONS.items():
            async with http.get(node.base + expected["href"]) as r:
                assert r.status == 200
                assert r.headers["Content-Type"] == expected["content_type"]
                doc = await r.json(content_type=None)
            assert errors(version, doc) == [], version
            assert doc["version"] == version
        for path in DISCOVERY["not_served"]:
            async with http.get(node.base + path) as r:
                assert r.status == 404, path


@pytest.mark.parametrize("version", sorted(VERSIONS))
@pytest.mark.parametrize("users", [0, 1])
def test_each_document_keeps_to_its_own_schema(version: str, users: int) -> None:
    doc = nodeinfo_document(version, node_name="Alice's node", users=users)
    assert errors(version, doc) == []
    if version == "2.0":  # 2.1 only adds fields: a 2.0 document is a valid 2.1 one under its number
        assert errors("2.1", doc | {"version": "2.1"}) == []
    else:  # but not the other way round, which is why each version has its own document
        assert any("repository" in e for e in errors("2.0", doc | {"version": "2.0"}))
