"""A server of several accounts run as a user runs it (`kith serve` in its own process): an account added by
`kith account add` while it runs answers WebFinger at once, two accounts of the server follow each other from
the command line, and a suspended account stops answering within seconds (issue #13 §1, §4, §5)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .test_cli_nodes import _env, _free_port, _wait_until, kith, kith_json


def _get(url: str) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"Accept": "application/activity+json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, None


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    data, port = tmp_path / "server", _free_port()
    kith(data, "init", "--username", "alice", "--domain", f"127.0.0.1:{port}")
    kith(data, "account", "add", "bob")
    proc = subprocess.Popen(
        [sys.executable, "-m", "node", "--data", str(data), "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
    )
    try:
        _wait_until(lambda: (data / "serve.url").exists(), "the server to listen")
        yield data, port
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if proc.stdout is not None:
            proc.stdout.close()


def test_an_account_added_while_serving_answers_at_once_and_accounts_follow_each_other(
    serving: tuple[Path, int],
) -> None:
    data, port = serving
    base, host = f"http://127.0.0.1:{port}", f"127.0.0.1:{port}"

    def webfinger(name: str) -> int:
        return _get(f"{base}/.well-known/webfinger?resource=acct:{name}@{host}")[0]

    assert webfinger("alice") == 200 and webfinger("bob") == 200
    assert webfinger("carol") == 404
    added = kith_json(data, "account", "add", "carol", "--organization")
    assert isinstance(added, dict) and added["name"] == "carol"
    assert webfinger("carol") == 200  # at once: no restart, no wait
    status, doc = _get(f"{base}/users/carol")
    assert status == 200 and doc["type"] == "Organization"

    # two accounts of the one server follow each other from the command line, each with its own token
    kith(data, "--account", "alice", "follow", f"carol@{host}")
    _wait_until(
        lambda: any(f["state"] == "accepted" for f in kith_json(data, "--account", "alice", "following")),
        "carol to accept alice's follow",
    )
    followers = kith_json(data, "--account", "carol", "followers")
    assert isinstance(followers, list) and [f["acct"] for f in followers] == [f"alice@{host}"]
    assert kith_json(data, "--account", "bob", "followers") == []
    assert kith_json(data, "--account", "bob", "following") == []

    kith(data, "account", "suspend", "bob")
    _wait_until(lambda: _get(f"{base}/users/bob")[0] == 404, "bob's actor to stop answering")
    assert _get(f"{base}/users/alice")[0] == 200

    # alice is removed from the command line: the running server answers 410 for her actor and sends the
    # Delete of her actor to her peers, here carol (an account of the same server), whose follower she was
    kith(data, "account", "remove", "alice", "--yes")
    _wait_until(lambda: _get(f"{base}/users/alice")[0] == 410, "alice's actor to answer 410")
    _wait_until(
        lambda: kith_json(data, "--account", "carol", "followers") == [],
        "carol to receive the Delete of alice's actor",
        timeout=60.0,
    )
