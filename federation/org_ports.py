"""What federation's organisation modules need from the node (docs/ARCHITECTURE.md §2; specs/ORGANISATIONS.md).

Federation carries the organisation's records between actors and checks them (signatures, proofs, who may
do what); the node keeps them and knows the graph. :class:`OrgPort` is the line between: node/org_port.py
implements it over the account's database, and federation never sees a table. One account holds both sides:
an organisation's account uses the organisation's methods, a person's account the member's.

Errors a port raises are protocol errors (protocol/errors.py) or federation's (federation/errors.py), so
that every edge maps them in one place.

:class:`OrgPorts` gives each account its own (federation/service.py ``acting`` borrows it with the account's
graph, for one piece of work): an organisation's account and its members' accounts may be on one server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from protocol.errors import LocalError
from protocol.org_records import OrganizationInfo, SharedContact, SharedContactRemoval

__all__ = ["DesiredShare", "Forbidden", "OrgPort", "OrgPorts", "OrgSettings", "SentShare"]


class Forbidden(LocalError):
    """An organisation's member may not do that in their role (403). Non-members get NotFound instead:
    missing and forbidden look the same to someone outside."""

    status_hint = 403


@dataclass(frozen=True, kw_only=True, slots=True)
class OrgSettings:
    cap: str  # the highest sharing level the organisation takes
    domains: tuple[str, ...]  # addresses on these are colleagues
    cool_down_days: int | None  # default cool-down after a member's contact, for policies without their own


@dataclass(frozen=True, kw_only=True, slots=True)
class DesiredShare:
    """What a member should share about one person now (node/org_sharing.py decides)."""

    person_id: str
    record_id: str
    level: str
    digest: str
    fields: Mapping[
        str, Any
    ]  # SharedContact's keyword arguments but id, member, organization, version, updated


@dataclass(frozen=True, kw_only=True, slots=True)
class SentShare:
    """What was last queued for one person."""

    person_id: str
    record_id: str
    digest: str
    version: int
    level: str


class OrgPort(Protocol):
    # ---- the organisation's side ---------------------------------------------------------------------
    async def settings(self) -> OrgSettings: ...

    async def set_settings(
        self,
        *,
        cap: str | None = None,
        domains: Sequence[str] | None = None,
        cool_down_days: int | None = None,
    ) -> OrgSettings: ...

    async def member(self, actor: str) -> dict[str, Any] | None:
        """The member row of ``actor`` (any state), or None."""
        ...

    async def members(self, states: Sequence[str] = ("active",)) -> list[dict[str, Any]]:
        """Members with ``actor``, ``acct``, ``name``, ``role``, ``state``, ``level`` (what they share)."""
        ...

    async def add_member(self, actor: str, *, acct: str | None, name: str | None, role: str) -> None: ...

    async def end_member(self, actor: str, *, state: str) -> int:
        """End a membership (state left or removed) and delete everything the member shared; how much."""
        ...

    async def set_role(self, actor: str, role: str) -> None: ...

    async def apply_shared(
        self, member: str, records: Sequence[tuple[SharedContact, Mapping[str, Any]]]
    ) -> int:
        """Keep verified records (with the JSON as signed); how many were newer than what is held."""
        ...

    async def withdraw_shared(self, member: str, removals: Sequence[SharedContactRemoval]) -> int: ...

    async def purge(
        self, *, uris: Sequence[str] = (), hosts: Sequence[str] = (), above: str | None = None
    ) -> int:
        """Delete records about colleagues (addresses ``uris`` or on ``hosts``) or above the level ``above``."""
        ...

    async def who_knows(self, query: str) -> list[dict[str, Any]]: ...

    async def timeline(self, query: str) -> list[dict[str, Any]]: ...

    async def candidates(
        self, query: str, *, exclude: Sequence[str]
    ) -> tuple[list[str], list[dict[str, Any]]]:
        """The names of the people ``query`` matches, and each member's record of them, strongest first."""
        ...

    async def policies(self) -> list[dict[str, Any]]: ...

    async def set_policy(
        self,
        target: str,
        *,
        by: str,
        owner: str | None = None,
        do_not_contact: str | None = None,
        cool_down_days: int | None = None,
        clear: bool = False,
        policy_id: str,
    ) -> dict[str, Any]:
        """Set (or with ``clear``, remove) the policy for a person (an address, or a name who-knows finds
        exactly once) or a company (``company:NAME``). ``by``: who set it (an actor)."""
        ...

    async def find_policy(self, target: str) -> dict[str, Any] | None: ...

    async def add_intro(self, intro: Mapping[str, Any], asks: Sequence[Mapping[str, Any]]) -> None: ...

    async def intro(self, intro_id: str) -> dict[str, Any] | None: ...

    async def intro_ask(self, ask_id: str) -> dict[str, Any] | None: ...

    async def intros(self, *, requester: str | None = None) -> list[dict[str, Any]]: ...

    async def answer_ask(self, ask_id: str, *, state: str) -> None: ...

    async def set_intro(
        self, intro_id: str, *, state: str, introducer: str | None = None, note: str | None = None
    ) -> None: ...

    async def stale_intros(self, before: str) -> list[str]: ...

    # ---- a member's side ---------------------------------------------------------------------------------
    async def memberships(self) -> list[dict[str, Any]]: ...

    async def ensure_membership(self, org: str) -> None: ...

    async def save_info(self, org: str, info: OrganizationInfo, raw: Mapping[str, Any]) -> bool:
        """Keep what the organisation told unless a newer one is held; True when kept."""
        ...

    async def info(self, org: str) -> OrganizationInfo | None: ...

    async def shares_deleted(self, org: str, count: int, when: str) -> None: ...

    async def desired_shares(self, org: str, info: OrganizationInfo | None) -> dict[str, DesiredShare]: ...

    async def fingerprint(self, org: str) -> str: ...

    async def reconciled(self, org: str) -> str | None: ...

    async def sent_shares(self, org: str) -> dict[str, SentShare]: ...

    async def take_versions(self, org: str, count: int) -> int: ...

    async def mark_sent(
        self, org: str, *, upserts: Sequence[SentShare], removed: Sequence[str], fingerprint: str | None
    ) -> None: ...

    async def forget_sent(self, org: str) -> int: ...

    async def person_for_record(self, org: str, record_id: str) -> tuple[str, str] | None:
        """The (person id, name) a record sent to ``org`` is about, or None."""
        ...

    async def save_intro(self, row: Mapping[str, Any]) -> None: ...

    async def local_intros(self, org: str | None = None) -> list[dict[str, Any]]: ...

    async def local_intro(self, intro_id: str) -> dict[str, Any] | None: ...

    def now(self) -> str:
        """The graph's clock as ISO-8601 text."""
        ...


class OrgPorts(Protocol):
    """The organisation records of each account of the server."""

    def org_for(self, account: str) -> AbstractAsyncContextManager[OrgPort]:
        """The account's organisation records for the length of one piece of work (as GraphPorts.graph_for)."""
        ...
