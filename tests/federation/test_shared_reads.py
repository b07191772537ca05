"""federation/shared_reads.py: callers that miss a cache together share one read, and nothing about it can leave
a caller waiting for good, hand one caller another's failure for ever, or hide a write made after it began."""

from __future__ import annotations

import asyncio

import pytest

from federation.shared_reads import SharedReads


async def _settle() -> None:
    """Let every task started so far run up to its first real wait."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_callers_together_share_one_read_per_key() -> None:
    reads: SharedReads[str, int] = SharedReads()
    calls: list[str] = []
    gate = asyncio.Event()

    async def read(key: str) -> int:
        calls.append(key)
        await gate.wait()
        return len(calls)

    waiting = [asyncio.ensure_future(reads.read(k, lambda k=k: read(k))) for k in ["a"] * 20 + ["b"] * 5]
    await _settle()
    gate.set()
    results = await asyncio.gather(*waiting)
    assert sorted(calls) == ["a", "b"]  # one read per key, not one per caller
    assert len(set(results[:20])) == 1 and len(set(results[20:])) == 1
    assert await reads.read("a", lambda: read("a")) == 3  # done: the next caller reads again


async def test_a_cancelled_caller_does_not_cancel_the_others_read() -> None:
    reads: SharedReads[str, str] = SharedReads()
    gate = asyncio.Event()

    async def read() -> str:
        await gate.wait()
        return "value"

    first = asyncio.ensure_future(reads.read("k", read))
    second = asyncio.ensure_future(reads.read("k", read))
    await _settle()
    first.cancel()
    gate.set()
    assert await second == "value"
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_a_failure_reaches_every_waiter_and_the_next_caller_reads_again() -> None:
    reads: SharedReads[str, str] = SharedReads()
    attempts = 0
    gate = asyncio.Event()

    async def read() -> str:
        nonlocal attempts
        attempts += 1
        await gate.wait()
        if attempts == 1:
            raise ConnectionError("database restarting")
        return "value"

    waiting = [asyncio.ensure_future(reads.read("k", read)) for _ in range(3)]
    await _settle()
    gate.set()
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(o, ConnectionError) for o in outcomes)
    assert await reads.read("k", read) == "value" and attempts == 2


async def test_after_forget_a_caller_gets_a_read_that_starts_after_it() -> None:
    reads: SharedReads[str, str] = SharedReads()
    rows = ["before"]
    gate = asyncio.Event()

    async def read() -> str:
        seen = rows[-1]  # what the database held when the read began
        await gate.wait()
        return seen

    old = asyncio.ensure_future(reads.read("k", read))
    await _settle()
    rows.append("after")  # a write lands while the read is under way, then whoever wrote forgets
    reads.forget("k")
    new = asyncio.ensure_future(reads.read("k", read))
    await _settle()
    gate.set()
    assert (await old, await new) == ("before", "after")
