"""/api/openapi.json says what the owner API does (issue 12 §6).

- The document and the router agree, on the whole node as `kith serve` builds it (federation's owner routes
  and the import routes included), and every route is declared: a schema for every body, every status.
- The declaration is what checks requests: each class of bad request the document rules out (no body, an
  unknown field, a value of the wrong type, a wrong method) is refused with a JSON 4xx the document lists,
  and changes nothing.
- schemathesis, against a live node, finds every answer to every request it can derive from the document
  (valid ones and ones that break the schema on purpose) declared, with a body matching its schema, never 500.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from jsonschema import Draft202012Validator

from federation.fetch import FetchPolicy, GuardedClient
from node.app import build_app
from node.config import load_config
from node.context import AccountContext
from node.federation_wiring import setup_federation
from node.server import read_token
from node.web import setup_web
from tests.federation.helpers import ScriptedResolver

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}
MAX_EXAMPLES = 15  # per operation and phase: about a minute on an idle machine for all 80 operations
SEED = 20261122


def _offline_client() -> GuardedClient:
    """Federation's guarded client with a resolver that knows no host: nothing leaves the machine, and a
    route that looks an actor up answers its declared 502."""
    return GuardedClient(FetchPolicy(connect_timeout=2.0, total_timeout=5.0), resolver=ScriptedResolver({}))


@dataclass
class Node:
    app: web.Application
    base: str
    token: str
    session: aiohttp.ClientSession

    async def call(
        self, method: str, path: str, *, data: bytes | None = None, json_body: Any = None, **kw: Any
    ) -> tuple[int, str, Any]:
        headers = {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}
        async with self.session.request(
            method, self.base + path, data=data, json=json_body, headers=headers, **kw
        ) as resp:
            raw = await resp.read()
            body = json.loads(raw) if resp.content_type == "application/json" else raw.decode()
            return resp.status, resp.content_type, body


@pytest.fixture
async def node(data_dir: Path) -> AsyncIterator[Node]:
    """The whole node as `kith serve` builds it (keys, federation, web UI) on 127.0.0.1."""
    ctx = await AccountContext.open(load_config(data_dir, env={}))
    app = build_app(
        ctx.server, extensions=[setup_web, partial(setup_federation, client_factory=_offline_client)]
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        async with aiohttp.ClientSession() as session:
            yield Node(
                app=app, base=f"http://{host}:{port}", token=read_token(data_dir, "alice"), session=session
            )
    finally:
        await runner.cleanup()
        await ctx.close()


async def _document(node: Node) -> dict[str, Any]:
    status, _, doc = await node.call("GET", "/api/openapi.json", headers={"Authorization": ""})
    assert status == 200
    return dict(doc)


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, ops in doc["paths"].items() for m, op in ops.items() if m in HTTP_METHODS]


def _served(app: web.Application) -> set[tuple[str, str]]:
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if not path or not path.startswith("/api/") or "{tail" in path:  # the JSON 404/405 catch-all
            continue
        if route.method.lower() in HTTP_METHODS:
            found.add((route.method.lower(), path))
    return found


def _concrete(path: str, op: dict[str, Any] | None = None) -> str:
    """The path with ids that exist nowhere (or a value its schema allows, where it lists them or gives an
    example)."""
    enums = {
        p["name"]: (p["schema"].get("enum") or p["schema"]["examples"])[0]
        for p in (op or {}).get("parameters", [])
        if p["in"] == "path" and ("enum" in p["schema"] or "examples" in p["schema"])
    }
    return re.sub(r"\{([^}]+)\}", lambda m: enums.get(m.group(1), "x_missing"), path)


# -- the document ----------------------------------------------------------------------------------------------
async def test_document_matches_router(node: Node) -> None:
    doc = await _document(node)
    documented = {(m, p) for m, p, _ in _operations(doc)}
    served = _served(node.app)
    assert any(p.startswith("/api/federation/") for _, p in served), "federation's owner routes are served"
    assert any(p.startswith("/api/imports") for _, p in served), "the import routes are served"
    assert served - documented == set(), "served but not documented"
    assert documented - served == set(), "documented but not served"


async def test_every_operation_is_declared_with_schemas_and_statuses(node: Node) -> None:
    doc = await _document(node)
    Draft202012Validator.check_schema({"$defs": doc["components"]["schemas"]})
    op_ids = []
    for method, path, op in _operations(doc):
        where = f"{method.upper()} {path}"
        assert not op.get("x-undeclared"), f"{where} is served without a declaration (node.api.declare)"
        assert op["summary"], where
        op_ids.append(op["operationId"])
        names_in_path = set(re.findall(r"\{([^}]+)\}", path))
        assert {p["name"] for p in op["parameters"] if p["in"] == "path"} == names_in_path, where
        responses = op["responses"]
        successes = [int(s) for s in responses if s.startswith("2")]
        assert successes, f"{where} declares no success"
        for status, reply in responses.items():
            if status != "204":
                assert reply["content"]["application/json"]["schema"], f"{where} {status} has no schema"
            if status.startswith(("4", "5")):
                assert reply["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"
                }
        public = op.get("security") == []
        assert ("401" in responses) != public, where
        if "requestBody" in op:
            for media in op["requestBody"]["content"].values():
                assert media["schema"].get("type") == "object", where
            assert {"400", "413"} <= set(responses), f"{where} reads a body but declares no 400/413"
        if op["parameters"]:
            assert "400" in responses or all(
                p["in"] == "path" and p["schema"] == {"type": "string", "minLength": 1}
                for p in op["parameters"]
            ), where
    assert len(op_ids) == len(set(op_ids)), "operationId must be unique"


async def test_statuses_the_api_answers_are_declared(node: Node) -> None:
    """The answers the old document left out: 201, 204, 409 and 413, each seen for real and declared."""
    doc = await _document(node)

    def declared(method: str, path: str) -> set[int]:
        return {int(s) for s in doc["paths"][path][method]["responses"]}

    status, _, person = await node.call("POST", "/api/people", json_body={"display_name": "Ada"})
    assert status == 201 and 201 in declared("post", "/api/people")
    status, _, other = await node.call("POST", "/api/people", json_body={"display_name": "Bob"})
    pid = person["id"]
    status, _, _ = await node.call(
        "POST", f"/api/people/{pid}/identities", json_body={"uri": "acct:ada@example.social"}
    )
    assert status == 201
    status, _, body = await node.call(
        "POST", f"/api/people/{other['id']}/identities", json_body={"uri": "acct:ada@example.social"}
    )
    assert status == 409 and 409 in declared("post", "/api/people/{id}/identities"), body
    big = json.dumps({"display_name": "x" * (2 << 20)}).encode()
    status, kind, body = await node.call(
        "PATCH", f"/api/people/{pid}", data=big, headers={"Content-Type": "application/json"}
    )
    assert status == 413 and kind == "application/json" and body["error"]["status"] == 413
    assert 413 in declared("patch", "/api/people/{id}")
    status, _, _ = await node.call("DELETE", f"/api/people/{pid}")
    assert status == 204 and 204 in declared("delete", "/api/people/{id}")
    status, _, body = await node.call(
        "POST", "/api/federation/follow", json_body={"address": "bob@nowhere.test"}
    )
    assert status == 502 and status in declared("post", "/api/federation/follow"), body


# -- the declaration checks requests ---------------------------------------------------------------------------
async def test_a_required_body_left_out_is_refused_and_changes_nothing(node: Node) -> None:
    """PUT /api/card/disclosure with no body answered 200 and cleared every rule. Every route whose document
    says its body is required refuses a request without one."""
    status, _, saved = await node.call(
        "PUT", "/api/card", json_body={"name": "Alice", "email": ["a@example.org"]}
    )
    assert status == 200
    rules = {"name": ["*"], "email": ["friends"]}
    status, _, _ = await node.call("PUT", "/api/card/disclosure", json_body=rules)
    assert status == 200
    doc = await _document(node)
    required = [(m, p) for m, p, op in _operations(doc) if op.get("requestBody", {}).get("required")]
    assert ("put", "/api/card/disclosure") in required and len(required) > 20
    for method, path in required:
        where = _concrete(path, doc["paths"][path][method])
        for empty in (None, b""):  # no body at all, and an empty one that says it is JSON
            headers = {} if empty is None else {"Content-Type": "application/json"}
            status, kind, body = await node.call(method.upper(), where, data=empty, headers=headers)
            assert status == 400 and kind == "application/json", (method, path, status, body)
            assert "body" in body["error"]["message"]
    _, _, card = await node.call("GET", "/api/card")
    assert card["disclosure"] == rules and card["card"] == saved["card"]


async def test_unknown_and_mistyped_fields_are_refused_as_the_document_says(node: Node) -> None:
    """For every JSON body the document closes (additionalProperties false), an unknown field is a 400 that
    names it; a property sent with a value of a type its schema does not allow is a 400 that names it."""
    doc = await _document(node)
    schemas = doc["components"]["schemas"]
    checked = 0
    for method, path, op in _operations(doc):
        schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if not schema or schema.get("additionalProperties") is not False:
            continue
        where = _concrete(path, op)
        status, _, body = await node.call(method.upper(), where, json_body={"zz_unknown": 1})
        assert status == 400 and body["error"]["field"] == "zz_unknown", (method, path, body)
        assert "zz_unknown" in body["error"]["message"]
        for name, prop in schema["properties"].items():
            types = prop.get("type")
            if types is None or "object" in types:
                continue
            status, _, body = await node.call(method.upper(), where, json_body={name: {"a": 1}})
            assert status == 400 and body["error"]["field"] == name, (method, path, name, body)
            checked += 1
    assert checked > 40 and schemas


async def test_a_wrong_method_is_a_405_naming_the_right_ones(node: Node) -> None:
    for method, path, allowed in (
        ("PUT", "/api/people", "GET, POST"),
        ("GET", "/api/card/disclosure", "PUT"),
        ("DELETE", "/api/federation/follow", "POST"),
    ):
        async with node.session.request(
            method, node.base + path, headers={"Authorization": f"Bearer {node.token}"}
        ) as resp:
            body = await resp.json()
            assert resp.status == 405 and resp.headers["Allow"] == allowed, (method, path)
            assert body["error"]["status"] == 405 and allowed in body["error"]["message"]
    status, _, body = await node.call("GET", "/api/no-such-thing")
    assert status == 404 and body["error"]["status"] == 404


async def test_public_operations_match_what_needs_no_token(node: Node) -> None:
    doc = await _document(node)
    for method, path, op in _operations(doc):
        if "{" in path or method != "get":
            continue
        status, _, _ = await node.call("GET", path, headers={"Authorization": ""})
        assert (status != 401) == (op.get("security") == []), (path, status)


# -- schemathesis against a live node --------------------------------------------------------------------------
@pytest.mark.timeout(900)
async def test_schemathesis_finds_every_answer_declared(node: Node, tmp_path: Path) -> None:
    """schemathesis's command-line tool in a child process, against this node, with the owner token: all its
    checks (status and content type declared, body matching the schema, no server error, schema-breaking
    requests refused, valid ones accepted, auth enforced, 405 for undeclared methods), its phases (examples,
    boundary coverage, fuzzing, stateful), bounded in examples per operation and time per request.
    tests/node/schemathesis.toml names the few operations whose inputs have rules no schema can state."""
    argv = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(Path(__file__).with_name("schemathesis.toml")),
        "--no-color",
        "run",
        f"{node.base}/api/openapi.json",
        "--header",
        f"Authorization: Bearer {node.token}",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--output-truncate",
        "false",
        # Deleting the actor is for good: every later federation operation would answer 410. The route's
        # refusals are tested in tests/federation/test_interop_delete.py.
        "--exclude-operation-id",
        "federation_delete_actor",
    ]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    report = out.decode("utf-8", "replace")
    assert proc.returncode == 0, report
    # every operation, not a subset: all the document lists but the one excluded above and the document's own
    # (GET /api/openapi.json, which schemathesis leaves out of a run it loaded from that very address)
    operations = len(_operations(await _document(node))) - 2
    counts = [
        line.strip() for line in report.splitlines() if line.strip().startswith(("Selected:", "Tested:"))
    ]
    assert re.search(rf"Tested: {operations}\b", report), (operations, counts)  # pytest would cut the report
