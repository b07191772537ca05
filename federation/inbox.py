"""Receiving activities: every check of docs/ARCHITECTURE.md §5, in an order where cheap refusals come first.

1. rate limits (federation/ratelimit.py; 503 + Retry-After): a request is charged to the address it comes
   from until its signature is verified, then to the host of the key that signed it; a host over its limit
   is refused here already (its bucket is looked at, not charged, since the key id is not yet proven);
2. size: a declared or streamed body over 1 MiB is refused before parsing (413); content type (415);
3. JSON parsed within limits (depth 32, 20,000 values: 413; malformed: 400), the usual compacted-AS variations
   normalised, and its ``@context`` checked against the contexts we ship (400); an activity Kith would not act
   on is answered 202 here and not stored, before any key is fetched (federation/triage.py);
4. signature (cavage or RFC 9421) verified on the raw bytes with the key the ``keyId`` names, inside the time
   window, with the digest checked (401); a failed check may re-fetch the key once (rotation);
5. which accounts it concerns: a personal inbox's account; for the shared inbox, the local accounts it is addressed
   to, names, or that deal with its sender (federation/audience.py). None: 202, nothing stored, no key fetched;
6. origin: key owner = ``actor`` = origin of the activity id (403); Update/Delete/Move/Undo/Offer only of the
   actor's own objects, unless the object is a signed record (its proofs vouch for it); other embedded
   objects from another origin are cut down to their id, so that the worker fetches them from their own
   origin or finds them in our store;
7. blocks (federation/blocks.py: the actor, its keys, its aliases, its domain), of each account concerned: an
   account that blocks the sender does not get it; when every one does, 403. What the request names is
   checked before any key is fetched, the actor the key belongs to once it is known;
   then the activity is read into its typed record (federation/received.py): one that does not make a valid
   record is refused (400, naming the field) rather than stored to fail in the worker;
8. dedupe by activity id per account (a finished id reused by another signed request is a new request:
   federation/store.py) and durable store, one row per account concerned, in one group-committed write, then
   202; a worker processes each row for its account.
   What is stored is only what processing reads (federation/triage.py), so that padding does not fill the disk.
Nothing is written unless every check passed. The checks run once per request, whichever accounts it concerns.

The same pipeline takes activities one account of this server delivers to another (:meth:`Intake.take`, called by
the local transport, federation/local.py): the network hop is skipped, no check is.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiohttp import web

from federation.blocks import Blocks
from federation.errors import Blocked, FetchError, FetchStatus, UnsupportedMedia
from federation.fetch import FetchBudget
from federation.ports import FederationStore, RemoteActor
from federation.ratelimit import FetchSlots, HostRateLimiter, client_key
from federation.received import parse
from federation.remote import RemoteActors, origin
from federation.signing import public_key, signature_key_id, verify
from federation.triage import bounded, wanted
from federation.values import InboxItem
from protocol import cavage, rfc9421
from protocol.errors import (
    MalformedInput,
    OriginMismatch,
    SignatureError,
    TooLarge,
    UnknownContext,
)
from protocol.jsonld import MAX_DOCUMENT_BYTES, parse_json
from protocol.sfv import Item, parse_dictionary
from protocol.wire import header_map

__all__ = [
    "KEY_FETCHES",
    "KEY_FETCHES_PER_CLIENT",
    "KNOWN_CONTEXTS",
    "Intake",
    "Recipients",
    "check_contexts",
    "read_body",
]

#: Key fetches for requests not yet verified, at once (federation/ratelimit.FetchSlots): well under the guarded
#: client's 200 connections, so that deliveries and the inbox worker always have theirs.
KEY_FETCHES = 32
KEY_FETCHES_PER_CLIENT = 4

#: Context URLs an incoming activity may name. Everything else is refused: we never fetch contexts.
KNOWN_CONTEXTS = frozenset(
    {
        "https://www.w3.org/ns/activitystreams",
        "http://www.w3.org/ns/activitystreams",
        "https://www.w3.org/ns/activitystreams#",
        "https://www.w3.org/ns/activitystreams.jsonld",
        "https://w3id.org/security/v1",
        "https://w3id.org/security/v2",
        "https://w3id.org/security/data-integrity/v1",
        "https://w3id.org/security/data-integrity/v2",
        "https://w3id.org/security/multikey/v1",
        "https://w3id.org/identity/v1",
        "https://www.w3.org/ns/did/v1",
        "https://w3id.org/kith/v1",
        "https://w3id.org/kith/ns",
        "https://purl.archive.org/socialweb/webfinger",
        "https://gotosocial.org/ns",
    }
)
#: Activities whose object must be the actor's own (on its origin): nobody updates, deletes, moves or undoes
#: what another server owns. (Accept, Reject, Follow and Block name objects elsewhere by design.)
_OWN_OBJECT_TYPES = frozenset({"Update", "Delete", "Move", "Undo", "Offer", "Create"})
_ACTIVITY_MEDIA = ("application/activity+json", "application/ld+json", "application/json")


def check_contexts(doc: dict[str, Any]) -> None:
    ctx = doc.get("@context")
    items = ctx if isinstance(ctx, list) else [ctx]
    for item in items:
        if item is None or isinstance(item, dict):
            continue  # inline term definitions define nothing we would fetch
        if not isinstance(item, str):
            raise MalformedInput("@context entries must be URLs or objects")
        # Pleroma/Akkoma name a per-server copy of their LitePub context
        if item not in KNOWN_CONTEXTS and not item.endswith("/schemas/litepub-0.1.jsonld"):
            raise UnknownContext(f"unknown JSON-LD context {item[:200]!r}; Kith never fetches contexts")


async def read_body(request: web.Request, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    declared = request.content_length
    if declared is not None and declared > limit:
        raise TooLarge(f"body of {declared} bytes is over the {limit} byte limit")
    if declared is not None:
        try:
            return await request.content.readexactly(declared)
        except asyncio.IncompleteReadError:
            raise MalformedInput("the body ended before its Content-Length") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"body is over the {limit} byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


@functools.lru_cache(maxsize=8192)
def _key_host(key_id: str) -> str:
    return urlsplit(key_id).netloc.lower()


def _normalize(activity: dict[str, Any]) -> dict[str, Any]:
    """The usual variations of compacted ActivityStreams (PROTOCOL.md §3): ``@id``/``@type`` for id/type, a
    list of types (the first string wins), a one-element list of actors. Returns ``activity`` itself when
    nothing needed changing, so the bytes as sent are kept."""
    out = activity
    for short, long in (("id", "@id"), ("type", "@type")):
        if short not in out and long in out:
            out = dict(out) if out is activity else out
            out[short] = out.pop(long)
    kind = out.get("type")
    if isinstance(kind, list):
        out = dict(out) if out is activity else out
        out["type"] = next((k for k in kind if isinstance(k, str)), None)
    actor = out.get("actor")
    if isinstance(actor, list) and len(actor) == 1:
        out = dict(out) if out is activity else out
        out["actor"] = actor[0]
    return out


def _ref(value: Any) -> str | None:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else None


def _strip_foreign(activity: dict[str, Any], actor_origin: str) -> dict[str, Any]:
    """Embedded objects from another origin are not trusted: keep their id (and type as a hint) only.
    Returns ``activity`` itself when nothing had to go."""
    out = activity
    for name in ("object", "target"):
        value = out.get(name)
        if isinstance(value, dict):
            oid = value.get("id")
            if isinstance(oid, str) and origin(oid) != actor_origin and "proof" not in value:
                out = dict(out) if out is activity else out
                out[name] = {"id": oid, "type": value.get("type")}
            elif (
                not isinstance(oid, str)
                and name == "object"
                and value.get("type") not in (None, "Relationship")
            ):
                raise MalformedInput(f"embedded {name} without an id")
    return out


def _request_digest(scheme: Any, key_id: str, headers: Mapping[str, str]) -> str:
    """What tells one signed request from another (federation/store.py): the signature bytes that verified,
    picked from the headers exactly as the verifier picks them. A replay carries the very same bytes however
    its headers are dressed (parameters reordered, another algorithm name, an extra Authorization header or
    RFC 9421 label beside them); a new request, even one reusing an activity id, is signed again."""
    fields = header_map(list(headers.items()))
    if scheme == "rfc9421":
        label = next(i.label for i in rfc9421.signature_inputs_from_headers(fields) if i.key_id == key_id)
        member = parse_dictionary(fields["signature"])[label]
        signature = member.value if isinstance(member, Item) and isinstance(member.value, bytes) else b""
    else:
        signature = cavage.signature_from_headers(fields).signature
    return hashlib.sha256(key_id.encode() + b"\n" + signature).hexdigest()


class _KeyGone(Exception):
    """The key's document answered 404/410: its actor is gone."""


