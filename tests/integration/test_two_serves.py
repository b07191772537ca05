"""Two `kith serve` processes on one machine and one data folder (docs/DEPLOYMENT.md §4: N web processes, each on
its own port), as real processes:

- each works the queues under a name of its own (the name used to be the machine's alone: the second to start
  released the first's claimed rows as its own "previous run", and both then sent and finished them);
- ``serve.url``, which the commands read to find the running server, names a live one throughout: the first to
  start, never overwritten by the second, not removed by the second's stop, and taken over by the next server
  that starts after the first one is gone, however it went (node/serve_url.py).
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.serve_url import ServeUrl

from .test_cli_nodes import _env, _free_port, _wait_until, kith


class Serves:
    def __init__(self, data: Path) -> None:
        self.data = data
        self.procs: dict[int, subprocess.Popen[str]] = {}

    def start(self, port: int) -> None:
        log = self.data.parent / f"serve-{port}.log"  # a file, not a pipe: nobody need read it for it to run
        with log.open("w") as out:
            self.procs[port] = subprocess.Popen(
                [sys.executable, "-m", "node", "--data", str(self.data), "serve", "--port", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                env=_env(),
            )
        _wait_until(lambda: "listening on" in log.read_text(), f"kith serve on port {port} to listen", 120)

    def stop(self, port: int, sig: int = signal.SIGTERM) -> None:
        proc = self.procs.pop(port)
        proc.send_signal(sig)
        proc.wait(timeout=30)

    def workers(self) -> set[str]:
        with sqlite3.connect(self.data / "server.sqlite3", timeout=10) as conn:
            return {r[0] for r in conn.execute("SELECT worker FROM fed_workers")}

    def url(self) -> str | None:
        path = self.data / "serve.url"
        return path.read_text(encoding="utf-8").strip() if path.exists() else None


@pytest.fixture
def serves(tmp_path: Path) -> Iterator[Serves]:
    data = tmp_path / "server"
    kith(data, "init", "--username", "alice", "--domain", f"127.0.0.1:{_free_port()}")
    running = Serves(data)
    try:
        yield running
    finally:
        for port in list(running.procs):
            running.stop(port, signal.SIGKILL)


@pytest.mark.timeout(300)  # real processes on a busy machine
def test_two_serves_on_one_machine_have_their_own_worker_names_and_one_live_serve_url(serves: Serves) -> None:
    a, b, c = _free_port(), _free_port(), _free_port()
    serves.start(a)
    serves.start(b)
    _wait_until(lambda: len(serves.workers()) == 2, "both serve processes to register their workers")
    names = serves.workers()
    assert all(f":{port}" in " ".join(names) for port in (a, b)), names  # one name each, by its port
    assert serves.url() == f"http://127.0.0.1:{a}"  # the first one's, not overwritten by the second
    serves.stop(b)
    assert serves.url() == f"http://127.0.0.1:{a}"  # the second's stop leaves the first's URL alone
    serves.stop(a, signal.SIGKILL)  # gone without a goodbye: its file stays behind, stale
    assert serves.url() == f"http://127.0.0.1:{a}"
    serves.start(c)
    assert serves.url() == f"http://127.0.0.1:{c}"  # the next server sees nobody holds it, and takes it
    serves.stop(c)
    assert serves.url() is None  # its holder stopped cleanly: removed


def test_only_the_holder_writes_and_removes_serve_url(tmp_path: Path) -> None:
    first, second = ServeUrl(tmp_path), ServeUrl(tmp_path)
    assert first.publish("http://127.0.0.1:1") and first.held
    assert not second.publish("http://127.0.0.1:2") and not second.held
    second.withdraw()  # not its file: nothing happens
    assert (tmp_path / "serve.url").read_text(encoding="utf-8") == "http://127.0.0.1:1\n"
    assert oct((tmp_path / "serve.url").stat().st_mode & 0o777) == "0o600"
    first.withdraw()
    assert not (tmp_path / "serve.url").exists()
    assert second.publish("http://127.0.0.1:2")  # free again
    second.withdraw()
