"""Node's implementations of federation's ports (federation/ports.py): each account's contact graph as
federation sees it (:class:`NodeGraphPort`, one per account through :class:`NodeGraphPorts`), and the server's
accounts as local actors (:class:`NodeLocalActors`). node/federation_wiring.py wires them in.

A remote actor the owner deals with (federation.ports.PERSON_SOURCES: follows either way, relationships, an
address the owner typed) becomes identities in the graph (its actor URL and, after a WebFinger round trip, its
``acct:``), attached to the right person; any other actor federation meets (a signer, a fetcher, a pending
follower, a blocked account) only refreshes the person who already holds it, and never creates one (issue #12
§1). Provenance is ``fediverse`` for what an actor document says and ``peer`` for what a Kith peer's signed card
says (verification "signed"; its ``identities`` "two-way", because federation passes only those their actors
confirmed). The owner's card is shared per circle (node/owner_card.py); who sees it follows only actor
identities recorded from the actors' own documents.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa

from federation.ports import (
    PERSON_SOURCES,
    AccountState,
    ActorSource,
    CardVersion,
    FediMessage,
    GraphPort,
    LocalAccount,
    RemoteActor,
    SigningKeys,
)
from node.errors import BadInput, NotFound
from node.graph import Graph, iso, new_id
from node.models import Person
from node.owner_card import (
    EVERYONE,
    PUBLIC,
    card_for_circles,
    card_version,
    get_card,
    get_disclosure,
    public_fields,
)
from node.owner_card import circles_seeing_anything as _circles_seeing
from node.store import IdentityInput, RelationshipInput
from protocol.errors import InvalidRecord
from protocol.vocab import relationship_term

if TYPE_CHECKING:
    from node.models import AccountRow
    from node.server import Server

__all__ = [
    "BRIDGE",
    "FEDIVERSE",
    "PEER",
    "REGISTRY_TTL",
    "NodeGraphPort",
    "NodeGraphPorts",
    "NodeLocalActors",
    "bridged_dids",
]

FEDIVERSE = "fediverse"
PEER = "peer"
#: Provenance of a Bluesky identity an actor's ``alsoKnownAs`` names (``at://DID``): the account a bridge node
#: says the actor bridges (issue #18; node/bridge_bluesky.py); the provenance's record id is the actor, which
#: names the bridge. Verified "bridged" from a bridge's actor of that DID (:func:`bridged_dids`), else "claimed";
#: either way it never finds or merges a person here (docs/ARCHITECTURE.md §7).
BRIDGE = "bridge"
#: How long the list of accounts is trusted (seconds): an account added, suspended or removed beside a running
#: server (`kith account ...`) is seen within this many seconds. Single accounts are read through the server's
#: own cache of the same length (Server.account_by_name).
REGISTRY_TTL = 2.0


def _local_account(row: AccountRow, alias: str = "") -> LocalAccount:
    return LocalAccount(
        name=row.name,
        actor_type=row.type,
        display_name=row.display_name,
        state=cast(AccountState, row.state),
        alias=alias,
    )


class NodeLocalActors:
    """federation.ports.LocalActors over the server's account registry and keys."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self._listed: dict[tuple[str, ...], tuple[float, list[LocalAccount]]] = {}
        self._version = server.registry_version

    async def account(self, name: str) -> LocalAccount | None:
        row = await self.server.account_by_name(name)
        if row is None and "." in name:
            # a Bluesky handle names the account bridging it (issue #18: WebFinger acct:HANDLE@DOMAIN finds the
            # bridged actor, whose own name is its DID); an account's own name always wins
            from node.bridge_bluesky import bridged_name

            bridged = await bridged_name(self.server, name)
            row = await self.server.account_by_name(bridged) if bridged else None
        if row is not None and row.name.startswith(("did.plc.", "did.web.")):
            # a bridged account goes by its handle: @HANDLE@bridge.bluesky.handle_domain (issue #18)
            from node.bridge_bluesky import bridged_alias

            return _local_account(row, await bridged_alias(self.server, row.name) or "")
        return None if row is None else _local_account(row)

    async def accounts(self, states: Sequence[AccountState]) -> Sequence[LocalAccount]:
        key = tuple(sorted(states))
        if self._version != self.server.registry_version:  # this process changed the registry: read it again
            self._listed.clear()
            self._version = self.server.registry_version
        hit = self._listed.get(key)
        if hit is not None and time.monotonic() - hit[0] < REGISTRY_TTL:
            return hit[1]
        found = [_local_account(r) for r in await self.server.accounts.list(states=key)]
        self._listed[key] = (time.monotonic(), found)
        return found

    async def keys(self, name: str) -> SigningKeys:
        row = await self.server.account_by_name(name)
        if row is None:
            raise NotFound(f"no account {name}", field="account")
        keys = await self.server.actor_keys(row)
        return SigningKeys(rsa=keys.rsa, ed25519=keys.ed25519)

    def server_key(self) -> rsa.RSAPrivateKey:
        return self.server.node_key


