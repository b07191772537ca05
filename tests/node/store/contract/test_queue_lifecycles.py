"""The queues' claims on every backend move rows only along the lifecycles of protocol/states.py (issue #13
"Contracts": no transition happens in SQL that the tables do not declare).

A claim is one statement that takes every row that may be taken -- new, due again after a failure, or held by
a worker whose lock expired -- so each of those moves (into ``processing``/``sending``) must be a transition
the table declares, not a path through states no row ever passes. The test puts rows in each state a claim may
take them from, claims, and checks each row's move against the table."""

from __future__ import annotations

from federation.values import InboxItem, Outgoing
from node.store import ServerStore
from protocol.states import DELIVERY, INBOX_ITEM
from tests.conftest import T0

PEER = "https://peer.example/users/bob"


async def _account(server_store: ServerStore, name: str) -> None:
    await server_store.accounts.create(
        name=name, type="Person", display_name=name, graph_file=f"graph-of-{name}", token_sha256=None,
        keys={"rsa": "-----BEGIN RSA-----", "ed25519": "-----BEGIN ED-----"}, now=T0,
    )  # fmt: skip


async def test_an_inbox_claim_takes_rows_only_along_declared_transitions(server_store: ServerStore) -> None:
    fed = server_store.federation
    await _account(server_store, "alice")

    def item(n: int, now: float) -> InboxItem:
        return InboxItem(account="alice", activity_id=f"{PEER}/activities/{n}", actor_id=PEER, type="Follow",
                         body="{}", now=now, request=f"request-{n}")  # fmt: skip

    await fed.store_inbox_many([item(n, 1.0) for n in range(3)])
    first = await fed.claim_inbox(10.0, worker="w1", limit=10, lock_seconds=5.0)
    assert len(first) == 3
    failed, held, done = (row.seq for row in first)
    await fed.finish_inbox(failed, state="failed", now=11.0, error="peer unreachable", retry_at=20.0)
    await fed.finish_inbox(done, state="done", now=11.0)
    await fed.store_inbox_many([item(3, 12.0)])
    was = {failed: "failed", held: "processing"}  # held: its worker's lock ran out at 15
    assert await fed.inbox_count("received", account="alice") == 1

    again = await fed.claim_inbox(30.0, worker="w2", limit=10, lock_seconds=5.0)
    assert {row.seq for row in again} >= {failed, held}
    for row in again:
        source = was.get(row.seq, "received")
        assert INBOX_ITEM.can(source, "processing"), f"the claim moved a {source} item to processing"
    assert await fed.inbox_count("processing", account="alice") == 3
    assert await fed.inbox_count("done", account="alice") == 1  # a finished item is never taken again


async def test_a_delivery_claim_takes_rows_only_along_declared_transitions(server_store: ServerStore) -> None:
    fed = server_store.federation
    await _account(server_store, "alice")
    inboxes = [f"https://peer{n}.example/inbox" for n in range(3)]
    await fed.enqueue_many(
        "alice",
        [Outgoing(activity_id="https://kith.example/a/1", type="Follow", body="{}", inboxes=inboxes)],
        now=1.0,
    )
    first = await fed.claim_deliveries(10.0, worker="w1", limit=10, lock_seconds=5.0)
    assert len(first) == 3
    waiting, held, delivered = (row.id for row in first)
    await fed.finish_delivery(waiting, state="retry_wait", now=11.0, status=503, retry_at=20.0)
    await fed.finish_delivery(delivered, state="delivered", now=11.0, status=202)
    was = {waiting: "retry_wait", held: "sending"}  # held: its worker's lock ran out at 15

    again = await fed.claim_deliveries(30.0, worker="w2", limit=10, lock_seconds=5.0)
    assert {row.id for row in again} == {waiting, held}
    for row in again:
        source = was[row.id]
        assert DELIVERY.can(source, "sending"), f"the claim moved a {source} delivery to sending"
