"""Resolution of one import, chunk by chunk: what each draft becomes in the graph (docs/ARCHITECTURE.md §7).

The rules are listed in node/importer.py, which drives this state through a transaction. This module holds no
SQL: it reads through the import session's look-ups and hands rows to its bulk writes. Every per-row step here
runs tens of thousands of times per import, so the hot paths are plain statements over small tuples.

Two rules of its own:
- A contact draft with no usable address (every identity it named was refused, or it named none), no name and
  no organisation is left out entirely: a person made of it would be a "(no name)" placeholder that nothing
  could ever match or merge (issue 12: Bluesky follows with invalid DIDs).
- Related people (bridges.base.RelatedDraft: vCard RELATED, Apple's related names, Google's "Relation") are
  linked once every row is written, since a card may name one later in the file: to the person the value
  names (another card's UID, an address one of them holds, or a name exactly one person has), as a relationship
  between the two ("the related one is the card's ``type``"); else the words are kept as a note on the card's
  person that says why they were not linked.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from itertools import islice
from operator import itemgetter
from typing import Any

import orjson

from bridges import printable
from bridges.base import (
    YEAR_UNKNOWN,
    BlockDraft,
    ContactDraft,
    IdentityDraft,
    ImportItem,
    InteractionDraft,
    RelatedDraft,
)
from node.graph import NO_NAME, new_id, new_ids
from node.models import VERIFICATION_LEVELS
from node.store.imports import (
    PERSON_IMPORT_FIELDS,
    ChunkRows,
    ImportSession,
    KnownIdentity,
    KnownRecord,
    RelatedRow,
    SuggestionRow,
)
from protocol.addresses import Address, normalize
from protocol.errors import InvalidRecord
from protocol.vocab import CHANNELS, RelationshipTerm, relationship_term

__all__ = ["MAX_SKIPPED_SHOWN", "Prepared", "Resolution", "is_verified_grade"]

MAX_SKIPPED_SHOWN = 500  # a summary lists this many skipped rows; the count covers all of them
_MAX_TEXT = 10_000
_LEVELS = VERIFICATION_LEVELS  # strongest first


def is_verified_grade(addr: Address, verification: str) -> bool:
    """Identifiers on which two people are merged without asking (docs/ARCHITECTURE.md §7, the first tier)."""
    if verification == "guessed":
        return False
    kind = str(addr.kind)
    if kind in ("email", "acct", "url"):  # a normalised e-mail; a fediverse account or actor URI
        return True
    if kind == "bluesky":
        return addr.uri.startswith("did:")
    if kind == "x":
        return addr.uri.startswith("https://x.com/i/user/")
    return False


@lru_cache(maxsize=256)
def _term(name: str) -> RelationshipTerm | None:
    try:
        return relationship_term(name)
    except InvalidRecord:
        return None


@dataclass(slots=True)
class _Person:
    fields: dict[str, Any]  # PERSON_IMPORT_FIELDS and met_on
    new: bool  # created by this import
    pending: bool  # not yet written (the next chunk taken writes it, with its identities and notes)
    placeholder: bool = False  # the name is only an address: a real name from any source replaces it
    # The fields as the database holds them, kept when they first change after the person is written (None:
    # the fields are what the database holds). Most people are never changed again: no copy is made for them.
    stored: dict[str, Any] | None = None


_NO_FIELDS: dict[str, Any] = dict.fromkeys(PERSON_IMPORT_FIELDS)  # a new person's fields before the draft's
_PERSON_ROW = itemgetter(*PERSON_IMPORT_FIELDS, "met_on")  # a new person's columns, in the insert's order


@dataclass(slots=True)
class _Contact:
    draft: ContactDraft
    addrs: list[tuple[Address, IdentityDraft]]
    digest: str
    values: dict[str, Any]
    values_json: str


@dataclass(slots=True)
class Prepared:
    rows: int = 0
    contacts: list[_Contact] = field(default_factory=list)
    talks: list[tuple[InteractionDraft, list[tuple[Address, IdentityDraft]]]] = field(default_factory=list)
    blocks: list[str] = field(default_factory=list)


def _digest(c: ContactDraft) -> str:
    """What the record says, hashed: an unchanged record is not touched on re-import. (Its fields as one
    orjson array: runs for every row, and costs a third of what the tuple's repr did.) Related people count
    only when there are some, so that records of every other kind keep the digests they were stored with."""
    return hashlib.blake2b(
        orjson.dumps(
            (
                *(([tuple(r) for r in c.related],) if c.related else ()),
                c.source_record_id,
                c.display_name,
                c.given_name,
                c.family_name,
                c.nickname,
                c.organization,
                c.title,
                c.birthday,
                c.photo_url,
                [(i.address, i.kind, i.label, i.verification) for i in c.identities],
                c.circles,
                c.notes,
                c.met_on,
                c.relationship,
                c.follow,
            )
        ),
        digest_size=16,
    ).hexdigest()


@lru_cache(maxsize=4096)  # an export's rows share their days, and isoformat() is most of the cost
def _day(value: date | None) -> str | None:
    if value is None:
        return None
    return f"--{value.month:02d}-{value.day:02d}" if value.year == YEAR_UNKNOWN else value.isoformat()


def _clip(value: str | None, limit: int = 500) -> str | None:
    if value is None:
        return None
    text = value.strip()
    return text[:limit] if text else None


def _draft_fields(c: ContactDraft) -> dict[str, Any]:
    """The person fields a draft sets (empty ones left out). Runs for every row: kept to plain statements."""
    out: dict[str, Any] = {}
    given = _clip(c.given_name) if c.given_name else None
    family = _clip(c.family_name) if c.family_name else None
    display = _clip(c.display_name) if c.display_name else None
    if given:
        out["given_name"] = given
    if family:
        out["family_name"] = family
    if c.nickname and (nick := _clip(c.nickname)):
        out["nickname"] = nick
    display = display or (f"{given} {family}" if given and family else given or family) or out.get("nickname")
    if display:
        out["display_name"] = display
    if c.organization and (org := _clip(c.organization)):
        out["organization"] = org
    if c.title and (title := _clip(c.title)):
        out["title"] = title
    if c.birthday is not None:
        out["birthday"] = _day(c.birthday)
    if c.photo_url and (photo := _clip(c.photo_url, 2048)):
        out["photo_url"] = photo
    return out


class Resolution:
    """The state of one import: caches of what the graph already holds and what this import added."""

    def __init__(
        self, phone_region: str | None, session: ImportSession, source: str, name: str, started: float
    ) -> None:
        self.phone_region, self.s, self.source, self.name, self.started = (
            phone_region,
            session,
            source,
            name,
            started,
        )
        self.idents: dict[str, KnownIdentity] = {}
        self.records: dict[str, KnownRecord] = {}
        self.known_interactions: set[str] = set()
        self.people: dict[int, _Person] = {}
        self.redirect: dict[int, int] = {}  # merged person -> survivor
        self.circles: dict[str, tuple[int, bool]] = {}
        self.relationships: set[tuple[int, str]] = set()  # (person, type) the owner already has
        self.addr_cache: dict[tuple[str, str | None], Address | str] = {}
        self.rows = ChunkRows()
        self.merges: list[tuple[int, int, list[dict[str, str]]]] = []
        self.suggestions: dict[tuple[int, int], tuple[str, list[dict[str, str]]]] = {}
        self.name_checks: list[tuple[int, str]] = []
        self.refresh: set[int] = set()
        self.stats: set[int] = set()
        self.due: set[int] = set()
        self.counts: dict[str, int] = dict.fromkeys(
            [
                "rows",
                "people_created",
                "people_updated",
                "records_unchanged",
                "identities_added",
                "provenance_added",
                "merged_automatically",
                "suggestions_made",
                "interactions_added",
                "interactions_known",
                "blocks_added",
                "circle_memberships_added",
                "notes_added",
                "relationships_added",
                "skipped_count",
                "warnings_count",
            ],
            0,
        )
        self.skipped: list[dict[str, Any]] = []
        # (card's person, related, record id): linked at the end (link_related); forget() keeps them.
        self.related: list[tuple[int, RelatedDraft, str]] = []
        self._pending_circles: list[tuple[int, str]] = []
        self.pending_people: list[int] = []  # created since the last flush
        self.dirty_people: set[int] = (
            set()
        )  # written before, changed since the last flush  # (index in rows.circle_members, circle name)
        self.next_person = self.next_identity = self.next_interaction = 0
        self.first_person = 0  # the first key this import gives a person: every later key is a person it made

    # -- helpers --------------------------------------------------------------------------------------------
    def find(self, pk: int) -> int:
        while pk in self.redirect:
            pk = self.redirect[pk]
        return pk

    def skip(self, file: str, line: int | None, reason: str, severity: str = "skipped") -> None:
        self.counts["skipped_count" if severity == "skipped" else "warnings_count"] += 1
        if len(self.skipped) < MAX_SKIPPED_SHOWN:
            # Both quote the export (member names, record keys): shown as they are, they could be escape
            # sequences that a terminal obeys.
            self.skipped.append(
                {"file": printable(file), "line": line, "reason": printable(reason), "severity": severity}
            )

    def address(self, d: IdentityDraft, record: str) -> Address | None:
        key = (d.address, d.kind)
        got = self.addr_cache.get(key)
        if got is None:
            try:
                got = normalize(d.address, kind=d.kind, region=self.phone_region)
            except InvalidRecord as exc:
                got = exc.message
            self.addr_cache[key] = got
        if isinstance(got, str):
            self.skip(self.name, None, f"record {record}: {d.address!r} left out: {got}", "warning")
            return None
        return got

    def addresses(
        self, drafts: tuple[IdentityDraft, ...], record: str
    ) -> list[tuple[Address, IdentityDraft]]:
        if len(drafts) == 1:  # most rows (a follow, a connection): no de-duplication to do
            a = self.address(drafts[0], record)
            return [] if a is None else [(a, drafts[0])]
        out: dict[str, tuple[Address, IdentityDraft]] = {}
        for d in drafts:
            a = self.address(d, record)
            if a is not None and a.uri not in out:
                out[a.uri] = (a, d)
        return list(out.values())

    # -- one chunk ------------------------------------------------------------------------------------------
    async def prepare(self, items: Iterator[ImportItem], size: int) -> Prepared | None:
        """Read up to ``size`` items and do the per-row work that needs no database: normalising addresses,
        digests, person fields. It yields to the event loop now and then, so that a long export does not hold up
        the node's other requests."""
        prep = Prepared()
        for n, item in enumerate(islice(items, size)):
            prep.rows += 1
            if isinstance(item, ContactDraft):
                values = _draft_fields(item)
                addrs = self.addresses(item.identities, item.source_record_id)
                if not addrs and "display_name" not in values and "organization" not in values:
                    what = "none of its addresses could be used" if item.identities else "it names no address"
                    self.skip(
                        self.name,
                        None,
                        f"record {item.source_record_id}: {what} and it has no name; left out",
                    )
                    continue
                prep.contacts.append(
                    _Contact(
                        draft=item,
                        addrs=addrs,
                        digest=_digest(item),
                        values=values,
                        # Compact, keys sorted, UTF-8 as is: the text json.dumps made before, faster.
                        values_json=orjson.dumps(values, option=orjson.OPT_SORT_KEYS).decode(),
                    )
                )
            elif isinstance(item, InteractionDraft):
                prep.talks.append((item, self.addresses(item.participants, item.source_record_id)))
            elif isinstance(item, BlockDraft):
                a = self.address(item.identity, item.source_record_id)
                if a is not None:
                    prep.blocks.append(a.uri)
            else:
                self.skip(item.file, item.line, item.reason, item.severity)
            if n % 64 == 63:
                await asyncio.sleep(0)
        return prep if prep.rows else None

    async def lookup(self, prep: Prepared) -> None:
        """Read what the chunk names and this import has not seen yet: one query per table, through a snapshot
        of the database as the import found it (or the import's connection, after a merge: ImportSession). It
        may run before the previous chunks are written: whatever this import wrote or decided is in its own
        caches, which are consulted first and never overwritten here, so the database need only say what was
        there before."""
        # Each filter iterates over the chunk, not the caches: ``a_set - a_dict.keys()`` walks the whole dict,
        # and the caches grow with the import (that made look-ups quadratic: 15 ms of a 30,000-row import).
        contacts, talks = prep.contacts, prep.talks
        rids = sorted({rid for c in contacts if (rid := c.draft.source_record_id) not in self.records})
        self.records.update(await self.s.records(self.source, rids))
        # A record that says what it said last time is skipped by contact() without looking at anything else,
        # so only the others need their addresses and people read (a re-import of the same export reads one
        # table). A record named twice in the chunk is read in full: its first row may change what the second
        # is compared with.
        named = Counter(c.draft.source_record_id for c in contacts)
        live = [c for c in contacts if named[c.draft.source_record_id] > 1 or self._changed(c)]
        uris = {a.uri for c in live for a, _d in c.addrs if a.uri not in self.idents}
        uris.update(a.uri for _t, addrs in talks for a, _d in addrs if a.uri not in self.idents)
        self.idents.update(await self.s.identities(sorted(uris)))
        tids = sorted({t.source_record_id for t, _a in talks} - self.known_interactions)
        self.known_interactions.update(await self.s.known_interactions(self.source, tids))
        wanted: set[int] = set()
        for c in live:
            rec = self.records.get(c.draft.source_record_id)
            if rec is not None:
                wanted.add(self.find(rec.person_pk))
            for a, _d in c.addrs:
                k = self.idents.get(a.uri)
                if k is not None and k.person_pk is not None:
                    wanted.add(self.find(k.person_pk))
        missing = sorted(pk for pk in wanted if pk not in self.people)
        if missing:
            self.relationships.update(await self.s.relationship_types(missing))
            for pk, known in (await self.s.people(missing)).items():
                self.people[pk] = _Person(
                    fields=known.fields,
                    new=pk >= self.first_person,  # read again after a merge: made by this import all the same
                    pending=False,
                    placeholder=known.placeholder or known.fields["display_name"] == NO_NAME,
                )
        for name in sorted({n.strip()[:100] for c in live for n in c.draft.circles} - {""}):
            if name.casefold() not in self.circles:
                self.circles[name.casefold()] = await self.s.circle(new_id("c"), name)

    def _changed(self, prepared: _Contact) -> bool:
        """True unless the source says exactly what it said when this record was last imported."""
        rec = self.records.get(prepared.draft.source_record_id)
        return rec is None or rec.digest != prepared.digest

    def decide(self, prep: Prepared) -> None:
        """What every row of a looked-up chunk becomes, in memory; take() hands the rows to a write."""
        self.rows.blocks.extend((uri, self.source) for uri in prep.blocks)
        for c in prep.contacts:
            self.contact(c)
        for t, addrs in prep.talks:
            self.interaction(t, addrs)

    # -- contacts -------------------------------------------------------------------------------------------
    def contact(self, prepared: _Contact) -> None:
        c, addrs, digest, values = prepared.draft, prepared.addrs, prepared.digest, prepared.values
        rid = c.source_record_id
        if not self._changed(prepared):
            self.counts["records_unchanged"] += 1
            return
        rec = self.records.get(rid)
        met_day = _day(c.met_on)  # the date met, as met_on and a relationship's since are stored
        linked: dict[int, tuple[str, str, bool]] = {}  # person -> (uri, kind, verified-grade link)
        for a, d in addrs:
            k = self.idents.get(a.uri)
            if k is None or k.person_pk is None:
                continue
            p = self.find(k.person_pk)
            strong = is_verified_grade(a, d.verification) and k.verification != "guessed"
            if p not in linked or (strong and not linked[p][2]):
                linked[p] = (a.uri, str(a.kind), strong)
        if rec is not None:
            target, target_strong = self.find(rec.person_pk), True
        elif linked:
            strong_people = sorted(p for p, link in linked.items() if link[2])
            target = strong_people[0] if strong_people else min(linked)
            target_strong = linked[target][2]
        else:
            target, target_strong = self.new_person(values, met_day, addrs), False
        for p, (uri, kind, strong) in sorted(linked.items()):
            if p == target:
                continue
            evidence = [
                {"kind": kind, "detail": uri},
                {"kind": "import", "detail": f"{self.source} record {rid}"},
            ]
            if strong and target_strong:
                self.merges.append((target, p, evidence))
                self.redirect[p] = target
            else:
                self.suggest(target, p, "suggested", evidence)
        person = self.people[target]
        if rec is not None or linked:
            self.update_person(target, person, values, met_day, rec)
        for a, d in addrs:
            self.attach(target, person, a, d, rid)
        record_row = (self.source, rid, target, digest, prepared.values_json)
        (self.rows.records if rec is None else self.rows.record_updates).append(record_row)
        self.records[rid] = KnownRecord(target, digest, values)
        for name in c.circles:
            self.join_circle(target, name)
        for body in c.notes:
            self.note(target, person, rid, body)
        self.related.extend((target, r, rid) for r in c.related)
        if c.relationship:
            term = _term(c.relationship)
            if term is None:
                self.skip(
                    self.name, None, f"record {rid}: unknown relationship {c.relationship!r}", "warning"
                )
            else:
                if (target, term.name) not in self.relationships:
                    self.relationships.add((target, term.name))
                    direction = "mutual" if term.mutual else "outgoing"
                    self.rows.relationships.append(  # its id is given in take(), with the chunk's others
                        (target, term.name, term.iri, direction, met_day)
                    )
        if not addrs and not linked and rec is None and values.get("display_name"):
            self.name_checks.append((target, values["display_name"]))

    def new_person(
        self, values: dict[str, Any], met_day: str | None, addrs: list[tuple[Address, IdentityDraft]]
    ) -> int:
        pk = self.next_person
        self.next_person += 1
        fields = {**_NO_FIELDS, **values}
        placeholder = not fields["display_name"]
        if placeholder:
            fields["display_name"] = (
                values.get("organization")
                or (addrs[0][1].label or addrs[0][0].display if addrs else "")
                or NO_NAME
            )
        fields["met_on"] = met_day
        self.people[pk] = _Person(fields, True, True, placeholder)  # new, pending
        self.pending_people.append(pk)
        self.counts["people_created"] += 1
        return pk

    def update_person(
        self, pk: int, person: _Person, values: dict[str, Any], day: str | None, rec: KnownRecord | None
    ) -> None:
        """Fill what is empty; change what this record set before and the owner has not edited since."""
        before = dict(person.fields)
        previous = rec.fields if rec is not None else {}
        for f, value in values.items():
            current = person.fields.get(f)
            if f == "display_name" and person.placeholder:
                person.fields[f], person.placeholder = value, False
            elif not current or (f in previous and current == previous[f]):
                person.fields[f] = value
        if day and (person.fields.get("met_on") is None or day < person.fields["met_on"]):
            person.fields["met_on"] = day
        if person.fields != before:
            if not person.pending:
                if person.stored is None:
                    person.stored = before
                self.dirty_people.add(pk)
                self.refresh.add(pk)
            if not person.new:
                self.counts["people_updated"] += 1

    def attach(self, pk: int, person: _Person, a: Address, d: IdentityDraft, rid: str) -> None:
        k = self.idents.get(a.uri)
        label = _clip(d.label, 200) or a.handle
        if k is None:
            ipk = self.next_identity
            self.next_identity += 1
            self.rows.identities.append((ipk, pk, a.uri, str(a.kind), a.display, label, d.verification))
            self.idents[a.uri] = KnownIdentity(ipk, pk, d.verification, label)
            self.counts["identities_added"] += 1
            if not person.pending:  # a new person is found by what its chunk writes with it (ChunkRows)
                self.refresh.add(pk)
        elif k.person_pk is None or self.find(k.person_pk) == pk:
            best = (
                k.verification
                if _LEVELS.index(k.verification) <= _LEVELS.index(d.verification)
                else d.verification
            )
            new_label = label or k.label
            if k.person_pk is None or best != k.verification or new_label != k.label:
                if k.person_pk is None:
                    self.counts["identities_added"] += 1
                    self.refresh.add(pk)
                self.idents[a.uri] = KnownIdentity(k.pk, pk, best, new_label)
                self.rows.identity_updates.append((pk, best, new_label, k.pk))
        else:
            return  # another person's address, linked by a suggestion
        self.rows.provenance.append((self.idents[a.uri].pk, self.source, rid))

    def join_circle(self, pk: int, name: str) -> None:
        known = self.circles.get(name.strip()[:100].casefold())
        if known is None:
            return  # an empty name
        self.rows.circle_members.append((known[0], pk))
        if known[1]:
            self.due.add(pk)

    def note(self, pk: int, person: _Person, rid: str, body: str) -> None:
        text = body.strip()[:_MAX_TEXT]
        if not text:
            return
        key = hashlib.blake2b(f"{self.source}\x1f{rid}\x1f{text}".encode(), digest_size=12).hexdigest()
        self.rows.notes.append((f"n_imp{key}", pk, text))
        if not person.pending:
            self.refresh.add(pk)

    def suggest(self, a: int, b: int, tier: str, evidence: list[dict[str, str]]) -> None:
        _suggest(self.suggestions, a, b, tier, evidence)

    # -- interactions ---------------------------------------------------------------------------------------
    def interaction(self, t: InteractionDraft, addrs: list[tuple[Address, IdentityDraft]]) -> None:
        rid = t.source_record_id
        if rid in self.known_interactions:
            self.counts["interactions_known"] += 1
            return
        if t.channel not in CHANNELS or t.initiated_by not in ("owner", "them", "unknown"):
            self.skip(self.name, None, f"interaction {rid}: unknown channel {t.channel!r} or initiator")
            return
        people: list[int] = []
        for a, d in addrs:
            k = self.idents.get(a.uri)
            if k is not None and k.person_pk is not None:
                pk = self.find(k.person_pk)
            else:
                label = _clip(d.label)
                pk = self.new_person({"display_name": label} if label else {}, None, [(a, d)])
                self.attach(pk, self.people[pk], a, d, rid)
            if pk not in people:
                people.append(pk)
        if not people:
            self.skip(self.name, None, f"interaction {rid}: no participant with a usable address")
            return
        self.known_interactions.add(rid)
        ipk = self.next_interaction
        self.next_interaction += 1
        summary = t.summary[:_MAX_TEXT]
        self.rows.interactions.append(
            (ipk, t.occurred_at, t.channel, t.initiated_by, summary, self.source, rid)  # id: in take()
        )
        self.rows.interaction_people.extend((pk, ipk) for pk in people)
        self.stats.update(people)
        self.counts["interactions_added"] += 1

    # -- writing --------------------------------------------------------------------------------------------
    def take(self) -> _Flush:
        """Everything decided since the last flush, handed to a write; resolution goes on with empty lists."""
        rows = self.rows
        rows.relationships = [
            (i, *r) for i, r in zip(new_ids("r", len(rows.relationships)), rows.relationships, strict=True)
        ]
        rows.interactions = [
            (r[0], i, *r[1:])
            for i, r in zip(new_ids("i", len(rows.interactions)), rows.interactions, strict=True)
        ]
        for pk, person_id in zip(self.pending_people, new_ids("p", len(self.pending_people)), strict=True):
            person = self.people[pk]
            f = person.fields  # a new person's fields hold every column (new_person)
            rows.people.append((pk, person_id, *_PERSON_ROW(f)))
            person.pending = False
        for pk in self.dirty_people:
            person = self.people[pk]
            stored = person.stored or {}
            changed = {k: v for k, v in person.fields.items() if stored.get(k) != v}
            if changed:  # only the columns that changed: an index is rewritten for every column SET names
                rows.person_updates.append((pk, changed))
            person.stored = None
        # Search rows of people written before and changed since: rebuilt by this chunk's write, after its rows.
        rows.refresh = sorted({self.find(pk) for pk in self.refresh} | self.refresh)
        self.refresh = set()
        # The store takes the rows now (and puts them in the form it writes) while the previous chunk's write
        # may still run; the write itself starts when flush awaits it.
        snap = _Flush(
            write=self.s.write(rows),
            merges=self.merges,
            suggestions=self.suggestions,
            name_checks=self.name_checks,
        )
        self.rows, self.merges, self.suggestions, self.name_checks = ChunkRows(), [], {}, []
        self.pending_people, self.dirty_people = [], set()
        return snap

    def forget(self) -> None:
        """Drop the look-up caches once the last chunk is decided: what is left (writing it, merges, suggestions,
        finish) needs only keys and the redirects. Freeing a large import's caches is tens of milliseconds of
        this thread, which the importer spends while SQLite writes the last chunk rather than after it."""
        self.idents, self.records, self.people = {}, {}, {}
        self.addr_cache, self.known_interactions, self.relationships = {}, set(), set()

    async def flush(self, snap: _Flush) -> None:
        await snap.write
        await self.apply_merges(snap)
        await self.name_suggestions(snap)
        if snap.suggestions:
            rows_s: list[SuggestionRow] = [
                (new_id("s"), a, b, tier, ev)
                for (a, b), (tier, ev) in snap.suggestions.items()
                if self.find(a) != self.find(b)
            ]
            self.counts["suggestions_made"] += await self.s.suggest(rows_s)

    async def apply_merges(self, snap: _Flush) -> None:
        for survivor, merged, evidence in snap.merges:
            # The chunk already treated them as one; now check the owner's earlier decisions and merge for real.
            self.redirect.pop(merged, None)
            s, m = self.find(survivor), self.find(merged)
            if s == m:
                continue
            if await self.s.merge_refused(s, m):
                _suggest(snap.suggestions, s, m, "suggested", evidence)
                continue
            await self.s.merge(merge_id=new_id("m"), survivor=s, merged=m, evidence=evidence)
            self.s.snapshot = False  # the merge changed rows the import read: look up on its connection now
            self.redirect[m] = s
            self.counts["merged_automatically"] += 1
            for pk in (s, m):
                self.people.pop(pk, None)  # the merge changed the rows: read them again when next needed
                self.refresh.add(pk)

    async def name_suggestions(self, snap: _Flush) -> None:
        """Someone with nothing but a name (a Facebook friend) and an active person of exactly that name: ask."""
        if not snap.name_checks:
            return
        named = await self.s.people_named(sorted({n for _p, n in snap.name_checks} - {NO_NAME}))
        for pk, name in snap.name_checks:
            for other in named.get(name, []):
                if self.find(other) != self.find(pk):
                    evidence = [{"kind": "name", "detail": name}]
                    _suggest(snap.suggestions, self.find(pk), self.find(other), "ask", evidence)

    async def link_related(self) -> None:
        """Related people, once every row is written (the module's rules): one look-up per kind of value for
        the whole import, then one write of the relationships and one of the notes."""
        if not self.related:
            return
        self.s.snapshot = False  # the rows this import wrote are on its own connection
        uris: dict[str, str] = {}  # value -> the canonical uri of the address it is
        names: set[str] = set()
        for _pk, r, _rid in self.related:
            value = r.value.strip()
            if r.text:
                names.add(value)
            if (not r.text or not any(ch.isspace() for ch in value)) and value not in uris:
                try:
                    uris[value] = normalize(value, region=self.phone_region).uri
                except InvalidRecord:
                    pass
        records = await self.s.records(
            self.source, sorted({r.record for _p, r, _i in self.related if r.record})
        )
        idents = await self.s.identities(sorted(set(uris.values())))
        named = await self.s.people_named(sorted(names - {NO_NAME, ""}))
        relationships: list[RelatedRow] = []
        notes = ChunkRows()
        for pk, r, rid in self.related:
            me = self.find(pk)
            value = r.value.strip()
            other: int | None = None
            why = ""
            if r.record and r.record in records:
                other = self.find(records[r.record].person_pk)
            elif value in uris and (k := idents.get(uris[value])) is not None and k.person_pk is not None:
                other = self.find(k.person_pk)
            elif r.text and len(hits := named.get(value, [])) == 1:
                other = self.find(hits[0])
            elif r.text and hits:
                why = f"{len(hits)} people are named {value!r}"
            else:
                why = "no one in the graph is " + (f"named {value!r}" if r.text else "at that address")
            term = _term(r.type) if r.type else None
            if other is not None and term is None:
                why = f"{r.label!r} is no relationship type Kith knows"
            if other == me:
                continue  # the card names its own person: nothing to relate
            if other is not None and term is not None:
                inverse = term.name if term.mutual else term.inverse
                direction = "mutual" if term.mutual else "outgoing"
                relationships.append((new_id("r"), other, me, term.name, term.iri, direction, inverse))
                continue
            text = f"{r.label}: {value[:_MAX_TEXT]} (not linked to a person: {why})"
            key = hashlib.blake2b(f"{self.source}\x1f{rid}\x1f{text}".encode(), digest_size=12).hexdigest()
            notes.notes.append((f"n_imp{key}", me, text))
            notes.refresh.append(me)
        if relationships:
            self.counts["relationships_added"] += await self.s.add_related(relationships)
        if notes.notes:
            notes.refresh = sorted(set(notes.refresh))
            await self.s.write(notes)  # counted with the other notes (finish reads the counts)

    async def finish(self) -> None:
        await self.link_related()
        added = await self.s.added()
        for key in ("provenance", "notes", "relationships"):
            self.counts[f"{key}_added"] += added[key]
        self.counts["circle_memberships_added"] += added["circle_members"]
        self.counts["blocks_added"] += added["blocks"]
        refresh = {self.find(pk) for pk in self.refresh} | self.refresh
        await self.s.finish(
            refresh=sorted(refresh),
            stats=sorted({self.find(p) for p in self.stats}),
            due=sorted({self.find(p) for p in self.due}),
        )


@dataclass(slots=True)
class _Flush:
    write: Awaitable[None]  # the chunk's rows, taken by the store (ImportSession.write)
    merges: list[tuple[int, int, list[dict[str, str]]]]
    suggestions: dict[tuple[int, int], tuple[str, list[dict[str, str]]]]
    name_checks: list[tuple[int, str]]


def _suggest(
    into: dict[tuple[int, int], tuple[str, list[dict[str, str]]]],
    a: int,
    b: int,
    tier: str,
    evidence: list[dict[str, str]],
) -> None:
    into.setdefault((min(a, b), max(a, b)), (tier, evidence))
