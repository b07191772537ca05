"""Remote actors: fetching, checking and caching their documents and keys; resolving addresses.

Rules kept:
- An actor document is trusted only for its own origin: its ``id`` must be on the origin it was fetched from
  (after redirects), and its ``publicKey`` must be on the same origin and name the actor as its owner.
- Keys are cached in the database; a failed verification may re-fetch the key once, at most every
  ``KEY_REFETCH_SECONDS`` per key (key rotation without letting forged requests make us fetch at will). The
  window is the key's own: a forged request naming one actor's key leaves every other key's rotation alone
  (a window per host let one forgery block the rotations of a whole server).
- Addresses (``acct:user@host``, ``user@host``, an actor URL) resolve through WebFinger; the round trip
  Mastodon does (actor -> ``preferredUsername@host`` -> same actor id) decides the ``acct`` we record.
- Every fetch goes through the guarded client, signed by the server's Application actor, within a budget.
- The cache of actor documents is the server's, shared by every account (a document is public); which account's
  graph hears of an actor is the caller's: :class:`AccountActors` is the cache as one account uses it, telling
  that account's graph (GraphPort.remote_actor_seen) of every actor it fetches or reads.
- Hot keys stay in memory for ``KEY_CACHE_SECONDS`` at most: another process sharing the database may have
  learned since that an actor was deleted, or re-fetched its key.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlsplit

from federation.errors import FetchError, FetchStatus, NotFound
from federation.fetch import JRD_TYPES, FetchBudget, GuardedClient, Signer
from federation.ports import ActorSource, FederationStore, GraphPort, RemoteActor
from federation.signing import public_key
from federation.urls import KITH_PROTOCOL
from federation.values import StoredActor
from protocol.addresses import normalize_acct
from protocol.errors import InvalidRecord, MalformedInput, OriginMismatch

__all__ = [
    "KEY_CACHE_SECONDS",
    "KEY_REFETCH_SECONDS",
    "STALE_SECONDS",
    "AccountActors",
    "RemoteActors",
    "Witness",
    "origin",
    "parse_actor",
    "parse_address",
]

KEY_REFETCH_SECONDS = 300.0
STALE_SECONDS = 86400.0
KEY_CACHE_SECONDS = 60.0
#: Who hears of an actor federation fetched or read (an account's graph): (actor, source).
Witness = Callable[[RemoteActor, ActorSource], Awaitable[None]]
_ACTOR_TYPES = {"Person", "Organization", "Application", "Service", "Group"}


@functools.lru_cache(maxsize=8192)
def origin(url: str) -> str:
    p = urlsplit(url)
    return f"{p.scheme.lower()}://{p.netloc.lower()}"


def _str(doc: dict[str, Any], name: str) -> str | None:
    value = doc.get(name)
    return value if isinstance(value, str) and len(value) < 4096 else None


def _first_id(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("href") or value.get("url") or value.get("id")
    return value if isinstance(value, str) else None


def _ids(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    out = [i.get("id") if isinstance(i, dict) else i for i in items]
    return tuple(i for i in out if isinstance(i, str))[:32]


def _implements_kith(value: Any) -> bool:
    """FEP-844e ``implements``: links (or bare IRIs) naming the Kith protocol."""
    return any(
        (i.get("href") if isinstance(i, dict) else i) == KITH_PROTOCOL
        for i in (value if isinstance(value, list) else [value])
    )


def parse_actor(doc: dict[str, Any], fetched_from: str, *, acct: str | None = None) -> RemoteActor:
    """Check an actor document against the URL it came from and reduce it to a :class:`RemoteActor`."""
    actor_id = _str(doc, "id")
    if not actor_id:
        raise MalformedInput("actor document has no id")
    if origin(actor_id) != origin(fetched_from):
        raise OriginMismatch(f"actor {actor_id} was served by {origin(fetched_from)}")
    kind = doc.get("type")
    if not isinstance(kind, str) or kind not in _ACTOR_TYPES:
        raise MalformedInput(f"{actor_id} is a {kind!r}, not an actor")
    inbox = _str(doc, "inbox")
    if not inbox or urlsplit(inbox).scheme not in ("http", "https"):
        raise MalformedInput(f"actor {actor_id} has no usable inbox")
    keys = doc.get("publicKey")
    candidates = keys if isinstance(keys, list) else [keys]
    key = next((k for k in candidates if isinstance(k, dict) and k.get("owner") == actor_id), None)
    if key is None or not isinstance(key.get("id"), str) or not isinstance(key.get("publicKeyPem"), str):
        raise MalformedInput(f"actor {actor_id} has no publicKey owned by itself")
    if origin(key["id"]) != origin(actor_id):
        raise OriginMismatch(f"key {key['id']} is not on the origin of its owner {actor_id}")
    try:  # a key we would refuse at every verification (e.g. an RSA exponent other than 65537) is no key
        public_key(key["publicKeyPem"], key_id=key["id"], owner=actor_id)
    except MalformedInput as exc:
        raise MalformedInput(f"actor {actor_id} publishes an unusable key: {exc.message}") from None
    endpoints = doc.get("endpoints")
    shared = _str(endpoints, "sharedInbox") if isinstance(endpoints, dict) else None
    multikeys = []
    methods = doc.get("assertionMethod")
    for m in methods if isinstance(methods, list) else [methods]:
        if isinstance(m, dict) and m.get("type") == "Multikey" and m.get("controller") == actor_id:
            mid, mb = m.get("id"), m.get("publicKeyMultibase")
            if isinstance(mid, str) and isinstance(mb, str) and origin(mid) == origin(actor_id):
                multikeys.append((mid, mb))
    is_kith = _implements_kith(doc.get("implements"))
    generator = doc.get("generator")
    if isinstance(generator, dict):
        is_kith = is_kith or _implements_kith(generator.get("implements"))
    return RemoteActor(
        id=actor_id,
        type=kind,
        acct=acct,
        preferred_username=_str(doc, "preferredUsername"),
        name=_str(doc, "name"),
        summary=_str(doc, "summary"),
        url=_first_id(doc.get("url")),
        icon=_first_id(doc.get("icon")),
        inbox=inbox,
        shared_inbox=shared,
        outbox=_str(doc, "outbox"),
        followers=_str(doc, "followers"),
        following=_str(doc, "following"),
        public_key_id=key["id"],
        public_key_pem=key["publicKeyPem"],
        also_known_as=_ids(doc.get("alsoKnownAs", [])),
        moved_to=_first_id(doc.get("movedTo")),
        is_kith=is_kith,
        multikeys=tuple(multikeys),
    )


def parse_address(address: str) -> tuple[str, str] | str:
    """``acct:user@host`` or ``user@host`` (optionally with a leading @) -> (user, host); a URL -> itself.

    The account is read by protocol/addresses.py, the same reader the graph keys identities with, so that
    what the owner types, what WebFinger answers and what the graph stores agree: the host keeps its port
    (``@bob@127.0.0.1:8722``, ``@admin@localhost:3000``, ``@bob@[::1]:8722``) and is lowercased and
    IDNA-encoded."""
    text = address.strip()
    if text[:8].lower().startswith(("https://", "http://")):
        return text
    if text[:5].lower() == "acct:":
        text = text[5:]
    try:
        uri = normalize_acct("acct:" + text.lstrip("@"))
    except InvalidRecord as exc:
        raise NotFound(
            f"{address[:200]!r} is not an address ({exc.message}); use acct:user@host, user@host or an actor URL"
        ) from None
    user, _, host = uri[5:].rpartition("@")
    return user, host


class RemoteActors:
    """The server's cache of actor documents and keys, and the fetches that fill it."""

    def __init__(
        self,
        *,
        store: FederationStore,
        client: GuardedClient,
        signer: Signer,
        clock: Callable[[], float],
        allow_http: bool,
    ) -> None:
        self.store = store
        self.client = client
        self.signer = signer
        self.clock = clock
        self.allow_http = allow_http
        # key id -> (actor, when it was read): every inbox request needs one, so the hot ones stay in memory
        # (kept in step with the database by _remember; bounded so that a flood of new keys cannot grow it
        # without end, and read again after KEY_CACHE_SECONDS)
        self._by_key: dict[str, tuple[RemoteActor, float]] = {}
        # key id -> when it was last re-fetched: checked and set without an await in between, so that forged
        # requests arriving together cannot all pass the window before the database records the first
        self._key_refetch: dict[str, float] = {}
        self._key_fetches: dict[str, asyncio.Future[RemoteActor]] = {}  # key id -> the fetch under way

    async def _fetch(self, url: str, budget: FetchBudget | None) -> RemoteActor:
        final, doc = await self.client.get_json(url, budget=budget, signer=self.signer)
        actor = parse_actor(doc, final)
        if actor.id != final.split("#")[0]:
            # served under another URL of the same origin: trust only what its own id serves
            final, doc = await self.client.get_json(actor.id, budget=budget, signer=self.signer)
            actor = parse_actor(doc, final)
            if actor.id != final:
                raise OriginMismatch(f"{url} does not serve the actor it names ({actor.id})")
        return await self._remember(actor, doc, budget)

    async def _remember(
        self, actor: RemoteActor, doc: dict[str, Any], budget: FetchBudget | None
    ) -> RemoteActor:
        known = await self.store.actor(actor.id)
        acct = known.actor.acct if known else None
        if acct is None and actor.preferred_username:
            acct = await self._round_trip(actor, budget)
        if acct is not None:
            actor = _with(actor, acct=acct)
        await self.store.save_actor(actor, doc, self.clock())
        self._cache(actor)
        return actor

    def _cache(self, actor: RemoteActor) -> None:
        for key_id in [
            k for k, (a, _) in self._by_key.items() if a.id == actor.id and k != actor.public_key_id
        ]:
            del self._by_key[key_id]
        if len(self._by_key) >= 10_000:
            self._by_key.pop(next(iter(self._by_key)))
        self._by_key[actor.public_key_id] = (actor, time.monotonic())

    def _hot(self, key_id: str) -> RemoteActor | None:
        hit = self._by_key.get(key_id)
        if hit is None or time.monotonic() - hit[1] >= KEY_CACHE_SECONDS:
            return None
        return hit[0]

    def forget(self, actor_id: str) -> None:
        for key_id in [k for k, (a, _) in self._by_key.items() if a.id == actor_id]:
            del self._by_key[key_id]

    async def _round_trip(self, actor: RemoteActor, budget: FetchBudget | None) -> str | None:
        acct = f"{actor.preferred_username}@{actor.host}".lower()
        try:
            found = await self._webfinger(acct, budget)
        except (FetchError, MalformedInput, NotFound):
            return None
        return acct if found == actor.id else None

    async def get(
        self,
        actor_id: str,
        *,
        source: ActorSource,
        budget: FetchBudget | None = None,
        refresh: bool = False,
        seen: Witness | None = None,
    ) -> RemoteActor:
        """The actor, from the cache unless stale (or ``refresh``); ``seen`` hears of it either way."""
        cached = await self.store.actor(actor_id)
        if cached is not None and not refresh and self.clock() - cached.fetched_at < STALE_SECONDS:
            actor = cached.actor
        else:
            actor = await self._fetch(actor_id, budget)
        if seen is not None:
            await seen(actor, source)
        return actor

    async def cached(self, actor_id: str) -> StoredActor | None:
        return await self.store.actor(actor_id)

    async def known_key(self, key_id: str) -> RemoteActor | None:
        """The actor owning ``key_id`` if we hold it (in memory or in the database); never fetches."""
        hot = self._hot(key_id)
        if hot is not None:
            return hot
        cached = await self.store.actor_by_key(key_id)
        if cached is not None and not cached.gone:
            self._cache(cached.actor)
            return cached.actor
        return None

    def fetching(self, key_id: str) -> bool:
        """Whether a fetch of ``key_id`` is under way (a caller of by_key_id would wait for it)."""
        return key_id in self._key_fetches

    async def by_key_id(self, key_id: str, *, budget: FetchBudget | None = None) -> RemoteActor:
        """The actor owning ``key_id``: cached, or fetched (the key document, then its owner). Callers asking
        for a key already being fetched wait for that fetch: a new actor's first activities, sent together,
        cost one fetch, not one each."""
        running = self._key_fetches.get(key_id)
        if running is not None:
            return await asyncio.shield(running)
        # registered before the first await: from here on ``fetching`` is true, so the requests that find the
        # key unknown meanwhile wait for this fetch instead of each taking a fetch slot (and a 503 beyond them)
        # while this one reads the database again (concurrent reads on PostgreSQL widen that window)
        future: asyncio.Future[RemoteActor] = asyncio.get_running_loop().create_future()
        self._key_fetches[key_id] = future
        try:
            known = await self.known_key(key_id) or self._hot(key_id)  # (a fetch may have ended meanwhile)
            actor = known if known is not None else await self._fetch_key(key_id, budget)
        except BaseException as exc:
            failure = (
                exc if isinstance(exc, Exception) else FetchError(f"the fetch of {key_id} was interrupted")
            )
            future.set_exception(failure)
            future.exception()  # retrieved: those waiting get it, and nobody waiting is no error
            raise
        else:
            future.set_result(actor)
            return actor
        finally:
            del self._key_fetches[key_id]

    async def _fetch_key(self, key_id: str, budget: FetchBudget | None) -> RemoteActor:
        url = key_id.split("#", 1)[0]
        final, doc = await self.client.get_json(url, budget=budget, signer=self.signer)
        kind = doc.get("type")
        if isinstance(kind, str) and kind in _ACTOR_TYPES:  # a list (or object) there cannot be looked up
            actor = parse_actor(doc, final)
        else:
            owner = doc.get("owner") or doc.get("controller")
            if not isinstance(owner, str) or origin(owner) != origin(key_id):
                raise OriginMismatch(f"key {key_id} has no owner on its own origin")
            final, doc = await self.client.get_json(owner, budget=budget, signer=self.signer)
            actor = parse_actor(doc, final)
        if actor.public_key_id != key_id:
            raise OriginMismatch(f"{actor.id} does not own the key {key_id}")
        # no graph hears of it here: the request it verifies may concern several accounts, or none; the item's
        # processing reads it again for the account it concerns (and that account's graph hears of it then)
        return await self._remember(actor, doc, budget)

    async def refetch_key(
        self, actor: RemoteActor, *, budget: FetchBudget | None = None
    ) -> RemoteActor | None:
        """After a failed verification: fetch the actor again, at most once per KEY_REFETCH_SECONDS per key
        (else None). Forged requests naming many keys cost one fetch per key and window each, and they are
        charged to the address they come from (federation/inbox.py), not to the keys' host."""
        key_id = actor.public_key_id
        now = self.clock()
        if now - self._key_refetch.get(key_id, float("-inf")) < KEY_REFETCH_SECONDS:
            return None
        cached = await self.store.actor(actor.id)
        if cached and cached.key_refetched_at and now - cached.key_refetched_at < KEY_REFETCH_SECONDS:
            return None  # re-fetched shortly before a restart
        if now - self._key_refetch.get(key_id, float("-inf")) < KEY_REFETCH_SECONDS:
            return None  # another request re-fetched it while we looked
        self._key_refetch[key_id] = now
        if len(self._key_refetch) > 10_000:  # forget the oldest keys; they are long out of their window
            for old in sorted(self._key_refetch, key=self._key_refetch.__getitem__)[:1000]:
                del self._key_refetch[old]
        await self.store.note_key_refetch(actor.id, now)
        fresh = await self._fetch(actor.id, budget)
        await self.store.note_key_refetch(actor.id, now)
        return fresh

    async def resolve(
        self, address: str, *, source: ActorSource = "owner", seen: Witness | None = None
    ) -> RemoteActor:
        """An address the owner typed -> the actor, fetched fresh (WebFinger for acct forms)."""
        parsed = parse_address(address)
        budget = FetchBudget(remaining=6)
        if isinstance(parsed, str):
            return await self.get(parsed, source=source, budget=budget, refresh=True, seen=seen)
        acct = f"{parsed[0]}@{parsed[1]}".lower()
        # the owner acts on what the actor says now: the document is always fetched again, WebFinger only
        # when the address is new to us
        known = await self.store.actor_by_acct(acct)
        actor_url = known.actor.id if known is not None else await self._webfinger(acct, budget)
        final, doc = await self.client.get_json(actor_url, budget=budget, signer=self.signer)
        actor = parse_actor(doc, final)
        if f"{actor.preferred_username}@{actor.host}".lower() == acct:
            actor = _with(actor, acct=acct)
        await self.store.save_actor(actor, doc, self.clock())
        self._cache(actor)
        if seen is not None:
            await seen(actor, source)
        return actor

    async def _webfinger(self, acct: str, budget: FetchBudget | None) -> str:
        host = acct.rsplit("@", 1)[1]
        schemes = ["https", "http"] if self.allow_http else ["https"]
        last: Exception | None = None
        for scheme in schemes:
            url = f"{scheme}://{host}/.well-known/webfinger?resource={quote('acct:' + acct)}"
            try:
                resp = await self.client.request(
                    "GET",
                    url,
                    headers={"Accept": "application/jrd+json"},
                    accept_types=JRD_TYPES,
                    budget=budget,
                    signer=self.signer,  # every request between servers is signed, GETs included
                )
            except FetchError as exc:
                last = exc
                continue
            if resp.status == 404:
                raise NotFound(f"{host} knows no acct:{acct}")
            if resp.status != 200:
                raise FetchStatus(
                    f"WebFinger at {host} answered {resp.status}",
                    status=resp.status,
                    retry_after=resp.retry_after(self.clock()),  # for whoever schedules a retry
                )
            jrd = resp.json_object()
            for link in jrd.get("links", []) if isinstance(jrd.get("links"), list) else []:
                if (
                    isinstance(link, dict)
                    and link.get("rel") == "self"
                    and isinstance(link.get("href"), str)
                    and str(link.get("type", "")).split(";")[0].strip()
                    in ("application/activity+json", "application/ld+json")
                ):
                    href: str = link["href"]
                    return href
            raise NotFound(f"WebFinger for acct:{acct} names no ActivityPub actor")
        raise last if last else NotFound(acct)


