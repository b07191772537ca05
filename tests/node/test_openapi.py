"""/api/openapi.json stays in step with the router: every /api route the running app serves (including those
other packages add) is in the document, and every operation in the document is served."""

from __future__ import annotations

import re

from aiohttp import web

from tests.conftest import Api

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def _served(app: web.Application) -> set[tuple[str, str]]:
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if not path or not path.startswith("/api/"):
            continue
        if path == "/api/{tail}" or "{tail" in path:  # the JSON 404 catch-all
            continue
        method = route.method.lower()
        if method == "head":  # aiohttp adds HEAD beside GET
            continue
        found.add((method, path))
    return found


async def test_document_matches_router(api: Api, app_runner: tuple[web.Application, str]) -> None:
    app, _ = app_runner
    status, doc = await api.get("/api/openapi.json", token=None)
    assert status == 200
    documented = {
        (method, path) for path, ops in doc["paths"].items() for method in ops if method in HTTP_METHODS
    }
    served = _served(app)
    assert served, "the router has no /api routes?"
    assert served - documented == set(), "served but not documented"
    assert documented - served == set(), "documented but not served"


async def test_operations_are_well_formed(api: Api) -> None:
    _, doc = await api.get("/api/openapi.json", token=None)
    assert doc["openapi"].startswith("3.")
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    op_ids = []
    for path, ops in doc["paths"].items():
        names_in_path = set(re.findall(r"\{([^}]+)\}", path))
        for method, op in ops.items():
            assert op["summary"], (method, path)
            op_ids.append(op["operationId"])
            path_params = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert path_params == names_in_path, (method, path)
            assert all(p["required"] for p in op["parameters"] if p["in"] == "path")
            assert "401" in op["responses"] and "200" in op["responses"]
    assert len(op_ids) == len(set(op_ids)), "operationId must be unique"


async def test_public_operations_match_what_needs_no_token(api: Api) -> None:
    _, doc = await api.get("/api/openapi.json", token=None)
    for path, ops in doc["paths"].items():
        if "{" in path:
            continue
        for method, op in ops.items():
            if method != "get":
                continue
            status, _ = await api.call("GET", path, token=None)
            public = op.get("security") == []
            assert (status != 401) == public, (path, status)
