from __future__ import annotations

import re
from pathlib import Path

import pytest

from protocol import states
from protocol.errors import IllegalTransition

PROTOCOL_MD = Path(__file__).resolve().parents[2] / "specs" / "PROTOCOL.md"


def test_follow_request_path() -> None:
    table = states.FOLLOW_REQUEST
    state = table.initial
    state = table.step(state, "Accept")
    assert state == "accepted"
    assert table.step(state, "Undo Follow") == "ended"
    with pytest.raises(IllegalTransition, match="allowed: none: it is final"):
        table.step("ended", "Accept")
    with pytest.raises(IllegalTransition, match="cannot happen"):
        table.step("pending", "claim")


def test_delivery_resumes_after_dead_letter() -> None:
    table = states.DELIVERY
    path = ["claim", "retryable error", "gave up", "host resumed", "claim", "2xx"]
    state = table.initial
    seen = [state]
    for event in path:
        state = table.step(state, event)
        seen.append(state)
    assert seen == ["queued", "sending", "retry_wait", "dead", "queued", "sending", "delivered"]
    table.check("sending", "queued")  # a worker that died mid-send leaves the row to be claimed again
    with pytest.raises(IllegalTransition, match="no declared transition"):
        table.check("delivered", "queued")
    with pytest.raises(IllegalTransition, match="not a state"):
        table.check("sent", "queued")


def test_inbox_and_offer_tables() -> None:
    assert states.INBOX_ITEM.events("processing") == (
        "processed",
        "refused",
        "error",
        "lock expired",
        "lock expired, claimed again",
    )
    assert states.INBOX_ITEM.step("failed", "due") == "processing"  # a claim takes a retry directly
    assert states.RELATIONSHIP_OFFER.step("offered", "expiry") == "expired"
    assert not states.RELATIONSHIP_OFFER.can("rejected", "accepted")
    assert set(states.LIFECYCLES) == {
        "follow request",
        "relationship offer",
        "delivery",
        "inbox item",
        "account",
        "introduction",
    }


def test_account_table() -> None:
    assert states.ACCOUNT.step("active", "remove") == "removed"
    assert states.ACCOUNT.step("suspended", "resume") == "active"
    assert not states.ACCOUNT.can("removed", "active")  # a removed account never comes back
    assert states.ACCOUNT.events("purged") == ()


@pytest.mark.parametrize(
    ("transitions", "terminal", "problem"),
    [
        ((("a", "go", "b"),), {"b", "z"}, "terminal state 'z' is not declared"),
        ((("a", "go", "b"), ("a", "go", "a")), {"b"}, "leads two ways"),
        ((("a", "go", "b"), ("b", "back", "a")), {"b"}, "has an outgoing transition"),
        ((("a", "go", "a"),), {"b"}, "unreachable"),
        ((("a", "go", "b"), ("a", "jump", "c")), {"b"}, "cannot be left"),
        ((("a", "go", "x"),), {"b"}, "undeclared state 'x'"),
    ],
)
def test_inconsistent_tables_fail_at_load(
    transitions: tuple[tuple[str, str, str], ...], terminal: set[str], problem: str
) -> None:
    with pytest.raises(AssertionError, match=problem):
        states.Lifecycle(
            name="broken",
            states=("a", "b", "c"),
            initial="a",
            terminal=frozenset(terminal),
            transitions=tuple(states.Transition(source=s, event=e, target=t) for s, e, t in transitions),
        )


def test_protocol_md_holds_exactly_the_generated_diagrams() -> None:
    text = PROTOCOL_MD.read_text(encoding="utf-8")
    blocks = re.findall(r"<!-- lifecycle: (.+?) -->\n```mermaid\n(.*?)```", text, flags=re.S)
    assert {name for name, _ in blocks} == set(states.LIFECYCLES)
    for name, body in blocks:
        assert body == states.mermaid(states.LIFECYCLES[name]), (
            f"regenerate the {name} diagram in PROTOCOL.md"
        )
    assert text.count("stateDiagram-v2") == len(states.LIFECYCLES)
