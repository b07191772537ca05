"""A real AT Protocol network on loopback for tests: the PLC directory and the reference PDS that
``scripts/atproto-devnet`` installs (pinned in tests/atproto/) and starts, plus the small XRPC client the tests
drive it with. The bridge (issue 18) reads Bluesky through these same endpoints.

- ``start()`` runs the network as a child process and returns once both services answer; ``Devnet.stop()``
  (or the child's stdin closing, when this process dies) stops it and removes its data.
- ``Pds`` speaks XRPC to it over a caller's ``aiohttp.ClientSession``: accounts
  (``com.atproto.server.createAccount``), records (``com.atproto.repo.*``), handles and DIDs (the PDS's
  ``resolveHandle``, ``/.well-known/atproto-did``, the PLC directory) and the repository event stream
  (``com.atproto.sync.subscribeRepos``, read straight from the PDS; no relay is needed for one PDS).
- Stream frames are two DAG-CBOR values (a header ``{op, t}`` and a body); a commit's ``blocks`` is a CAR
  file, read with the project's ``bridges._car.CarReader`` (docs/SILOS.md §1 "Bluesky repository (CAR)").

The default network has no App View, so no ``app.bsky.*`` query (getProfile, getFollowers, search): the PDS
answers them 502, having nowhere to proxy them. Profiles and follows are records, read from the owner's
repository instead. ``start("--appview")`` adds the App View (with a private PostgreSQL and Redis) for the
tests that need its indexes, such as the followers of a bridge's bot account.
"""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import json
import os
import secrets
import select
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import cbor2
import pytest

from bridges._car import CarReader, Link, decode_dag_cbor

__all__ = [
    "FIREHOSE_OPS",
    "Account",
    "Devnet",
    "DevnetUnavailable",
    "Firehose",
    "Frame",
    "Pds",
    "XrpcError",
    "cid_str",
    "decode_frame",
    "install",
    "is_installed",
    "now_iso",
    "session_devnet",
    "start",
]

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "atproto-devnet"
FIREHOSE_OPS = {1: "message", -1: "error"}
# A fresh install compiles better-sqlite3; on a loaded 2-core machine that alone took 111 s.
INSTALL_TIMEOUT = 900.0
# Start-up is mostly loading modules: with the App View (and its PostgreSQL's initdb) it passed 120 s at a load
# of 17 on this 2-core machine, so the wait is longer than any healthy start, and still bounded.
START_TIMEOUT = 300.0


class DevnetUnavailable(Exception):
    """The network could not be installed or started; the message says why and what to do."""


class XrpcError(Exception):
    """An XRPC call answered with an error status: ``status``, the XRPC ``error`` name and its message."""

    def __init__(self, method: str, status: int, error: str, message: str) -> None:
        super().__init__(f"{method}: HTTP {status} {error}: {message}")
        self.method, self.status, self.error, self.message = method, status, error, message


# ----- the process --------------------------------------------------------------------------------------


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _appview_flag(appview: bool) -> list[str]:
    return ["--appview"] if appview else []


def is_installed(*, appview: bool = False) -> bool:
    """True when .cache/atproto/ holds exactly what tests/atproto/package-lock.json pins (and, for the App
    View, PostgreSQL and Redis are on the machine)."""
    argv = [SCRIPT, "status", *_appview_flag(appview)]
    return subprocess.run(argv, capture_output=True, check=False).returncode == 0


