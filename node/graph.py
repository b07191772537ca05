"""The contact graph: every operation the owner (through the API, CLI or web UI) performs on people.

This layer validates input, normalises addresses (protocol.addresses), chooses ids and timestamps, and applies
the merge rules (docs/ARCHITECTURE.md §7); storage happens behind :class:`node.store.GraphStore`, which sees only
validated values. Errors are node.errors (mapped to HTTP statuses by the API in one place).
"""

from __future__ import annotations

import base64
import re
import secrets
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from node.errors import BadInput, Conflict
from node.models import (
    PERSON_FIELDS,
    VERIFICATION_LEVELS,
    Circle,
    FadingEntry,
    Interaction,
    LayerReport,
    MergeRecord,
    Note,
    Page,
    Person,
    Relationship,
)
from node.store import GraphStore, IdentityInput, InteractionInput, RelationshipInput
from node.store.federation import AccountFederation
from node.store.merges import SuggestionInput
from node.store.misc import BlockedAddress
from protocol.addresses import Address, fediverse_guess, normalize
from protocol.errors import InvalidRecord
from protocol.vocab import CHANNELS, relationship_term

__all__ = [
    "MAX_NAME",
    "MAX_PAGE",
    "MAX_TEXT",
    "NO_NAME",
    "SILO_HOSTS",
    "Clock",
    "Graph",
    "iso",
    "new_id",
    "new_ids",
    "parse_when",
    "utcnow",
]

Clock = Callable[[], datetime]

