"""Reading Bluesky for the bridge: a PDS's public XRPC queries and the PLC directory (issue #18 "Reading
Bluesky"). Thin async fetchers over the caller's aiohttp session (docs/ARCHITECTURE.md §3.9, §7); what they read
is untrusted, so sizes are capped and shapes checked, and anything unusable is a :class:`ReadError` naming the
call.

Who follows the bot is read from each repository's own ``app.bsky.graph.follow`` records (``listRecords``),
which needs no App View: the PDS's ``listRepos`` names the accounts it hosts.

Each account is read from its own PDS: the ``#atproto_pds`` service of its DID document (did:plc from the PLC
directory, did:web from ``https://HOST/.well-known/did.json``), resolved once per pass (``new_pass``). A DID
document is the account's to write, so everything it names is hostile: a document whose ``id`` is not the DID,
or whose PDS is no plain http(s) origin, is refused; a PDS other than the configured one (and every did:web
host) is read only through ``fetch_hostile``, the caller's guarded GET (the node's SSRF-guarded client: no
private addresses, bounded size and time; docs/ARCHITECTURE.md §5), and without one it is not read at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import aiohttp

from bridges.bluesky_bridge.consent import Account, label_values
from bridges.live import LiveError, get_json, same_origin
from protocol.addresses import normalize

__all__ = [
    "MAX_BODY",
    "MAX_DID_DOCUMENT",
    "BlueskyReader",
    "JsonFetch",
    "ReadError",
    "card_fields",
    "pds_endpoint",
]

#: The largest answer read from a PDS or the PLC directory: a page of records is far smaller.
MAX_BODY = 4 << 20
_PAGE = 100
#: Pages of one repository's follows read at most (100 each): an account following 100,000 others is read no
#: further, and whether it follows the bot is then also known from the stream.
_MAX_PAGES = 1000
#: The largest DID document read: a real one is about a kilobyte.
MAX_DID_DOCUMENT = 64 << 10

#: A guarded GET of a URL some DID document named (``url``, ``params``) -> the decoded JSON; it raises ReadError
#: (with the status and error code of a refusal) for anything else.
JsonFetch = Callable[[str, Mapping[str, str]], Awaitable[Any]]


class ReadError(Exception):
    """A call to the PDS or the PLC directory failed; the message names it and what came back."""

    def __init__(self, message: str, *, status: int = 0, error: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.error = error


@dataclass
class BlueskyReader:
    session: aiohttp.ClientSession
    pds_url: str
    plc_url: str
    appview_url: str = ""  # when set, the labels it reports of an account count too (``appview_labels``)
    fetch_hostile: JsonFetch | None = None  # set for a pass by the node (``new_pass``)
    _pds_of: dict[str, str] = field(default_factory=dict)
    #: hosts a guarded fetch could not reach in this pass (refused, timed out, too large), with why: the pass
    #: does not wait on them again, so one slow host costs one timeout per pass, not one per call
    _failed: dict[str, str] = field(default_factory=dict)

    def new_pass(self, fetch_hostile: JsonFetch | None) -> None:
        """A new pass: DID documents are resolved afresh (an account may have moved since), and URLs they name
        are fetched with ``fetch_hostile``."""
        self.fetch_hostile = fetch_hostile
        self._pds_of.clear()
        self._failed.clear()

    async def did_document(self, did: str) -> dict[str, Any]:
        """The DID document of ``did``: from the configured PLC directory (did:plc), or from the host a did:web
        names, through ``fetch_hostile`` (only ``did:web:HOST`` and ``did:web:HOST%3APORT``: no paths)."""
        if did.startswith("did:plc:"):
            url = f"{self.plc_url.rstrip('/')}/{quote(did)}"
            try:
                doc, _ = await get_json(self.session, url, limit_statuses=(), max_body=MAX_DID_DOCUMENT)
            except LiveError as exc:
                raise ReadError(f"the DID document of {did}: {exc}", status=exc.status or 0) from None
            except aiohttp.ClientError as exc:
                raise ReadError(f"the DID document of {did}: {url} cannot be reached ({exc})") from None
        elif did.startswith("did:web:"):
            host = unquote(did.removeprefix("did:web:"))
            parts = urlsplit(f"https://{host}")
            odd = parts.path or parts.query or parts.fragment or "@" in host
            if ":" in did.removeprefix("did:web:") or not parts.hostname or odd:
                raise ReadError(f"{did[:200]!r} is not a did:web this bridge reads (did:web:HOST only)")
            doc = await self._hostile(
                f"https://{host}/.well-known/did.json", {}, f"the DID document of {did}"
            )
        else:
            raise ReadError(f"{did[:200]!r}: only did:plc and did:web accounts are read")
        if not isinstance(doc, dict):
            raise ReadError(f"the DID document of {did} is not a JSON object")
        return doc

    async def pds_of(self, did: str) -> str:
        """The account's own PDS (its DID document's ``#atproto_pds``), resolved once per pass."""
        if did not in self._pds_of:
            self._pds_of[did] = pds_endpoint(await self.did_document(did), did)
        return self._pds_of[did]

    async def _hostile(self, url: str, params: Mapping[str, str], what: str) -> Any:
        if self.fetch_hostile is None:
            raise ReadError(
                f"{what}: {url} is not the configured PDS, and no guarded client was given to read it"
            )
        host = urlsplit(url).netloc.lower()
        if host in self._failed:
            raise ReadError(
                f"{what}: {host} already failed in this pass ({self._failed[host]}); tried next pass"
            )
        try:
            return await self.fetch_hostile(url, params)
        except ReadError as exc:
            if not exc.status:  # no answer at all (an HTTP error status is an answer: RecordNotFound, ...)
                self._failed[host] = str(exc)[:300]
            raise ReadError(f"{what}: {exc}", status=exc.status, error=exc.error) from None

    async def repo_xrpc(self, of: str, method: str, /, **params: str) -> dict[str, Any]:
        """A query about the repository of the DID ``of``, asked of its own PDS: the configured one as the
        operator set it, any other through the guarded ``fetch_hostile``."""
        pds = await self.pds_of(of)
        if same_origin(pds, self.pds_url):
            return await self.xrpc(method, **params)
        data = await self._hostile(f"{pds}/xrpc/{method}", params, method)
        if not isinstance(data, dict):
            raise ReadError(f"{method}: the answer of {pds} is not a JSON object")
        return data

    async def _get(self, url: str, params: Mapping[str, str], what: str) -> Any:
        """The JSON object at ``url``, read as every live bridge reads one (bridges/live.py: bounded, no
        redirects, lone surrogates replaced); any failure is a ReadError naming ``what``."""
        try:
            data, _ = await get_json(self.session, url, params=params, limit_statuses=(), max_body=MAX_BODY)
        except LiveError as exc:
            raise ReadError(f"{what}: {exc}", status=exc.status or 0, error=exc.error or "") from None
        except aiohttp.ClientError as exc:
            raise ReadError(f"{what}: {url} cannot be reached ({exc}); check the bridge's URLs") from None
        if not isinstance(data, dict):
            raise ReadError(f"{what}: the answer is not a JSON object")
        return data

    async def xrpc(self, method: str, **params: str) -> dict[str, Any]:
        data: dict[str, Any] = await self._get(f"{self.pds_url.rstrip('/')}/xrpc/{method}", params, method)
        return data

    async def resolve_handle(self, handle: str) -> str:
        did = (await self.xrpc("com.atproto.identity.resolveHandle", handle=handle)).get("did")
        if not isinstance(did, str) or not did.startswith("did:"):
            raise ReadError(f"resolveHandle of {handle!r} gave no DID")
        return did

    async def repos(self) -> list[dict[str, Any]]:
        """Every repository the PDS hosts: ``{did, active, status}``."""
        out: list[dict[str, Any]] = []
        cursor = ""
        for _ in range(_MAX_PAGES):
            params = {"limit": str(_PAGE)} | ({"cursor": cursor} if cursor else {})
            page = await self.xrpc("com.atproto.sync.listRepos", **params)
            repos = page.get("repos")
            if not isinstance(repos, list):
                raise ReadError("com.atproto.sync.listRepos: no repos list")
            out += [r for r in repos if isinstance(r, dict) and isinstance(r.get("did"), str)]
            cursor = page.get("cursor") or ""
            if not cursor or not repos:
                break
        return out

    async def records(self, did: str, collection: str) -> list[dict[str, Any]]:
        """The values of every record of ``collection`` in ``did``'s repository (following the cursor)."""
        out: list[dict[str, Any]] = []
        cursor = ""
        for _ in range(_MAX_PAGES):
            params = {"repo": did, "collection": collection, "limit": str(_PAGE)}
            page = await self.repo_xrpc(
                did, "com.atproto.repo.listRecords", **params | ({"cursor": cursor} if cursor else {})
            )
            records = page.get("records")
            if not isinstance(records, list):
                raise ReadError("com.atproto.repo.listRecords: no records list")
            out += [r["value"] for r in records if isinstance(r, dict) and isinstance(r.get("value"), dict)]
            cursor = page.get("cursor") or ""
            if not cursor or not records:
                break
        return out

    async def followers(self, appview_url: str, did: str) -> list[str]:
        """The DIDs that follow ``did``, from an App View (``app.bsky.graph.getFollowers``): the index of who
        follows whom across every PDS, which no single PDS keeps."""
        out: list[str] = []
        cursor = ""
        url = f"{appview_url.rstrip('/')}/xrpc/app.bsky.graph.getFollowers"
        for _ in range(_MAX_PAGES):
            params = {"actor": did, "limit": str(_PAGE)} | ({"cursor": cursor} if cursor else {})
            page = await self._get(url, params, "app.bsky.graph.getFollowers")
            followers = page.get("followers")
            if not isinstance(followers, list):
                raise ReadError("app.bsky.graph.getFollowers: no followers list")
            out += [f["did"] for f in followers if isinstance(f, dict) and isinstance(f.get("did"), str)]
            cursor = page.get("cursor") or ""
            if not cursor or not followers:
                break
        return out

    async def subjects(self, did: str, collection: str) -> set[str]:
        """The DIDs ``did``'s follows (or blocks) name."""
        return {
            v["subject"] for v in await self.records(did, collection) if isinstance(v.get("subject"), str)
        }

    async def profile(self, did: str) -> dict[str, Any]:
        """The account's ``app.bsky.actor.profile/self`` record; empty when it has none."""
        try:
            out = await self.repo_xrpc(
                did, "com.atproto.repo.getRecord", repo=did, collection="app.bsky.actor.profile", rkey="self"
            )
        except ReadError as exc:
            if exc.error == "RecordNotFound":
                return {}
            raise
        value = out.get("value")
        return value if isinstance(value, dict) else {}

    async def appview_labels(self, did: str) -> frozenset[str]:
        """The labels the App View reports of the account (``app.bsky.actor.getProfile``): its self-labels and
        those of the labellers the App View applies. An account the App View has not indexed yet has none there
        (its own self-labels are read from its profile record anyway); any other failure is a ReadError, so
        the account is left as it is until a pass can read it."""
        url = f"{self.appview_url.rstrip('/')}/xrpc/app.bsky.actor.getProfile"
        try:
            out = await self._get(url, {"actor": did}, "app.bsky.actor.getProfile")
        except ReadError as exc:
            if exc.status == 400 and exc.error == "InvalidRequest":  # "Profile not found"
                return frozenset()
            raise
        return label_values(out.get("labels"))

    async def handle_of(self, did: str) -> str:
        handle = (await self.repo_xrpc(did, "com.atproto.repo.describeRepo", repo=did)).get("handle")
        return handle if isinstance(handle, str) else ""

    async def created_at(self, did: str) -> datetime | None:
        """When the DID was made: the first operation of its PLC audit log (None for did:web or unknown)."""
        if not did.startswith("did:plc:"):
            return None
        url = f"{self.plc_url.rstrip('/')}/{quote(did)}/log/audit"
        try:
            log, _ = await get_json(self.session, url, limit_statuses=(), max_body=MAX_BODY)
            first = (
                log[0]["createdAt"] if isinstance(log, list) and log and isinstance(log[0], dict) else None
            )
            return datetime.fromisoformat(first.replace("Z", "+00:00")).astimezone(UTC) if first else None
        except (LiveError, aiohttp.ClientError, ValueError, TypeError, AttributeError):
            return None

    async def status(self, did: str) -> tuple[bool, str]:
        """(active, status): a deactivated, suspended or taken-down account is not active."""
        try:
            out = await self.repo_xrpc(did, "com.atproto.sync.getRepoStatus", did=did)
        except ReadError as exc:
            if exc.error in ("RepoNotFound", "RepoTakendown", "RepoDeactivated", "RepoSuspended"):
                return False, exc.error.removeprefix("Repo").lower().replace("notfound", "deleted")
            raise
        active = out.get("active") is True
        return active, "" if active else str(out.get("status") or "deactivated")

    async def account(self, did: str, *, bot_did: str, blocked_by_operator: bool = False) -> Account:
        """Everything the consent rules look at, read afresh."""
        active, status = await self.status(did)
        if not active:
            return Account(did=did, active=False, status=status, blocked_by_operator=blocked_by_operator)
        profile = await self.profile(did)
        labels = label_values(profile.get("labels"))
        if self.appview_url:
            labels |= await self.appview_labels(did)
        return Account(
            did=did,
            handle=await self.handle_of(did),
            follows_bot=bot_did in await self.subjects(did, "app.bsky.graph.follow"),
            blocks_bot=bot_did in await self.subjects(did, "app.bsky.graph.block"),
            display_name=_text(profile.get("displayName"), 640),
            description=_text(profile.get("description"), 2560),
            has_avatar=_blob_cid(profile.get("avatar")) is not None,
            created_at=await self.created_at(did),
            blocked_by_operator=blocked_by_operator,
            labels=labels,
        )