def install(*, appview: bool = False, timeout: float = INSTALL_TIMEOUT) -> None:
    """Install (quick when up to date); DevnetUnavailable with the script's last lines when it fails."""
    try:
        done = subprocess.run(
            [SCRIPT, "install", *_appview_flag(appview)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise DevnetUnavailable(f"scripts/atproto-devnet install took over {timeout:.0f} s") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
        raise DevnetUnavailable(f"scripts/atproto-devnet install failed:\n{tail}")


@dataclass
class Devnet:
    """A running network. ``info`` is the JSON line the script printed (URLs, versions, timings)."""

    process: subprocess.Popen[bytes]
    info: dict[str, Any]
    log: Path

    @property
    def pds_url(self) -> str:
        return str(self.info["pds"])

    @property
    def plc_url(self) -> str:
        return str(self.info["plc"])

    @property
    def firehose_url(self) -> str:
        return str(self.info["firehose"])

    @property
    def appview_url(self) -> str | None:
        """The App View (``app.bsky.*`` queries), when started with ``appview=True``."""
        return self.info.get("appview")

    @property
    def control_url(self) -> str:
        """The devnet's own endpoint: ``POST /process-all`` returns once everything written is processed."""
        return str(self.info["control"])

    @property
    def handle_domain(self) -> str:
        """The suffix of the handles this PDS hands out (".test")."""
        return str(self.info["handle_domains"][0])

    def stop(self, *, timeout: float = 30.0) -> int:
        """Stop the network (closing stdin asks it to; signals follow if it does not) and return its exit code."""
        proc = self.process
        if proc.poll() is None:
            assert proc.stdin is not None
            proc.stdin.close()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        code = proc.returncode
        if code == 0:
            self.log.unlink(missing_ok=True)
        return code


def start(*args: str, timeout: float = START_TIMEOUT) -> Devnet:
    """Start the (installed) network and return once it answers; DevnetUnavailable says why it did not.
    ``args`` go to ``scripts/atproto-devnet start`` (``--pds-port N``, ``--plc-port N``)."""
    fd, name = tempfile.mkstemp(prefix="kith-atproto-", suffix=".log")
    log = Path(name)
    with os.fdopen(fd, "wb") as err:
        proc = subprocess.Popen(
            [SCRIPT, "start", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err
        )
    assert proc.stdout is not None
    line = b""
    deadline = time.monotonic() + timeout
    failure = ""
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([proc.stdout], [], [], remaining)[0]:
            Devnet(proc, {}, log).stop(timeout=5)
            failure = f"the network did not answer within {timeout:.0f} s"
            break
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            failure = f"the network exited with status {proc.wait()} before answering"
            Devnet(proc, {}, log).stop()  # closes its pipes
            break
        line += chunk
    if failure:
        # The reason is in the child's log: carry it in the error, and leave no file behind.
        reason = _tail(log)
        log.unlink(missing_ok=True)
        raise DevnetUnavailable(f"{failure}; its log:\n{reason}")
    return Devnet(proc, json.loads(line), log)


def session_devnet(*, appview: bool = False) -> Iterator[Devnet]:
    """The body of the session fixtures ``atproto_devnet`` and ``atproto_appview`` (tests/bridges/conftest.py).
    Under ``CI=true`` the network is installed when missing and any failure fails the tests that need it, with
    the reason; elsewhere, when it is not installed, they are skipped with the command that installs it."""
    if os.environ.get("CI", "").lower() not in ("true", "1") and not is_installed(appview=appview):
        command = " ".join(["scripts/atproto-devnet install", *_appview_flag(appview)])
        pytest.skip(f"AT Protocol devnet not installed: run {command} (CI=true does it)")
    try:
        install(appview=appview)
        net = start(*_appview_flag(appview))
    except DevnetUnavailable as exc:
        pytest.fail(f"the AT Protocol devnet is unavailable: {exc}", pytrace=False)
    try:
        yield net
    finally:
        code = net.stop()
    if code != 0:
        pytest.fail(f"the AT Protocol devnet stopped with status {code}; its log: {net.log}", pytrace=False)


# ----- XRPC ----------------------------------------------------------------------------------------------


def now_iso() -> str:
    """An atproto datetime (``createdAt``): UTC, milliseconds, ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def cid_str(link: Link) -> str:
    """A binary CID as XRPC's JSON writes it: multibase base32 (lower case, no padding, prefix ``b``)."""
    return "b" + base64.b32encode(link.cid).decode("ascii").lower().rstrip("=")


@dataclass(frozen=True)
class Account:
    did: str
    handle: str
    password: str
    access_jwt: str = field(repr=False)
    refresh_jwt: str = field(repr=False)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_jwt}"}


_serial = itertools.count(1)


@dataclass
class Pds:
    """XRPC calls to the devnet's PDS (and its PLC directory) over the caller's session."""

    net: Devnet
    session: aiohttp.ClientSession

    async def _answer(self, method: str, resp: aiohttp.ClientResponse) -> Any:
        if resp.status >= 400:
            try:
                body = await resp.json(content_type=None)
            except (ValueError, aiohttp.ContentTypeError):
                body = {}
            if not isinstance(body, dict):
                body = {}
            raise XrpcError(method, resp.status, str(body.get("error", "")), str(body.get("message", "")))
        return await resp.json(content_type=None)

    async def query(self, method: str, *, auth: Account | None = None, **params: Any) -> Any:
        """GET /xrpc/METHOD (lists and booleans as XRPC encodes them)."""
        query: list[tuple[str, str]] = []
        for key, value in params.items():
            for item in value if isinstance(value, list) else [value]:
                query.append((key, str(item).lower() if isinstance(item, bool) else str(item)))
        headers = auth.auth if auth else {}
        async with self.session.get(
            f"{self.net.pds_url}/xrpc/{method}", params=query, headers=headers
        ) as resp:
            return await self._answer(method, resp)

    async def procedure(
        self, method: str, body: dict[str, Any] | None, *, auth: Account | None = None
    ) -> Any:
        """POST /xrpc/METHOD with a JSON body."""
        headers = auth.auth if auth else {}
        async with self.session.post(f"{self.net.pds_url}/xrpc/{method}", json=body, headers=headers) as resp:
            if resp.status < 400 and resp.content_length == 0:
                return None
            return await self._answer(method, resp)

    async def settle(self) -> None:
        """Wait until the network has processed everything written so far: the PDS's background queue and,
        with the App View, its indexing of the PDS's stream. Tests wait for this instead of sleeping."""
        async with self.session.post(f"{self.net.control_url}/process-all") as resp:
            if resp.status != 204:
                raise AssertionError(f"process-all failed: HTTP {resp.status}: {await resp.text()}")

    async def appview(self, method: str, **params: Any) -> Any:
        """GET an ``app.bsky.*`` query from the App View itself (public views need no auth there)."""
        if self.net.appview_url is None:
            raise AssertionError("this devnet has no App View: use the atproto_appview fixture")
        query = {k: str(v) for k, v in params.items()}
        async with self.session.get(f"{self.net.appview_url}/xrpc/{method}", params=query) as resp:
            return await self._answer(method, resp)

    # accounts

    def new_handle(self, prefix: str) -> str:
        """A handle unique in this network (tests share one network per session). The PDS refuses a first
        label longer than 18 characters: keep ``prefix`` short."""
        return f"{prefix}{next(_serial)}{secrets.token_hex(2)}{self.net.handle_domain}"

    async def create_account(self, prefix: str, *, password: str = "devnet-password") -> Account:
        handle = self.new_handle(prefix)
        out = await self.procedure(
            "com.atproto.server.createAccount",
            {"handle": handle, "email": f"{handle}@example.com", "password": password},
        )
        return Account(out["did"], out["handle"], password, out["accessJwt"], out["refreshJwt"])

    async def login(self, identifier: str, password: str) -> Account:
        """``createSession`` as a bridge bot logs in (handle or DID, and the account's password)."""
        out = await self.procedure(
            "com.atproto.server.createSession", {"identifier": identifier, "password": password}
        )
        return Account(out["did"], out["handle"], password, out["accessJwt"], out["refreshJwt"])

    async def deactivate(self, account: Account) -> None:
        await self.procedure("com.atproto.server.deactivateAccount", {}, auth=account)

    async def activate(self, account: Account) -> None:
        await self.procedure("com.atproto.server.activateAccount", None, auth=account)

    async def update_handle(self, account: Account, handle: str) -> None:
        await self.procedure("com.atproto.identity.updateHandle", {"handle": handle}, auth=account)

    async def takedown(self, did: str, *, applied: bool = True) -> None:
        """The operator's takedown of a repository (``com.atproto.admin.updateSubjectStatus``, admin auth)."""
        basic = base64.b64encode(f"admin:{self.net.info['admin_password']}".encode()).decode("ascii")
        body = {
            "subject": {"$type": "com.atproto.admin.defs#repoRef", "did": did},
            "takedown": {"applied": applied, "ref": "kith-devnet"} if applied else {"applied": False},
        }
        async with self.session.post(
            f"{self.net.pds_url}/xrpc/com.atproto.admin.updateSubjectStatus",
            json=body,
            headers={"Authorization": f"Basic {basic}"},
        ) as resp:
            await self._answer("com.atproto.admin.updateSubjectStatus", resp)

    # records

    async def create_record(
        self, account: Account, collection: str, record: dict[str, Any], *, rkey: str | None = None
    ) -> dict[str, Any]:
        """``createRecord``: returns ``{uri, cid, commit, ...}``."""
        body: dict[str, Any] = {"repo": account.did, "collection": collection, "record": record}
        if rkey is not None:
            body["rkey"] = rkey
        out: dict[str, Any] = await self.procedure("com.atproto.repo.createRecord", body, auth=account)
        return out

    async def put_record(
        self, account: Account, collection: str, rkey: str, record: dict[str, Any]
    ) -> dict[str, Any]:
        """``putRecord``: create or replace (a profile is the record ``app.bsky.actor.profile/self``)."""
        body = {"repo": account.did, "collection": collection, "rkey": rkey, "record": record}
        out: dict[str, Any] = await self.procedure("com.atproto.repo.putRecord", body, auth=account)
        return out

    async def delete_record(self, account: Account, collection: str, rkey: str) -> None:
        body = {"repo": account.did, "collection": collection, "rkey": rkey}
        await self.procedure("com.atproto.repo.deleteRecord", body, auth=account)

    async def get_record(self, repo: str, collection: str, rkey: str) -> dict[str, Any]:
        """``getRecord`` (no auth: public): ``{uri, cid, value}``; XrpcError RecordNotFound when absent."""
        out: dict[str, Any] = await self.query(
            "com.atproto.repo.getRecord", repo=repo, collection=collection, rkey=rkey
        )
        return out

    async def list_records(self, repo: str, collection: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """Every record of ``collection`` in ``repo`` (``listRecords``, following its cursor)."""
        records: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"repo": repo, "collection": collection, "limit": limit}
            if cursor:
                params["cursor"] = cursor
            page = await self.query("com.atproto.repo.listRecords", **params)
            records += page["records"]
            cursor = page.get("cursor")
            if not cursor or not page["records"]:
                return records

    async def get_repo(self, did: str) -> bytes:
        """The whole repository as a CAR file (``com.atproto.sync.getRepo``), as a user's export is."""
        async with self.session.get(
            f"{self.net.pds_url}/xrpc/com.atproto.sync.getRepo", params={"did": did}
        ) as resp:
            if resp.status >= 400:
                await self._answer("com.atproto.sync.getRepo", resp)
            return await resp.read()

    # profiles and follows, as records

    async def set_profile(self, account: Account, **fields: Any) -> dict[str, Any]:
        return await self.put_record(
            account, "app.bsky.actor.profile", "self", {"$type": "app.bsky.actor.profile", **fields}
        )

    async def follow(self, account: Account, subject_did: str) -> dict[str, Any]:
        record = {"$type": "app.bsky.graph.follow", "subject": subject_did, "createdAt": now_iso()}
        return await self.create_record(account, "app.bsky.graph.follow", record)

    # identity

    async def resolve_handle(self, handle: str) -> str:
        out = await self.query("com.atproto.identity.resolveHandle", handle=handle)
        return str(out["did"])

    async def well_known_did(self, handle: str) -> str:
        """The handle's HTTPS method, against the PDS: ``/.well-known/atproto-did`` with the handle as Host
        (``*.test`` is not in DNS; a bridge's resolver would connect to the PDS for it the same way)."""
        async with self.session.get(
            f"{self.net.pds_url}/.well-known/atproto-did", headers={"Host": handle}
        ) as resp:
            resp.raise_for_status()
            return (await resp.text()).strip()

    async def did_document(self, did: str) -> dict[str, Any]:
        """The DID document from the PLC directory (``GET {plc}/{did}``)."""
        async with self.session.get(f"{self.net.plc_url}/{did}") as resp:
            resp.raise_for_status()
            out: dict[str, Any] = await resp.json(content_type=None)
            return out

    # the repository event stream

    @asynccontextmanager
    async def firehose(self, *, cursor: int | None = None) -> AsyncIterator[Firehose]:
        """``com.atproto.sync.subscribeRepos`` on the PDS: from ``cursor`` (a ``seq``; the events after it are
        replayed first) or, without one, live from now. Closed when the block ends."""
        params = {"cursor": str(cursor)} if cursor is not None else {}
        async with self.session.ws_connect(self.net.firehose_url, params=params, max_msg_size=8 << 20) as ws:
            yield Firehose(ws)


class Firehose:
    """An open subscription; frames are read one at a time, each wait bounded so that a missing event fails
    the test with what was seen instead of hanging it."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws

    async def next(self, *, within: float = 60.0) -> Frame:
        async with asyncio.timeout(within):
            while True:
                msg = await self._ws.receive()
                if msg.type is aiohttp.WSMsgType.BINARY:
                    return decode_frame(msg.data)
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    raise ConnectionError(f"the PDS closed the stream ({msg.type.name}: {msg.data!r})")

    async def until(
        self, want: Callable[[Frame], bool], *, within: float = 60.0
    ) -> tuple[Frame, list[Frame]]:
        """The first frame for which ``want(frame)`` holds, and the frames read before it."""
        seen: list[Frame] = []
        try:
            async with asyncio.timeout(within):
                while not want(frame := await self.next(within=within)):
                    seen.append(frame)
        except TimeoutError:
            raise AssertionError(
                f"no awaited frame within {within:.0f} s; saw {[(f.seq, f.type) for f in seen]}"
            ) from None
        return frame, seen


@dataclass(frozen=True)
class Frame:
    """One event of the stream. ``type`` is ``#commit``, ``#identity``, ``#account``, ``#sync`` or ``#info``;
    for a commit, ``records`` maps each created or updated path (``collection/rkey``) to its decoded record
    and ``commit`` is the decoded signed commit object."""

    op: int
    type: str | None
    body: dict[str, Any]
    records: dict[str, Any] = field(default_factory=dict)
    commit: dict[str, Any] | None = None

    @property
    def seq(self) -> int | None:
        seq = self.body.get("seq")
        return seq if isinstance(seq, int) else None


def decode_frame(data: bytes) -> Frame:
    """A subscribeRepos frame: a DAG-CBOR header, then a DAG-CBOR body (op -1 is an error frame)."""
    fh = io.BytesIO(data)
    header = cbor2.CBORDecoder(fh).decode()
    if not isinstance(header, dict) or header.get("op") not in FIREHOSE_OPS:
        raise ValueError(f"not a subscribeRepos frame header: {header!r}")
    # cbor2.loads ignores trailing bytes, so the body is decoded from where the header ended.
    body = decode_dag_cbor(data[fh.tell() :])
    if not isinstance(body, dict):
        raise ValueError("a subscribeRepos frame body is not a map")
    if header["op"] == -1:
        return Frame(-1, None, body)
    kind = header.get("t")
    records: dict[str, Any] = {}
    commit = None
    blocks = body.get("blocks")
    if kind in ("#commit", "#sync") and isinstance(blocks, bytes) and blocks:
        car = CarReader(io.BytesIO(blocks))
        if isinstance(body.get("commit"), Link) and body["commit"] in car:
            commit = car.get(body["commit"])
        elif car.roots and car.roots[0] in car:
            commit = car.get(car.roots[0])
        for op in body.get("ops") or []:
            if isinstance(op.get("cid"), Link) and op["cid"] in car:
                records[op["path"]] = car.get(op["cid"])
    return Frame(header["op"], kind if isinstance(kind, str) else None, body, records, commit)