def _with(actor: RemoteActor, **changes: Any) -> RemoteActor:
    from dataclasses import replace

    return replace(actor, **changes)


class AccountActors:
    """The server's actor cache as one account uses it: every actor it fetches or reads is told to that
    account's graph, one at a time (the graph decides "new person or known one" by looking, then writing;
    two looks at once, the inbox and an owner's command naming the same actor, would both see "new")."""

    def __init__(self, shared: RemoteActors, graph: GraphPort | None, lock: asyncio.Lock) -> None:
        self.shared = shared
        self.graph = graph
        self._lock = lock

    async def seen(self, actor: RemoteActor, source: ActorSource) -> None:
        if self.graph is None:
            return
        async with self._lock:
            await self.graph.remote_actor_seen(actor, source=source)

    async def get(
        self, actor_id: str, *, source: ActorSource, budget: FetchBudget | None = None, refresh: bool = False
    ) -> RemoteActor:
        return await self.shared.get(actor_id, source=source, budget=budget, refresh=refresh, seen=self.seen)

    async def resolve(self, address: str, *, source: ActorSource = "owner") -> RemoteActor:
        return await self.shared.resolve(address, source=source, seen=self.seen)

    async def cached(self, actor_id: str) -> StoredActor | None:
        return await self.shared.cached(actor_id)

    def forget(self, actor_id: str) -> None:
        self.shared.forget(actor_id)