def _text(value: Any, limit: int) -> str:
    """Profile text as a card can hold it: line breaks kept as LF, every other control character and lone
    surrogate dropped (a PDS stores what its user wrote), cut to ``limit``."""
    if not isinstance(value, str):
        return ""
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    if not text.replace("\n", "").isprintable():
        text = "".join(ch for ch in text if ch == "\n" or ch.isprintable())
    return text[:limit]


def _blob_cid(blob: Any) -> str | None:
    if not isinstance(blob, dict):
        return None
    ref = blob.get("ref")
    link = ref.get("$link") if isinstance(ref, dict) else None
    return link if isinstance(link, str) and link.isalnum() else None


def pds_endpoint(doc: Mapping[str, Any], did: str) -> str:
    """The ``#atproto_pds`` service endpoint of a DID document, as an origin (``scheme://host[:port]``); a
    ReadError when the document is not ``did``'s own, or names no usable PDS. Whether that origin may be
    reached is the guarded client's to say, when it is read."""
    if doc.get("id") != did:
        raise ReadError(
            f"the DID document of {did} names another DID ({str(doc.get('id'))[:100]!r}); refused"
        )
    services = doc.get("service")
    for service in services[:16] if isinstance(services, list) else []:
        if not isinstance(service, dict) or service.get("id") not in ("#atproto_pds", f"{did}#atproto_pds"):
            continue
        endpoint = service.get("serviceEndpoint")
        if not isinstance(endpoint, str) or len(endpoint) > 300:
            break
        try:
            parts = urlsplit(endpoint)
            port = parts.port
        except ValueError:
            break
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.username or parts.password:
            break
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            break
        return (
            f"{parts.scheme}://{parts.hostname if ':' not in parts.hostname else f'[{parts.hostname}]'}"
            + (f":{port}" if port else "")
        )
    raise ReadError(f"the DID document of {did} names no usable #atproto_pds (an http(s) origin); refused")


def card_fields(*, did: str, handle: str, profile: Mapping[str, Any], pds_url: str) -> dict[str, Any]:
    """The Kith card of a bridged account: only public profile fields (issue #18: display name, handle,
    description, avatar URL, links); its identities are its DID and handle."""
    identities = [did]
    if handle:
        try:
            identities.append(normalize("@" + handle).uri)  # at://HANDLE
        except ValueError:
            pass  # an unusable handle is left out; the DID names the account anyway
    card: dict[str, Any] = {
        "name": _text(profile.get("displayName"), 640).strip() or handle or did,
        "summary": _text(profile.get("description"), 2000).strip(),
        "identities": identities,
    }
    cid = _blob_cid(profile.get("avatar"))
    if cid is not None and pds_url.startswith("https://"):  # a card's photo is an https URL
        card["photo"] = (
            f"{pds_url.rstrip('/')}/xrpc/com.atproto.sync.getBlob?did={quote(did)}&cid={quote(cid)}"
        )
    return card
