"""One Kith server: one domain, one data folder, many accounts (docs/ARCHITECTURE.md §8).

The server's own store holds the account registry, the accounts' keys and federation's state (every row naming
its account); each account's contact graph is a store of its own (on SQLite a database file under
``accounts/``: specs/STORAGE.md says why), opened through the server's store (node/store/factory.py chose the
engine). A graph is opened when something needs that account and closed again when nothing has used it for a
while, so that a server of a thousand accounts holds a few open graphs, not a thousand.

Everything that belongs to one account is reached through an :class:`node.context.AccountContext`, which the
server hands out by account (``await server.context(name)``); nothing in an account context can reach another
account's graph.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric import rsa

from federation.shared_reads import SharedReads
from node.config import USERNAME_PATTERN, USERNAME_SHAPE, Config
from node.errors import BadInput, Conflict, NotFound
from node.files import tighten
from node.graph import Clock, iso, utcnow
from node.import_worker import ImportWorkers
from node.keys import ActorKeys, KeyRing, load_node_key
from node.models import STATES_WITH_GRAPH, AccountRow
from node.store import GraphStore, ServerStore, open_server_store
from node.store.factory import check_storage
from protocol.states import ACCOUNT

if TYPE_CHECKING:
    from node.context import AccountContext

__all__ = [
    "RESERVED_NAMES",
    "TOKENS_DIR",
    "Server",
    "check_account_name",
    "choose_account",
    "new_token",
    "read_token",
    "token_digest",
    "write_token",
]

_log = logging.getLogger("kith.server")

TOKENS_DIR = "tokens"
#: Names no account may take: the server's own actor, and words a person could mistake for the server itself.
RESERVED_NAMES = frozenset(
    {"kith.node", "admin", "administrator", "root", "server", "actor", "inbox", "system"}
)
#: How long the server trusts what it read about a token or an account (so `kith token rotate` and
#: `kith account suspend`, run beside a live server, take effect within this many seconds).
_TOKEN_TTL = 2.0
#: Graphs kept open although unused, and how long an unused one stays open.
_POOL_IDLE = 16
_POOL_IDLE_SECONDS = 60.0
#: Seconds between two looks for removed accounts whose grace period is over (Server.purge_due).
_PURGE_EVERY = 3600.0
#: server_meta: every account's graph was searched for federation rows kept before they moved to the server
#: database (graph migration 0012), and those found were moved.
_FEDERATION_MOVED = "federation_moved_from_graphs"


def _private_data_dir(data_dir: Path) -> list[Path]:
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return tighten(data_dir)


def new_token() -> str:
    import secrets

    return "kith_" + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _token_path(data_dir: Path, name: str) -> Path:
    return data_dir / TOKENS_DIR / name


def write_token(data_dir: Path, name: str, token: str) -> Path:
    from node.keys import write_private_file

    path = _token_path(data_dir, name)
    write_private_file(path, token + "\n")
    return path


def read_token(data_dir: Path, name: str) -> str:
    path = _token_path(data_dir, name)
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path} is missing; run `kith --account {name} token rotate` to make a new owner token"
        ) from None


def choose_account(rows: list[AccountRow], requested: str | None, default: str) -> AccountRow:
    """The account ``requested``, else ``default`` (server.default_account), else the only live account.
    Errors say which accounts there are and how to choose one."""
    name = requested or default
    if name:
        for row in rows:
            if row.name == name:
                return row
        raise NotFound(f"no account named {name!r} here; see `kith account list`", field="account")
    live = [r for r in rows if r.state in ("active", "suspended")]
    if len(live) == 1:
        return live[0]
    if not live:
        raise NotFound(
            "this server has no accounts yet; add one with `kith account add NAME`", field="account"
        )
    names = ", ".join(r.name for r in live)
    raise BadInput(
        f"this server has {len(live)} accounts ({names}); name one with --account NAME "
        "(or KITH_ACCOUNT), or set server.default_account",
        field="account",
    )


def check_account_name(name: str) -> str:
    if not isinstance(name, str) or not re.fullmatch(USERNAME_PATTERN, name):
        raise BadInput(f"an account name must be {USERNAME_SHAPE}, got {name!r}", field="name")
    if name in RESERVED_NAMES:
        raise BadInput(f"the name {name!r} is reserved for the server itself; choose another", field="name")
    return name


@dataclass
class _Open:
    store: GraphStore
    users: int = 0
    last_used: float = 0.0


class Server:
    """An open server. Use :meth:`open`; call :meth:`close` when done."""

    def __init__(
        self,
        config: Config,
        store: ServerStore,
        *,
        passphrase: str | None,
        clock: Clock = utcnow,
    ) -> None:
        self.config = config
        self.store = store
        self.accounts = store.accounts
        self.federation = store.federation  # federation's rows, every account's (node/federation_wiring.py)
        self.passphrase = passphrase
        self.clock = clock
        self._graphs: dict[int, _Open] = {}
        self._graph_lock = asyncio.Lock()
        self._contexts: dict[int, AccountContext] = {}
        self._context_locks: dict[int, asyncio.Lock] = {}
        self._node_key: rsa.RSAPrivateKey | None = None
        self._tokens: dict[str, tuple[float, AccountRow | None]] = {}
        self._names: dict[str, tuple[float, AccountRow | None]] = {}
        # misses of _names expire for every request and delivery in flight at once: they share one read
        self._name_reads: SharedReads[str, AccountRow | None] = SharedReads()
        #: Bumped whenever this process adds an account or changes one's state: caches of the registry
        #: (node/federation_port.py) drop what they hold at once; other processes' changes wait out their TTL.
        self.registry_version = 0
        self._sweeper: asyncio.Task[None] | None = None
        self._next_purge = 0.0
        # Every account's imports run in these worker processes (node/import_worker.py): one set per server.
        self.import_workers = ImportWorkers()

    @property
    def data_dir(self) -> Path:
        return self.config.data_dir

    @classmethod
    async def open(
        cls,
        config: Config,
        *,
        passphrase: str | None = None,
        clock: Clock = utcnow,
        progress: Callable[[str], None] | None = None,
    ) -> Server:
        """Open the server in ``config.data_dir`` (a folder made before accounts is upgraded first). Anything
        in the data folder that other users of the machine could read is made the owner's alone first, said in
        one log line (node/files.py); ``progress`` is told what a long migration is doing."""
        from node.upgrade import upgrade_one_owner_folder

        check_storage(config)  # before anything is written for an engine this version cannot run
        changed = await asyncio.to_thread(_private_data_dir, config.data_dir)
        if changed:
            _log.warning(
                "%d files and folders in %s could be read by other users of this machine; they are now the "
                "owner's alone (folders 0700, files 0600): %s",
                len(changed),
                config.data_dir,
                ", ".join(str(p.relative_to(config.data_dir)) or "." for p in changed[:10])
                + (" …" if len(changed) > 10 else ""),
            )
        await upgrade_one_owner_folder(config, passphrase)
        store = await open_server_store(config, progress=progress)
        server = cls(config, store, passphrase=passphrase, clock=clock)
        try:
            await server._move_federation()
        except BaseException:
            await server.close()
            raise
        return server

    async def _move_federation(self) -> None:
        """Federation's rows that graphs kept before they moved to the server's store are moved into it with
        their account (node/store/sqlite/federation_rows.py), once for every account, so that federation finds
        them before it touches any account. Each graph opened later is looked at again on the way
        (Server._acquire), which costs one query."""
        if await self.accounts.meta_get(_FEDERATION_MOVED) == "1":
            return
        await self.store.move_graphs_federation(await self.accounts.list(states=STATES_WITH_GRAPH))
        await self.accounts.meta_set(_FEDERATION_MOVED, "1")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        await self.import_workers.close()  # running imports end uncommitted, marked interrupted
        for ctx in list(self._contexts.values()):
            await ctx.imports.close()
        self._contexts.clear()
        for entry in list(self._graphs.values()):
            await entry.store.close()
        self._graphs.clear()
        await self.store.close()

    def now(self) -> str:
        return iso(self.clock())

    # -- which account --------------------------------------------------------------------------------------
    async def resolve(self, name: str | None = None) -> AccountRow:
        """The account ``name``, else the server's default one (:func:`choose_account`)."""
        wanted = name or self.config.server.default_account
        if (
            wanted
        ):  # one row by its name: every borrow asks, and listing 1,000 accounts each time cost seconds
            row = await self.accounts.find(wanted)
            if row is not None:
                return row
        return choose_account(await self.accounts.list(), name, self.config.server.default_account)

    async def context(
        self, account: AccountRow | str | None = None, *, removed_ok: bool = False
    ) -> AccountContext:
        """The account's context (its graph opened if need be). Refuses removed and purged accounts: they
        have no graph to reach any more, only a tombstone (``removed_ok``: a removed one's graph, which stays
        until it is purged, for federation to announce the removal to its peers)."""
        from node.context import AccountContext

        row = account if isinstance(account, AccountRow) else await self.resolve(account)
        if row.state == "purged" or (row.state == "removed" and not removed_ok):
            raise NotFound(f"account {row.name} was removed", field="account")
        ctx = self._contexts.get(row.pk)
        if ctx is None:
            # one context per account: two first uses at once (federation's start-up and a request) must not
            # build two, each with its own imports, nor use one before its sweep below is done
            async with self._context_locks.setdefault(row.pk, asyncio.Lock()):
                ctx = self._contexts.get(row.pk)
                if ctx is None:
                    graph = await self._acquire(row)
                    ctx = AccountContext.build(self, row, graph)
                    # imports a stopped node left running are marked interrupted, their uploads removed
                    await ctx.imports.recover()
                    self._contexts[row.pk] = ctx
                    return ctx
        ctx.account = row
        self._graphs[row.pk].last_used = time.monotonic()
        return ctx

    @contextlib.asynccontextmanager
    async def borrow(
        self, account: AccountRow | str | None = None, *, removed_ok: bool = False, keep_open: bool = True
    ) -> AsyncIterator[AccountContext]:
        """The account's context for the length of one piece of work (a request): its graph is not closed
        by the pool meanwhile. ``keep_open=False`` (a background walk over every account, such as the
        stay-in-touch loop's) closes the graph again afterwards if this borrow opened it and nothing else uses
        it, so that a walk over 1,000 accounts never holds 1,000 databases and their threads open."""
        row = account if isinstance(account, AccountRow) else await self.resolve(account)
        was_open = row.pk in self._graphs
        ctx = await self.context(row, removed_ok=removed_ok)
        entry = self._graphs[ctx.account.pk]
        entry.users += 1
        try:
            yield ctx
        finally:
            entry.users -= 1
            entry.last_used = time.monotonic()
            if not keep_open and not was_open:
                await self._close_if_unused(ctx.account.pk)

    async def _close_if_unused(self, pk: int) -> None:
        async with self._graph_lock:
            entry = self._graphs.get(pk)
            if entry is None or entry.users > (1 if pk in self._contexts else 0) or self._busy(pk):
                return
            del self._graphs[pk]
            ctx = self._contexts.pop(pk, None)
            if ctx is not None:
                await ctx.imports.close()
            await entry.store.close()

    async def _acquire(self, row: AccountRow) -> GraphStore:
        async with self._graph_lock:
            entry = self._graphs.get(row.pk)
            if entry is None:
                graph = await self.store.open_graph(row.graph_file)
                try:
                    await self.store.move_graph_federation(graph, row.name)
                except BaseException:
                    await graph.close()
                    raise
                entry = self._graphs[row.pk] = _Open(graph)
            entry.users += 1
            entry.last_used = time.monotonic()
            if self._sweeper is None:
                self._sweeper = asyncio.get_running_loop().create_task(self._sweep(), name="kith-graph-pool")
            return entry.store

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(_POOL_IDLE_SECONDS / 4)
            await self.close_idle()
            if time.monotonic() >= self._next_purge:
                self._next_purge = time.monotonic() + _PURGE_EVERY
                try:
                    await self.purge_due()
                except Exception:  # logged; the next look tries again
                    _log.exception("purging removed accounts failed; will try again")

    async def close_idle(self, *, older_than: float = _POOL_IDLE_SECONDS, keep: int = _POOL_IDLE) -> int:
        """Close graphs nothing uses: those idle longer than ``older_than``, and the least recently used ones
        beyond ``keep``. A graph an account context still holds (a request, an import) stays open."""
        closed = 0
        async with self._graph_lock:
            now = time.monotonic()
            idle = sorted(
                (e.last_used, pk)
                for pk, e in self._graphs.items()
                if e.users <= (1 if pk in self._contexts else 0) and not self._busy(pk)
            )
            extra = max(0, len(idle) - keep)
            for n, (last_used, pk) in enumerate(idle):
                if n >= extra and now - last_used < older_than:
                    continue
                entry = self._graphs.pop(pk)
                ctx = self._contexts.pop(pk, None)
                if ctx is not None:
                    await ctx.imports.close()
                await entry.store.close()
                closed += 1
        return closed

    def _busy(self, pk: int) -> bool:
        ctx = self._contexts.get(pk)
        return ctx is not None and ctx.busy

    @property
    def open_graphs(self) -> int:
        return len(self._graphs)

    async def account_by_name(self, name: str) -> AccountRow | None:
        """The account named ``name`` (any state), or None. Found ones are cached for a couple of seconds like
        tokens; a miss is not, so that an account added beside a running server (``kith account add``) answers
        at once (issue #13 §1)."""
        hit = self._names.get(name)
        if hit is not None and time.monotonic() - hit[0] < _TOKEN_TTL:
            return hit[1]
        row = (
            await self._name_reads.read(name, functools.partial(self.accounts.find, name))
            if len(name) <= 64
            else None
        )
        if row is None:
            return None
        if len(self._names) > 4096:
            self._names.clear()
        self._names[name] = (time.monotonic(), row)
        return row

    # -- tokens ---------------------------------------------------------------------------------------------
    async def account_for_token(self, token: str) -> AccountRow | None:
        """The active account this owner API token belongs to, or None. Cached for a couple of seconds."""
        digest = token_digest(token)
        hit = self._tokens.get(digest)
        if hit is not None and time.monotonic() - hit[0] < _TOKEN_TTL:
            return hit[1]
        row = await self.accounts.by_token(digest)
        if len(self._tokens) > 4096:
            self._tokens.clear()
        self._tokens[digest] = (time.monotonic(), row)
        return row

    async def check_token(self, account: AccountRow, token: str) -> bool:
        row = await self.account_for_token(token)
        return row is not None and row.pk == account.pk

    async def set_token(self, account: AccountRow, token: str) -> None:
        await self.accounts.set_token(account.pk, token_digest(token), self.clock())
        self._tokens.clear()
        write_token(self.data_dir, account.name, token)

    # -- keys -----------------------------------------------------------------------------------------------
    @property
    def node_key(self) -> rsa.RSAPrivateKey:
        if self._node_key is None:
            self._node_key = load_node_key(self.data_dir, self.passphrase)
        return self._node_key

    async def keys_sealed(self) -> bool:
        return (await self.accounts.meta_get("keys_sealed")) == "1"

    async def actor_keys(self, account: AccountRow) -> ActorKeys:
        # the registry holds only keys this server made (add_account) or checked as it moved them in
        # (node/upgrade.py): loaded without the RSA check, which holds the interpreter for ~90 ms a key
        return ActorKeys.from_pems(
            await self.accounts.keys(account.pk), self.passphrase, account=account.name, validate=False
        )

    async def keyring(self, account: AccountRow) -> KeyRing:
        return KeyRing.of(await self.actor_keys(account), self.node_key)

    # -- the account lifecycle ------------------------------------------------------------------------------
    async def add_account(
        self, name: str, *, organization: bool = False, display_name: str = ""
    ) -> tuple[AccountRow, str]:
        """Create an account: its keys, its graph and its owner API token (returned once)."""
        check_account_name(name)
        sealed = await self.keys_sealed()
        if sealed and not self.passphrase:
            raise BadInput(
                "this server keeps its keys encrypted: set KITH_PASSPHRASE to its passphrase first",
                field="passphrase",
            )
        if (await self.accounts.find(name)) is not None:
            raise Conflict(
                f"the name {name!r} is taken (names of removed accounts are never reused)", field="name"
            )
        keys = await asyncio.to_thread(ActorKeys.generate)
        pems = await asyncio.to_thread(keys.to_pems, self.passphrase if sealed else None)
        graph_file = await self.store.create_graph(name)
        token = new_token()
        row = await self.accounts.create(
            name=name,
            type="Organization" if organization else "Person",
            display_name=display_name,
            graph_file=graph_file,
            token_sha256=token_digest(token),
            keys=pems,
            now=self.clock(),
        )
        write_token(self.data_dir, name, token)
        self.registry_version += 1
        return row, token

    async def transition(self, name: str, event: str) -> AccountRow:
        """Move an account through protocol.states.ACCOUNT (suspend, resume, remove)."""
        row = await self.resolve(name)
        target = ACCOUNT.step(row.state, event)
        now = self.clock()
        removed_at = purge_after = None
        if target == "removed":
            removed_at, purge_after = now, now + timedelta(days=self.config.accounts.purge_after_days)
        sources = tuple(t.source for t in ACCOUNT.transitions if t.event == event and t.target == target)
        new = await self.accounts.set_state(
            row.pk, expect=sources, state=target, now=now, removed_at=removed_at, purge_after=purge_after
        )
        self._tokens.clear()
        self._names.clear()
        self._name_reads = SharedReads()  # a read begun before the change is not joined after it
        self.registry_version += 1
        if target != "active":
            ctx = self._contexts.pop(row.pk, None)
            if ctx is not None:
                await ctx.imports.close()
        return new

    async def forget_new_account(self, row: AccountRow) -> None:
        """Undo :meth:`add_account` for an account that has not served anyone yet (a restore into a new account
        that failed): registry row, keys, graph database and token all go, so the restore leaves nothing
        half-made and its name can be used again."""
        async with self._graph_lock:
            entry = self._graphs.pop(row.pk, None)
            ctx = self._contexts.pop(row.pk, None)
            if ctx is not None:
                await ctx.imports.close()
            if entry is not None:
                await entry.store.close()
        await self.accounts.forget(row.pk)
        self._tokens.clear()
        self._names.clear()
        self._name_reads = SharedReads()  # a read begun before the change is not joined after it
        await self.store.remove_graph(row.graph_file)
        _token_path(self.data_dir, row.name).unlink(missing_ok=True)

    async def purge_due(self) -> list[AccountRow]:
        """Purge removed accounts whose grace period is over: their graph, token and federation rows
        go; their row (and so their name) stays, and so does their actor's tombstone (410 for good)."""
        now = self.clock()
        purged = []
        for row in await self.accounts.list(states=("removed",)):
            if row.purge_after is None or row.purge_after > iso(now):
                continue
            async with self._graph_lock:
                entry = self._graphs.pop(row.pk, None)
                self._contexts.pop(row.pk, None)
                if entry is not None:
                    await entry.store.close()
            await self.store.remove_graph(row.graph_file)
            _token_path(self.data_dir, row.name).unlink(missing_ok=True)
            await self.store.account_federation(row.name).purge()
            purged.append(await self.accounts.set_state(row.pk, expect=("removed",), state="purged", now=now))
            _log.info("purged account %s (removed %s)", row.name, row.removed_at)
        return purged
