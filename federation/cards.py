"""Profile cards between Kith peers (specs/PROTOCOL.md §4.2, §7.4): sending the owner's card, in order and never
lost, and receiving peers' cards, in order and without taking their word for whom else they are.

Sending (issue #12 §2):
- The graph records every change of the card or its disclosure with a version (seq, ``updated``) in the same
  transaction as the change (GraphPort.card_version). ``publish_pending`` compares it with the version last
  published and, if newer, writes one card ``Update`` per allowed peer, the profile ``Update`` for followers
  (federation/profile.py) and the version published, in ONE transaction. It runs after each change, at start
  and in the inbox loop's quiet moments, so a change saved just before a crash goes out after the restart.
- Each card Update goes to one peer's personal inbox and is rendered again when it is sent (``card_delivery``):
  a peer blocked since, or that may no longer see the card, gets nothing; one that may see less gets the share
  it may see now. Queuing a newer Update for a peer withdraws the older one still waiting (AccountFederation.send_all),
  so a peer never gets an older version after a newer one, not even by a retry.

Receiving:
- A card older (by ``updated``) than the last one applied from that peer is dropped, whatever order the
  network or a sender's retries deliver them in.
- ``identities`` a card claims (another ``acct:`` or actor URL) count only when the claimed actor confirms them:
  its own document, fetched from its own origin, names the card's author in ``alsoKnownAs``, or the same key
  signs both. The rest are kept as unverified claims (``fed_cards_received``), never given to the graph, so
  they can neither attach someone else's account to the claimant nor decide what the owner discloses.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from federation import activities as act
from federation import profile
from federation.delivery import Withdrawn
from federation.fetch import FetchBudget
from federation.kith import kith_activity, now_of, owner_keys, sign_as_owner
from federation.ports import CardVersion, RemoteActor
from federation.store import DeliveryRow, Outgoing
from protocol import proofs
from protocol.errors import KithError, MalformedInput
from protocol.records import ProfileCard
from protocol.serialize import KITH_CONTEXT, from_jsonld, to_jsonld

if TYPE_CHECKING:
    from federation.service import AccountFederation

__all__ = [
    "MAX_CARD_AHEAD",
    "MAX_CLAIMS_CHECKED",
    "card_delivery",
    "card_received",
    "publish_card",
    "publish_pending",
    "render_card",
]

_log = logging.getLogger("kith.federation.cards")

#: fed_settings key: the card version (seq) last written to the outbox
_PUBLISHED_KEY = "card_published_seq"
#: How many claimed actors one card may make us fetch to confirm; claims beyond stay unverified this time.
MAX_CLAIMS_CHECKED = 4
#: How far ahead of our clock a card's ``updated`` may be (clocks drift; a sender bumps ``updated`` by a second
#: per change when changes come faster than that).
MAX_CARD_AHEAD = timedelta(days=1)
_ENVELOPE = ("@context", "id", "type", "attributedTo", "proof")


def _stamp(moment: datetime) -> str:
    """A card's ``updated`` in a form that sorts as time (receivers may send fractions or offsets)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---- sending our card ----------------------------------------------------------------------------------


def render_card(
    fed: AccountFederation, fields: Mapping[str, Any], version: CardVersion | None = None
) -> dict[str, Any]:
    """The owner's card as one peer may see it (``fields`` from GraphPort.card_for), signed by the owner.
    ``updated`` is the version's (when the card last changed), so that every rendering of one version says
    the same time and a later version a later one."""
    shown = {k: v for k, v in fields.items() if k not in _ENVELOPE and k != "updated"}
    moment = version.updated if version is not None else now_of(fed)
    key = (version.seq if version is not None else -1, json.dumps(shown, sort_keys=True))
    cached = fed.rendered_cards.get(key)
    if cached is not None:
        return cached
    card = {
        "@context": list(KITH_CONTEXT),
        "id": fed.urls.owner + "/card",
        "type": "ProfileCard",
        "attributedTo": fed.urls.owner,
        "updated": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **shown,
    }
    signed = sign_as_owner(fed, to_jsonld(from_jsonld(card)))  # read back first: only a valid card is signed
    if version is not None:  # peers with the same share of one version get the same signed card
        if len(fed.rendered_cards) > 1024 or any(k[0] != key[0] for k in fed.rendered_cards):
            fed.rendered_cards.clear()
        fed.rendered_cards[key] = signed
    return signed


