"""Mail capture: a mailbox of N messages (default 50,000) read from a local dovecot, in messages per second,
beside dovecot's own plain fetch of the same headers in the same run; then an incremental run with no new mail.

The baseline is imaplib fetching the same header fields, in the same batches, over the same connection kind,
without parsing or storing anything: what reading the mailbox costs at all. Kith's run adds parsing every
header, deciding who took part, and writing messages, interactions and correspondents to SQLite (each batch one
transaction with its resume point). Both read a mailbox dovecot has already indexed. Last lines: one JSON
object per metric; targets: capture at least half the baseline's rate, an incremental run under a second.
Needs dovecot (apt-get install dovecot-imapd).
"""

from __future__ import annotations

import asyncio
import imaplib
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from node.capture.imap import BATCH, sync_imap, uid_set
from node.capture.links import link_imap
from node.capture.mail import HEADER_FIELDS
from node.graph import iso, utcnow
from tests.capture.servers import start_dovecot
from tests.conftest import new_server_account

# KITH_BENCH_SMOKE=1 (tests/test_benchmarks.py): the smallest sizes, only to show it runs; figures meaningless
SMOKE = os.environ.get("KITH_BENCH_SMOKE") == "1"
N = int(sys.argv[1]) if len(sys.argv) > 1 else 200 if SMOKE else 50_000
ME = "me@example.org"
CORRESPONDENTS = 3000
KNOWN = 800


def fill(maildir: Path, uid: int, gid: int) -> None:
    """Write the messages straight into the Maildir (delivering 50,000 over IMAP would take longer than the
    benchmark): a realistic mix of personal mail both ways, threads, newsletters and the odd crowd."""
    rng = random.Random(16)
    cur = maildir / "cur"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    for i in range(N):
        other = f"person{rng.randrange(CORRESPONDENTS)}@example.net"
        kind = rng.random()
        if kind < 0.35:
            frm, to = ME, other
        elif kind < 0.85:
            frm, to = f"Person {other[6:10]} <{other}>", ME
        elif kind < 0.97:
            frm, to = "Shop <news@shop.example>", ME
        else:
            frm, to = other, ", ".join([ME, *(f"c{j}@crowd.example" for j in range(12))])
        irt = f"In-Reply-To: <m{rng.randrange(max(i, 1))}@bench>\r\n" if i and rng.random() < 0.4 else ""
        lists = "List-Id: <deals.shop.example>\r\n" if kind >= 0.85 and kind < 0.97 else ""
        day = 1 + i % 28
        raw = (
            f"From: {frm}\r\nTo: {to}\r\nDate: Mon, {day:02d} Jun 2026 10:{i % 60:02d}:00 +0000\r\n"
            f"Message-ID: <m{i}@bench>\r\n{irt}{lists}Subject: message {i}\r\n"
            f"Received: from mx.example.net by mx.example.org; Mon, {day:02d} Jun 2026 10:00:00 +0000\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\nBody {i}, which Kith never reads.\r\n"
        ).encode()
        path = cur / f"{1_700_000_000 + i}.M{i}P1.bench:2,S"
        path.write_bytes(raw)
    for root, _dirs, files in os.walk(maildir):
        os.chown(root, uid, gid)
        for name in files:
            os.chown(os.path.join(root, name), uid, gid)


def baseline(port: int, user: str, password: str) -> tuple[float, int]:
    """dovecot's plain fetch of the same headers, in the same batches: (seconds, messages)."""
    conn = imaplib.IMAP4("127.0.0.1", port)
    conn.login(user, password)
    conn.select("INBOX", readonly=True)
    started = time.perf_counter()
    _typ, data = conn.uid("SEARCH", "UID 1:*")
    uids = [int(x) for x in data[0].split()]
    names = " ".join(HEADER_FIELDS)
    got = 0
    for i in range(0, len(uids), BATCH):
        _typ, data = conn.uid(
            "FETCH",
            uid_set(uids[i : i + BATCH]),
            f"(UID INTERNALDATE BODY.PEEK[HEADER.FIELDS ({names})]<0.65536>)",
        )
        got += sum(1 for part in data if isinstance(part, tuple))
    seconds = time.perf_counter() - started
    conn.logout()
    return seconds, got


async def main() -> None:
    dovecot = start_dovecot()
    folder = Path(tempfile.mkdtemp(prefix="kith-bench-capture-"))
    try:
        user, password = dovecot.new_user()
        (dovecot.folder / "home" / user).mkdir()
        os.chown(dovecot.folder / "home" / user, dovecot.mail_uid, dovecot.mail_gid)
        started = time.perf_counter()
        fill(dovecot.maildir(user), dovecot.mail_uid, dovecot.mail_gid)
        print(f"wrote {N:,} messages in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        started = time.perf_counter()
        warm_s, _ = await asyncio.to_thread(baseline, dovecot.port, user, password)  # dovecot indexes them
        print(f"dovecot indexed and served them once in {warm_s:.1f} s", file=sys.stderr)
        base_s, base_n = await asyncio.to_thread(baseline, dovecot.port, user, password)
        assert base_n == N, base_n

        ctx = await new_server_account(folder / "node")
        try:
            graph = ctx.graph
            for i in range(KNOWN):
                await graph.create_person(
                    {"display_name": f"Person {i}", "identities": [f"person{i}@example.net"]}
                )
            await link_imap(
                ctx.store,
                host="127.0.0.1",
                port=dovecot.port,
                security="plain",
                user=user,
                password=password,
                folders=["INBOX"],
                me=[ME],
                passphrase=None,
                now=iso(utcnow()),
            )
            started = time.perf_counter()
            [first] = await sync_imap(ctx.store, passphrase=None)
            kith_s = time.perf_counter() - started
            assert first.status == "complete" and first.messages == N, first
            started = time.perf_counter()
            [again] = await sync_imap(ctx.store, passphrase=None)
            incremental_s = time.perf_counter() - started
            assert again.messages == 0
        finally:
            await ctx.close()
    finally:
        dovecot.stop()
    kith_rate, base_rate = N / kith_s, N / base_s
    print(
        f"kith capture: {N:,} messages in {kith_s:.2f} s ({kith_rate:,.0f}/s); "
        f"{first.interactions_added:,} interactions, {first.people_proposed:,} people proposed"
    )
    print(f"dovecot plain header fetch: {N:,} messages in {base_s:.2f} s ({base_rate:,.0f}/s)")
    print(f"incremental run, no new mail: {incremental_s * 1000:.0f} ms")
    for metric, value, unit, target in (
        ("capture_messages_per_second", round(kith_rate, 1), "1/s", None),
        ("imap_plain_fetch_messages_per_second", round(base_rate, 1), "1/s", None),
        ("capture_vs_plain_fetch_ratio", round(kith_rate / base_rate, 3), "ratio", 0.5),
        ("capture_incremental_seconds", round(incremental_s, 3), "s", 1.0),
    ):
        print(json.dumps({"metric": metric, "value": value, "unit": unit, "target": target}))


if __name__ == "__main__":
    asyncio.run(main())
