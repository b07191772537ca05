"""Two nodes started as a user starts them (`kith init`, `kith serve` in their own processes, on two ports)
follow each other and connect with a relationship signed by both, all from the `kith` command line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    env["KITH_ALLOW_PRIVATE_NETWORKS"] = "127.0.0.0/8"
    env["KITH_ALLOW_HTTP"] = "1"
    env.pop("KITH_DATA", None)
    return env


def kith(data: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "node", "--data", str(data), *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"kith {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


def kith_json(data: Path, *args: str) -> object:
    return json.loads(kith(data, *args, "--json").stdout)


def _wait_until(predicate, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[tuple[Path, Path, int, int]]:
    a, b = tmp_path / "alice", tmp_path / "bob"
    pa, pb = _free_port(), _free_port()
    kith(a, "init", "--username", "alice", "--domain", f"127.0.0.1:{pa}")
    kith(b, "init", "--username", "bob", "--domain", f"127.0.0.1:{pb}")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "node", "--data", str(d), "serve"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=_env(),
        )
        for d in (a, b)
    ]
    try:
        for d in (a, b):
            _wait_until(lambda d=d: (d / "serve.url").exists(), f"{d.name} to listen")
        yield a, b, pa, pb
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=20)
            if p.stdout is not None:
                p.stdout.close()


def test_follow_and_connect_between_two_cli_nodes(two_nodes: tuple[Path, Path, int, int]) -> None:
    a, b, pa, pb = two_nodes

    kith(a, "follow", f"bob@127.0.0.1:{pb}")
    _wait_until(
        lambda: any(f["state"] == "accepted" for f in kith_json(a, "following")),
        "Bob's node to accept Alice's follow",
    )
    followers = kith_json(b, "followers")
    assert [f["acct"] for f in followers] == [f"alice@127.0.0.1:{pa}"]

    kith(a, "connect", f"bob@127.0.0.1:{pb}", "--as", "colleague", "--how-we-met", "PyCon 2025")
    _wait_until(lambda: bool(kith_json(b, "requests")), "the offer to reach Bob")
    offers = [r for r in kith_json(b, "requests") if r["kind"] == "relationship"]
    assert len(offers) == 1 and offers[0]["type"] == "colleague"
    kith(b, "accept", offers[0]["id"])

    def confirmed(data: Path, name: str) -> bool:
        found = kith_json(data, "people", "search", name)["items"]
        if not found:
            return False
        shown = kith_json(data, "people", "show", found[0]["id"])
        rels = shown["relationships"]
        return any(r["type"] == "colleague" and r["status"] == "accepted" for r in rels)

    _wait_until(lambda: confirmed(a, "bob"), "Alice's graph to hold the confirmed relationship")
    assert confirmed(b, "alice")
    # Each side learned the other as a person with verified fediverse identities.
    bob = kith_json(a, "people", "search", "bob")["items"][0]
    uris = {i["uri"]: i for i in bob["identities"]}
    assert f"acct:bob@127.0.0.1:{pb}" in uris
    assert uris[f"acct:bob@127.0.0.1:{pb}"]["source"] == "fediverse"
    assert uris[f"acct:bob@127.0.0.1:{pb}"]["verification"] == "two-way"
    peers = kith(a, "peers", "--json").stdout
    assert f"127.0.0.1:{pb}" in peers


def test_cli_errors_say_what_to_do(tmp_path: Path) -> None:
    missing = kith(tmp_path / "nothing", "people", "list", check=False)
    assert missing.returncode == 1
    assert "kith" in missing.stderr and "init" in missing.stderr
    node = tmp_path / "n"
    kith(node, "init", "--username", "carol")
    again = kith(node, "init", "--username", "carol", check=False)
    assert again.returncode == 1 and "already exists" in again.stderr
    bad = kith(node, "people", "add", "X", "--identity", "not an address at all", check=False)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1


def test_card_reaches_the_allowed_circle_only(two_nodes: tuple[Path, Path, int, int]) -> None:
    a, b, _pa, pb = two_nodes
    kith(a, "follow", f"bob@127.0.0.1:{pb}")
    _wait_until(lambda: any(f["state"] == "accepted" for f in kith_json(a, "following")), "the follow")
    bob_in_a = kith_json(a, "people", "search", "bob")["items"][0]["id"]
    kith(a, "circle", "join", bob_in_a, "friends")

    kith(
        a, "card", "set", "--name", "Alice A.", "--email", "alice@example.org", "--phone", "+44 20 7946 0958"
    )
    kith(a, "card", "disclose", "email", "friends")
    kith(a, "card", "disclose", "phone", "family")
    shown = kith_json(a, "card", "show")
    assert shown["disclosure"] == {"email": ["friends"], "phone": ["family"]}

    def alice_in_b() -> dict:
        return kith_json(b, "people", "search", "alice")["items"][0]

    _wait_until(
        lambda: any(i["uri"] == "mailto:alice@example.org" for i in alice_in_b()["identities"]),
        "Alice's e-mail to reach Bob's graph",
    )
    idents = {i["uri"]: i for i in alice_in_b()["identities"]}
    assert idents["mailto:alice@example.org"]["source"] == "peer"
    assert idents["mailto:alice@example.org"]["verification"] == "signed"
    assert "tel:+442079460958" not in idents  # phone is for family; Bob is a friend
    assert alice_in_b()["display_name"] == "Alice A."
