"""The Bluesky bridge reads each account from its own PDS, the one its DID document names (issue #18 "Reading
Bluesky"), against the real devnet's PLC directory and PDS; and, as an attacker, DID documents that lie about
who they are, or name a PDS on a private address, a huge answer or a server that never answers: each is refused
with a reason, and the accounts beside it are read all the same."""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bridges.bluesky_bridge import ReadError
from bridges.bluesky_bridge.reader import pds_endpoint
from federation.fetch import FetchPolicy, GuardedClient
from node.bridge_bluesky import BlueskyBridge, account_name
from node.bridge_bluesky_fetch import GuardedJson
from tests.bridges.atproto_net import Devnet, Pds
from tests.bridges.test_bridge_node import bridge_settings, get, kith_server, opted_in

pytestmark = pytest.mark.timeout(600)

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


def other_spelling(url: str) -> str:
    """The same loopback server under its other name: to the bridge, another PDS than the configured one."""
    if "://localhost" in url:
        return url.replace("://localhost", "://127.0.0.1", 1)
    return url.replace("://127.0.0.1", "://localhost", 1)


@pytest.fixture
async def pds(atproto_devnet: Devnet) -> AsyncIterator[Pds]:
    async with aiohttp.ClientSession() as session:
        yield Pds(atproto_devnet, session)


async def test_an_account_is_read_from_the_pds_its_did_document_names_through_the_guarded_client(
    tmp_path: Path, pds: Pds, atproto_devnet: Devnet
) -> None:
    """The DID documents of the devnet's PLC name its PDS; the bridge is configured with the other spelling of
    that PDS's address, so to the bridge each account lives on another PDS: it is resolved, read through the
    federation's guarded client (the loopback allowance of the tests lets it through) and bridged. Without the
    allowance, the guard refuses and the account is not bridged, and the pass finishes."""
    bot = await pds.create_account("bot")
    user, _ = await opted_in(pds, "elsewhere", bot)
    doc = await pds.did_document(user.did)
    named = pds_endpoint(doc, user.did)
    settings = bridge_settings(atproto_devnet, bot) | {"pds_url": other_spelling(named)}
    async with kith_server(tmp_path, "bridge", 0, **settings) as side, aiohttp.ClientSession() as http:
        bridge = BlueskyBridge(side.server, http, client=side.fed.client)
        before = side.fed.client.requests_made
        assert (await bridge.run_once()).bridged == 1
        assert side.fed.client.requests_made > before  # the account's reads went through the guard
        assert await bridge.reader.pds_of(user.did) == named
        assert (await get(f"{side.base}/users/{account_name(user.did)}"))[0] == 200

    guarded = GuardedClient(FetchPolicy(allow_http=True))  # no loopback allowance: as in production
    try:
        async with (
            kith_server(tmp_path / "strict", "bridge", 0, **settings) as side,
            aiohttp.ClientSession() as http,
        ):
            bridge = BlueskyBridge(side.server, http, client=guarded)
            report = await bridge.run_once()
            assert report.bridged == 0 and report.seen >= 1
            assert await side.server.account_by_name(account_name(user.did)) is None
    finally:
        await guarded.close()


HUGE = 3 << 20


