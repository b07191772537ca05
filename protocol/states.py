"""Lifecycles as declared transition tables (docs/ARCHITECTURE.md §3.2; h11's _state.py, Takahe's StateGraph).

Rules kept here:
- Each lifecycle is data: its states, its initial state, its terminal states and its labelled transitions.
  ``_check`` runs when the module loads and refuses a table with an undeclared state, an unreachable state,
  a terminal state that can be left, a state that cannot be left and is not terminal, or an event that would
  lead two ways from one state.
- ``step(state, event)`` and ``check(source, target)`` are the only ways code moves a row; anything the table
  does not declare raises IllegalTransition (a 409 at the edge).
- The state diagrams in specs/PROTOCOL.md are ``mermaid(table)`` output; a test keeps them identical.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from protocol.errors import IllegalTransition

__all__ = [
    "ACCOUNT",
    "DELIVERY",
    "FOLLOW_REQUEST",
    "INBOX_ITEM",
    "INTRODUCTION",
    "LIFECYCLES",
    "RELATIONSHIP_OFFER",
    "Lifecycle",
    "Transition",
    "mermaid",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class Transition:
    source: str
    event: str
    target: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Lifecycle:
    name: str
    states: tuple[str, ...]
    initial: str
    terminal: frozenset[str]
    transitions: tuple[Transition, ...]

    def __post_init__(self) -> None:
        _check(self)

    def events(self, state: str) -> tuple[str, ...]:
        """Events that may happen in ``state``, in table order."""
        self._known(state)
        return tuple(t.event for t in self.transitions if t.source == state)

    def step(self, state: str, event: str) -> str:
        """The state ``event`` leads to from ``state``; IllegalTransition if the table does not declare it."""
        self._known(state)
        for transition in self.transitions:
            if transition.source == state and transition.event == event:
                return transition.target
        allowed = ", ".join(self.events(state)) or "none: it is final"
        raise IllegalTransition(
            f"{self.name}: {event!r} cannot happen in state {state!r} (allowed: {allowed})"
        )

    def can(self, source: str, target: str) -> bool:
        return any(t.source == source and t.target == target for t in self.transitions)

    def check(self, source: str, target: str) -> None:
        """Raise IllegalTransition unless the table declares a move from ``source`` to ``target``."""
        self._known(source)
        self._known(target)
        if not self.can(source, target):
            raise IllegalTransition(f"{self.name}: no declared transition from {source!r} to {target!r}")

    def _known(self, state: str) -> None:
        if state not in self.states:
            raise IllegalTransition(
                f"{self.name}: {state!r} is not a state (states: {', '.join(self.states)})"
            )


def _check(table: Lifecycle) -> None:
    states = set(table.states)
    problems = []
    if len(states) != len(table.states):
        problems.append("a state is declared twice")
    if table.initial not in states:
        problems.append(f"initial state {table.initial!r} is not declared")
    problems += [f"terminal state {s!r} is not declared" for s in table.terminal - states]
    seen: set[tuple[str, str]] = set()
    for t in table.transitions:
        for end in (t.source, t.target):
            if end not in states:
                problems.append(
                    f"transition {t.source} -[{t.event}]-> {t.target} uses undeclared state {end!r}"
                )
        if (t.source, t.event) in seen:
            problems.append(f"event {t.event!r} leads two ways from {t.source!r}")
        seen.add((t.source, t.event))
        if t.source in table.terminal:
            problems.append(f"terminal state {t.source!r} has an outgoing transition ({t.event})")
    for state in states - table.terminal:
        if not any(t.source == state for t in table.transitions):
            problems.append(f"state {state!r} cannot be left but is not terminal")
    reachable = {table.initial}
    frontier = [table.initial]
    while frontier:
        current = frontier.pop()
        for t in table.transitions:
            if t.source == current and t.target not in reachable:
                reachable.add(t.target)
                frontier.append(t.target)
    problems += [f"state {s!r} is unreachable from {table.initial!r}" for s in sorted(states - reachable)]
    if problems:
        raise AssertionError(f"lifecycle {table.name!r} is inconsistent: " + "; ".join(problems))


def _t(source: str, event: str, target: str) -> Transition:
    return Transition(source=source, event=event, target=target)


#: A Follow we sent or received. A new Follow after a terminal state is a new request, which begins again at
#: ``pending``: usually with a new id; some servers (Takahē) reuse the ended follow's id for it, and then the
#: new request replaces the ended one in the store rather than leaving a terminal state (federation/store.py).
FOLLOW_REQUEST = Lifecycle(
    name="follow request",
    states=("pending", "accepted", "rejected", "cancelled", "ended"),
    initial="pending",
    terminal=frozenset({"rejected", "cancelled", "ended"}),
    transitions=(
        _t("pending", "Accept", "accepted"),
        _t("pending", "Reject", "rejected"),
        _t("pending", "Undo Follow", "cancelled"),
        _t("accepted", "Undo Follow", "ended"),
        _t("accepted", "Reject", "ended"),
        _t("accepted", "Block", "ended"),
    ),
)

#: An Offer of a Relationship, from either end's point of view.
RELATIONSHIP_OFFER = Lifecycle(
    name="relationship offer",
    states=("offered", "accepted", "rejected", "revoked", "expired", "ended"),
    initial="offered",
    terminal=frozenset({"rejected", "revoked", "expired", "ended"}),
    transitions=(
        _t("offered", "Accept", "accepted"),
        _t("offered", "Reject", "rejected"),
        _t("offered", "Undo Offer", "revoked"),
        _t("offered", "expiry", "expired"),
        _t("accepted", "Update (status ended)", "ended"),
        _t("accepted", "Block", "ended"),
    ),
)

#: One activity for one inbox in the durable outbox. At send time a delivery is checked again (blocks, what
#: the recipient may still see, a newer version queued after it): one that must not go is withdrawn.
DELIVERY = Lifecycle(
    name="delivery",
    states=("queued", "sending", "retry_wait", "delivered", "failed", "dead", "withdrawn"),
    initial="queued",
    terminal=frozenset({"delivered", "failed", "withdrawn"}),
    transitions=(
        _t("queued", "claim", "sending"),
        _t("queued", "host dead", "dead"),
        _t("queued", "superseded", "withdrawn"),
        _t("sending", "2xx", "delivered"),
        _t("sending", "retryable error", "retry_wait"),
        _t("sending", "permanent 4xx", "failed"),
        _t("sending", "withdrawn at send time", "withdrawn"),
        _t("sending", "lock expired", "queued"),
        _t("sending", "lock expired, claimed again", "sending"),  # the claim takes it at once
        _t("retry_wait", "due", "sending"),
        _t("retry_wait", "gave up", "dead"),
        _t("retry_wait", "superseded", "withdrawn"),
        _t("dead", "host resumed", "queued"),
        _t("dead", "superseded", "withdrawn"),
    ),
)

#: One activity received in the inbox, stored before it is answered 202 and processed by a worker.
INBOX_ITEM = Lifecycle(
    name="inbox item",
    states=("received", "processing", "done", "failed", "rejected"),
    initial="received",
    terminal=frozenset({"done", "rejected"}),
    transitions=(
        _t("received", "claim", "processing"),
        _t("processing", "processed", "done"),
        _t("processing", "refused", "rejected"),
        _t("processing", "error", "failed"),
        _t("processing", "lock expired", "received"),
        # the claim takes an item due again and one whose worker's lock ran out in the same statement as a
        # new one (node/store/sqlite/federation.py claim_inbox): each move is declared as the claim makes it
        _t("processing", "lock expired, claimed again", "processing"),
        _t("failed", "due", "processing"),
    ),
)

#: An account on a server. Removal is announced (Delete of its actor) and leaves a tombstone; its data is purged
#: after a grace period, and its name stays reserved for good (peers hold records naming its actor).
ACCOUNT = Lifecycle(
    name="account",
    states=("active", "suspended", "removed", "purged"),
    initial="active",
    terminal=frozenset({"purged"}),
    transitions=(
        _t("active", "suspend", "suspended"),
        _t("suspended", "resume", "active"),
        _t("active", "remove", "removed"),
        _t("suspended", "remove", "removed"),
        _t("removed", "grace period over", "purged"),
    ),
)

#: An introduction a member asked of their organisation (specs/ORGANISATIONS.md): asked of the best-connected
#: members, it is accepted by the first who accepts; it is declined once every one asked declined. Each ask to
#: one introducer is an Offer and follows RELATIONSHIP_OFFER.
INTRODUCTION = Lifecycle(
    name="introduction",
    states=("asked", "accepted", "declined", "cancelled", "expired"),
    initial="asked",
    terminal=frozenset({"accepted", "declined", "cancelled", "expired"}),
    transitions=(
        _t("asked", "an introducer accepts", "accepted"),
        _t("asked", "every introducer declines", "declined"),
        _t("asked", "the requester withdraws", "cancelled"),
        _t("asked", "expiry", "expired"),
    ),
)

LIFECYCLES: Mapping[str, Lifecycle] = MappingProxyType(
    {t.name: t for t in (FOLLOW_REQUEST, RELATIONSHIP_OFFER, DELIVERY, INBOX_ITEM, ACCOUNT, INTRODUCTION)}
)


def mermaid(table: Lifecycle) -> str:
    """The lifecycle as a Mermaid ``stateDiagram-v2`` (the text between the code fences)."""
    lines = ["stateDiagram-v2", f"    [*] --> {table.initial}"]
    lines += [f"    {t.source} --> {t.target}: {t.event}" for t in table.transitions]
    lines += [f"    {state} --> [*]" for state in table.states if state in table.terminal]
    return "\n".join(lines) + "\n"
