"""The owner API through a real aiohttp server on 127.0.0.1: every route, auth, error statuses and bodies."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from node.api import ROUTES
from node.store.sqlite.driver import sqlite
from tests.conftest import Api, FixedClock

ROOT = Path(__file__).resolve().parents[2]


def _error(body: Any, status: int) -> dict[str, Any]:
    assert isinstance(body, dict) and set(body) == {"error"}, body
    err = body["error"]
    assert err["status"] == status and isinstance(err["message"], str) and err["message"]
    return dict(err)


# -- auth ---------------------------------------------------------------------------------------------------------
def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x_missing", path)


async def test_every_private_route_needs_the_token(api: Api) -> None:
    private = [r for r in ROUTES if not r.public]
    assert len(private) > 30
    for r in private:
        for token in (None, "wrong", api.token + "x", ""):
            status, body = await api.call(r.method, _concrete(r.path), token=token, json={})
            assert status == 401, (r.method, r.path, token)
            assert "token" in _error(body, 401)["message"]
    # Other schemes and a bare token are refused too.
    for header in (f"Basic {api.token}", api.token, f"Bearer  {api.token} trailing"):
        status, _ = await api.call("GET", "/api/people", token=None, headers={"Authorization": header})
        assert status == 401, header
    status, _ = await api.call(
        "GET", "/api/people", token=None, headers={"Authorization": f"bearer {api.token}"}
    )
    assert status == 200


async def test_public_routes(api: Api) -> None:
    assert await api.get("/api/health", token=None) == (200, {"status": "ok"})
    status, doc = await api.get("/api/openapi.json", token=None)
    assert status == 200 and doc["openapi"].startswith("3.")


async def test_every_route_answers_json_never_500(api: Api) -> None:
    """Each route, given ids that do not exist and an empty body, answers a JSON 4xx (or 2xx), never 500."""
    for r in ROUTES:
        status, body = await api.call(r.method, _concrete(r.path), json={})
        assert status < 500, (r.method, r.path, body)
        if status >= 400:
            _error(body, status)


# -- people ---------------------------------------------------------------------------------------------------
async def test_people_crud(api: Api) -> None:
    status, p = await api.post(
        "/api/people",
        {
            "display_name": "Ada",
            "identities": ["@ada@math.example", {"uri": "ada@x.example", "label": "work"}],
            "organization": "Engines",
        },
    )
    assert status == 201
    assert p["id"].startswith("p_") and p["display_name"] == "Ada"
    assert [(i["uri"], i["source"], i["verification"]) for i in p["identities"]] == [
        ("acct:ada@math.example", "owner", "claimed"),
        ("mailto:ada@x.example", "owner", "claimed"),
    ]
    pid = p["id"]
    assert await api.get(f"/api/people/{pid}") == (200, p)
    status, upd = await api.patch(f"/api/people/{pid}", {"title": "Analyst", "priority": 2})
    assert status == 200 and upd["title"] == "Analyst" and upd["priority"] == 2
    status, arch = await api.post(f"/api/people/{pid}/archive")
    assert status == 200 and arch["status"] == "archived"
    status, page = await api.get("/api/people", params={"status": "archived"})
    assert [x["id"] for x in page["items"]] == [pid]
    status, back = await api.post(f"/api/people/{pid}/unarchive")
    assert back["status"] == "active"
    assert (await api.delete(f"/api/people/{pid}"))[0] == 204
    status, body = await api.get(f"/api/people/{pid}")
    assert status == 404
    _error(body, 404)


async def test_identities_routes(api: Api) -> None:
    a = await api.person("A", "acct:a@ex.org")
    b = await api.person("B")
    status, p = await api.post(
        f"/api/people/{b['id']}/identities", {"uri": "https://X.com/BeeBee", "verification": "two-way"}
    )
    assert status == 201 and p["identities"][0]["uri"] == "https://x.com/beebee"
    assert p["identities"][0]["verification"] == "two-way"
    status, body = await api.post(f"/api/people/{b['id']}/identities", {"uri": "acct:A@EX.org"})
    assert status == 409
    err = _error(body, 409)
    assert err["field"] == "uri" and a["id"] in err["message"]
    status, body = await api.post(f"/api/people/{b['id']}/identities", {"uri": "no such thing"})
    assert status == 400 and _error(body, 400)["field"] == "uri"
    status, body = await api.post(
        f"/api/people/{b['id']}/identities", {"uri": "acct:z@ex.org", "verification": "x"}
    )
    assert status == 400 and _error(body, 400)["field"] == "verification"
    status, p = await api.delete(f"/api/people/{b['id']}/identities", params={"uri": "https://x.com/beebee"})
    assert status == 200 and p["identities"] == []
    status, body = await api.delete(f"/api/people/{b['id']}/identities")
    assert status == 400 and _error(body, 400)["field"] == "uri"


async def test_relationships_notes_circles_cadence(api: Api) -> None:
    a = await api.person("A")
    b = await api.person("B")
    status, rel = await api.post(
        f"/api/people/{a['id']}/relationships",
        {"type": "mentor", "other_person_id": b["id"], "since": "2020-01-01"},
    )
    assert status == 201 and rel["type"] == "mentor" and rel["iri"].startswith("http")
    status, body = await api.post(f"/api/people/{a['id']}/relationships", {"type": "frenemy"})
    assert status == 400 and _error(body, 400)["field"] == "type"
    assert "frenemy" in body["error"]["message"]
    status, rels = await api.get(f"/api/people/{b['id']}/relationships")
    assert [r["id"] for r in rels["items"]] == [rel["id"]]
    assert (await api.delete(f"/api/relationships/{rel['id']}"))[0] == 204
    assert (await api.delete(f"/api/relationships/{rel['id']}"))[0] == 404

    status, note = await api.post(f"/api/people/{a['id']}/notes", {"body": "likes chess"})
    assert status == 201 and note["body"] == "likes chess"
    status, body = await api.post(f"/api/people/{a['id']}/notes", {})
    assert status == 400 and _error(body, 400)["field"] == "body"
    assert (await api.get(f"/api/people/{a['id']}/notes"))[1]["items"] == [note]
    assert (await api.delete(f"/api/notes/{note['id']}"))[0] == 204

    status, circle = await api.post("/api/circles", {"name": "chess club", "cadence_days": 14})
    assert status == 201 and circle["cadence_days"] == 14
    status, p = await api.put(f"/api/people/{a['id']}/circles/chess club")
    assert status == 200 and p["circles"] == ["chess club"] and p["effective_cadence_days"] == 14
    status, c = await api.patch("/api/circles/chess club", {"cadence_days": 7})
    assert status == 200 and c["cadence_days"] == 7 and c["members"] == 1
    status, body = await api.patch("/api/circles/chess club", {"cadence_days": "weekly"})
    assert status == 400 and _error(body, 400)["field"] == "cadence_days"
    status, p = await api.put(f"/api/people/{a['id']}/cadence", {"cadence_days": 3})
    assert p["effective_cadence_days"] == 3
    status, body = await api.put(f"/api/people/{a['id']}/cadence", {})
    assert status == 400 and _error(body, 400)["field"] == "cadence_days"
    status, p = await api.put(f"/api/people/{a['id']}/cadence", {"cadence_days": None})
    assert p["effective_cadence_days"] == 7
    status, circles = await api.get("/api/circles")
    assert [c["name"] for c in circles["items"]] == ["chess club"]
    status, p = await api.delete(f"/api/people/{a['id']}/circles/chess club")
    assert status == 200 and p["circles"] == []
    assert (await api.delete("/api/circles/chess club"))[0] == 204
    assert (await api.delete("/api/circles/chess club"))[0] == 404


async def test_interactions_due_fading_layers(api: Api, clock: FixedClock) -> None:
    a = await api.person("A", cadence_days=10)
    b = await api.person("B")
    status, i = await api.post(
        "/api/interactions",
        {
            "people": [a["id"], b["id"]],
            "channel": "call",
            "initiated_by": "them",
            "summary": "hi",
            "occurred_at": "2026-11-20T10:00:00Z",
        },
    )
    assert status == 201 and sorted(i["people"]) == sorted([a["id"], b["id"]])
    status, body = await api.post("/api/interactions", {"people": [a["id"]], "channel": "pigeon"})
    assert status == 400 and _error(body, 400)["field"] == "channel"
    status, body = await api.post("/api/interactions", {"people": "nobody"})
    assert status == 404
    status, tl = await api.get(f"/api/people/{a['id']}/interactions")
    assert [x["id"] for x in tl["items"]] == [i["id"]]
    status, all_ = await api.get("/api/interactions")
    assert [x["id"] for x in all_["items"]] == [i["id"]]
    clock.advance(days=30)
    status, due = await api.get("/api/due")
    assert status == 200 and [e["person"]["id"] for e in due["items"]] == [a["id"]]
    assert due["items"][0]["days_overdue"] == pytest.approx(22.08, abs=0.01)
    status, body = await api.get("/api/due", params={"within_days": "-1"})
    assert status == 400 and _error(body, 400)["field"] == "within_days"
    status, fading = await api.get("/api/fading")
    assert status == 200 and fading["items"] == []
    status, layers = await api.get("/api/layers")
    assert [x["budget"] for x in layers["items"]] == [5, 15, 50, 150]
    assert (await api.delete(f"/api/interactions/{i['id']}"))[0] == 204
    assert (await api.delete(f"/api/interactions/{i['id']}"))[0] == 404


async def test_search_route(api: Api) -> None:
    await api.person("Margaret Hamilton", organization="MIT")
    await api.person("Hamilton Fan")
    status, page = await api.get("/api/search", params={"q": "hamil"})
    assert status == 200 and len(page["items"]) == 2
    status, page = await api.get("/api/search", params={"q": 'mit" OR "x NEAR(*)'})
    assert status == 200 and page["items"] == []
    status, body = await api.get("/api/search")
    assert status == 400 and _error(body, 400)["field"] == "q"


async def test_merges_and_suggestions_routes(api: Api) -> None:
    a = await api.person("Dana Quinn", "https://x.com/danaquinn")
    b = await api.person("D Q", "acct:danaquinn@m.example")
    status, body = await api.post("/api/merges", {"survivor": a["id"]})
    assert status == 400 and _error(body, 400)["field"] == "merged"
    status, body = await api.post("/api/merges", {"survivor": a["id"], "merged": a["id"]})
    assert status == 409
    status, ref = await api.post("/api/suggestions/refresh")
    assert status == 200 and ref == {"new": 1}
    status, sugg = await api.get("/api/suggestions")
    (s,) = sugg["items"]
    assert s["tier"] == "suggested" and s["evidence"]
    status, rec = await api.post(f"/api/suggestions/{s['id']}/accept")
    assert status == 201 and rec["survivor"] in (a["id"], b["id"])
    status, merges = await api.get("/api/merges", params={"person": a["id"]})
    assert [m["id"] for m in merges["items"]] == [rec["id"]]
    status, undone = await api.post(f"/api/merges/{rec['id']}/undo")
    assert status == 200 and undone["undone_at"]
    assert (await api.get(f"/api/people/{a['id']}"))[1] == a
    assert (await api.get(f"/api/people/{b['id']}"))[1] == b
    assert (await api.post(f"/api/suggestions/{s['id']}/dismiss"))[0] == 204
    status, rec = await api.post(
        "/api/merges", {"survivor": a["id"], "merged": b["id"], "reason": "same person"}
    )
    assert status == 201 and rec["evidence"] == [{"kind": "owner", "detail": "same person"}]


async def test_export_import_backup_blocks(api: Api, data_dir: Path) -> None:
    await api.person("Exported", "acct:ex@ported.example")
    status, doc = await api.get("/api/export")
    assert status == 200 and doc["format"] == "kith-export"
    status, vcf = await api.get("/api/export", params={"format": "vcard"})
    assert status == 200 and vcf.startswith("BEGIN:VCARD") and "Exported" in vcf
    status, body = await api.get("/api/export", params={"format": "xml"})
    assert status == 400 and _error(body, 400)["field"] == "format"
    status, body = await api.post("/api/import/json", doc)
    assert status == 409  # this node is not empty
    status, body = await api.post("/api/import/json", {"format": "nope"})
    assert status == 400 and _error(body, 400)["field"] == "format"
    status, info = await api.post("/api/backup")
    assert status == 201 and info["bytes"] > 0
    path = Path(info["path"])
    assert path.parent == data_dir / "backups"
    conn = sqlite.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT display_name FROM person").fetchall() == [("Exported",)]
    finally:
        conn.close()
    status, blocks = await api.get("/api/blocks")
    assert status == 200 and blocks["items"] == []


# -- errors -----------------------------------------------------------------------------------------------------
async def test_404_same_for_missing_and_forbidden_looking_ids(api: Api) -> None:
    p = await api.person("Real")
    note_status, note = await api.post(f"/api/people/{p['id']}/notes", {"body": "n"})
    assert note_status == 201
    gone = await api.person("Gone")
    await api.delete(f"/api/people/{gone['id']}")
    candidates = [
        "p_doesnotexist0",
        gone["id"],
        note["id"],
        "1",
        "0",
        "-1",
        "' OR 1=1 --",
        "p_" + "A" * 300,
    ]
    shapes = set()
    for cid in candidates:
        status, body = await api.get(f"/api/people/{cid}")
        assert status == 404, cid
        err = _error(body, 404)
        shapes.add(
            (tuple(sorted(err)), err.get("field"), err["message"].replace(repr(_unquote(cid)), "<id>"))
        )
    assert len(shapes) == 1, shapes
    # A route nobody declared is a JSON 404 too (with the token) and a 401 without it.
    status, body = await api.get("/api/secrets")
    assert status == 404 and _error(body, 404)
    status, _ = await api.get("/api/secrets", token=None)
    assert status == 401


def _unquote(cid: str) -> str:
    from urllib.parse import unquote

    return unquote(cid)


async def test_400_messages_name_the_field(api: Api) -> None:
    for body, field in (
        ({"display_name": "x", "priority": "high"}, "priority"),
        ({"display_name": "x", "birthday": "31/12/1999"}, "birthday"),
        ({"display_name": "x", "unknown_thing": 1}, "unknown_thing"),
        ({}, "display_name"),
    ):
        status, resp = await api.post("/api/people", body)
        assert status == 400
        err = _error(resp, 400)
        assert err["field"] == field and field in err["message"]
    for params, field in (
        ({"limit": "0"}, "limit"),
        ({"offset": "x"}, "offset"),
        ({"order": "random"}, "order"),
    ):
        status, resp = await api.get("/api/people", params=params)
        assert status == 400 and _error(resp, 400)["field"] == field


async def test_bad_json_bodies(api: Api) -> None:
    for raw in (b"{", b"[1,2]", b'"text"', b"\xff\xfe", b'{"a": NaN'):
        status, body = await api.call(
            "POST", "/api/people", data=raw, headers={"Content-Type": "application/json"}
        )
        assert status == 400, raw
        assert "JSON" in _error(body, 400)["message"]
    deep = {"display_name": "x", "notes": []}
    cursor: Any = deep["notes"]
    for _ in range(40):
        cursor.append([])
        cursor = cursor[0]
    status, body = await api.post("/api/people", deep)
    assert status == 400 and "nested" in _error(body, 400)["message"]
    very_deep = b"[" * 100_000 + b"]" * 100_000
    status, body = await api.call(
        "POST", "/api/people", data=very_deep, headers={"Content-Type": "application/json"}
    )
    assert status == 400
    assert (await api.get("/api/people"))[1]["total"] == 0


async def test_413_for_a_body_over_the_limit(api: Api) -> None:
    limit = api.ctx.config.server.max_body_bytes
    big = json.dumps({"display_name": "x", "notes": ["n" * (limit + 10)]}).encode()
    status, body = await api.call(
        "POST", "/api/people", data=big, headers={"Content-Type": "application/json"}
    )
    assert status == 413
    assert str(limit) in _error(body, 413)["message"]
    assert (await api.get("/api/people"))[1]["total"] == 0
    # The server is still healthy afterwards.
    assert (await api.get("/api/health"))[0] == 200


async def test_pagination_next_offset(api: Api) -> None:
    for i in range(5):
        await api.person(f"P{i}")
    seen = []
    offset: int | None = 0
    while offset is not None:
        status, page = await api.get(
            "/api/people", params={"limit": "2", "offset": str(offset), "order": "name"}
        )
        assert status == 200 and page["total"] == 5 and len(page["items"]) <= 2
        seen += [p["display_name"] for p in page["items"]]
        offset = page["next_offset"]
    assert seen == [f"P{i}" for i in range(5)]


async def test_token_rotate_rejects_the_old_token(api: Api, data_dir: Path) -> None:
    old = api.token
    assert (await api.get("/api/people"))[0] == 200
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "node",
        "--data",
        str(data_dir),
        "token",
        "rotate",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err
    new = out.decode().strip()
    assert new and new != old
    assert (data_dir / "tokens" / "alice").read_text().strip() == new
    await asyncio.sleep(2.5)  # the node re-reads the digest after its TTL
    assert (await api.get("/api/people", token=old))[0] == 401
    assert (await api.get("/api/people", token=new))[0] == 200


async def test_lone_surrogates_are_a_400_not_a_500(api: Api) -> None:
    raw = b'{"display_name": "A\\ud800B"}'
    status, body = await api.call(
        "POST", "/api/people", data=raw, headers={"Content-Type": "application/json"}
    )
    assert status == 400 and _error(body, 400)["field"] == "display_name"
    p = await api.person("Real")
    raw = b'{"body": "\\udfff"}'
    status, body = await api.call(
        "POST", f"/api/people/{p['id']}/notes", data=raw, headers={"Content-Type": "application/json"}
    )
    assert status == 400 and _error(body, 400)["field"] == "body"


async def test_concurrent_requests_share_commits(api: Api) -> None:
    """Many clients at once: every write answered, group commit batching them, reads consistent."""
    before = api.ctx.store.db.commits

    async def add(k: int) -> str:
        status, body = await api.post(
            "/api/people", {"display_name": f"Burst {k}", "identities": [f"acct:b{k}@ex.org"]}
        )
        assert status == 201, body
        return str(body["id"])

    async def look() -> int:
        status, page = await api.get("/api/search", params={"q": "burst", "limit": "500"})
        assert status == 200
        return len(page["items"])

    results = await asyncio.gather(*(add(k) for k in range(120)), *(look() for _ in range(20)))
    ids = results[:120]
    assert len(set(ids)) == 120
    assert api.ctx.store.db.commits - before < 120
    assert await look() == 120


async def test_refusals_say_what_to_send_instead(api: Api) -> None:
    """The checks that come from each route's declared schema answer like the graph's own: the field, and
    what would be accepted."""
    p = await api.person("Ada")
    for path, body, field, needle in (
        (
            "/api/people",
            {"display_name": "x", "identities": [{"uri": "a", "verification": "maybe"}]},
            "identities",
            "use one of: signed, two-way",
        ),
        ("/api/people", {"display_name": "x", "priority": 7}, "priority", "from 0 to 3"),
        ("/api/people", {"display_name": "x" * 501}, "display_name", "longer than 500"),
        ("/api/people", {"display_name": "x", "birthday": "2021-02-30"}, "birthday", "--04-01"),
        ("/api/people", {"display_name": "x", "notes": ["n"] * 101}, "notes", "at most 100"),
        ("/api/people", {"nickname": "   "}, "display_name", "must have a display_name"),
        ("/api/interactions", {"people": [p["id"]], "channel": "pigeon"}, "channel", "use one of: message"),
        (f"/api/people/{p['id']}/relationships", {"type": "frenemy"}, "type", "use one of: contact"),
        (
            "/api/import/json",
            {"format": "kith-export", "version": 1, "tables": {"secrets": {}}},
            "tables",
            "unknown key 'secrets'",
        ),
    ):
        status, resp = await api.post(path, body)
        assert status == 400, (path, body, resp)
        err = _error(resp, 400)
        assert err["field"] == field and needle in err["message"], (path, err)
    status, resp = await api.put("/api/card/disclosure", {"email": "friends"})
    assert status == 400 and _error(resp, 400)["field"] == "email" and "a list" in resp["error"]["message"]
    status, resp = await api.get("/api/people", params={"limit": "ten"})
    assert status == 400 and _error(resp, 400) == {
        "status": 400,
        "message": "limit must be a whole number",
        "field": "limit",
    }