def bridged_dids(actor: RemoteActor) -> frozenset[str]:
    """The DIDs ``actor`` is a bridge's actor of (issue #18: "the DID in the actor URL"): those its
    ``alsoKnownAs`` names as ``at://DID`` whose account name (the DID with dots for colons,
    node/bridge_bluesky.py's ``account_name``) is the last segment of the actor's own ``/users/NAME`` URL. The
    actor document was fetched from that URL's origin, so only the server at that origin says so: an ordinary
    actor that lists someone's ``at://did:plc:...`` is not one, and neither is a bridge's actor of another DID."""
    path = urlsplit(actor.id).path
    if not path.startswith("/users/") or path.count("/") != 2:
        return frozenset()
    name = path.removeprefix("/users/").lower()
    return frozenset(
        did
        for uri in actor.also_known_as[:4]
        if (did := uri.removeprefix("at://")).startswith(("did:plc:", "did:web:"))
        and uri.startswith("at://")
        and did.lower().replace(":", ".") == name
    )


class NodeGraphPorts:
    """federation.ports.GraphPorts: each account's graph, borrowed from the server's pool for one piece of
    work (a removed account's graph stays reachable to federation until it is purged: its Delete goes to
    the peers its card went to)."""

    def __init__(self, server: Server) -> None:
        self.server = server

    @contextlib.asynccontextmanager
    async def graph_for(self, account: str, *, walk: bool = False) -> AsyncIterator[GraphPort]:
        async with self.server.borrow(account, removed_ok=True, keep_open=not walk) as ctx:
            yield NodeGraphPort(ctx.graph)