@asynccontextmanager
async def hostile_plc(real_plc: str) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """A PLC directory on loopback that serves lying DID documents for some DIDs (and passes the rest on to the
    devnet's), and beside it a "PDS" that answers with 3 MiB and one that never answers."""
    stop = asyncio.Event()
    port: dict[str, int] = {}

    async def huge(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        await resp.write(b'{"x": "')
        for _ in range(HUGE // 65536):
            await resp.write(b"a" * 65536)
        await resp.write(b'"}')
        return resp

    async def slow(request: web.Request) -> web.Response:
        await stop.wait()
        return web.json_response({})

    base = "http://127.0.0.1:{}"
    dids = {
        "liar": "did:plc:" + "l" * 24,
        "private": "did:plc:" + "p" * 24,
        "huge": "did:plc:" + "h" * 24,
        "slow": "did:plc:" + "s" * 24,
        "nopds": "did:plc:" + "n" * 24,
    }

    def document(did: str, endpoint: str | None) -> dict[str, Any]:
        service = [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": endpoint}]
        return {"id": did, "alsoKnownAs": [], "service": service if endpoint else []}

    async def plc(request: web.Request) -> web.Response:
        did = request.match_info["did"]
        hostile = {
            dids["liar"]: document("did:plc:" + "v" * 24, base.format(port["slow"])),
            dids["private"]: document(dids["private"], "http://10.0.0.1"),
            dids["huge"]: document(dids["huge"], base.format(port["huge"])),
            dids["slow"]: document(dids["slow"], base.format(port["slow"])),
            dids["nopds"]: document(dids["nopds"], "javascript:alert(1)"),
        }
        if did in hostile:
            return web.json_response(hostile[did])
        async with aiohttp.ClientSession() as http, http.get(f"{real_plc}/{did}") as resp:
            return web.Response(status=resp.status, body=await resp.read(), content_type="application/json")

    runners = []
    try:
        for name, app_routes in (
            ("plc", [web.get("/{did}", plc)]),
            ("huge", [web.get("/xrpc/{m}", huge)]),
            ("slow", [web.get("/xrpc/{m}", slow)]),
        ):
            app = web.Application()
            app.add_routes(app_routes)
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            runners.append(runner)
            port[name] = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        yield base.format(port["plc"]), dids
    finally:
        stop.set()
        for runner in runners:
            await runner.cleanup()


async def test_hostile_did_documents_are_refused_with_a_reason_and_stall_no_other_account(
    tmp_path: Path, pds: Pds, atproto_devnet: Devnet
) -> None:
    bot = await pds.create_account("bot")
    user, _ = await opted_in(pds, "beside", bot)
    # the tests' allowance (loopback), a short total time: a server that never answers is cut off
    guarded = GuardedClient(FetchPolicy(allow_networks=LOOPBACK, allow_http=True, total_timeout=2.0))
    try:
        async with hostile_plc(atproto_devnet.plc_url) as (plc_url, dids):
            settings = bridge_settings(atproto_devnet, bot) | {"plc_url": plc_url}
            async with (
                kith_server(tmp_path, "bridge", 0, **settings) as side,
                aiohttp.ClientSession() as http,
            ):
                bridge = BlueskyBridge(side.server, http, client=guarded)
                bridge.reader.new_pass(GuardedJson(guarded))
                expected = {
                    "liar": "names another DID",
                    "private": "10.0.0.1",
                    "huge": "sent more than",
                    "slow": "time",
                    "nopds": "no usable #atproto_pds",
                }

                async def refused(key: str) -> str:
                    with pytest.raises(ReadError) as caught:
                        await bridge.reader.account(dids[key], bot_did=bot.did)
                    return str(caught.value)

                # all at once, with an honest account among them: the honest one is read in full
                *reasons, honest = await asyncio.gather(
                    *(refused(k) for k in expected), bridge.reader.account(user.did, bot_did=bot.did)
                )
                for (key, words), reason in zip(expected.items(), reasons, strict=True):
                    assert words in reason, (key, reason)
                assert honest.follows_bot and honest.handle == user.handle
                # a host that failed is not waited on again in the same pass; the next pass tries it afresh
                with pytest.raises(ReadError, match="already failed in this pass"):
                    await bridge.reader.account(dids["slow"], bot_did=bot.did)
                bridge.reader.new_pass(GuardedJson(guarded))
                with pytest.raises(ReadError, match="time"):
                    await bridge.reader.account(dids["slow"], bot_did=bot.did)
                # a host that failed is not waited on again in the same pass; the next pass tries it afresh
                with pytest.raises(ReadError, match="already failed in this pass"):
                    await bridge.reader.account(dids["slow"], bot_did=bot.did)
                bridge.reader.new_pass(GuardedJson(guarded))
                with pytest.raises(ReadError, match="time"):
                    await bridge.reader.account(dids["slow"], bot_did=bot.did)
                # a did:web host is hostile too: a private address is refused before any connection
                with pytest.raises(ReadError, match=r"10\.0\.0\.1"):
                    await bridge.reader.account("did:web:10.0.0.1", bot_did=bot.did)
                for odd in ("did:web:example.com:users:eve", "did:web:a%2Fb.example", "did:web:u%40host"):
                    with pytest.raises(ReadError, match="did:web:HOST only"):
                        await bridge.reader.pds_of(odd)
                # and a full pass over the PDS is not held up by them: the honest account is bridged
                assert (await bridge.run_once()).bridged == 1
    finally:
        await guarded.close()


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ({"id": "did:plc:other"}, "names another DID"),
        ({"id": "did:plc:me", "service": "x"}, "no usable"),
        (
            {"id": "did:plc:me", "service": [{"id": "#atproto_pds", "serviceEndpoint": "ftp://h"}]},
            "no usable",
        ),
        (
            {"id": "did:plc:me", "service": [{"id": "#atproto_pds", "serviceEndpoint": "https://u:p@h"}]},
            "no usable",
        ),
        (
            {"id": "did:plc:me", "service": [{"id": "#atproto_pds", "serviceEndpoint": "https://h/x?y"}]},
            "no usable",
        ),
        (
            {"id": "did:plc:me", "service": [{"id": "#atproto_pds", "serviceEndpoint": "https://h:99999"}]},
            "no usable",
        ),
        ({"id": "did:plc:me", "service": [{"id": "#other", "serviceEndpoint": "https://h"}]}, "no usable"),
    ],
)
def test_pds_endpoint_refuses_what_is_not_an_origin_of_the_dids_own_document(doc: Any, words: str) -> None:
    with pytest.raises(ReadError, match=words):
        pds_endpoint(doc, "did:plc:me")


def test_pds_endpoint_reads_the_origin() -> None:
    doc = {
        "id": "did:plc:me",
        "service": [{"id": "#atproto_pds", "serviceEndpoint": "https://pds.example:8443/"}],
    }
    assert pds_endpoint(doc, "did:plc:me") == "https://pds.example:8443"
    assert json.dumps(doc)  # the document itself is untouched
