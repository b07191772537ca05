"""The server's store on every backend (node/store/stores.py, accounts.py): the registry's rules, and graphs
made, opened again elsewhere, held for another writer, backed up and removed."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from node.errors import Conflict, NotFound
from node.store import GraphStore, ServerStore, open_graph_at
from tests.conftest import T0

pytestmark = pytest.mark.part("accounts")

KEYS = {"rsa": "-----BEGIN RSA-----", "ed25519": "-----BEGIN ED-----"}


async def _account(server_store: ServerStore, name: str, token: str | None = None) -> int:
    row = await server_store.accounts.create(
        name=name,
        type="Person",
        display_name=name.title(),
        graph_file=f"graph-of-{name}",
        token_sha256=token,
        keys=KEYS,
        now=T0,
    )
    return row.pk


async def test_names_are_never_reused(server_store: ServerStore) -> None:
    accounts = server_store.accounts
    pk = await _account(server_store, "ann", "digest-ann")
    with pytest.raises(Conflict):
        await _account(server_store, "ann")
    for event, expect in (("removed", ("active", "suspended")), ("purged", ("removed",))):
        await accounts.set_state(
            pk,
            expect=expect,
            state=event,
            now=T0,
            removed_at=T0,
            purge_after=T0 + timedelta(days=30),
        )
    row = await accounts.get("ann")
    assert (row.state, row.removed_at, row.purge_after) == (
        "purged",
        "2026-11-22T12:00:00Z",
        "2026-12-22T12:00:00Z",
    )
    assert (
        await accounts.keys(pk) == {} and await accounts.token_digest(pk) is None
    )  # nothing kept but the name
    with pytest.raises(Conflict):
        await _account(server_store, "ann")
    assert [r.name for r in await accounts.list()] == ["ann"]


async def test_a_state_change_checks_where_it_starts(server_store: ServerStore) -> None:
    """Two commands racing (suspend and remove): the one that finds the state it expects wins, the other is a
    Conflict naming the state it found."""
    accounts = server_store.accounts
    pk = await _account(server_store, "bob")
    results = await asyncio.gather(
        accounts.set_state(pk, expect=("active",), state="suspended", now=T0),
        accounts.set_state(pk, expect=("active",), state="removed", now=T0, removed_at=T0),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Conflict) for r in results) == 1
    assert (await accounts.get_pk(pk)).state in ("suspended", "removed")
    with pytest.raises(NotFound):
        await accounts.get("nobody")
    assert await accounts.find("nobody") is None


async def test_tokens_keys_and_settings(server_store: ServerStore) -> None:
    accounts = server_store.accounts
    ann = await _account(server_store, "ann", "digest-ann")
    bob = await _account(server_store, "bob", "digest-bob")
    found = await accounts.by_token("digest-ann")
    assert found is not None and found.pk == ann
    await accounts.set_state(ann, expect=("active",), state="suspended", now=T0)
    assert await accounts.by_token("digest-ann") is None  # only an active account's token finds it
    await accounts.set_token(bob, "digest-new", T0)
    assert await accounts.by_token("digest-bob") is None and await accounts.token_digest(bob) == "digest-new"
    await accounts.replace_keys({ann: {"rsa": "sealed-a"}, bob: {"rsa": "sealed-b", "ed25519": "e"}}, T0)
    assert await accounts.keys(ann) == {"rsa": "sealed-a", "ed25519": KEYS["ed25519"]}
    assert await accounts.keys(bob) == {"rsa": "sealed-b", "ed25519": "e"}
    changed = await accounts.set_display(bob, display_name="Robert", type="Organization", now=T0)
    assert (changed.display_name, changed.type) == ("Robert", "Organization")
    assert [r.name for r in await accounts.list(states=("active",))] == ["bob"]
    await accounts.meta_set("keys_sealed", "1")
    await accounts.meta_set("keys_sealed", "0")
    assert await accounts.meta_get("keys_sealed") == "0" and await accounts.meta_get("none") is None


@pytest.mark.part("accounts", "misc")
async def test_a_graph_is_its_accounts_alone_and_opens_again_elsewhere(
    server_store: ServerStore, store: GraphStore
) -> None:
    await store.misc.meta_set("who", "alice")
    bob = await server_store.open_graph(await server_store.create_graph("bob"))
    try:
        assert await bob.misc.meta_get("who") is None  # one account's graph reaches no other's
        await bob.misc.meta_set("who", "bob")
        elsewhere = await open_graph_at(store.location, background=True)  # as an import worker opens it
        try:
            assert await elsewhere.misc.meta_get("who") == "alice"
            await elsewhere.misc.meta_set("seen", "by the worker")
        finally:
            await elsewhere.close()
        assert await store.misc.meta_get("seen") == "by the worker"
    finally:
        await bob.close()


async def test_a_graph_made_again_is_empty_and_a_removed_one_is_gone(server_store: ServerStore) -> None:
    """An account added again after an add that died half-way gets a fresh graph; a purge leaves nothing."""
    first = await server_store.create_graph("carl")
    graph = await server_store.open_graph(first)
    await graph.misc.meta_set("left", "over")
    await graph.close()
    again = await server_store.create_graph("carl")
    graph = await server_store.open_graph(again)
    try:
        assert await graph.misc.meta_get("left") is None
        await graph.misc.meta_set("left", "again")
    finally:
        await graph.close()
    await server_store.remove_graph(again)
    graph = await server_store.open_graph(await server_store.create_graph("carl"))
    try:
        assert await graph.misc.meta_get("left") is None
    finally:
        await graph.close()


@pytest.mark.part("misc")
async def test_writes_wait_while_another_writer_holds_the_graph(store: GraphStore) -> None:
    """hold_writes: this process begins no write of its own until the other writer (an import worker) is
    done, so that one never waits for ours; ours then go through, none lost."""
    other_done = asyncio.Event()
    inside = asyncio.Event()

    async def other_writer() -> str:
        inside.set()
        await other_done.wait()
        return "imported"

    held = asyncio.ensure_future(store.hold_writes(other_writer))
    await inside.wait()
    ours = asyncio.ensure_future(store.misc.meta_set("k", "v"))
    for _ in range(20):
        await asyncio.sleep(0.01)
    assert not ours.done()
    other_done.set()
    assert await held == "imported"
    await ours
    assert await store.misc.meta_get("k") == "v"