class NodeGraphPort(GraphPort):
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.store = graph.store

    # -- identities of remote actors ---------------------------------------------------------------------
    def _actor_identities(self, actor: RemoteActor) -> list[IdentityInput]:
        verified = (
            "two-way" if actor.acct else "claimed"
        )  # a WebFinger round trip binds acct and actor both ways
        idents = [
            self.graph.identity_input(
                actor.id, kind="url", verification=verified, source=FEDIVERSE, source_record_id=actor.id
            )
        ]
        if actor.acct:
            idents.append(
                self.graph.identity_input(
                    "acct:" + actor.acct.removeprefix("acct:"),
                    kind="acct",
                    verification=verified,
                    source=FEDIVERSE,
                    source_record_id=actor.id,
                )
            )
        return idents

    async def _person_of(self, uris: Sequence[str]) -> Person | None:
        for uri in uris:
            person = await self.store.people.person_for_identity(uri)
            if person is not None and person.status != "merged":
                return person
        return None

    async def remote_actor_seen(self, actor: RemoteActor, *, source: ActorSource) -> str | None:
        idents = self._actor_identities(actor)
        person = await self._person_of([i.uri for i in idents])
        now = self.graph.clock()
        if person is None and source not in PERSON_SOURCES:
            return None  # someone the owner does not deal with: not a person in their graph
        if person is None:
            name = actor.name or actor.preferred_username or idents[-1].display
            fields: dict[str, Any] = {"display_name": name[:500]}
            if actor.icon and actor.icon.startswith("https://"):
                fields["photo_url"] = actor.icon
            person = await self.store.people.insert_person(
                person_id=new_id("p"), fields=fields, identities=idents, now=now
            )
            await self._add_bridged(person.id, actor, now)
            return person.id
        await self._add_bridged(person.id, actor, now)
        for ident in idents:
            owner = await self.store.people.person_for_identity(ident.uri)
            if owner is not None and owner.id != person.id and owner.status != "merged":
                # The actor URL and its acct: belong to one account: two people holding them are one human.
                await self.graph.merge(
                    person.id,
                    owner.id,
                    evidence=[
                        {"kind": "fediverse", "detail": f"{actor.id} is {ident.uri} (WebFinger round trip)"}
                    ],
                    by="automatic",
                )
            await self.store.people.add_identity(person.id, ident, now)
        if actor.name and person.display_name in ("", actor.preferred_username):
            await self.store.people.update_person(person.id, {"display_name": actor.name[:500]}, now)
        return person.id

    async def _add_bridged(self, person_id: str, actor: RemoteActor, now: Any) -> None:
        """The Bluesky account (``at://DID``, ``at://HANDLE``) a bridged actor's ``alsoKnownAs`` names, attached
        only where no other person holds them. Anyone can write anything in ``alsoKnownAs``, so they are
        "bridged" (a bridge vouches for them; the actor, and so the bridge's host, is their provenance) only from
        a bridge's actor of that very DID (:func:`bridged_dids`), and "claimed" from any other actor."""
        dids = bridged_dids(actor)
        for uri in actor.also_known_as[:4]:
            if not uri.startswith("at://"):
                continue
            target = uri.removeprefix("at://")
            vouched = bool(dids) and (target in dids or not target.startswith("did:"))
            try:
                ident = self.graph.identity_input(
                    uri,
                    verification="bridged" if vouched else "claimed",
                    source=BRIDGE,
                    source_record_id=actor.id,
                )
            except BadInput:
                continue  # not a Bluesky account's address
            holder = await self.store.people.person_for_identity(ident.uri)
            if holder is None or holder.id == person_id:
                await self.store.people.add_identity(person_id, ident, now)

    def _account_of(self, person: Person | None, actor_uri: str) -> list[str]:
        """The actor's URL and the ``acct:`` federation recorded for it (provenance: that actor): the two
        spellings of one account, which leave or move together."""
        uris = [actor_uri]
        for ident in person.identities if person is not None else ():
            by_actor = any(
                p.source == FEDIVERSE and p.source_record_id == actor_uri for p in ident.provenance
            )
            if ident.kind == "acct" and by_actor and ident.state == "active":
                uris.append(ident.uri)
        return uris

    async def actor_gone(self, actor_id: str) -> None:
        uri = self.graph.normalize(actor_id, "url").uri
        now = self.graph.clock()
        for gone in self._account_of(await self._person_of([uri]), uri):
            await self.store.people.set_identity_state(
                gone, state="gone", moved_to=None, verification=None, now=now
            )

    async def actor_moved(self, old_id: str, new_actor: RemoteActor) -> None:
        old_uri = self.graph.normalize(old_id, "url").uri
        person = await self._person_of([old_uri])
        now = self.graph.clock()
        if person is None:
            await self.remote_actor_seen(new_actor, source="move")
            return
        old_account = self._account_of(person, old_uri)
        new_idents = self._actor_identities(new_actor)
        holder = await self._person_of([i.uri for i in new_idents])
        if holder is not None and holder.id != person.id:
            await self.graph.merge(
                person.id,
                holder.id,
                evidence=[
                    {"kind": "move", "detail": f"{old_id} moved to {new_actor.id} (alsoKnownAs checked)"}
                ],
                by="automatic",
            )
        for ident in new_idents:
            await self.store.people.add_identity(person.id, ident, now)
        # both spellings of the old account are kept as history, marked moved, each pointing at its new
        # counterpart (the acct: at the new acct: when the new actor has one): neither is used any more
        new_acct = next((i.uri for i in new_idents if i.kind == "acct"), new_idents[0].uri)
        for uri in old_account:
            target = new_acct if uri.startswith("acct:") else new_idents[0].uri
            await self.store.people.set_identity_state(
                uri, state="moved", moved_to=target, verification=None, now=now
            )

    # -- what Kith peers send ------------------------------------------------------------------------------
    async def _person_for_actor(self, actor_id: str) -> Person:
        uri = self.graph.normalize(actor_id, "url").uri
        person = await self._person_of([uri])
        if person is None:
            person = await self.store.people.insert_person(
                person_id=new_id("p"),
                fields={"display_name": uri},
                identities=[
                    self.graph.identity_input(uri, kind="url", source=FEDIVERSE, source_record_id=actor_id)
                ],
                now=self.graph.clock(),
            )
        return person

    async def card_received(self, actor_id: str, card: Mapping[str, Any]) -> None:
        person = await self._person_of([self.graph.normalize(actor_id, "url").uri])
        if person is None:
            return  # a card from someone the owner does not deal with does not enter the graph
        idents: list[IdentityInput] = []
        for field, kind, verification in (
            ("email", "email", "signed"),
            ("phone", "tel", "signed"),
            ("website", "web", "signed"),
            ("identities", None, "two-way"),  # confirmed by the actors named (federation/kith.py)
        ):
            values = card.get(field) or []
            for raw in [values] if isinstance(values, str) else values:
                if not isinstance(raw, str):
                    continue
                try:
                    idents.append(
                        self.graph.identity_input(
                            raw, kind=kind, verification=verification, source=PEER, source_record_id=actor_id
                        )
                    )
                except BadInput:
                    continue  # one unusable address does not cost the rest of the card
        fields = {
            "display_name": _str(card.get("name")),
            "organization": _str(card.get("organization")),
            "title": _str(card.get("title")),
            "photo_url": _str(card.get("photo"))
            if str(card.get("photo", "")).startswith("https://")
            else None,
        }
        uniq = {i.uri: i for i in idents}
        for uri in list(uniq):
            holder = await self.store.people.person_for_identity(uri)
            if holder is not None and holder.id != person.id:
                del uniq[uri]  # someone else's address in a card is not evidence enough to merge two people
        await self.store.peers.replace_from_record(
            person.id,
            source=PEER,
            source_record_id=actor_id,
            identities=list(uniq.values()),
            fields={k: v for k, v in fields.items() if v},
            now=self.graph.clock(),
        )

    async def relationship_confirmed(self, actor_id: str, record: Mapping[str, Any]) -> None:
        person = await self._person_for_actor(actor_id)
        try:
            term = relationship_term(str(record.get("relationship", "")))
        except InvalidRecord:
            term = relationship_term("contact")
        since = record.get("since")
        relationship = RelationshipInput(
            type=term.name,
            iri=term.iri,
            direction="mutual" if record.get("mutual") else "outgoing",
            since=since if isinstance(since, str) and _is_date(since) else None,
            how_we_met=_str(record.get("howWeMet")),
            status="accepted" if record.get("status", "active") == "active" else "revoked",
        )
        await self.store.peers.upsert_record_relationship(
            rel_id=new_id("r"),
            person_id=person.id,
            record=dict(record),
            relationship=relationship,
            now=self.graph.clock(),
        )

    async def relationship_revoked(self, actor_id: str, record_id: str) -> None:
        try:
            await self.store.peers.set_record_status(record_id, "revoked", self.graph.clock())
        except NotFound:
            return  # nothing of ours to revoke

    # -- direct messages and mentions (federation/messages.py) ---------------------------------------------
    async def message_received(self, message: FediMessage) -> None:
        uri = self.graph.normalize(message.actor_id, "url").uri
        person = await self._person_of([uri])
        if person is None:
            return  # a stranger's message does not make them a person (issue #12 §1)
        now = self.graph.clock()
        when = message.published if message.published is not None and message.published <= now else now
        await self.store.messages.record(
            person_id=person.id,
            interaction_id=new_id("i"),
            object_id=message.object_id,
            direction=message.direction,
            actor_id=message.actor_id,
            url=message.url,
            in_reply_to=message.in_reply_to,
            private=message.private,
            occurred_at=iso(when),
            now=iso(now),
        )

    # -- what the owner shares ------------------------------------------------------------------------------
    async def card_for(self, actor_id: str) -> Mapping[str, Any] | None:
        # only the actor's own document (provenance fediverse) ties it to a person here, never a card's claim
        uri = self.graph.normalize(actor_id, "url").uri
        circles = await self.store.peers.circles_of_identity(uri, source=FEDIVERSE)
        if circles is None:
            return None
        disclosure = await get_disclosure(self.store)
        card = await get_card(self.store)
        if not card:
            return None
        return card_for_circles(card, disclosure, circles)

    async def peers_allowed_to_see_card(self) -> Sequence[str]:
        disclosure = await get_disclosure(self.store)
        circles = _circles_seeing(disclosure)
        if not circles:
            return []
        # Actor ids are the "url" identities federation recorded from the actors' own documents (provenance
        # fediverse); acct: addresses name the same actors. A card's claims are never among them.
        everyone = EVERYONE in circles or PUBLIC in {c.lower() for c in circles}
        return await self.store.peers.identities_from_source(FEDIVERSE, "url", None if everyone else circles)

    async def card_version(self) -> CardVersion | None:
        version = await card_version(self.store)
        return None if version is None else CardVersion(seq=version[0], updated=version[1])

    async def public_card(self) -> Mapping[str, Any] | None:
        card = await get_card(self.store)
        if not card:
            return None
        return public_fields(card, await get_disclosure(self.store))


def _str(value: Any) -> str | None:
    return value.strip()[:500] if isinstance(value, str) and value.strip() else None


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text[:10])
    except ValueError:
        return False
    return True