def _card_update(fed: AccountFederation, activity_id: str, signed: dict[str, Any]) -> dict[str, Any]:
    # addressed to no one in to/cc: each peer's inbox gets it directly, and nothing marks it public
    activity = kith_activity(act.update(activity_id, fed.urls.owner, signed, to=[]))
    activity.pop("to")
    return activity


async def _card_outgoing(fed: AccountFederation, version: CardVersion | None) -> list[Outgoing]:
    """One card Update per Kith peer allowed to see some of the card, for its personal inbox."""
    items = []
    peers = list(await fed.graph.peers_allowed_to_see_card())
    known = await fed.store.actors(peers)
    for peer in peers:
        # the graph may name other identities of the same people (acct:, e-mail): only known actors get cards
        cached = known.get(peer)
        if cached is None or cached.gone or not cached.actor.is_kith:
            continue
        if await fed.blocks.hidden_from(cached.actor):
            continue
        fields = await fed.graph.card_for(peer)
        if not fields:
            continue
        activity = _card_update(fed, fed.new_id(), render_card(fed, fields, version))
        items.append(
            Outgoing(
                activity_id=activity["id"],
                type="Update",
                body=json.dumps(activity),
                inboxes=[cached.actor.inbox],
                kind="card",
                recipient=peer,
            )
        )
    return items


async def _publish(fed: AccountFederation, version: CardVersion | None) -> int:
    if await fed.store.tombstone(fed.urls.owner) is not None:
        return 0  # the owner's actor was deleted: the card changes on this node only (federation.owner)
    items = await _card_outgoing(fed, version)
    public, settings = await profile.profile_outgoing(fed, force=False)
    if version is not None:
        settings[_PUBLISHED_KEY] = version.seq
    await fed.send_all([*items, *public], settings=settings)
    return len(items)


async def publish_pending(fed: AccountFederation) -> int:
    """Send the card version the graph saved, if it is newer than the one last sent (and the profile Update,
    if the public profile changed). Returns the number of peers the card goes to."""
    async with fed.publish_lock:
        version = await fed.graph.card_version()
        published = await fed.store.setting(_PUBLISHED_KEY, 0)
        if version is None or version.seq <= published:
            if await fed.store.tombstone(fed.urls.owner) is not None:
                return 0
            items, settings = await profile.profile_outgoing(fed, force=False)
            if settings:  # the public profile changed without a card change (e.g. the configured name)
                await fed.send_all(items, settings=settings)
            return 0
        return await _publish(fed, version)


async def publish_card(fed: AccountFederation) -> int:
    """Send the owner's card (the latest version) to every Kith peer allowed to see some of it, each getting
    only their share, to their personal inbox, even if it was sent before (the owner asked). Returns the
    number of peers."""
    async with fed.publish_lock:
        return await _publish(fed, await fed.graph.card_version())


async def card_delivery(fed: AccountFederation, row: DeliveryRow) -> str:
    """At send time (federation/service.py): the card Update this peer may see now, or Withdrawn."""
    if row.actor_id is None:
        raise Withdrawn("a card Update names no recipient")
    cached = await fed.recipient(row.actor_id)
    if cached is None or cached.gone or not cached.actor.is_kith:
        raise Withdrawn("the recipient is gone")
    if await fed.blocks.hidden_from(cached.actor):
        raise Withdrawn("the recipient is blocked, or blocks the owner")
    fields = await fed.graph.card_for(row.actor_id)
    if not fields:
        raise Withdrawn("the recipient may no longer see the card")
    signed = render_card(fed, fields, await fed.graph.card_version())
    return json.dumps(_card_update(fed, row.activity_id, signed))


# ---- receiving a peer's card ----------------------------------------------------------------------------


