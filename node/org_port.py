"""Organisations as the node keeps them: node's implementation of federation.org_ports.OrgPort, over the
account's own graph store (node/store/org.py: OrgRecords for an organisation's account, MemberOrg for a
person's) and its graph (node/org_sharing.py decides what a member shares).

On the organisation's side this is where a received record meets the identity rules (an identifier merges
two members' records of one person only where imports would merge two people: node/import_resolve.py
``is_verified_grade``), and where the colleague rule is kept a second time: a record naming a member or an
address on the organisation's domains is not kept, whatever the member's node sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from federation.errors import NotFound
from federation.org_ports import DesiredShare, OrgPort, OrgSettings, SentShare
from federation.urls import Urls
from node.graph import Graph, iso
from node.import_resolve import is_verified_grade
from node.org_sharing import desired_records, record_fields, record_id_for
from node.store import GraphStore
from node.store.org import IncomingRecord, SentRow, fold
from protocol.addresses import normalize
from protocol.errors import InvalidRecord
from protocol.org_records import OrganizationInfo, SharedContact, SharedContactRemoval
from protocol.org_serialize import org_from_jsonld, stamp
from protocol.vocab import SHARING_LEVELS

if TYPE_CHECKING:
    from node.server import Server

__all__ = ["DEFAULT_CAP", "NodeOrgPort", "NodeOrgPorts", "fold"]

#: The cap of a new organisation: everything but notes, which its admins must choose to take.
DEFAULT_CAP = "interactions"
_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$")
_ADDRESS = re.compile(r"^(acct:|mailto:|tel:|https?://|@)|@")


def _merging(uri: str) -> tuple[str, bool] | None:
    """A shared identity in canonical form and whether it merges two people; None when unusable."""
    try:
        addr = normalize(uri)
    except InvalidRecord:
        return None
    return addr.uri, is_verified_grade(addr, "claimed")


class NodeOrgPorts:
    """federation.org_ports.OrgPorts: each account's organisation records, on its own graph database, borrowed
    from the server's pool for one piece of work (as node/federation_port.py's NodeGraphPorts)."""

    def __init__(self, server: Server) -> None:
        self.server = server

    @contextlib.asynccontextmanager
    async def org_for(self, account: str) -> AsyncIterator[OrgPort]:
        async with self.server.borrow(account, removed_ok=True) as ctx:
            actor = Urls(ctx.config.base_url).of(ctx.account.name).owner
            yield NodeOrgPort(ctx.store, ctx.graph, actor=actor)


class NodeOrgPort(OrgPort):
    def __init__(self, store: GraphStore, graph: Graph, *, actor: str) -> None:
        self.graph = graph
        self.actor = actor  # this account's actor (a member's record ids live under it)
        self.org = store.org
        self.mine = store.org_member

    def now(self) -> str:
        return self.graph.now()

    # ---- the organisation's side ---------------------------------------------------------------------------
    async def settings(self) -> OrgSettings:
        raw = await self.org.settings()
        cap = raw.get("cap") if raw.get("cap") in SHARING_LEVELS else DEFAULT_CAP
        days = raw.get("cool_down_days")
        return OrgSettings(
            cap=str(cap),
            domains=tuple(d for d in raw.get("domains", []) if isinstance(d, str)),
            cool_down_days=days if isinstance(days, int) and not isinstance(days, bool) else None,
        )

    async def set_settings(
        self,
        *,
        cap: str | None = None,
        domains: Sequence[str] | None = None,
        cool_down_days: int | None = None,
    ) -> OrgSettings:
        values: dict[str, Any] = {}
        if cap is not None:
            if cap not in SHARING_LEVELS:
                raise InvalidRecord(f"cap must be one of {', '.join(SHARING_LEVELS)}", field="cap")
            values["cap"] = cap
        if domains is not None:
            clean = []
            for d in domains:
                name = d.strip().lower().removeprefix("@").rstrip(".")
                if not _DOMAIN.fullmatch(name) or len(name) > 253:
                    raise InvalidRecord(
                        f"{d[:100]!r} is not a domain name like acme.example", field="domains"
                    )
                if name not in clean:
                    clean.append(name)
            if len(clean) > 100:
                raise InvalidRecord("at most 100 domains", field="domains")
            values["domains"] = clean
        if cool_down_days is not None:
            if (
                isinstance(cool_down_days, bool)
                or not isinstance(cool_down_days, int)
                or not 1 <= cool_down_days <= 3650
            ):
                raise InvalidRecord(
                    "cool_down_days must be a whole number of days from 1 to 3650", field="cool_down_days"
                )
            values["cool_down_days"] = cool_down_days
        if values:
            await self.org.set_settings(values)
        return await self.settings()

    async def member(self, actor: str) -> dict[str, Any] | None:
        return await self.org.member(actor)

    async def members(self, states: Sequence[str] = ("active",)) -> list[dict[str, Any]]:
        return await self.org.members(states)

    async def add_member(self, actor: str, *, acct: str | None, name: str | None, role: str) -> None:
        await self.org.add_member(
            actor, acct=acct, name=(name or "")[:500] or None, role=role, now=self.now()
        )

    async def end_member(self, actor: str, *, state: str) -> int:
        count = await self.org.end_member(actor, state=state, now=self.now())
        await self.org.scrub()  # gone from the disk too, not only from the tables
        return count

    async def set_role(self, actor: str, role: str) -> None:
        await self.org.set_role(actor, role)

    async def _colleague(self) -> tuple[set[str], tuple[str, ...]]:
        uris: set[str] = set()
        for m in await self.org.members():
            uris.add(m["actor"])
            if m.get("acct"):
                uris.add("acct:" + str(m["acct"]).removeprefix("acct:"))
        return uris, (await self.settings()).domains

    async def apply_shared(
        self, member: str, records: Sequence[tuple[SharedContact, Mapping[str, Any]]]
    ) -> int:
        colleagues, domains = await self._colleague()
        items = []
        for record, raw in records:
            idents = [m for m in (_merging(u) for u in record.identities) if m is not None]
            if any(uri in colleagues or _on(uri, domains) for uri, _ in idents):
                continue  # a colleague: never held, whatever was sent (specs/ORGANISATIONS.md §Colleagues)
            items.append(
                IncomingRecord(
                    record_id=record.id,
                    level=record.level,
                    version=record.version,
                    name=record.name,
                    organization=record.organization_name,
                    strength=record.strength,
                    bucket=record.strength_bucket,
                    explained=record.explained,
                    last_contact=record.last_contact.isoformat() if record.last_contact else None,
                    last_channel=record.last_channel,
                    record=json.dumps(raw, separators=(",", ":")),
                    identities=idents,
                    interactions=[
                        (stamp(i.occurred), i.channel, i.initiated_by) for i in record.interactions
                    ],
                    notes=record.notes,
                )
            )
        if not items:
            return 0
        new, replaced = await self.org.apply(member, items, self.now())
        if replaced:  # an update may say less than before (a lower level, a note taken back): scrub the rest
            await self.org.scrub()
        return new + replaced

    async def withdraw_shared(self, member: str, removals: Sequence[SharedContactRemoval]) -> int:
        gone = await self.org.withdraw(member, [(r.id, r.version) for r in removals], self.now())
        if gone:
            await self.org.scrub()  # gone from the disk too, not only from the tables
        return gone

    async def purge(
        self, *, uris: Sequence[str] = (), hosts: Sequence[str] = (), above: str | None = None
    ) -> int:
        gone = await self.org.purge(now=self.now(), uris=uris, hosts=hosts, above=above)
        if gone:
            await self.org.scrub()
        return gone

    async def _find(self, query: str, *, company: bool = True) -> list[tuple[int, str]]:
        text = query.strip()
        if _ADDRESS.search(text):
            found = _merging(text)
            if found is None:
                raise InvalidRecord(f"{text[:100]!r} is not an address Kith can read", field="q")
            return await self.org.find_people(uris=[found[0]])
        return await self.org.find_people(name=text, company=text if company else None)

    async def who_knows(self, query: str) -> list[dict[str, Any]]:
        return await self.org.who_knows(await self._find(query))

    async def timeline(self, query: str) -> list[dict[str, Any]]:
        return await self.org.timeline([pk for pk, _ in await self._find(query)])

    async def _people(self, query: str) -> list[tuple[int, str]]:
        """People a name or an address means, exact full names first (``Jane`` may prefix-match ``Janet``)."""
        found = await self.org.who_knows(await self._find(query, company=False))
        exact = [f for f in found if fold(f["person"]["display_name"]) == fold(query)]
        return [(f["_pk"], f["person"]["display_name"]) for f in (exact or found)]

    async def candidates(
        self, query: str, *, exclude: Sequence[str]
    ) -> tuple[list[str], list[dict[str, Any]]]:
        people = await self._people(query)
        if len(people) != 1:
            return [name for _, name in people], []
        return [people[0][1]], await self.org.candidates([people[0][0]], exclude=exclude)

    async def _target(self, target: str) -> tuple[str, str, str, list[str]]:
        """(kind, key, name, identities) of a policy's target."""
        text = target.strip()
        if text.lower().startswith("company:"):
            name = text[8:].strip()
            if not fold(name):
                raise InvalidRecord("company:NAME needs a name", field="target")
            return "company", fold(name), name[:500], []
        if _ADDRESS.search(text):
            found = _merging(text)
            if found is None:
                raise InvalidRecord(f"{text[:100]!r} is not an address Kith can read", field="target")
            people = await self.org.find_people(uris=[found[0]])
            idents = await self.org.person_identities(people[0][0]) if people else [found[0]]
            named = await self.org.who_knows(people) if people else []
            return (
                "person",
                found[0],
                named[0]["person"]["display_name"] if named else text[:500],
                idents or [found[0]],
            )
        name = text.removeprefix("person:").strip()
        people = await self._people(name)
        if len(people) == 1:
            idents = await self.org.person_identities(people[0][0])
            if idents:
                return "person", idents[0], people[0][1], idents
        if len(people) > 1:
            listed = "; ".join(n for _, n in people[:5])
            raise InvalidRecord(
                f"{len(people)} people match {name!r} ({listed}); use an address", field="target"
            )
        if text.lower().startswith("person:"):
            raise NotFound(f"no one shared here is called {name!r}; name them by an address")
        return "company", fold(name), name[:500], []

    async def find_policy(self, target: str) -> dict[str, Any] | None:
        kind, key, _, _ = await self._target(target)
        held = await self.org.policy(kind, key)
        return await self._policy_json(held) if held else None

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
        kind, key, name, identities = await self._target(target)
        held = await self.org.policy(kind, key)
        if clear:
            if held is None:
                raise NotFound(f"there is no policy for {target}")
            await self.org.delete_policy(kind, key)
            return {**await self._policy_json(held), "cleared": True}
        if owner is None and do_not_contact is None and cool_down_days is None:
            raise InvalidRecord(
                "say what the policy is: --owner MEMBER, --do-not-contact REASON or --cool-down DAYS"
            )
        if do_not_contact is not None and (not isinstance(do_not_contact, str) or len(do_not_contact) > 2000):
            raise InvalidRecord(
                "the do-not-contact reason must be text of at most 2,000 characters", field="do_not_contact"
            )
        if cool_down_days is not None and (
            isinstance(cool_down_days, bool)
            or not isinstance(cool_down_days, int)
            or not 1 <= cool_down_days <= 3650
        ):
            raise InvalidRecord(
                "cool_down_days must be a whole number of days from 1 to 3650", field="cool_down_days"
            )
        row: dict[str, Any] = dict(held) if held else {"id": policy_id, "kind": kind, "target": key}
        row.update(name=name, identities=identities or row.get("identities", []), updated_at=self.now())
        if owner is not None:
            row["owner"] = owner
        if do_not_contact is not None:
            reason = do_not_contact.strip()
            row["dnc_reason"], row["dnc_by"] = (reason, by) if reason else (None, None)
        if cool_down_days is not None:
            row["cool_down_days"] = cool_down_days
        await self.org.save_policy(row)
        saved = await self.org.policy(kind, key)
        assert saved is not None
        return await self._policy_json(saved)

    async def _policy_json(self, row: Mapping[str, Any]) -> dict[str, Any]:
        settings = await self.settings()
        if row["kind"] == "company":
            last = await self.org.last_contacts(company_query=row["name"])
        else:
            last = await self.org.last_contacts(uris=row["identities"])
        days = row.get("cool_down_days") or settings.cool_down_days
        until = None
        if last and days:
            until = (date.fromisoformat(last[:10]) + timedelta(days=days)).isoformat()
            if until <= self.now()[:10]:
                until = None
        return {
            "id": row["id"],
            "kind": row["kind"],
            "name": row["name"],
            "identities": list(row["identities"]),
            "owner": row.get("owner"),
            "do_not_contact": row.get("dnc_reason"),
            "do_not_contact_by": row.get("dnc_by"),
            "cool_down_days": row.get("cool_down_days"),
            "last_contact": last,
            "cool_down_until": until,
            "updated_at": row["updated_at"],
        }

    async def policies(self) -> list[dict[str, Any]]:
        return [await self._policy_json(r) for r in await self.org.policies()]

    async def add_intro(self, intro: Mapping[str, Any], asks: Sequence[Mapping[str, Any]]) -> None:
        await self.org.add_intro({**intro, "now": self.now()}, [dict(a) for a in asks])

    async def intro(self, intro_id: str) -> dict[str, Any] | None:
        return await self.org.intro(intro_id)

    async def intro_ask(self, ask_id: str) -> dict[str, Any] | None:
        return await self.org.ask(ask_id)

    async def intros(self, *, requester: str | None = None) -> list[dict[str, Any]]:
        return await self.org.intros(requester=requester)

    async def answer_ask(self, ask_id: str, *, state: str) -> None:
        await self.org.answer_ask(ask_id, state=state, now=self.now())

    async def set_intro(
        self, intro_id: str, *, state: str, introducer: str | None = None, note: str | None = None
    ) -> None:
        await self.org.set_intro(intro_id, state=state, now=self.now(), introducer=introducer, note=note)

    async def stale_intros(self, before: str) -> list[str]:
        return await self.org.stale_intros(before)

    # ---- a member's side -------------------------------------------------------------------------------------
    async def memberships(self) -> list[dict[str, Any]]:
        return await self.mine.memberships()

    async def ensure_membership(self, org: str) -> None:
        await self.mine.ensure(org, self.now())

    async def save_info(self, org: str, info: OrganizationInfo, raw: Mapping[str, Any]) -> bool:
        return await self.mine.save_info(org, dict(raw), stamp(info.updated))

    async def info(self, org: str) -> OrganizationInfo | None:
        row = await self.mine.membership(org)
        if row is None or not row.get("info"):
            return None
        try:
            info = org_from_jsonld(row["info"])
        except InvalidRecord:
            return None
        except Exception:  # a stored value from an older version: as if nothing was told yet
            return None
        return info if isinstance(info, OrganizationInfo) else None

    async def shares_deleted(self, org: str, count: int, when: str) -> None:
        await self.mine.shares_deleted(org, count, when or self.now())

    async def desired_shares(self, org: str, info: OrganizationInfo | None) -> dict[str, DesiredShare]:
        inputs = await self.mine.inputs(org)
        now = self.graph.clock()
        # the rules and the strengths are plain CPU work over the whole graph: a thread, off the event loop
        desired = await asyncio.to_thread(desired_records, inputs, org=org, info=info, now=now)
        return {
            pid: DesiredShare(
                person_id=pid,
                record_id=record_id_for(self.actor, org, pid),
                level=d.level,
                digest=d.digest,
                fields=record_fields(d),
            )
            for pid, d in desired.items()
        }

    async def fingerprint(self, org: str) -> str:
        # the date too: strengths decay by the day, so a day's first look shares them afresh
        return await self.mine.fingerprint(org) + ":" + self.graph.clock().astimezone(UTC).date().isoformat()

    async def reconciled(self, org: str) -> str | None:
        return await self.mine.reconciled(org)

    async def sent_shares(self, org: str) -> dict[str, SentShare]:
        return {
            pid: SentShare(
                person_id=r.person_id,
                record_id=r.record_id,
                digest=r.digest,
                version=r.version,
                level=r.level,
            )
            for pid, r in (await self.mine.sent(org)).items()
        }

    async def take_versions(self, org: str, count: int) -> int:
        return await self.mine.take_versions(org, count)

    async def mark_sent(
        self, org: str, *, upserts: Sequence[SentShare], removed: Sequence[str], fingerprint: str | None
    ) -> None:
        rows = [SentRow(u.person_id, u.record_id, u.digest, u.version, u.level) for u in upserts]
        await self.mine.mark_sent(org, upserts=rows, removed=removed, fingerprint=fingerprint, now=self.now())

    async def forget_sent(self, org: str) -> int:
        return await self.mine.forget_sent(org)

    async def person_for_record(self, org: str, record_id: str) -> tuple[str, str] | None:
        person_id = await self.mine.person_for_record(org, record_id)
        if person_id is None:
            return None
        try:
            person = await self.graph.get_person(person_id)
        except Exception:  # merged away or deleted since it was shared
            return None
        return person_id, person.display_name

    async def save_intro(self, row: Mapping[str, Any]) -> None:
        await self.mine.save_intro(dict(row))

    async def local_intros(self, org: str | None = None) -> list[dict[str, Any]]:
        return await self.mine.intros(org)

    async def local_intro(self, intro_id: str) -> dict[str, Any] | None:
        return await self.mine.intro(intro_id)


def _on(uri: str, domains: Sequence[str]) -> bool:
    if not domains:
        return False
    if uri.startswith(("mailto:", "acct:")):
        host = uri.rsplit("@", 1)[-1]
    elif uri.startswith(("https://", "http://")):
        host = uri.split("/", 3)[2].split(":")[0]
    else:
        return False
    return any(host == d or host.endswith("." + d) for d in domains)


def _today(now: datetime) -> str:
    return iso(now)[:10]
