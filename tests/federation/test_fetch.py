"""The guarded client against real loopback servers: SSRF direct, via redirect and via DNS, limits."""

from __future__ import annotations

import asyncio
import ipaddress
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from federation.errors import FetchBlocked, FetchBudgetExceeded, FetchContentType, FetchTimeout, FetchTooLarge
from federation.fetch import FetchBudget, FetchPolicy, GuardedClient, address_allowed

from .helpers import ScriptedResolver, serve

# the "public" test peer lives on 127.0.0.2; 127.0.0.1 plays the internal service
ALLOW_2 = (ipaddress.ip_network("127.0.0.2/32"),)


def internal_app(hits: list[str]) -> web.Application:
    async def secret(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.json_response({"secret": True}, content_type="application/activity+json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", secret)
    return app


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("64:ff9b::a00:1", False),
        ("2002:7f00:1::", False),
        ("93.184.216.34", True),
        ("2606:4700::1111", True),
    ],
)
def test_address_ranges(address: str, ok: bool) -> None:
    assert address_allowed(address) is ok


def test_allow_list_admits_mapped_form() -> None:
    allow = (ipaddress.ip_network("127.0.0.0/8"),)
    assert address_allowed("127.0.0.5", allow)
    assert address_allowed("::ffff:127.0.0.5", allow)
    assert not address_allowed("10.0.0.1", allow)


async def test_direct_private_address_refused() -> None:
    hits: list[str] = []
    async with serve(internal_app(hits)) as base:
        client = GuardedClient(FetchPolicy(allow_http=True))
        try:
            with pytest.raises(FetchBlocked):
                await client.get_json(base + "/actor")
            with pytest.raises(FetchBlocked):
                await client.get_json(base.replace("127.0.0.1", "[::ffff:127.0.0.1]") + "/actor")
        finally:
            await client.close()
    assert hits == []


async def test_plain_http_needs_setting() -> None:
    client = GuardedClient(FetchPolicy(allow_networks=ALLOW_2))
    try:
        with pytest.raises(FetchBlocked, match="plain http"):
            await client.get_json("http://127.0.0.2:1/actor")
        with pytest.raises(FetchBlocked):
            await client.get_json("file:///etc/passwd")
    finally:
        await client.close()


async def test_redirect_to_private_refused() -> None:
    hits: list[str] = []
    async with serve(internal_app(hits)) as internal:

        async def bounce(request: web.Request) -> web.Response:
            raise web.HTTPFound(internal + "/latest/meta-data")

        app = web.Application()
        app.router.add_get("/actor", bounce)
        async with serve(app, "127.0.0.2") as public:
            client = GuardedClient(FetchPolicy(allow_networks=ALLOW_2, allow_http=True))
            try:
                with pytest.raises(FetchBlocked):
                    await client.get_json(public + "/actor")
            finally:
                await client.close()
    assert hits == []


async def test_too_many_redirects() -> None:
    async def loop(request: web.Request) -> web.Response:
        n = int(request.query.get("n", "0"))
        raise web.HTTPFound(f"/r?n={n + 1}")

    app = web.Application()
    app.router.add_get("/r", loop)
    async with serve(app, "127.0.0.2") as public:
        client = GuardedClient(FetchPolicy(allow_networks=ALLOW_2, allow_http=True))
        try:
            with pytest.raises(FetchBlocked, match="redirected more than 3"):
                await client.get_json(public + "/r")
        finally:
            await client.close()


async def test_dns_answer_checked_at_connect_time() -> None:
    """A name that first resolves to an allowed address and then to an internal one (DNS rebinding)."""
    hits: list[str] = []
    async with serve(internal_app(hits)) as internal:

        async def fine(request: web.Request) -> web.Response:
            resp = web.json_response({"id": "ok"}, content_type="application/activity+json")
            resp.force_close()
            return resp

        app = web.Application()
        app.router.add_get("/actor", fine)
        async with serve(app, "127.0.0.2") as public:
            pub_port = urlsplit(public).port
            int_port = urlsplit(internal).port
            assert pub_port and int_port
            resolver = ScriptedResolver({"rebind.test": [("127.0.0.2", pub_port), ("127.0.0.1", int_port)]})
            client = GuardedClient(FetchPolicy(allow_networks=ALLOW_2, allow_http=True), resolver=resolver)
            try:
                _, first = await client.get_json(f"http://rebind.test:{pub_port}/actor")
                assert first == {"id": "ok"}
                with pytest.raises(FetchBlocked, match=r"127\.0\.0\.1"):
                    await client.get_json(f"http://rebind.test:{pub_port}/actor")
            finally:
                await client.close()
            assert resolver.calls["rebind.test"] == 2
    assert hits == []


async def test_size_type_budget_and_slow_peer() -> None:
    async def big(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/activity+json"})
        await resp.prepare(request)
        for _ in range(40):
            await resp.write(b" " * 65536)
        return resp

    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<html>", content_type="text/html")

    async def slow(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/activity+json"})
        await resp.prepare(request)
        for _ in range(100):
            await resp.write(b" ")
            await asyncio.sleep(0.5)
        return resp

    app = web.Application()
    app.router.add_get("/big", big)
    app.router.add_get("/html", html)
    app.router.add_get("/slow", slow)
    async with serve(app, "127.0.0.2") as public:
        client = GuardedClient(FetchPolicy(allow_networks=ALLOW_2, allow_http=True, total_timeout=1.5))
        try:
            with pytest.raises(FetchTooLarge):
                await client.get_json(public + "/big")
            with pytest.raises(FetchContentType):
                await client.get_json(public + "/html")
            with pytest.raises(FetchTimeout):
                await client.get_json(public + "/slow")
            budget = FetchBudget(remaining=1)
            with pytest.raises(FetchContentType):
                await client.get_json(public + "/html", budget=budget)
            with pytest.raises(FetchBudgetExceeded):
                await client.get_json(public + "/html", budget=budget)
        finally:
            await client.close()