class _StoreBatcher:
    """Requests that arrive together are stored together: while one write is on its way to disk, the next
    requests queue up and go in the following write (one transaction, one fsync for all of them). Each
    request is still answered only once its own row is on disk."""

    def __init__(self, store: FederationStore) -> None:
        self.store = store
        self._pending: list[tuple[Sequence[InboxItem], asyncio.Future[list[bool]]]] = []
        self._task: asyncio.Task[None] | None = None

    async def add(self, items: Sequence[InboxItem]) -> list[bool]:
        """Store one request's items (one per account it concerns); for each, whether it was new."""
        future: asyncio.Future[list[bool]] = asyncio.get_running_loop().create_future()
        self._pending.append((items, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._pending:
            batch: list[tuple[Sequence[InboxItem], asyncio.Future[list[bool]]]] = []
            size = 0
            while self._pending and (not batch or size + len(self._pending[0][0]) <= 512):
                entry = self._pending.pop(0)
                batch.append(entry)
                size += len(entry[0])
            try:
                results = await self.store.store_inbox_many([item for items, _ in batch for item in items])
            except BaseException as exc:  # the callers see the failure; nothing was stored for them
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            start = 0
            for items, future in batch:
                if not future.done():
                    future.set_result(results[start : start + len(items)])
                start += len(items)


class Recipients(Protocol):
    """What the intake asks the server about its accounts (federation/service.py answers)."""

    def actor_of(self, account: str) -> str:
        """The actor id of the account ``account``."""
        ...

    def names_ours(self, actor_id: str) -> bool:
        """Whether ``actor_id`` is, by its shape, the actor of an account of this server (unchecked)."""
        ...

    async def concerned(self, activity: Mapping[str, Any], sender: str) -> set[str]:
        """The accounts a shared-inbox activity concerns (federation/audience.py)."""
        ...

    def blocks_of(self, account: str) -> Blocks: ...


class Intake:
    def __init__(
        self,
        *,
        store: FederationStore,
        actors: RemoteActors,
        base_url: str,
        clock: Callable[[], float],
        limiter: HostRateLimiter,
        on_stored: Callable[[], None],
        recipients: Recipients,
        clients: HostRateLimiter | None = None,
    ) -> None:
        self.store = store
        self.recipients = recipients
        self.actors = actors
        self.base_url = base_url
        self.clock = clock
        self.limiter = limiter  # per peer host, charged once a request's signature is verified
        # per connecting address, for requests not (yet) verified; the same allowance as a host
        self.clients = clients or HostRateLimiter(rate=limiter.rate, burst=limiter.burst, clock=clock)
        self.fetches = FetchSlots(total=KEY_FETCHES, per_client=KEY_FETCHES_PER_CLIENT)
        self.on_stored = on_stored
        self._batcher = _StoreBatcher(store)
        self.verified = 0  # counters for tests and benchmarks
        self.duplicates = 0
        self.ignored = 0

    def admit(self, remote: str | None, headers: Mapping[str, str]) -> tuple[Any, str, str]:
        """The rate limits' first look at a request: its sender's address pays for it until its signature is
        verified (then it is paid back, see authenticate); the host its key id names is only looked at.
        Returns (scheme, key id, client)."""
        client = client_key(remote)
        self.clients.take(client)
        scheme, key_id = signature_key_id(headers)
        self.limiter.check(_key_host(key_id))
        return scheme, key_id, client

    async def handle(self, request: web.Request, *, account: str | None = None) -> web.Response:
        """An inbox POST: ``account``'s personal inbox, or the shared inbox (None)."""
        admitted = self.admit(request.remote, request.headers)
        body = await read_body(request)
        said = await self.take(
            admitted, method=request.method, path_qs=request.path_qs, headers=request.headers, body=body,
            account=account,
        )  # fmt: skip
        return web.Response(status=202, text=said)

    async def take(
        self,
        admitted: tuple[Any, str, str],
        *,
        method: str,
        path_qs: str,
        headers: Mapping[str, str],
        body: bytes,
        account: str | None,
    ) -> str:
        """Every check of a received activity after admission (see the module's list); what it did, as the
        202's text says it."""
        scheme, key_id, client = admitted
        media = headers.get("Content-Type", "").split(";")[0].strip().lower()
        if media not in _ACTIVITY_MEDIA:
            raise UnsupportedMedia("send application/activity+json")
        if len(body) > MAX_DOCUMENT_BYTES:
            raise TooLarge(f"body is over the {MAX_DOCUMENT_BYTES} byte limit")
        activity = parse_json(body)
        check_contexts(activity)
        ours = self.recipients.actor_of(account).__eq__ if account is not None else self.recipients.names_ours
        if not wanted(_normalize(activity), owner=ours):
            self.ignored += 1  # its address paid for it: nothing proved who sent it
            return "ignored: Kith does not act on this activity"
        stored = await self.receive(
            scheme=scheme,
            key_id=key_id,
            method=method,
            url=self.base_url + path_qs,
            headers=headers,
            body=body,
            activity=activity,
            client=client,
            account=account,
        )
        if stored is None:
            return "ignored: it concerns no account here"
        return "stored" if stored else "already stored"

    async def authenticate(
        self,
        *,
        scheme: Any,
        key_id: str,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        client: str | None = None,
    ) -> RemoteActor:
        """The actor whose key signed this request, or SignatureError (401). Once verified, the request is
        paid back to the ``client`` address that paid for it and charged to the key's host instead (503 when
        that host is over its limit)."""
        actor = await self._authenticate(
            scheme=scheme,
            key_id=key_id,
            method=method,
            url=url,
            headers=headers,
            body=body,
            client=client or "?",
        )
        if client is not None:
            self.clients.give_back(client)
        self.limiter.take(_key_host(key_id))
        return actor

    async def _authenticate(
        self,
        *,
        scheme: Any,
        key_id: str,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        client: str,
    ) -> RemoteActor:
        budget = FetchBudget(remaining=4)
        try:
            actor = await self.actors.known_key(key_id)
            if actor is None and self.actors.fetching(key_id):
                actor = await self.actors.by_key_id(key_id, budget=budget)  # waits for the fetch under way
            elif actor is None:
                with self.fetches.slot(client):  # a fetch for someone not yet proven: bounded (503 beyond)
                    actor = await self.actors.by_key_id(key_id, budget=budget)
        except FetchStatus as exc:
            if exc.status in (404, 410):
                raise _KeyGone(key_id) from None
            raise SignatureError(f"cannot fetch the key {key_id}: {exc.message}") from None
        except FetchError as exc:
            raise SignatureError(f"cannot fetch the key {key_id}: {exc.message}") from None
        except OriginMismatch as exc:  # no actor vouches for this key: the request is not authenticated
            raise SignatureError(f"the key {key_id} is not listed by its actor: {exc.message}") from None
        except MalformedInput as exc:  # an actor document or key we cannot use authenticates nobody
            raise SignatureError(f"cannot use the key {key_id}: {exc.message}") from None
        now = self.clock()

        def check(signer: RemoteActor) -> None:
            try:
                key = public_key(signer.public_key_pem, key_id=key_id, owner=signer.id)
            except MalformedInput as exc:  # e.g. cached before its exponent was refused: refetched below
                raise SignatureError(f"the key {key_id} cannot be used: {exc.message}") from None
            verify(scheme, method=method, url=url, headers=headers, body=body, key=key, now=now)

        try:
            check(actor)
        except SignatureError as exc:
            if "does not verify" not in exc.message and "cannot be used" not in exc.message:
                raise
            # the key may have been rotated: one re-fetch, rate-limited per key, then the verdict stands
            try:
                with self.fetches.slot(client):
                    fresh = await self.actors.refetch_key(actor, budget=budget)
            except (FetchError, MalformedInput, OriginMismatch):
                raise exc from None  # the key's server cannot vouch for anything new: the request stays refused
            if fresh is None or fresh.public_key_pem == actor.public_key_pem or fresh.public_key_id != key_id:
                raise
            check(fresh)
            actor = fresh
        return actor

    async def signed_fetcher(
        self,
        *,
        remote: str | None,
        headers: Mapping[str, str],
        path_qs: str,
        account: str,
        method: str = "GET",
        body: bytes = b"",
    ) -> RemoteActor:
        """Who signed this request for something ``account`` holds (private records are served only to actors
        allowed to see them; blocked ones find nothing). A GET by default; an organisation's operations are
        POSTs too (federation/org_api.py), whose ``body`` the signature covers."""
        scheme, key_id, client = self.admit(remote, headers)
        blocks = self.recipients.blocks_of(account)
        if await blocks.refuses_key(key_id):
            raise Blocked("blocked")
        try:
            signer = await self.authenticate(
                scheme=scheme,
                key_id=key_id,
                method=method,
                url=self.base_url + path_qs,
                headers=headers,
                body=body,
                client=client,
            )
        except _KeyGone:
            raise SignatureError(f"the key {key_id} is gone") from None
        if await blocks.refuses_actor(signer):
            raise Blocked("blocked")
        return signer

    async def receive(
        self,
        *,
        scheme: Any,
        key_id: str,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        activity: dict[str, Any],
        client: str | None = None,
        account: str | None = None,
    ) -> bool | None:
        """Verify and store; whether it was new (False: a duplicate for every account it concerns), or None
        when it concerns no account here (nothing stored, no key fetched)."""
        original = activity
        activity = _normalize(activity)
        actor_field = activity.get("actor")
        actor_ref = actor_field.get("id") if isinstance(actor_field, dict) else actor_field
        activity_id, kind = activity.get("id"), activity.get("type")
        if not isinstance(actor_ref, str) or not isinstance(activity_id, str) or not isinstance(kind, str):
            raise MalformedInput("an activity needs string id, type and actor")
        concerned = {account} if account is not None else await self.recipients.concerned(activity, actor_ref)
        if not concerned:
            self.ignored += 1
            return None
        # each account's blocks: one that blocks the sender does not get it; none left, refused (403)
        accounts = [
            name
            for name in sorted(concerned)
            if not await self.recipients.blocks_of(name).refuses(actor_ref, key_id)
        ]
        if not accounts:
            raise Blocked("blocked")
        try:
            actor = await self.authenticate(
                scheme=scheme,
                key_id=key_id,
                method=method,
                url=url,
                headers=headers,
                body=body,
                client=client,
            )
        except _KeyGone:
            if kind == "Delete" and actor_ref == key_id.split("#")[0]:
                return False  # a deleted actor's farewell, its key gone and never cached: nothing to do
            raise SignatureError(f"the key {key_id} is gone") from None
        # a key without a fragment, aliases: now we know whose it is
        accounts = [
            name for name in accounts if not await self.recipients.blocks_of(name).refuses_actor(actor)
        ]
        if not accounts:
            raise Blocked("blocked")
        now = self.clock()
        if actor_ref != actor.id:
            raise OriginMismatch(f"signed by {actor.id}'s key but claims to be from {actor_ref}")
        actor_origin = origin(actor.id)
        if origin(activity_id) != actor_origin:
            raise OriginMismatch(f"activity id {activity_id} is not on the origin of its actor {actor.id}")
        obj = activity.get("object")
        signed_record = isinstance(obj, dict) and "proof" in obj  # its proofs, not its origin, vouch for it
        if kind in _OWN_OBJECT_TYPES and not signed_record:
            object_id = _ref(obj)
            if object_id is not None and origin(object_id) != actor_origin:
                raise OriginMismatch(f"a {kind} can only concern its actor's own objects, not {object_id}")
        self.verified += 1
        clean = bounded(_strip_foreign(activity, actor_origin))
        parse(clean)  # what the worker will read it into (federation/received.py): unreadable is refused now
        text = body.decode() if clean is original else json.dumps(clean)  # keep the bytes as sent when we can
        request = _request_digest(scheme, key_id, headers)  # after verification: these headers parse
        items = [
            InboxItem(
                account=name,
                activity_id=activity_id,
                actor_id=actor.id,
                type=kind,
                body=text,
                now=now,
                request=request,
            )
            for name in accounts
        ]
        stored = any(await self._batcher.add(items))
        if stored:
            self.on_stored()
        else:
            self.duplicates += 1
        return stored
