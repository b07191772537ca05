"""The federation store's contract (federation/ports.py's FederationStore, node/store/federation.py's
AccountFederation) on every backend: what federation's tests rely on, and the rules that let several worker
processes share the queues (issue #14): a row is claimed by one worker only, a peer host is served by one worker
at a time, one actor's items are processed in order, and a silent worker's rows go back to the others."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from federation.values import Changes, InboxItem, Outgoing, RemoteActor
from node.errors import Conflict
from node.store import ServerStore
from protocol.errors import IllegalTransition

pytestmark = pytest.mark.part("federation")

T0 = datetime(2026, 11, 22, 15, 30, tzinfo=UTC)
NOW = 1_800_000_000.0
KEYS = {"rsa": "-----BEGIN RSA-----", "ed25519": "-----BEGIN ED-----"}


async def _accounts(server_store: ServerStore, *names: str) -> None:
    for name in names:
        await server_store.accounts.create(
            name=name,
            type="Person",
            display_name=name.title(),
            graph_file=f"graph-of-{name}",
            token_sha256=None,
            keys=KEYS,
            now=T0,
        )


def _item(account: str, n: int, actor: str = "https://a.example/users/x", now: float = NOW) -> InboxItem:
    return InboxItem(
        account=account,
        activity_id=f"{actor}/activities/{n}",
        actor_id=actor,
        type="Like",
        body=json.dumps({"id": f"{actor}/activities/{n}", "type": "Like"}),
        now=now,
        request=f"req-{n}",
    )


def _out(n: int, inboxes: list[str]) -> Outgoing:
    aid = f"https://here.example/users/ann/activities/{n}"
    return Outgoing(activity_id=aid, type="Announce", body=json.dumps({"id": aid}), inboxes=inboxes)


async def test_inbox_items_are_stored_once_per_account(server_store: ServerStore) -> None:
    await _accounts(server_store, "ann", "bob")
    fed = server_store.federation
    first = await fed.store_inbox_many([_item("ann", 1), _item("bob", 1), _item("ann", 1)])
    assert first == [True, True, False]  # a duplicate in one batch is a replay too
    assert await fed.store_inbox_many([_item("ann", 1)]) == [False]
    assert await fed.inbox_count(account="ann") == 1 and await fed.inbox_count() == 2


async def test_concurrent_writers_store_one_activity_once(server_store: ServerStore) -> None:
    """Several web processes may receive the same activity at the same moment: one row, one True."""
    await _accounts(server_store, "ann")
    fed = server_store.federation
    results = await asyncio.gather(*(fed.store_inbox_many([_item("ann", 7)]) for _ in range(8)))
    assert sorted(r[0] for r in results) == [False] * 7 + [True]
    assert await fed.inbox_count(account="ann") == 1


async def test_two_workers_never_claim_the_same_row(server_store: ServerStore) -> None:
    await _accounts(server_store, "ann")
    fed = server_store.federation
    inboxes = [f"https://h{i}.example/inbox" for i in range(60)]
    await fed.enqueue_many("ann", [_out(1, inboxes)], now=NOW)
    await fed.store_inbox_many([_item("ann", i, actor=f"https://s{i}.example/u") for i in range(60)])
    claims = await asyncio.gather(
        *(fed.claim_deliveries(NOW, worker=f"w{i}", limit=7) for i in range(10)),
        *(fed.claim_inbox(NOW, worker=f"w{i}", limit=7) for i in range(10)),
    )
    deliveries = [row.id for rows in claims[:10] for row in rows]
    items = [row.seq for rows in claims[10:] for row in rows]
    assert sorted(deliveries) == sorted(set(deliveries)) and len(deliveries) == 60
    assert sorted(items) == sorted(set(items)) and len(items) == 60


async def test_outcomes_written_together_each_land_on_their_row(server_store: ServerStore) -> None:
    """A delivery loop finishes dozens of rows at once (PostgreSQL writes them in one statement)."""
    await _accounts(server_store, "ann")
    fed = server_store.federation
    await fed.enqueue_many("ann", [_out(1, [f"https://h{i}.example/inbox" for i in range(40)])], now=NOW)
    rows = await fed.claim_deliveries(NOW, worker="w1")
    await fed.store_inbox_many([_item("ann", i, actor=f"https://s{i}.example/u") for i in range(10)])
    items = await fed.claim_inbox(NOW, worker="w1")
    await asyncio.gather(
        *(
            fed.finish_delivery(r.id, state="delivered", now=NOW + 1, status=202)
            if n % 2
            else fed.finish_delivery(
                r.id, state="retry_wait", now=NOW + 1, status=503, error=f"busy {n}", retry_at=NOW + 60 + n
            )
            for n, r in enumerate(rows)
        ),
        *(fed.finish_inbox(i.seq, state="done", now=NOW + 1) for i in items),
    )
    assert await fed.delivery_counts("ann") == {"delivered": 20, "retry_wait": 20}
    assert await fed.inbox_count("done") == 10
    for n, r in enumerate(rows):
        (row,) = await fed.deliveries_to(r.inbox)
        assert row["attempts"] == 1 and row["locked_by"] is None
        if not n % 2:
            assert (row["last_status"], row["last_error"], row["next_attempt_at"]) == (
                503,
                f"busy {n}",
                NOW + 60 + n,
            )


async def test_a_peer_host_is_served_by_one_worker_at_a_time(server_store: ServerStore) -> None:
    await _accounts(server_store, "ann")
    fed = server_store.federation
    await fed.enqueue_many(
        "ann",
        [_out(1, ["https://big.example/users/a/inbox", "https://other.example/inbox"])],
        now=NOW,
    )
    await fed.enqueue_many("ann", [_out(2, ["https://big.example/users/b/inbox"])], now=NOW)
    (first,) = await fed.claim_deliveries(NOW, worker="w1", limit=1)
    assert first.host == "big.example"
    # w2 may not talk to big.example while w1 has a request to it in flight; other hosts are free
    taken = await fed.claim_deliveries(NOW, worker="w2")
    assert [r.host for r in taken] == ["other.example"]
    # w1 itself may take more of its host (its own per-host limit applies)
    (more,) = await fed.claim_deliveries(NOW, worker="w1", busy_ids=[first.id])
    assert more.host == "big.example"
    await fed.finish_delivery(first.id, state="delivered", now=NOW, status=202)
    await fed.finish_delivery(more.id, state="delivered", now=NOW, status=202)
    await fed.enqueue_many("ann", [_out(3, ["https://big.example/users/c/inbox"])], now=NOW)
    (after,) = await fed.claim_deliveries(NOW, worker="w2")  # w1 holds nothing there any more
    assert after.host == "big.example"


async def test_one_actors_items_go_to_one_worker_in_order(server_store: ServerStore) -> None:
    await _accounts(server_store, "ann")
    fed = server_store.federation
    x, y = "https://a.example/users/x", "https://b.example/users/y"
    await fed.store_inbox_many([_item("ann", 1, x), _item("ann", 2, x), _item("ann", 3, y)])
    (first,) = await fed.claim_inbox(NOW, worker="w1", limit=1)
    assert first.actor_id == x
    # x's second item waits while w1 processes its first; y's is free
    assert [r.actor_id for r in await fed.claim_inbox(NOW, worker="w2")] == [y]
    await fed.finish_inbox(first.seq, state="done", now=NOW)
    (second,) = await fed.claim_inbox(NOW, worker="w2")
    assert (second.actor_id, second.activity_id) == (x, f"{x}/activities/2")


async def test_a_silent_workers_rows_go_back_and_a_live_ones_stay(server_store: ServerStore) -> None:
    await _accounts(server_store, "ann")
    fed = server_store.federation
    await fed.enqueue_many("ann", [_out(1, ["https://a.example/inbox", "https://b.example/inbox"])], now=NOW)
    await fed.register_worker("dead", NOW, stale_after=60)
    await fed.register_worker("alive", NOW, stale_after=60)
    (held,) = await fed.claim_deliveries(NOW, worker="dead", limit=1, lock_seconds=3600)
    (kept,) = await fed.claim_deliveries(NOW, worker="alive", limit=1, lock_seconds=3600)
    assert await fed.heartbeat("alive", NOW + 30, stale_after=60) == 0
    assert await fed.claim_deliveries(NOW + 30, worker="alive") == []  # both held, locks unexpired
    assert await fed.heartbeat("alive", NOW + 61, stale_after=60) == 1  # "dead" has not beaten for 61 s
    (again,) = await fed.claim_deliveries(NOW + 61, worker="alive", busy_ids=[kept.id])
    assert again.id == held.id
    await fed.retire_worker("alive")  # a clean stop gives back what it holds
    assert {r.id for r in await fed.claim_deliveries(NOW + 62, worker="next")} == {held.id, kept.id}


async def test_a_worker_that_lost_its_claim_cannot_finish_the_row(server_store: ServerStore) -> None:
    """A worker whose lock expired (it was silent, or its request outlived the lock) may still come back with an
    outcome; the row may be someone else's by then. Its finish writes nothing and says so; the new holder's
    counts. The same for rows given back to the queue, and for rows already finished."""
    await _accounts(server_store, "ann")
    fed = server_store.federation
    await fed.enqueue_many("ann", [_out(1, ["https://a.example/inbox", "https://b.example/inbox"])], now=NOW)
    await fed.store_inbox_many([_item("ann", 1), _item("ann", 2, actor="https://b.example/users/y")])
    (slow,) = await fed.claim_deliveries(NOW, worker="w1", limit=1, lock_seconds=10)
    (item,) = await fed.claim_inbox(NOW, worker="w1", limit=1, lock_seconds=10)
    # w1's locks expire; w2 takes both rows
    (again,) = await fed.claim_deliveries(NOW + 11, worker="w2", limit=1)
    (item_again,) = await fed.claim_inbox(NOW + 11, worker="w2", limit=1)
    assert (again.id, item_again.seq) == (slow.id, item.seq)
    # w1 comes back with a failure for both: nothing of it is written
    assert not await fed.finish_delivery(slow.id, state="failed", now=NOW + 12, status=410, worker="w1")
    assert not await fed.finish_inbox(item.seq, state="rejected", now=NOW + 12, error="late", worker="w1")
    (row,) = await fed.deliveries_to(slow.inbox)
    assert (row["state"], row["locked_by"], row["attempts"], row["last_status"]) == ("sending", "w2", 0, None)
    # the holder's outcome is the one recorded, once
    assert await fed.finish_delivery(slow.id, state="delivered", now=NOW + 13, status=202, worker="w2")
    assert await fed.finish_inbox(item.seq, state="done", now=NOW + 13, worker="w2")
    (row,) = await fed.deliveries_to(slow.inbox)
    assert (row["state"], row["attempts"], row["last_status"]) == ("delivered", 1, 202)
    assert await fed.inbox_count("done") == 1
    # a finished row cannot be finished again, not even by its last holder
    assert not await fed.finish_delivery(slow.id, state="failed", now=NOW + 14, status=500, worker="w2")
    assert not await fed.finish_delivery(slow.id, state="failed", now=NOW + 14, status=500)
    assert not await fed.finish_inbox(item.seq, state="failed", now=NOW + 14, error="x", retry_at=NOW + 99)
    assert await fed.inbox_count("done") == 1
    # a row given back to the queue (its worker retired, or taken for dead) is no one's to finish
    (other,) = await fed.claim_deliveries(NOW + 15, worker="w3")
    await fed.retire_worker("w3")
    assert not await fed.finish_delivery(other.id, state="delivered", now=NOW + 16, status=202, worker="w3")
    (row,) = await fed.deliveries_to(other.inbox)
    assert (row["state"], row["locked_by"]) == ("queued", None)
    # outcomes written together (PostgreSQL batches them): each is checked on its own row
    (mine,) = await fed.claim_deliveries(NOW + 17, worker="w4")
    results = await asyncio.gather(
        fed.finish_delivery(mine.id, state="delivered", now=NOW + 18, status=202, worker="w4"),
        fed.finish_delivery(slow.id, state="delivered", now=NOW + 18, status=202, worker="w4"),
    )
    assert results == [True, False]


async def test_breaker_and_dead_letters_are_shared(server_store: ServerStore) -> None:
    await _accounts(server_store, "ann")
    fed = server_store.federation
    await fed.enqueue_many("ann", [_out(1, ["https://down.example/inbox"])], now=NOW)
    assert not await fed.host_failed("down.example", NOW, open_for=300, dead_after=3 * 86400)
    assert await fed.claim_deliveries(NOW + 1, worker="w2") == []  # the circuit is open for every worker
    known, kith = await fed.hosts_for_claim(["down.example", "unknown.example"])
    assert list(known) == ["down.example"] and known["down.example"].failures == 1 and kith == set()
    (row,) = await fed.claim_deliveries(NOW + 301, worker="w2")  # closed again: one goes
    assert row.host == "down.example"
    await fed.release_deliveries([row.id])  # its host failed meanwhile: back to the queue
    assert await fed.host_failed("down.example", NOW + 4 * 86400, open_for=300, dead_after=3 * 86400)
    host = await fed.host("down.example")
    assert host is not None and host.dead and host.failures == 2
    assert await fed.dead_hosts_due(NOW + 5 * 86400) == ["down.example"]
    assert await fed.delivery_counts("ann") == {"dead": 1}  # dead-lettered with its host
    await fed.host_succeeded("down.example", NOW + 5 * 86400, "cavage")
    host = await fed.host("down.example")
    assert host is not None and not host.dead and host.scheme == "cavage"
    assert await fed.delivery_counts("ann") == {"queued": 1}  # resumed
    await fed.host_succeeded("down.example", NOW + 5 * 86400, None)  # the scheme that worked stays
    host = await fed.host("down.example")
    assert host is not None and host.scheme == "cavage"


async def test_hosts_up_at_once_end_as_if_one_after_the_other(server_store: ServerStore) -> None:
    """Many deliveries finish together (a fan-out to new hosts): their host_succeeded calls, made at once (an
    engine may write them together), leave every host as the same calls one after the other would: a dead host
    resumes its dead letters, the last scheme named wins, None keeps the one known, a host named twice is fine."""
    await _accounts(server_store, "ann")
    fed = server_store.federation
    await fed.enqueue_many(
        "ann", [_out(1, ["https://dead.example/inbox", "https://alive.example/inbox"])], now=NOW
    )
    assert await fed.host_failed("dead.example", NOW, open_for=300, dead_after=0)
    await fed.host_failed("alive.example", NOW, open_for=300, dead_after=3 * 86400)
    assert await fed.delivery_counts("ann") == {"dead": 1, "queued": 1}
    await fed.host_succeeded("kept.example", NOW, "rfc9421")
    calls = [
        ("dead.example", "cavage"),
        ("alive.example", None),
        ("kept.example", None),  # the scheme known stays
        *((f"new{n}.example", "cavage") for n in range(40)),
        ("twice.example", "rfc9421"),
        ("twice.example", None),  # None after a scheme: the scheme stays
        ("twice.example", "cavage"),
    ]
    await asyncio.gather(*(fed.host_succeeded(host, NOW + 10, scheme) for host, scheme in calls))
    assert await fed.delivery_counts("ann") == {"queued": 2}  # the dead host's letter resumed
    expected = {"dead.example": "cavage", "alive.example": None, "kept.example": "rfc9421"}
    expected |= {f"new{n}.example": "cavage" for n in range(40)} | {"twice.example": "cavage"}
    known, _ = await fed.hosts_for_claim(sorted(expected))
    assert {h: r.scheme for h, r in known.items()} == expected
    assert all(not r.dead and r.failures == 0 and r.open_until is None for r in known.values())
    assert [r.host for r in await fed.claim_deliveries(NOW + 11, worker="w")] == [
        "alive.example",
        "dead.example",
    ]  # both circuits closed again


async def test_the_hosts_of_a_claim_in_one_read(server_store: ServerStore) -> None:
    fed = server_store.federation
    for n, (host, kith) in enumerate(
        [("peer.example", True), ("masto.example", False), ("gone.example", True)]
    ):
        actor = RemoteActor(
            id=f"https://{host}/users/{n}",
            type="Person",
            acct=None,
            preferred_username=str(n),
            name=None,
            summary=None,
            url=None,
            icon=None,
            inbox=f"https://{host}/users/{n}/inbox",
            shared_inbox=None,
            outbox=None,
            followers=None,
            following=None,
            public_key_id=f"https://{host}/users/{n}#key",
            public_key_pem="-",
            is_kith=kith,
        )
        await fed.save_actor(actor, {"id": actor.id}, NOW)
    await fed.mark_gone("https://gone.example/users/2")
    await fed.host_succeeded("masto.example", NOW, "cavage")
    known, kith_hosts = await fed.hosts_for_claim(["peer.example", "masto.example", "gone.example"])
    assert kith_hosts == {"peer.example"}  # a Kith actor known there, and not gone
    assert list(known) == ["masto.example"] and known["masto.example"].scheme == "cavage"
    assert await fed.hosts_for_claim([]) == ({}, set())


async def test_follows_offers_blocks_settings_and_changes(server_store: ServerStore) -> None:
    await _accounts(server_store, "ann")
    fed = server_store.federation
    actor = "https://a.example/users/x"
    assert await fed.add_follow(
        "ann", follow_id="f1", direction="in", actor_id=actor, state="pending", now=NOW
    )
    assert not await fed.add_follow(
        "ann", follow_id="f1", direction="in", actor_id=actor, state="pending", now=NOW
    )
    await fed.set_follow_state("ann", "f1", "accepted", NOW + 1)
    with pytest.raises(IllegalTransition):
        await fed.set_follow_state("ann", "f1", "pending", NOW + 2)
    assert await fed.accounts_dealing_with(actor) == {"ann"}
    record = {"id": "https://here.example/relationships/1", "type": "Relationship"}
    assert await fed.add_offer(
        "ann", offer_id="o1", direction="out", actor_id=actor, rel_type="friend", record=record, now=NOW
    )
    assert not await fed.add_offer(
        "ann", offer_id="o2", direction="out", actor_id=actor, rel_type="friend", record=record, now=NOW
    )
    assert await fed.accounts_holding_record(record["id"]) == ["ann"]
    assert await fed.owners_of(actor, ["f1", "o1", "nothing"]) == {"ann"}
    await fed.enqueue_many(
        "ann",
        [],
        now=NOW,
        changes=Changes(settings={"also_known_as": ["https://old.example/u"]}),
    )
    assert await fed.setting("ann", "also_known_as") == ["https://old.example/u"]
    await fed.add_block("ann", "domain", "bad.example", NOW)
    assert await fed.block_set("ann") == frozenset({("domain", "bad.example")})
    assert await fed.remove_block("ann", "domain", "bad.example") is None
    assert await fed.expire_offers(NOW + 1, NOW + 2) == 1


async def test_an_accounts_rows_export_restore_and_purge(server_store: ServerStore) -> None:
    await _accounts(server_store, "ann", "bob")
    fed = server_store.federation
    actor = "https://a.example/users/x"
    await fed.add_follow("ann", follow_id="f1", direction="out", actor_id=actor, state="accepted", now=NOW)
    await fed.add_block("ann", "actor", "https://z.example/u", NOW, block_id=None)
    await fed.set_setting("ann", "moved_to", "https://new.example/u")
    await fed.set_setting("ann", "card_version", 3)  # bookkeeping: not exported
    exported = await server_store.account_federation("ann").export_tables()
    assert exported["fed_follows"]["rows"] == [["f1", "out", actor, "accepted", NOW, NOW]]
    assert exported["fed_blocks"]["rows"] == [["actor", "https://z.example/u", None, NOW]]
    assert exported["fed_settings"]["rows"] == [["moved_to", json.dumps("https://new.example/u")]]
    tables = {t: (v["columns"], v["rows"]) for t, v in exported.items()}
    bob = server_store.account_federation("bob")
    await bob.require_empty()
    await bob.import_tables(tables)
    await bob.import_tables(tables)  # the very rows again: taken as written
    assert await bob.export_tables() == exported
    with pytest.raises(Conflict):
        await bob.require_empty()
    await server_store.account_federation("ann").purge()
    assert await fed.follow("ann", "f1") is None and await fed.follow("bob", "f1") is not None


class _Counting:
    """The real store, counting the calls made of some of its methods (how many reads a cache lets through)."""

    def __init__(self, inner: object, *names: str) -> None:
        self.inner = inner
        self.calls = dict.fromkeys(names, 0)

    def __getattr__(self, name: str) -> object:
        method = getattr(self.inner, name)
        if name not in self.calls:
            return method

        async def counted(*args: object, **kwargs: object) -> object:
            self.calls[name] += 1
            return await method(*args, **kwargs)

        return counted


async def test_a_stale_block_cache_is_read_once_for_all_asking_together(server_store: ServerStore) -> None:
    """Dozens of requests or deliveries find an account's blocks stale at the same moment: one read serves all of
    them (each was a round trip of its own), every one of them sees the block, and one written elsewhere (a
    restore) is seen by whoever asks after forget_blocks."""
    from federation.store import AccountStore

    await _accounts(server_store, "ann")
    counting = _Counting(server_store.federation, "block_set", "blocked_by")
    store = AccountStore(counting, "ann")  # type: ignore[arg-type]
    await server_store.federation.add_block("ann", "domain", "spam.example", NOW)
    checks = await asyncio.gather(*(store.is_blocked(f"https://spam.example/users/{n}") for n in range(50)))
    assert all(checks) and counting.calls == {"block_set": 1, "blocked_by": 1}
    await server_store.federation.add_block("ann", "domain", "more.example", NOW)  # beside this process
    store.forget_blocks()
    assert await store.is_blocked("https://more.example/users/1")
    assert counting.calls == {"block_set": 2, "blocked_by": 2}


async def test_a_tombstone_written_while_it_is_being_read_is_seen(server_store: ServerStore) -> None:
    """A removed actor's tombstone is for good: reads of it under way (and a miss they cache) when it is written
    never hide it afterwards, from the writer or any later reader."""
    await _accounts(server_store, "ann")
    fed = server_store.federation
    actor = "https://here.example/users/ann"
    before = [asyncio.ensure_future(fed.tombstone(actor)) for _ in range(20)]
    row = await fed.add_tombstone("ann", actor, former_type="Person", activity_id=actor + "#delete", now=NOW)
    await asyncio.gather(*before)
    assert row.actor_id == actor
    after = await asyncio.gather(*(fed.tombstone(actor) for _ in range(5)))
    assert all(t is not None and t.activity_id == actor + "#delete" for t in after)
