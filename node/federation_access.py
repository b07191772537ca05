"""What the owner API and the web UI ask of federation, for the account a request acts for.

Federation is wired in (node/federation_wiring.py), not discovered: ``app[ACCESS]`` is always set. A server
built without federation (a test of the API alone, a server without its key) gets :class:`NoFederation`, the
null implementation: nothing is published, and an operation that needs federation says it is not running.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from federation import AccountFederation, Federation
from node.errors import BadInput

__all__ = ["ACCESS", "NOT_RUNNING", "FederationAccess", "NoFederation", "RunningFederation", "access"]

#: What an owner operation that needs federation answers when it is not running (and what to do about it).
NOT_RUNNING = (
    "federation is not available on this server: start it with `kith serve` "
    "(with KITH_PASSPHRASE set if its keys are encrypted)"
)


class FederationAccess:
    """Federation as the node's API and web UI use it, per account."""

    @property
    def available(self) -> bool:
        return False

    @contextlib.asynccontextmanager
    async def acting(self, account: str) -> AsyncIterator[AccountFederation]:
        """The account acting as its fediverse actor (BadInput when federation is not running)."""
        raise BadInput(NOT_RUNNING, field="federation")
        yield  # pragma: no cover  (a generator, for the context manager)

    async def publish_card(self, account: str) -> int | None:
        """Send the account's saved card to the peers allowed to see it, and the public profile to followers
        when it changed; the number of peers, or None without federation."""
        return None

    def forget_blocks(self, account: str) -> None:
        """Read the account's blocks again (a restore wrote them)."""


class NoFederation(FederationAccess):
    """The null implementation: a server without federation."""


class RunningFederation(FederationAccess):
    """The federation the application runs (None until it has started, or when it could not)."""

    def __init__(self, running: Callable[[], Federation | None]) -> None:
        self._running = running

    @property
    def available(self) -> bool:
        return self._running() is not None

    def _fed(self) -> Federation:
        fed = self._running()
        if fed is None:
            raise BadInput(NOT_RUNNING, field="federation")
        return fed

    @contextlib.asynccontextmanager
    async def acting(self, account: str) -> AsyncIterator[AccountFederation]:
        async with self._fed().acting(account) as me:
            yield me

    async def publish_card(self, account: str) -> int | None:
        fed = self._running()
        return None if fed is None else await fed.publish_pending(account)

    def forget_blocks(self, account: str) -> None:
        fed = self._running()
        if fed is not None:
            fed.account_store(account).forget_blocks()


ACCESS = web.AppKey("kith.federation_access", FederationAccess)


def access(request: web.Request) -> FederationAccess:
    return request.config_dict.get(ACCESS) or NoFederation()