MAX_TEXT = 10_000
MAX_NAME = 500
#: The display name of a person an import knew no name for (node/import_resolve.py). A placeholder is not a
#: name: it never matches another person's name, and a real name from any later import replaces it.
NO_NAME = "(no name)"
MAX_PAGE = 500
SILO_HOSTS = frozenset(
    {
        "x.com",
        "twitter.com",
        "www.linkedin.com",
        "linkedin.com",
        "bsky.app",
        "facebook.com",
        "www.facebook.com",
    }
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id(prefix: str) -> str:
    """Random, unguessable ids (96 bits), prefixed by what they name: p_ person, i_ interaction..."""
    return f"{prefix}_{secrets.token_urlsafe(12)}"


def new_ids(prefix: str, count: int) -> list[str]:
    """``count`` ids like :func:`new_id`'s, from one read of the system's random source. (An import makes
    thousands; a read each, a system call, took a fifth of its resolution time.) Twelve bytes encode to exactly
    sixteen base64url characters, so the encoding of the whole buffer slices into the ids."""
    text = base64.urlsafe_b64encode(secrets.token_bytes(12 * count)).decode("ascii")
    return [f"{prefix}_{text[i : i + 16]}" for i in range(0, 16 * count, 16)]


def parse_when(value: Any, field: str) -> datetime:
    """An ISO-8601 date or date-time; naive times are taken as UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        text = value.strip().replace("Z", "+00:00")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise BadInput(
                f"{field} must be an ISO-8601 date or time like 2026-11-22 or 2026-11-22T15:30:00Z",
                field=field,
            ) from None
    else:
        raise BadInput(f"{field} must be an ISO-8601 date or time like 2026-11-22T15:30:00Z", field=field)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


#: Unicode's control characters (category Cc: U+0000-001F and U+007F-009F) but tab and newline, and the
#: surrogates (category Cs); one regular expression each, as a restore checks millions of values with them.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _text(value: Any, field: str, *, limit: int = MAX_NAME, required: bool = False) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip() and not required):
        if required:
            raise BadInput(f"{field} is required", field=field)
        return None
    if not isinstance(value, str):
        raise BadInput(f"{field} must be text", field=field)
    # Line breaks are text, however they were written: a browser sends a textarea's as CR LF, and exports from
    # other systems hold CR LF or a lone CR. They are kept as LF; every other control character is refused.
    text: str = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if required and not text:
        raise BadInput(f"{field} must not be empty", field=field)
    if len(text) > limit:
        raise BadInput(f"{field} is longer than {limit} characters", field=field)
    if _CONTROL.search(text):
        raise BadInput(f"{field} contains control characters", field=field)
    if _SURROGATE.search(text):  # a lone surrogate (JSON "\ud800") cannot be stored
        raise BadInput(f"{field} contains an unpaired surrogate, which is not text", field=field)
    return text


def _int(value: Any, field: str, lo: int, hi: int, *, allow_none: bool = True) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, float) and value.is_integer():  # JSON's 30.0 is the whole number 30 (RFC 8259 §6)
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadInput(f"{field} must be a whole number from {lo} to {hi}", field=field)
    try:
        number = int(value)
    except ValueError:
        raise BadInput(f"{field} must be a whole number from {lo} to {hi}", field=field) from None
    if not lo <= number <= hi:
        raise BadInput(f"{field} must be a whole number from {lo} to {hi}", field=field)
    return number


def _date(value: Any, field: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"--\d\d-\d\d", text):  # vCard's year-less birthday
            try:
                date(2000, int(text[2:4]), int(text[5:7]))  # a real day of some (leap) year
            except ValueError:
                pass
            else:
                return text
        try:
            return date.fromisoformat(text[:10]).isoformat()
        except ValueError:
            pass
    raise BadInput(f"{field} must be a date like 1990-04-01 (or --04-01 without a year)", field=field)


def _circle_name(name: Any) -> str:
    text = _text(name, "circle", limit=100, required=True)
    assert text is not None
    return text


def _photo_url(value: Any) -> str | None:
    url = _text(value, "photo_url", limit=2048)
    if url is not None and not re.match(r"(?i)^(https?://|data:image/)", url):
        raise BadInput("photo_url must be an http(s) URL", field="photo_url")
    return url


def _relationship_fields(data: Mapping[str, Any]) -> RelationshipInput:
    """A relationship's own fields (type and its IRI from protocol/vocab.py, direction, since, how_we_met)."""
    try:
        term = relationship_term(str(data.get("type", "")))
    except InvalidRecord as exc:
        raise BadInput(exc.message, field="type") from None
    direction = data.get("direction") or ("mutual" if term.mutual else "outgoing")
    if direction not in ("outgoing", "incoming", "mutual"):
        raise BadInput("direction must be outgoing, incoming or mutual", field="direction")
    return RelationshipInput(
        type=term.name,
        iri=term.iri,
        direction=direction,
        since=_date(data.get("since"), "since"),
        how_we_met=_text(data.get("how_we_met"), "how_we_met", limit=MAX_TEXT),
    )


def _interaction_fields(data: Mapping[str, Any], now: datetime) -> InteractionInput:
    """An interaction's own fields; ``occurred_at`` defaults to ``now`` and may not be more than a day after it."""
    channel = data.get("channel", "message")
    if channel not in CHANNELS:
        raise BadInput(f"channel must be one of {', '.join(CHANNELS)}", field="channel")
    initiated_by = data.get("initiated_by", "owner")
    if initiated_by not in ("owner", "them", "unknown"):
        raise BadInput("initiated_by must be owner, them or unknown", field="initiated_by")
    when = parse_when(data["occurred_at"], "occurred_at") if data.get("occurred_at") else now
    if when > now + timedelta(days=1):
        raise BadInput("occurred_at is in the future; log interactions that happened", field="occurred_at")
    return InteractionInput(
        occurred_at=when,
        channel=channel,
        initiated_by=initiated_by,
        summary=_text(data.get("summary"), "summary", limit=MAX_TEXT) or "",
    )


def _list(value: Any, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadInput(f"{field} must be a list", field=field)
    return value


def _page(offset: Any, limit: Any) -> tuple[int, int]:
    return (
        _int(offset if offset is not None else 0, "offset", 0, 10**9, allow_none=False) or 0,
        _int(limit if limit is not None else 50, "limit", 1, MAX_PAGE, allow_none=False) or 50,
    )


def _fold(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return " ".join(re.findall(r"[a-z0-9]+", text))


class Graph:
    """The owner's contact graph."""

    def __init__(
        self,
        store: GraphStore,
        clock: Clock = utcnow,
        *,
        phone_region: str | None = None,
        federation: AccountFederation | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.phone_region = phone_region
        # the account's federation rows (in the server database), which its export carries and its restore
        # writes; None for a graph opened alone
        self.federation = federation

    def now(self) -> str:
        return iso(self.clock())

    # -- addresses ----------------------------------------------------------------------------------------
    def normalize(self, raw: Any, kind: str | None = None) -> Address:
        if not isinstance(raw, str) or not raw.strip():
            raise BadInput(
                "an identity must be a non-empty address like acct:bob@example.social", field="uri"
            )
        try:
            return normalize(raw, kind=kind, region=self.phone_region)
        except InvalidRecord as exc:
            raise BadInput(exc.message, field="uri") from None

    def identity_input(
        self,
        raw: Any,
        *,
        kind: str | None = None,
        label: str | None = None,
        verification: str = "claimed",
        source: str = "owner",
        source_record_id: str = "",
    ) -> IdentityInput:
        if verification not in VERIFICATION_LEVELS:
            raise BadInput(
                f"verification must be one of {', '.join(VERIFICATION_LEVELS)}", field="verification"
            )
        addr = self.normalize(raw, kind)
        return IdentityInput(
            uri=addr.uri,
            kind=str(addr.kind),
            display=addr.display,
            label=_text(label, "label", limit=200) or addr.handle,
            verification=verification,
            source=_text(source, "source", limit=100) or "owner",
            source_record_id=source_record_id,
        )

    # -- people -------------------------------------------------------------------------------------------
    def _person_fields(self, data: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for key in ("given_name", "family_name", "nickname", "organization", "title"):
            if key in data:
                fields[key] = _text(data[key], key)
        if "photo_url" in data:
            fields["photo_url"] = _photo_url(data["photo_url"])
        if "birthday" in data:
            fields["birthday"] = _date(data["birthday"], "birthday")
        if "met_on" in data:
            fields["met_on"] = _date(data["met_on"], "met_on")
        if "priority" in data:
            fields["priority"] = _int(data["priority"], "priority", 0, 3, allow_none=False)
        if "cadence_days" in data:
            fields["cadence_days"] = _int(data["cadence_days"], "cadence_days", 1, 3650)
        if "display_name" in data or creating:
            name: str | None = _text(data.get("display_name"), "display_name")
            if name is None:
                parts = [fields.get("given_name"), fields.get("family_name")]
                name = " ".join(p for p in parts if p) or fields.get("nickname") or fields.get("organization")
            if name is None and creating:
                name = ""
            if name is not None:
                fields["display_name"] = name
        unknown = set(data) - {*PERSON_FIELDS, "identities", "circles", "notes"}
        if unknown:
            raise BadInput(f"unknown field {sorted(unknown)[0]!r}", field=sorted(unknown)[0])
        return fields

    async def create_person(self, data: Mapping[str, Any]) -> Person:
        fields = self._person_fields(data, creating=True)
        raw_idents = data.get("identities") or []
        if not isinstance(raw_idents, list):
            raise BadInput("identities must be a list", field="identities")
        idents = []
        for item in raw_idents:
            if isinstance(item, str):
                idents.append(self.identity_input(item))
            elif isinstance(item, dict):
                idents.append(
                    self.identity_input(
                        item.get("uri"),
                        kind=item.get("kind"),
                        label=item.get("label"),
                        verification=item.get("verification", "claimed"),
                        source=item.get("source", "owner"),
                    )
                )
            else:
                raise BadInput("each identity must be an address or an object with uri", field="identities")
        if not fields.get("display_name") and not idents:
            raise BadInput("a person needs a display_name or at least one identity", field="display_name")
        if not fields.get("display_name"):
            fields["display_name"] = idents[0].display
        # Circles and notes are checked before anything is written, and written in the same transaction.
        circles = [(new_id("c"), self._circle_name(c)) for c in _list(data.get("circles"), "circles")]
        notes = [
            (new_id("n"), _text(n, "notes", limit=MAX_TEXT, required=True) or "")
            for n in _list(data.get("notes"), "notes")
        ]
        person = await self.store.people.insert_person(
            person_id=new_id("p"),
            fields=fields,
            identities=idents,
            now=self.clock(),
            circles=circles,
            notes=notes,
        )
        return await self._shown(person)

    async def update_person(self, person_id: str, data: Mapping[str, Any]) -> Person:
        # These are accepted at creation only; an update would otherwise ignore them without a word.
        for key, where in (("identities", "identities"), ("circles", "circles/NAME"), ("notes", "notes")):
            if key in data:
                raise BadInput(
                    f"{key} cannot be changed here; use /api/people/{{id}}/{where} (or the `kith` command)",
                    field=key,
                )
        fields = self._person_fields(data, creating=False)
        if "display_name" in fields and not fields["display_name"]:
            raise BadInput("display_name must not be empty", field="display_name")
        return await self._shown(await self.store.people.update_person(person_id, fields, self.clock()))

    async def get_person(self, person_id: str) -> Person:
        """One person in full, with their tie strength and its parts (node/store/sqlite/tie_strength.py)."""
        return await self.store.people.get_person(person_id, strength_at=self.clock())

    async def _shown(self, changed: Person) -> Person:
        """A person just changed, as ``get_person`` shows them: every answer about one person has one shape."""
        return await self.get_person(changed.id)

    async def archive(self, person_id: str, archived: bool = True) -> Person:
        status = "archived" if archived else "active"
        return await self._shown(await self.store.people.set_status(person_id, status, self.clock()))

    async def delete_person(self, person_id: str) -> None:
        await self.store.people.delete_person(person_id)

    async def list_people(
        self,
        *,
        status: str = "active",
        circle: str | None = None,
        order: str = "strength",
        offset: Any = None,
        limit: Any = None,
    ) -> Page:
        if status not in ("active", "archived"):
            raise BadInput("status must be active or archived", field="status")
        if order not in ("strength", "name", "recent", "created"):
            raise BadInput("order must be one of strength, name, recent, created", field="order")
        off, lim = _page(offset, limit)
        return await self.store.people.list_people(
            status=status, circle=circle, order=order, offset=off, limit=lim, now=self.clock()
        )

    async def person_for_identity(self, raw: str, kind: str | None = None) -> Person | None:
        return await self.store.people.person_for_identity(self.normalize(raw, kind).uri)

    # -- identities ---------------------------------------------------------------------------------------
    async def add_identity(
        self,
        person_id: str,
        raw: Any,
        *,
        kind: str | None = None,
        label: str | None = None,
        verification: str = "claimed",
        source: str = "owner",
        source_record_id: str = "",
    ) -> Person:
        ident = self.identity_input(
            raw,
            kind=kind,
            label=label,
            verification=verification,
            source=source,
            source_record_id=source_record_id,
        )
        return await self._shown(await self.store.people.add_identity(person_id, ident, self.clock()))

    async def remove_identity(self, person_id: str, raw: str) -> Person:
        uri = self.normalize(raw).uri
        return await self._shown(await self.store.people.remove_identity(person_id, uri))

    # -- merges -------------------------------------------------------------------------------------------
    async def merge(
        self,
        survivor_id: str,
        merged_id: str,
        *,
        evidence: Sequence[Mapping[str, str]] = (),
        by: str = "owner",
    ) -> MergeRecord:
        if survivor_id == merged_id:
            raise Conflict("cannot merge a person with themselves", field="other")
        ev = [dict(e) for e in evidence] or [{"kind": "owner", "detail": "merged by the owner"}]
        return await self.store.merges.merge(
            merge_id=new_id("m"),
            survivor_id=survivor_id,
            merged_id=merged_id,
            decided_by=by,
            evidence=ev,
            now=self.clock(),
        )

    async def unmerge(self, merge_id: str) -> MergeRecord:
        return await self.store.merges.unmerge(merge_id, self.clock())

    async def merges(self, person_id: str | None = None) -> list[MergeRecord]:
        return await self.store.merges.list_merges(person_id)

    async def suggest_merges(self) -> int:
        """Find pairs that are probably one human; store them with evidence and a tier. Returns how many are new.

        Tiers (docs/ARCHITECTURE.md §7): identical verified identifiers never reach here (an address belongs to one person,
        so importers merge on them at once); "suggested" is weaker evidence: the same handle on two silos, the
        same personal web site, a fediverse profile URL that names another person's acct:; "ask" is a name
        match alone, which is only ever shown to the owner, never merged automatically.
        """
        index = await self.store.merges.identity_index()
        buckets: dict[tuple[str, str], set[str]] = defaultdict(set)
        addresses: dict[str, set[str]] = defaultdict(set)  # what each person's name may be a placeholder of
        for pid, kind, uri, display in index:
            for key in _match_keys(kind, uri, display):
                buckets[key].add(pid)
            addresses[pid].update((uri, display, display.lstrip("@")))
        for pid, display_name in await self.store.merges.active_names():
            # Placeholders are no names (NO_NAME): "(no name)", or one of the person's own addresses.
            if display_name == NO_NAME or display_name in addresses.get(pid, ()):
                continue
            folded = _fold(display_name)
            if len(folded) >= 5 and " " in folded:
                buckets[("name", folded)].add(pid)
        pairs: dict[tuple[str, str], tuple[str, list[dict[str, str]]]] = {}
        for (what, value), pids in buckets.items():
            if len(pids) < 2 or len(pids) > 20:  # a value shared by a crowd is not evidence of one human
                continue
            tier = "ask" if what == "name" else "suggested"
            ordered = sorted(pids)
            for i, a in enumerate(ordered):
                for b in ordered[i + 1 :]:
                    current = pairs.get((a, b))
                    evidence = {"kind": what, "detail": value}
                    if current is None:
                        pairs[(a, b)] = (tier, [evidence])
                    else:
                        best = "suggested" if "suggested" in (current[0], tier) else "ask"
                        pairs[(a, b)] = (best, [*current[1], evidence])
        rows = [SuggestionInput(new_id("s"), a, b, tier, ev) for (a, b), (tier, ev) in pairs.items()]
        return await self.store.merges.save_suggestions(rows, self.clock()) if rows else 0

    async def suggestions(self, *, status: str = "open", offset: Any = None, limit: Any = None) -> Page:
        if status not in ("open", "merged", "dismissed"):
            raise BadInput("status must be open, merged or dismissed", field="status")
        off, lim = _page(offset, limit)
        return await self.store.merges.list_suggestions(status=status, offset=off, limit=lim)

    async def accept_suggestion(self, suggestion_id: str) -> MergeRecord:
        s = await self.store.merges.get_suggestion(suggestion_id)
        if s.status != "open":
            raise Conflict(f"suggestion {suggestion_id} is {s.status}", field="suggestion")
        return await self.merge(s.a, s.b, evidence=[*s.evidence, {"kind": "suggestion", "detail": s.id}])

    async def dismiss_suggestion(self, suggestion_id: str) -> None:
        await self.store.merges.set_suggestion_status(suggestion_id, "dismissed")

    # -- relationships ------------------------------------------------------------------------------------
    async def add_relationship(self, person_id: str, data: Mapping[str, Any]) -> Relationship:
        """A local typed relationship: "PERSON is OTHER's TYPE" (``other_person_id``), or, without another
        person, "PERSON is my TYPE" (the owner's). Types are protocol/vocab.py's terms."""
        relationship = _relationship_fields(data)
        other = data.get("other_person_id")
        if other is not None and not isinstance(other, str):
            raise BadInput("other_person_id must be a person id", field="other_person_id")
        if other == person_id:
            raise BadInput("a relationship joins two different people", field="other_person_id")
        return await self.store.people.add_relationship(
            rel_id=new_id("r"),
            person_id=person_id,
            other_person_id=other or None,
            relationship=relationship,
            now=self.clock(),
        )

    async def relationships(self, person_id: str | None = None) -> list[Relationship]:
        """A person's relationships (theirs with the owner, and with or from other people); all without one."""
        return await self.store.people.list_relationships(person_id)

    async def delete_relationship(self, rel_id: str, *, local_only: bool = False) -> None:
        """``local_only``: refuse a relationship signed with a peer, which only ending it with them removes."""
        await self.store.people.delete_relationship(rel_id, local_only=local_only)

    # -- interactions, notes ------------------------------------------------------------------------------
    async def log_interaction(self, data: Mapping[str, Any]) -> Interaction:
        people = data.get("people")
        if isinstance(people, str):
            people = [people]
        if not isinstance(people, list) or not people or not all(isinstance(p, str) for p in people):
            raise BadInput("people must list at least one person id", field="people")
        if len(people) > 1000:
            raise BadInput("an interaction may name at most 1000 people", field="people")
        now = self.clock()
        return await self.store.people.add_interaction(
            interaction_id=new_id("i"),
            person_ids=list(dict.fromkeys(people)),
            interaction=_interaction_fields(data, now),
            now=now,
        )

    async def interactions(
        self, person_id: str | None = None, *, offset: Any = None, limit: Any = None
    ) -> Page:
        off, lim = _page(offset, limit)
        return await self.store.people.list_interactions(person_id, offset=off, limit=lim)

    async def delete_interaction(self, interaction_id: str) -> None:
        await self.store.people.delete_interaction(interaction_id)

    async def add_note(self, person_id: str, body: Any) -> Note:
        text = _text(body, "body", limit=MAX_TEXT, required=True)
        assert text is not None
        return await self.store.people.add_note(person_id, note_id=new_id("n"), body=text, now=self.clock())

    async def notes(self, person_id: str) -> list[Note]:
        return await self.store.people.list_notes(person_id)

    async def delete_note(self, note_id: str) -> None:
        await self.store.people.delete_note(note_id)

    # -- circles and cadence ------------------------------------------------------------------------------
    def _circle_name(self, name: Any) -> str:
        return _circle_name(name)

    async def circles(self) -> list[Circle]:
        return await self.store.people.list_circles()

    async def create_circle(self, name: Any, cadence_days: Any = None) -> Circle:
        circle = await self.store.people.ensure_circle(
            circle_id=new_id("c"), name=self._circle_name(name), now=self.clock()
        )
        if cadence_days is not None:
            circle = await self.set_circle_cadence(circle.name, cadence_days)
        return circle

    async def delete_circle(self, name: Any) -> None:
        await self.store.people.delete_circle(self._circle_name(name))

    async def set_membership(self, person_id: str, circle: Any, *, member: bool) -> Person:
        person = await self.store.people.set_membership(
            person_id, circle_id=new_id("c"), name=self._circle_name(circle), member=member, now=self.clock()
        )
        return await self._shown(person)

    async def set_circle_cadence(self, name: Any, cadence_days: Any) -> Circle:
        days = _int(cadence_days, "cadence_days", 1, 3650)
        return await self.store.people.set_circle_cadence(self._circle_name(name), days)

    async def set_person_cadence(self, person_id: str, cadence_days: Any) -> Person:
        return await self.update_person(person_id, {"cadence_days": cadence_days})

    # -- stay in touch ------------------------------------------------------------------------------------
    async def due(self, *, within_days: Any = 0, offset: Any = None, limit: Any = None) -> Page:
        days = _int(within_days, "within_days", 0, 3650, allow_none=False) or 0
        off, lim = _page(offset, limit)
        now = self.clock()
        return await self.store.insights.due(until=now + timedelta(days=days), now=now, offset=off, limit=lim)

    async def fading(self, *, limit: Any = None) -> list[FadingEntry]:
        _, lim = _page(0, limit)
        now = self.clock()
        return await self.store.insights.fading(
            recent_start=now - timedelta(days=90), past_start=now - timedelta(days=450), limit=lim
        )

    async def layers(self) -> list[LayerReport]:
        return await self.store.insights.layers()

    async def search(
        self,
        text: Any,
        *,
        circle: str | None = None,
        due_within_days: Any = None,
        include_archived: bool = False,
        offset: Any = None,
        limit: Any = None,
    ) -> Page:
        query = _text(text, "q", limit=500, required=True)
        assert query is not None
        off, lim = _page(offset, limit)
        now = self.clock()
        due_until = None
        if due_within_days is not None and due_within_days != "":
            days = _int(due_within_days, "due_within_days", 0, 3650, allow_none=False) or 0
            due_until = now + timedelta(days=days)
        return await self.store.insights.search(
            query,
            circle=circle,
            due_until=due_until,
            include_archived=include_archived,
            now=now,
            offset=off,
            limit=lim,
        )

    # -- blocks -------------------------------------------------------------------------------------------
    async def block(self, raw: str, *, source: str = "owner") -> bool:
        return await self.store.misc.block(self.normalize(raw).uri, source, self.clock())

    async def unblock(self, raw: str) -> bool:
        return await self.store.misc.unblock(self.normalize(raw).uri)

    async def blocked(self) -> list[BlockedAddress]:
        return await self.store.misc.blocked()

    # -- export -------------------------------------------------------------------------------------------
    # The document is built and checked in node/exporting.py and node/restore.py, which build on this module.
    async def export_json(self) -> dict[str, Any]:
        """Everything the owner keeps, as one restorable JSON document."""
        from node.exporting import export_document

        return await export_document(self)

    async def import_json(self, doc: Any) -> dict[str, int]:
        """Restore a JSON export into this empty node, every value checked by the API's rules, all or nothing."""
        from node.exporting import restore_document

        return await restore_document(self, doc)

    async def all_people(self, *, batch: int = 500) -> Iterable[Person]:
        """Every active person, by name. Pages are read in row order and sorted once at the end: paging in name
        order sorted the whole table again for every page (81 s instead of 7 s for 100,000 people)."""
        out: list[Person] = []
        offset = 0
        while True:
            page = await self.store.people.list_people(
                status="active", circle=None, order="created", offset=offset, limit=batch, now=self.clock()
            )
            out.extend(page.items)
            if page.next_offset is None:
                out.sort(key=lambda p: (p.display_name.lower(), p.created_at, p.id))
                return out
            offset = page.next_offset


def _match_keys(kind: str, uri: str, display: str) -> list[tuple[str, str]]:
    """Weak evidence keys for one identity: equal keys on two people make a "suggested" pair."""
    keys: list[tuple[str, str]] = []
    handle: str | None = None
    if kind == "acct":
        handle = uri[5:].split("@", 1)[0]
    elif kind == "x" and not uri.startswith("https://x.com/i/user/"):
        handle = uri.rsplit("/", 1)[-1]
    elif kind == "x":
        handle = display.lstrip("@").lower() if display.startswith("@") else None
    elif kind == "bluesky" and uri.startswith("at://"):
        handle = uri[5:].split(".", 1)[0]
    elif kind == "linkedin":
        handle = uri.rstrip("/").rsplit("/", 1)[-1]
    elif kind in ("web", "url"):
        host = uri.split("/")[2] if uri.count("/") >= 2 else ""
        if host and host not in SILO_HOSTS:
            keys.append(("website", uri))
        guess = fediverse_guess(Address(kind=kind, uri=uri, display=display))  # type: ignore[arg-type]
        if guess:
            keys.append(("fediverse", guess))
    if kind == "acct":
        keys.append(("fediverse", uri))
    if handle and len(handle) >= 4:
        keys.append(("handle", handle.lower()))
    return keys
