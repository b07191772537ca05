"""The Bluesky bridge's state in the server's store (issue #18; node/bridge_bluesky.py): every DID that followed
the bot and what became of it, the operator's blocks, a cursor per event stream, and the operator's views over
federation's rows of the bridged accounts (their delivery queue by peer host, their followers, their rate).

Rules every backend keeps (server migration 0003_bridge.sql makes the tables):
- Every write is one row (an actor, a block, a stream) in its own transaction, so that two processes (``kith
  serve`` and ``kith bridge block``, a web process and a worker) never undo each other's changes to other rows:
  the state is not a document read and written whole.
- ``put_actor`` keeps ``first_seen``, and ``since`` unless the state changes (it is when the actor entered its
  state); a ``handle`` of None keeps the one known.
- An opted-out actor stays opted out: its account was removed, and names are never reused (docs/ARCHITECTURE.md
  §8). ``put_actor`` of another state leaves its row as it is (and returns it), so that a pass in one process
  that read the actor before another process removed it cannot write it back as bridged.
- Moments are aware datetimes in and out; federation's times (the queue, the rates) are its Unix seconds.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = [
    "BRIDGE_STATES",
    "BridgeState",
    "BridgeTraffic",
    "BridgedActor",
    "HostQueue",
    "StreamPosition",
]

#: bridged; waiting (a gate or #nobridge holds it back: ``reason`` says which); blocked (the operator's);
#: opted-out (its account was removed, and its name is never reused: docs/ARCHITECTURE.md §8)
BRIDGE_STATES = ("bridged", "waiting", "blocked", "opted-out")


@dataclass(frozen=True, slots=True)
class BridgedActor:
    did: str
    handle: str
    account: str  # the server account that bridges (or would bridge) it
    state: str  # one of BRIDGE_STATES
    reason: str
    since: datetime  # when it entered its state
    first_seen: datetime
    last_seen: datetime  # the last write about it (a pass that read it, the operator's block)


@dataclass(frozen=True, slots=True)
class StreamPosition:
    cursor: int | None  # the last sequence number whose events were applied; None: start live
    synced_at: (
        datetime | None
    )  # when the bridge last caught up (a full pass, or a stream pass that went quiet)


@dataclass(frozen=True, slots=True)
class HostQueue:
    """The bridged accounts' deliveries to one peer host, by state, and the host's circuit breaker."""

    host: str
    waiting: int  # queued, or waiting to retry
    in_flight: int  # being sent
    failed: int  # refused for good (a permanent 4xx), kept until federation prunes old traffic
    dead: int  # held: the host is dead-lettered
    oldest_waiting: float | None  # federation's time (Unix seconds) the oldest waiting delivery was made
    open_until: float | None  # the circuit breaker is open until then (None: closed)
    host_dead: bool


@dataclass(frozen=True, slots=True)
class BridgeTraffic:
    follows: int  # accepted followers of the bridged actors
    delivered_last_minute: int  # the bridged accounts' deliveries finished in the last 60 s
    delivered_last_hour: int  # ... and in the last 3600 s
    waiting: int  # deliveries queued or waiting to retry, every host


class BridgeState(Protocol):
    async def actors(self) -> builtins.list[BridgedActor]:
        """Every DID the bridge has seen, by DID."""
        ...

    async def actor(self, did: str) -> BridgedActor | None: ...

    async def by_handle(self, handle: str) -> BridgedActor | None:
        """The bridged actor (state ``bridged``) whose handle is ``handle``, compared without case."""
        ...

    async def counts(self) -> dict[str, int]:
        """How many actors are in each state (every state of BRIDGE_STATES named, 0 when none)."""
        ...

    async def put_actor(
        self,
        did: str,
        *,
        account: str,
        state: str,
        reason: str,
        now: datetime,
        handle: str | None = None,
    ) -> BridgedActor:
        """Make or change one actor's row (the module's rules for first_seen, since, handle and opted-out);
        the row as it is now."""
        ...

    async def forget(self, did: str) -> bool:
        """Drop one actor's row (whether there was one). Its account, if any, is left alone."""
        ...

    async def blocked(self) -> builtins.list[str]:
        """The operator's blocked DIDs, sorted."""
        ...

    async def is_blocked(self, did: str) -> bool: ...

    async def block(self, did: str, *, now: datetime) -> bool:
        """Add the operator's block of ``did``; whether it is new."""
        ...

    async def unblock(self, did: str) -> bool:
        """Lift it; whether there was one."""
        ...

    async def stream(self, name: str) -> StreamPosition:
        """The position of stream ``name`` (no cursor, never synced, for one not seen yet)."""
        ...

    async def set_cursor(self, name: str, cursor: int | None, *, now: datetime, synced: bool = False) -> None:
        """Save stream ``name``'s cursor (None: drop it, e.g. one the stream refused); ``synced``: and that the
        bridge caught up ``now``."""
        ...

    async def mark_synced(self, name: str, *, now: datetime) -> None:
        """The bridge caught up ``now`` (a full pass); the cursor is kept."""
        ...

    async def queue(self, *, now: float) -> builtins.list[HostQueue]:
        """Per peer host, the deliveries of the bridged accounts (every account a bridge_actor row names)
        that are waiting, in flight, failed or dead, busiest host first; ``now`` (federation's clock) decides
        which breakers are open."""
        ...

    async def traffic(self, *, now: float) -> BridgeTraffic: ...
