"""A real node serving CardDAV on loopback, and a plain HTTP client of it (no DAV library: the tests say exactly
what goes over the wire)."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import aiohttp
from aiohttp import web

from node.app import build_app
from node.config import write_config
from node.context import AccountContext
from node.dav import DAV_SERVICE, setup_dav
from node.web import setup_web
from tests.conftest import new_server_account

NS = {"d": "DAV:", "card": "urn:ietf:params:xml:ns:carddav", "cs": "http://calendarserver.org/ns/"}

PROPFIND_BOOK = b"""<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop>
<d:resourcetype/><d:displayname/><d:sync-token/><cs:getctag/><d:getetag/></d:prop></d:propfind>"""


def multiget(hrefs: list[str], version: str | None = None) -> bytes:
    data = (
        f'<card:address-data content-type="text/vcard" version="{version}"/>'
        if version
        else "<card:address-data/>"
    )
    refs = "".join(f"<d:href>{h}</d:href>" for h in hrefs)
    return (
        '<?xml version="1.0" encoding="utf-8"?><card:addressbook-multiget xmlns:d="DAV:" '
        f'xmlns:card="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/>{data}</d:prop>{refs}'
        "</card:addressbook-multiget>"
    ).encode()


def sync_collection(token: str = "", *, data: bool = False, limit: int | None = None) -> bytes:
    extra = "<card:address-data/>" if data else ""
    lim = f"<d:limit><d:nresults>{limit}</d:nresults></d:limit>" if limit else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="DAV:" '
        f'xmlns:card="urn:ietf:params:xml:ns:carddav"><d:sync-token>{token}</d:sync-token>'
        f"<d:sync-level>1</d:sync-level>{lim}<d:prop><d:getetag/>{extra}</d:prop></d:sync-collection>"
    ).encode()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class Reply:
    status: int
    headers: Any
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def xml(self) -> ET.Element:
        return ET.fromstring(self.body)

    def responses(self) -> dict[str, ET.Element]:
        return {r.findtext("d:href", namespaces=NS) or "": r for r in self.xml().findall("d:response", NS)}

    def hrefs_with_status(self, code: int) -> set[str]:
        out = set()
        for href, r in self.responses().items():
            status = r.findtext("d:status", namespaces=NS) or ""
            if f" {code} " in status:
                out.add(href)
        return out

    def token(self) -> str:
        return self.xml().findtext("d:sync-token", namespaces=NS) or ""


@dataclass
class Dav:
    base: str
    user: str
    password: str
    http: aiohttp.ClientSession

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        *,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | bool | None = True,
    ) -> Reply:
        hdrs = dict(headers or {})
        if auth is True:
            hdrs["Authorization"] = basic(self.user, self.password)
        elif isinstance(auth, tuple):
            hdrs["Authorization"] = basic(*auth)
        if isinstance(body, str):
            body = body.encode()
        if body is not None and "Content-Type" not in hdrs:
            hdrs["Content-Type"] = "application/xml; charset=utf-8"
        url = path if path.startswith("http") else self.base + path
        async with self.http.request(method, url, data=body, headers=hdrs, allow_redirects=False) as resp:
            return Reply(resp.status, resp.headers, await resp.read())

    def book(self, book: str = "all") -> str:
        return f"/dav/addressbooks/{self.user}/{book}/"

    async def put(self, book: str, name: str, card: str, headers: dict[str, str] | None = None) -> Reply:
        return await self.request(
            "PUT",
            self.book(book) + name,
            card,
            headers={"Content-Type": "text/vcard; charset=utf-8", **(headers or {})},
        )

    async def listing(self, book: str = "all") -> dict[str, str]:
        """href -> etag of every card in the book (PROPFIND Depth 1)."""
        reply = await self.request("PROPFIND", self.book(book), PROPFIND_BOOK, headers={"Depth": "1"})
        assert reply.status == 207, reply.text
        out = {}
        for href, r in reply.responses().items():
            tag = r.findtext(".//d:getetag", namespaces=NS)
            if tag:
                out[href] = tag
        return out

    async def cards(self, book: str = "all", version: str | None = None) -> dict[str, str]:
        """href -> vCard text of every card in the book (PROPFIND, then one multiget)."""
        hrefs = list(await self.listing(book))
        if not hrefs:
            return {}
        reply = await self.request(
            "REPORT", self.book(book), multiget(hrefs, version), headers={"Depth": "1"}
        )
        assert reply.status == 207, reply.text
        return {
            href: r.findtext(".//card:address-data", namespaces=NS) or ""
            for href, r in reply.responses().items()
        }


@dataclass
class DavNode:
    base: str
    ctx: AccountContext
    app: web.Application

    async def password(self, ctx: AccountContext | None = None, name: str = "phone") -> str:
        c = ctx or self.ctx
        return await self.app[DAV_SERVICE].passwords.add(c.store, name, c.graph.now())


@asynccontextmanager
async def dav_node(folder: Path, name: str = "alice", *, web_ui: bool = False) -> AsyncIterator[DavNode]:
    ctx = await new_server_account(folder, name)
    write_config(ctx.config)  # so that `kith --data FOLDER ...` works beside the running node
    app = build_app(ctx.server, extensions=[setup_dav, *([setup_web] if web_ui else [])])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield DavNode(base=f"http://{host}:{port}", ctx=ctx, app=app)
    finally:
        await runner.cleanup()
        await ctx.close()


def prop(card: str, name: str) -> list[str]:
    """The values of property ``name`` (any group) in a vCard text, unfolded."""
    text = re.sub(r"\r?\n[ \t]", "", card)
    out = []
    for line in text.splitlines():
        head, _, value = line.partition(":")
        base = head.split(";", 1)[0]
        if base.rsplit(".", 1)[-1].upper() == name.upper():
            out.append(value)
    return out


VCARD = """BEGIN:VCARD\r
VERSION:3.0\r
UID:{uid}\r
FN:{fn}\r
N:{family};{given};;;\r
{extra}END:VCARD\r
"""


def vcard(
    uid: str, fn: str = "Grace Hopper", extra: str = "", family: str = "Hopper", given: str = "Grace"
) -> str:
    return VCARD.format(uid=uid, fn=fn, family=family, given=given, extra=extra)
