"""The requests of real CardDAV clients (specs/test-vectors/carddav/: iOS and macOS Contacts, DAVx5), run
against a live node: each must get the answer its client needs to go on."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.node.dav_helpers import NS, Dav, DavNode, Reply, dav_node

# on both storage engines (tests/support/engines.py)
pytestmark = pytest.mark.usefixtures("engine")

VECTORS = Path(__file__).parents[2] / "specs" / "test-vectors" / "carddav"
CASES = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(VECTORS.glob("*.json"))}


def _clark(name: str) -> str:
    """``DAV:getetag`` or ``urn:ietf:params:xml:ns:carddav:address-data`` as ElementTree names it."""
    ns, _, local = name.rpartition(":")
    return f"{{{'DAV:' if ns == 'DAV' else ns}}}{local}"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[DavNode, Dav, dict[str, str]]]:
    async with dav_node(tmp_path / "node") as node:
        ada = await node.ctx.graph.create_person(
            {"display_name": "Ada Lovelace", "identities": ["ada@example.org"], "circles": ["Family"]}
        )
        async with aiohttp.ClientSession() as http:
            dav = Dav(node.base, "alice", await node.password(), http)
            places = {
                "{well_known}": "/.well-known/carddav",
                "{root}": "/dav/",
                "{principal}": "/dav/principals/alice/",
                "{home}": "/dav/addressbooks/alice/",
                "{book}": "/dav/addressbooks/alice/all/",
                "{card}": f"/dav/addressbooks/alice/all/{ada.id}.vcf",
            }
            yield node, dav, places


def _fill(text: str, places: dict[str, str]) -> str:
    for key, value in places.items():
        text = text.replace(key, value)
    return text


def _propstats(reply: Reply, href: str) -> dict[int, set[str]]:
    response = reply.responses().get(href)
    assert response is not None, f"no response for {href}: {reply.text[:2000]}"
    out: dict[int, set[str]] = {}
    for ps in response.findall("d:propstat", NS):
        code = int((ps.findtext("d:status", namespaces=NS) or "HTTP/1.1 0").split()[1])
        prop = ps.find("d:prop", NS)
        out.setdefault(code, set()).update(el.tag for el in (prop if prop is not None else ()))
    return out


@pytest.mark.parametrize("name", sorted(CASES))
async def test_client_vector(served: tuple[DavNode, Dav, dict[str, str]], name: str) -> None:
    _node, dav, places = served
    vector: dict[str, Any] = CASES[name]
    expect = vector["expect"]
    target = _fill(vector["path"], places)
    body = _fill(vector["body"], places).encode() if vector["body"] else None
    headers = dict(vector["headers"])
    reply = await dav.request(vector["method"], target, body, headers=headers)
    if expect.get("follow_redirect"):
        assert reply.status in (301, 308), reply.status
        target = reply.headers["Location"]
        reply = await dav.request(vector["method"], target, body, headers=headers)
    assert reply.status == expect["status"], reply.text
    if "dav_header_contains" in expect:
        assert expect["dav_header_contains"] in reply.headers["DAV"]
    if "error" in expect:
        assert reply.xml().find(_clark(expect["error"])) is not None, reply.text
    for href, names in expect.get("found", {}).items():
        ok = _propstats(reply, _fill(href, places)).get(200, set())
        assert {_clark(n) for n in names} <= ok, (href, ok)
    for href, names in expect.get("missing", {}).items():
        missing = _propstats(reply, _fill(href, places)).get(404, set())
        assert {_clark(n) for n in names} <= missing, (href, missing)
    root = reply.xml() if reply.status == 207 else None
    for name, href in expect.get("href_values", {}).items():
        assert root is not None
        found = root.find(f".//{_clark(name)}/{{DAV:}}href")
        assert found is not None and found.text == _fill(href, places), name
    for href, types in expect.get("resourcetype", {}).items():
        response = reply.responses()[_fill(href, places)]
        rtype = response.find(".//d:resourcetype", NS)
        assert rtype is not None and {_clark(t) for t in types} <= {el.tag for el in rtype}
    for href, privileges in expect.get("privileges", {}).items():
        response = reply.responses()[_fill(href, places)]
        have = {el.tag for el in response.iterfind(".//d:privilege/*", NS)}
        assert {_clark(p) for p in privileges} <= have
    if "address_data_contains" in expect:
        assert root is not None
        data = root.findtext(".//card:address-data", namespaces=NS) or ""
        assert expect["address_data_contains"] in data
    if expect.get("sync_token"):
        assert reply.token().startswith("urn:kith:sync:")