def _confirms(claimed: RemoteActor, author: RemoteActor) -> bool:
    """The claimed actor says it is (also) the card's author: ``alsoKnownAs``, or the same key."""
    if author.id in claimed.also_known_as:
        return True
    if claimed.public_key_pem.strip() == author.public_key_pem.strip():
        return True
    mine = {mb for _, mb in author.multikeys}
    return any(mb in mine for _, mb in claimed.multikeys)


async def _claimed_actor(fed: AccountFederation, claim: str, budget: FetchBudget) -> RemoteActor | None:
    """The actor an ``acct:`` or URL claim names, from its own origin (cached when fresh), else None."""
    if claim.startswith("acct:"):
        known = await fed.store.actor_by_acct(claim[5:])
        if known is not None:
            return await fed.actors.get(known.actor.id, source="fetch", budget=budget)
        actor = await fed.actors.resolve(claim, source="fetch")
        # only a WebFinger round trip (acct -> actor -> the same acct) ties the address to the actor
        return actor if actor.acct and f"acct:{actor.acct}".lower() == claim.lower() else None
    actor = await fed.actors.get(claim, source="fetch", budget=budget)
    return actor if actor.id == claim else None


async def _confirm_identities(
    fed: AccountFederation, author: RemoteActor, claims: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Split the identities a card claims into those their actors confirm and the rest."""
    confirmed: list[str] = []
    unverified: list[str] = []
    own = {author.id, *([f"acct:{author.acct}".lower()] if author.acct else [])}
    budget = FetchBudget(remaining=3 * MAX_CLAIMS_CHECKED)
    checked = 0
    for claim in claims:
        if claim in own or claim.lower() in own:
            confirmed.append(claim)
            continue
        if not claim.startswith(("acct:", "https://", "http://")) or checked >= MAX_CLAIMS_CHECKED:
            unverified.append(claim)  # not an actor (no one to ask), or past this card's fetch allowance
            continue
        checked += 1
        try:
            claimed = await _claimed_actor(fed, claim, budget)
        except KithError as exc:  # unreachable, unknown, not an actor, served by the wrong origin
            _log.info("%s claims %s, which cannot be confirmed: %s", author.id, claim, exc)
            claimed = None
        (confirmed if claimed is not None and _confirms(claimed, author) else unverified).append(claim)
    return confirmed, unverified


async def card_received(
    fed: AccountFederation, parsed: ProfileCard, card: dict[str, Any], *, activity_id: str | None = None
) -> None:
    """A peer's card (an ``Update`` read by federation/received.py, whose actor is the card's owner);
    ``card``: the card as received, which its proof covers."""
    actor_id = parsed.owner
    if parsed.disclosure:
        raise MalformedInput("a card with disclosure rules must never leave its owner's node")
    if parsed.updated is not None and parsed.updated > now_of(fed) + MAX_CARD_AHEAD:
        # kept, it would make every later card from this peer look older than it, until that date
        raise MalformedInput(
            f"the card is dated {parsed.updated:%Y-%m-%d %H:%M}, in the future; check the clock"
        )
    actor = await fed.actors.get(actor_id, source="fetch", budget=FetchBudget(remaining=3))
    proofs.verify(card, owner=owner_keys(actor), now=now_of(fed))
    confirmed, unverified = await _confirm_identities(fed, actor, parsed.identities)
    fields = {k: v for k, v in card.items() if k not in _ENVELOPE}
    if confirmed:
        fields["identities"] = confirmed
    else:
        fields.pop("identities", None)
    updated = _stamp(parsed.updated) if parsed.updated is not None else ""
    async with fed.card_lock:  # the check and the write as one step, whatever runs beside it
        last = await fed.store.card_received_version(actor_id)
        if last is not None and updated < last:
            _log.info("dropped a card from %s of %s: it already holds one of %s", actor_id, updated, last)
            return
        await fed.graph.card_received(actor_id, fields)
        await fed.store.card_applied(
            actor_id, updated=updated, activity_id=activity_id, unverified=unverified, now=fed.clock()
        )
