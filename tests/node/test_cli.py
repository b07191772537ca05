"""The `kith` command: every graph command against a real data folder; errors exit non-zero with one line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bridges.base import ContactDraft
from bridges.vcard import VCardBridge
from node.store.sqlite.driver import sqlite
from tests.capture.servers import smtp_server
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]


def ok(*argv: str | Path) -> str:
    result = run_cli(*argv)
    assert result.code == 0, result.err
    return result.out


def js(*argv: str | Path) -> Any:
    return json.loads(ok(*argv, "--json"))


def fails(*argv: str | Path) -> str:
    result = run_cli(*argv)
    assert result.code != 0
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("kith: ")
    return lines[0]


def test_init_prints_address_and_token_and_refuses_twice(tmp_path: Path) -> None:
    folder = tmp_path / "fresh"
    out = ok("--data", folder, "init", "--username", "bob", "--domain", "bob.example:8443")
    assert "acct:bob@bob.example" in out
    token = (folder / "tokens" / "bob").read_text().strip()
    assert token in out and token.startswith("kith_")
    assert (folder / "tokens" / "bob").stat().st_mode & 0o777 == 0o600
    assert (folder / "kith.toml").exists() and (folder / "server.sqlite3").exists()
    assert (folder / "accounts" / "bob.sqlite3").exists()
    assert [p.name for p in (folder / "keys").glob("*.pem")] == ["node-rsa.pem"]  # accounts' keys: in the db
    line = fails("--data", folder, "init", "--username", "bob")
    assert "already exists" in line
    assert (folder / "tokens" / "bob").read_text().strip() == token  # nothing changed
    assert "username" in fails("--data", tmp_path / "x", "init", "--username", "Bad Name!")
    assert "domain" in fails("--data", tmp_path / "y", "init", "--username", "ok", "--domain", "a b/c")


def test_people_add_json_contract(data_dir: Path) -> None:
    p = js(
        "--data",
        data_dir,
        "people",
        "add",
        "Ada Lovelace",
        "--identity",
        "@ada@math.example",
        "--identity",
        "mailto:Ada@Engines.example",
        "--org",
        "Engines",
    )
    assert p["id"].startswith("p_") and p["display_name"] == "Ada Lovelace" and p["organization"] == "Engines"
    assert [{k: i[k] for k in ("uri", "source", "verification")} for i in p["identities"]] == [
        {"uri": "acct:ada@math.example", "source": "owner", "verification": "claimed"},
        {"uri": "mailto:ada@engines.example", "source": "owner", "verification": "claimed"},
    ]


def test_people_commands(data_dir: Path) -> None:
    d = ("--data", data_dir)
    a = js(*d, "people", "add", "Ada Lovelace", "--org", "Engines", "--circle", "science")
    b = js(*d, "people", "add", "Charles Babbage")
    listed = js(*d, "people", "list")
    assert {p["id"] for p in listed["items"]} == {a["id"], b["id"]} and listed["total"] == 2
    assert a["id"] in ok(*d, "people", "list", "--order", "name")
    found = js(*d, "people", "search", "engi")
    assert [p["id"] for p in found["items"]] == [a["id"]]
    assert [p["id"] for p in js(*d, "people", "list", "--circle", "science")["items"]] == [a["id"]]
    edited = js(*d, "people", "edit", a["id"], "--title", "Analyst", "--priority", "3")
    assert edited["title"] == "Analyst" and edited["priority"] == 3
    assert "nothing to change" in fails(*d, "people", "edit", a["id"])
    shown = js(*d, "people", "show", a["id"])
    assert shown["id"] == a["id"] and shown["notes"] == [] and shown["interactions"] == []
    human = ok(*d, "people", "show", a["id"])
    assert "Ada Lovelace" in human and "Engines" in human
    assert js(*d, "people", "archive", a["id"])["status"] == "archived"
    assert [p["id"] for p in js(*d, "people", "list", "--archived")["items"]] == [a["id"]]
    assert js(*d, "people", "archive", a["id"], "--undo")["status"] == "active"
    ok(*d, "people", "delete", b["id"])
    assert "no person" in fails(*d, "people", "show", b["id"])


def test_identity_merge_unmerge_suggest(data_dir: Path) -> None:
    d = ("--data", data_dir)
    a = js(*d, "people", "add", "Dana Quinn", "--identity", "https://x.com/danaquinn")
    b = js(*d, "people", "add", "D Q")
    p = js(*d, "identity", "add", b["id"], "@danaquinn@m.example", "--label", "fedi")
    assert p["identities"][0]["uri"] == "acct:danaquinn@m.example" and p["identities"][0]["label"] == "fedi"
    line = fails(*d, "identity", "add", a["id"], "acct:danaquinn@m.example")
    assert b["id"] in line and "(uri)" in line
    assert "(uri)" in fails(*d, "identity", "add", a["id"], "not an address")
    sugg = js(*d, "suggest-merges")
    assert sugg["new"] == 1 and sugg["items"][0]["tier"] == "suggested"
    before_b = js(*d, "people", "show", b["id"])
    rec = js(*d, "merge", a["id"], b["id"], "--reason", "same Dana")
    assert rec["evidence"] == [{"kind": "owner", "detail": "same Dana"}]
    merged = js(*d, "people", "show", a["id"])
    assert {i["uri"] for i in merged["identities"]} == {"https://x.com/danaquinn", "acct:danaquinn@m.example"}
    assert [m["id"] for m in js(*d, "merges")["items"]] == [rec["id"]]
    undone = js(*d, "unmerge", rec["id"])
    assert undone["undone_at"]
    assert js(*d, "people", "show", b["id"]) == before_b
    assert "already undone" in fails(*d, "unmerge", rec["id"])
    sid = js(*d, "suggest-merges")["items"][0]["id"]
    assert f"dismissed {sid}" in ok(*d, "suggest-merges", "--dismiss", sid)
    assert js(*d, "suggest-merges")["items"] == []


def test_interactions_notes_circles_cadence_due_fading(data_dir: Path) -> None:
    d = ("--data", data_dir)
    a = js(*d, "people", "add", "Ada")
    b = js(*d, "people", "add", "Bob")
    item = js(
        *d,
        "interaction",
        "add",
        a["id"],
        b["id"],
        "--channel",
        "call",
        "--by",
        "them",
        "--at",
        "2020-01-01T10:00:00Z",
        "--summary",
        "long ago",
    )
    assert item["channel"] == "call" and set(item["people"]) == {a["id"], b["id"]}
    assert "(occurred_at)" in fails(*d, "interaction", "add", a["id"], "--at", "whenever")
    assert [i["id"] for i in js(*d, "interaction", "list", a["id"])["items"]] == [item["id"]]
    note = js(*d, "note", "add", a["id"], "plays chess")
    assert note["body"] == "plays chess"
    assert [n["id"] for n in js(*d, "note", "list", a["id"])["items"]] == [note["id"]]
    assert js(*d, "circle", "add", "chess", "--cadence", "30")["cadence_days"] == 30
    assert js(*d, "circle", "join", a["id"], "chess")["circles"] == ["chess"]
    circles = js(*d, "circle", "list")["items"]
    assert [(c["name"], c["members"]) for c in circles] == [("chess", 1)]
    assert "required" in fails(*d, "circle", "join", a["id"])
    person = js(*d, "cadence", b["id"], "60")
    assert person["effective_cadence_days"] == 60
    assert js(*d, "cadence", "--circle", "chess", "14")["cadence_days"] == 14
    assert "DAYS" in fails(*d, "cadence", b["id"], "fortnightly")
    due = js(*d, "due")
    assert [e["person"]["id"] for e in due["items"]] == [a["id"], b["id"]]  # both last touched in 2020
    assert "overdue" in ok(*d, "due")
    assert js(*d, "fading")["items"] == []
    layers = js(*d, "layers")["items"]
    assert [x["count"] for x in layers] == [0, 1, 2, 2]
    assert js(*d, "circle", "leave", a["id"], "chess")["circles"] == []
    ok(*d, "circle", "remove", "chess")
    assert js(*d, "circle", "list")["items"] == []


def test_export_backup_token(data_dir: Path, tmp_path: Path) -> None:
    d = ("--data", data_dir)
    a = js(
        *d, "people", "add", "Ada Lovelace", "--identity", "acct:ada@math.example", "--birthday", "1815-12-10"
    )
    out = tmp_path / "graph.json"
    ok(*d, "export", "--format", "json", "--output", out)
    doc = json.loads(out.read_text())
    assert doc["format"] == "kith-export"
    assert [r[1] for r in doc["tables"]["person"]["rows"]] == [a["id"]]
    vcf = tmp_path / "people.vcf"
    ok(*d, "export", "--format", "vcard", "--output", vcf)
    (card,) = [c for c in VCardBridge().parse_export(vcf) if isinstance(c, ContactDraft)]
    assert card.display_name == "Ada Lovelace" and str(card.birthday) == "1815-12-10"
    stdout = ok(*d, "export")
    assert json.loads(stdout)["tables"]["person"]["rows"][0][1] == a["id"]
    dest = tmp_path / "copy.sqlite3"
    assert str(dest) in ok(*d, "backup", "--output", dest)
    conn = sqlite.connect(dest)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT id FROM person").fetchall() == [(a["id"],)]
    finally:
        conn.close()
    assert "backups" in ok(*d, "backup")
    old = ok(*d, "token", "show").strip()
    assert old == (data_dir / "tokens" / "alice").read_text().strip()
    new = ok(*d, "token", "rotate").strip()
    assert new != old and ok(*d, "token", "show").strip() == new


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (("people", "add", "X", "--identity", "garbage!!"), "(uri)"),
        (("people", "show", "p_nobody"), "p_nobody"),
        (("people", "edit", "p_nobody", "--title", "x"), "p_nobody"),
        (("interaction", "add", "p_nobody"), "p_nobody"),
        (("note", "add", "p_nobody", "hello"), "p_nobody"),
        (("merge", "p_a", "p_b"), "p_a"),
        (("unmerge", "m_nobody"), "m_nobody"),
        (("people", "add", "X", "--birthday", "someday"), "(birthday)"),
        (("people", "search", "   "), "(q)"),
    ],
)
def test_errors_say_what_to_do(data_dir: Path, argv: tuple[str, ...], needle: str) -> None:
    assert needle in fails("--data", data_dir, *argv)


def test_missing_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    line = fails("--data", tmp_path / "nowhere", "people", "list")
    assert "init" in line and "nowhere" in line
    # KITH_DATA is used when --data is absent.
    monkeypatch.setenv("KITH_DATA", str(tmp_path / "via-env"))
    line = fails("people", "list")
    assert "via-env" in line


def test_kith_data_env_and_bad_config(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KITH_DATA", str(data_dir))
    assert js("people", "list")["total"] == 0
    monkeypatch.setenv("KITH_SERVER_PORT", "eighty")
    line = fails("people", "list")
    assert "server.port" in line and "KITH_SERVER_PORT" in line


def test_console_entry_point_runs_as_a_process(tmp_path: Path) -> None:
    """`python -m node` (what the installed `kith` script runs), as a real process."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    folder = tmp_path / "proc"
    init = subprocess.run(
        [sys.executable, "-m", "node", "--data", str(folder), "init", "--username", "carol"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert init.returncode == 0, init.stderr
    assert "acct:carol@127.0.0.1" in init.stdout
    add = subprocess.run(
        [sys.executable, "-m", "node", "--data", str(folder), "people", "add", "Zed", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert add.returncode == 0, add.stderr
    assert json.loads(add.stdout)["display_name"] == "Zed"
    bad = subprocess.run(
        [sys.executable, "-m", "node", "--data", str(folder), "people", "show", "p_missing"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "p_missing" in bad.stderr


def _serve(data_dir: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "node", "--data", str(data_dir), "serve", *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_serve_runs_and_stops_cleanly(data_dir: Path) -> None:
    import re
    import signal
    import urllib.request

    proc = _serve(data_dir, "--port", "0")
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", first)
        assert match, first
        base = match.group(1)
        token = (data_dir / "tokens" / "alice").read_text().strip()
        banner = "".join(iter(proc.stdout.readline, "Stop with Ctrl-C.\n"))
        assert "account alice" in banner and token in banner
        with urllib.request.urlopen(base + "/api/health", timeout=10) as resp:
            assert resp.status == 200
        req = urllib.request.Request(base + "/api/people", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert json.loads(resp.read())["total"] == 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # Closed cleanly: the WAL was checkpointed away and the database opens.
    wal = data_dir / "accounts" / "alice.sqlite3-wal"
    assert not wal.exists() or wal.stat().st_size == 0


@pytest.mark.parametrize("bad_port", ["taken", "99999"])
def test_serve_port_errors_are_one_line(data_dir: Path, bad_port: str) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = str(sock.getsockname()[1]) if bad_port == "taken" else bad_port
        proc = _serve(data_dir, "--port", port)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kith: ") and "--port" in lines[0]


def test_file_and_database_errors_are_one_line(data_dir: Path, tmp_path: Path) -> None:
    line = fails("--data", data_dir, "export", "--output", tmp_path / "no" / "such" / "dir" / "x.json")
    assert "x.json" in line
    line = fails("--data", data_dir, "backup", "--output", "/proc/kith-backup.sqlite3")
    assert "database" in line or "/proc" in line
    (data_dir / "accounts" / "alice.sqlite3").write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        (data_dir / "accounts" / f"alice.sqlite3{suffix}").unlink(missing_ok=True)
    line = fails("--data", data_dir, "people", "list")
    assert "backup" in line


def test_export_then_restore_into_an_empty_node(data_dir: Path, tmp_path: Path) -> None:
    """A graph bigger than the API's body limit goes out with `kith export` and back with `kith restore`."""
    d = ("--data", data_dir)
    for k in range(3):
        js(*d, "people", "add", f"Person {k}", "--identity", f"acct:p{k}@ex.org", "--circle", "club")
    a, b = (p["id"] for p in js(*d, "people", "list", "--order", "name")["items"][:2])
    js(*d, "note", "add", a, "n" * 9000)
    for _ in range(150):  # push the export past 1 MiB
        js(*d, "note", "add", b, "x" * 9000)
    js(*d, "merge", a, b)
    out = tmp_path / "graph.json"
    ok(*d, "export", "--output", out)
    assert out.stat().st_size > 1_048_576
    fresh = tmp_path / "fresh"
    ok("--data", fresh, "init", "--username", "zed")
    assert js("--data", fresh, "restore", out)["person"] == 3
    again = tmp_path / "again.json"
    ok("--data", fresh, "export", "--output", again)
    first, second = json.loads(out.read_text()), json.loads(again.read_text())
    first.pop("exported_at"), second.pop("exported_at")
    assert first == second
    assert "empty node" in fails("--data", fresh, "restore", out)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert "kith export" in fails("--data", fresh, "restore", bad)
    assert "missing.json" in fails("--data", fresh, "restore", tmp_path / "missing.json")


# -- --json on every command that prints (issue 12 §7) ---------------------------------------------------------
#: The only commands without --json, and why.
NO_JSON = {
    ("serve",): "runs until stopped; it prints where it listens, and the owner API answers in JSON",
    ("worker",): "runs until stopped, like serve; it prints its name, then logs",
    ("export",): "prints the export itself, in the format --format names (json among them)",
}


def _leaves(parser: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every runnable command of the parser, as (words, its parser)."""
    import argparse

    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield prefix, parser
        return
    for action in subs:
        for name, sub in action.choices.items():
            yield from _leaves(sub, (*prefix, name))


def test_every_command_that_prints_takes_json() -> None:
    from node.cli import build_parser

    leaves = dict(_leaves(build_parser()))
    assert len(leaves) > 40 and ("card", "set") in leaves and ("move",) in leaves
    missing = [
        " ".join(words)
        for words, p in leaves.items()
        if words not in NO_JSON and not any("--json" in a.option_strings for a in p._actions)
    ]
    assert missing == [], f"commands without --json: {missing}"
    assert set(NO_JSON) <= set(leaves), "NO_JSON names a command that no longer exists"


def _one_json(*argv: str | Path) -> Any:
    """Run a command with --json: it succeeds and its standard output is exactly one JSON document."""
    result = run_cli(*argv, "--json")
    assert result.code == 0, (argv, result.err)
    return json.loads(result.out)


def test_local_commands_print_valid_json(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every command that works on the data folder, with --json, prints one JSON document (no text around
    it); the ones that printed only text before say the same as JSON."""
    import io

    from node.cli import build_parser

    d = ("--data", data_dir)
    done: set[tuple[str, ...]] = set()

    def run(words: tuple[str, ...], *rest: str | Path) -> Any:
        done.add(words)
        return _one_json(*d, *words, *rest)

    fresh = tmp_path / "fresh"
    init = _one_json("--data", fresh, "init", "--username", "carol", "--domain", "carol.example")
    done.add(("init",))
    assert (
        init["address"] == "acct:carol@carol.example"
        and init["token"] == (fresh / "tokens" / "carol").read_text().strip()
    )
    a = run(("people", "add"), "Ada Lovelace", "--identity", "acct:ada@math.example", "--circle", "science")
    b = run(("people", "add"), "Ada L.", "--identity", "https://ada.example/")
    run(("people", "list"))
    run(("people", "search"), "ada")
    run(("people", "show"), a["id"])
    run(("people", "edit"), a["id"], "--title", "Countess")
    run(("people", "archive"), b["id"])
    run(("people", "archive"), b["id"], "--undo")
    run(("identity", "add"), b["id"], "mailto:ada@engines.example")
    run(("identity", "remove"), b["id"], "mailto:ada@engines.example")
    record = run(("merge",), a["id"], b["id"])
    run(("unmerge",), record["id"])
    run(("merges",))
    suggestions = run(("suggest-merges",))
    if suggestions["items"]:
        assert run(("suggest-merges",), "--dismiss", suggestions["items"][0]["id"]) == {
            "dismissed": suggestions["items"][0]["id"]
        }
    run(("interaction", "add"), a["id"], "--summary", "tea")
    run(("interaction", "list"))
    run(("note", "add"), a["id"], "likes engines")
    run(("note", "list"), a["id"])
    rel = run(("relationship", "add"), b["id"], a["id"], "--as", "mentor")
    assert any(r["id"] == rel["id"] for r in run(("relationship", "list"), a["id"])["items"])
    run(("relationship", "types"))
    run(("relationship", "remove"), rel["id"])
    for action, *rest in (
        ("add", "family"),
        ("list",),
        ("join", a["id"], "family"),
        ("leave", a["id"], "family"),
    ):
        run(("circle",), action, *rest)
    assert run(("circle",), "remove", "family") == {"removed": "family"}
    run(("cadence",), a["id"], "30")
    run(("cadence",), "science", "90", "--circle")
    run(("due",))
    run(("fading",))
    run(("layers",))
    assert run(("migrate",))["applied"] == 0
    # The stay-in-touch loop (issue 16): cadence suggestions from a rhythm, the digest, reaching out, proposals.
    cy = run(("people", "add"), "Cy Young", "--identity", "mailto:cy@example.org")
    today = datetime.now(UTC).replace(microsecond=0)
    for days_ago in (40, 30, 20, 10):
        run(("interaction", "add"), cy["id"], "--at", (today - timedelta(days=days_ago)).isoformat())
    [suggestion] = run(("cadence-suggestions",))["items"]
    assert (suggestion["person_id"], suggestion["suggest_days"]) == (cy["id"], 14)
    preview = run(("digest",))
    assert suggestion["key"] in [i["key"] for i in preview["items"]]
    # Each run reads the wall clock: the documents agree but for when they were made (a run may take a second).
    assert {**run(("digest",), "--preview"), "generated_at": preview["generated_at"]} == preview
    assert run(("digest",), "snooze", suggestion["key"], "--days", "2")["state"] == "snoozed"
    assert run(("digest",), "done", suggestion["key"]) == {"key": suggestion["key"], "state": "done"}
    assert run(("cadence-suggestions",), "--accept", cy["id"])["cadence_days"] == 14
    assert run(("digest",), "settings") == {
        "every": "off",
        "to": "",
        "hour": 7,
        "weekday": 0,
        "fediverse": "",
    }
    weekly = run(("digest",), "settings", "--every", "weekly", "--to", "me@example.org")
    assert weekly["every"] == "weekly" and weekly["to"] == "me@example.org"
    with smtp_server() as smtp:
        for key, value in {
            "KITH_MAIL_SMTP_HOST": "127.0.0.1",
            "KITH_MAIL_SMTP_PORT": str(smtp.port),
            "KITH_MAIL_FROM": "kith@example.org",
            "KITH_MAIL_STARTTLS": "0",
        }.items():
            monkeypatch.setenv(key, value)
        assert run(("digest",), "send")["to"] == "me@example.org" and len(smtp.messages) == 1
    ways = run(("reach",), a["id"])["items"]
    assert [w["uri"] for w in ways] == ["acct:ada@math.example"]
    assert run(("reach",), a["id"], "0")["href"] == "https://math.example/@ada"
    assert run(("reach",), a["id"], "--prefer", "0")["preferred"]["uri"] == "acct:ada@math.example"
    assert run(("reach",), a["id"], "--prefer", "-1") == {"preferred": None}
    assert run(("proposals",)) == {"items": []}  # accept and dismiss: tests/capture/test_imap.py (real mail)
    assert run(("people", "delete"), b["id"]) == {"deleted": b["id"]}
    backup = run(("backup",), "--output", tmp_path / "copy.sqlite3")
    assert backup == {
        "path": str(tmp_path / "copy.sqlite3"),
        "bytes": (tmp_path / "copy.sqlite3").stat().st_size,
    }
    shown = run(("token",), "show")
    assert shown == {"account": "alice", "token": (data_dir / "tokens" / "alice").read_text().strip()}
    rotated = run(("token",), "rotate")
    assert (
        rotated["token"] != shown["token"]
        and rotated["token"] == (data_dir / "tokens" / "alice").read_text().strip()
    )
    assert run(("config",))["node.username"] == "alice"
    assert any(o["key"] == "node.username" for o in run(("config",), "--table"))
    assert run(("password",), "status") == {"password_set": False}
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert run(("password",), "set", "--stdin")["password"] == "set"
    assert run(("password",), "clear")["password"] == "cleared"
    made = run(("app-password",), "add", "phone")
    assert made["name"] == "phone" and len(made["password"]) >= 30
    assert [p["name"] for p in run(("app-password",), "list")["items"]] == ["phone"]
    assert run(("app-password",), "revoke", "phone") == {"revoked": "phone"}
    assert run(("circle",), "publish", "science")["published"] is True
    assert run(("circle",), "unpublish", "science")["published"] is False
    vcf = tmp_path / "one.vcf"
    vcf.write_text(
        "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Grace Hopper\r\nEMAIL:grace@navy.example\r\nEND:VCARD\r\n"
    )
    run(("import",), "vcard", vcf)
    added = run(("account", "add"), "zed", "--display-name", "Zed")
    assert added["name"] == "zed" and added["token"].startswith("kith_")
    assert [a["name"] for a in run(("account", "list"))] == ["alice", "zed"]
    assert run(("account", "suspend"), "zed")["state"] == "suspended"
    assert run(("account", "resume"), "zed")["state"] == "active"
    moved = run(("account", "export"), "alice", "--output", tmp_path / "alice.json")
    assert moved["account"] == "alice" and moved["people"] >= 1
    assert run(("account", "remove"), "zed", "--yes")["state"] == "removed"
    runs = run(("imports",))
    assert isinstance(runs, list) and runs and runs[0]["status"] == "done"
    run(("link",), "mastodon")
    # Mailboxes and calendars are links too: the export below carries them, and the restore takes them back.
    monkeypatch.setattr("sys.stdin", io.StringIO("app password\n"))
    mailbox = run(
        ("link",), "imap", "--host", "127.0.0.1", "--plain", "--user", "me@example.org", "--password-stdin"
    )
    assert mailbox["account"] == "me@example.org@127.0.0.1" and mailbox["security"] == "plain"
    monkeypatch.setattr("sys.stdin", io.StringIO("app password\n"))
    calendar = run(("link",), "caldav", "--url", "http://127.0.0.1:9/cal", "--user", "me", "--password-stdin")
    assert calendar["url"] == "http://127.0.0.1:9/cal/"
    assert [x["account"] for x in run(("link",), "imap")["items"]] == [mailbox["account"]]
    assert [x["account"] for x in run(("link",), "caldav")["items"]] == [calendar["account"]]
    export = tmp_path / "export.json"
    ok(*d, "export", "--output", export)
    restored = tmp_path / "restored"
    ok("--data", restored, "init", "--username", "dora")
    assert "person" in _one_json("--data", restored, "restore", export)
    done.add(("restore",))
    # Every local command is covered here; the ones that talk to a running node are in the next test.
    remote = (
        {("card", *w) for w in (("show",), ("set",), ("disclose",))}
        | {("actor", "delete")}
        | {("message",)}  # --json and its line: tests/web/test_message_form.py, against two federating nodes
        | {
            (w,)
            for w in (
                "follow",
                "unfollow",
                "connect",
                "requests",
                "accept",
                "reject",
                "block",
                "unblock",
                "followers",
                "following",
                "peers",
                "alias",
                "move",
            )
        }
        # `kith org`: every subcommand runs with --json against real servers in tests/org/test_cli_org.py
        | {w for w in dict(_leaves(build_parser())) if w[0] == "org"}
        # --json into a real PostgreSQL database: tests/node/test_storage_copy.py
        | {("storage", "copy")}
        # `kith bridge`: run, status, actors and block with --json against the AT Protocol devnet in
        # tests/bridges/test_bridge_cli.py
        | {w for w in dict(_leaves(build_parser())) if w[0] == "bridge"}
    )
    untested = set(dict(_leaves(build_parser()))) - done - remote - set(NO_JSON) - {("sync",)}
    assert untested == set(), f"add these to this test: {sorted(untested)}"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def _federating_node(folder: Path, username: str) -> AsyncIterator[Path]:
    """A node on the loopback port its domain names, federating with other loopback nodes over plain http,
    served on this test's event loop; the CLI finds it through its configuration."""
    from aiohttp import web

    from node.app import build_app
    from node.config import load_config
    from node.context import AccountContext

    port = _free_port()
    result = await asyncio.to_thread(
        run_cli, "--data", folder, "init", "--username", username, "--domain", f"127.0.0.1:{port}"
    )
    assert result.code == 0, result.err
    env = {"KITH_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8", "KITH_ALLOW_HTTP": "1"}
    ctx = await AccountContext.open(load_config(folder, env=env))
    runner = web.AppRunner(build_app(ctx.server), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield folder
    finally:
        await runner.cleanup()
        await ctx.close()


async def test_commands_that_talk_to_the_node_print_json_or_a_line(tmp_path: Path) -> None:
    """Two real nodes on loopback. card set/disclose gained --json; block, unblock, alias and move printed
    raw JSON without it: now a sentence without --json, and the API's answer as JSON with it."""

    async def cli(*argv: str | Path) -> str:
        result = await asyncio.to_thread(run_cli, *argv)
        assert result.code == 0, (argv, result.err)
        return result.out

    async with (
        _federating_node(tmp_path / "a", "alice") as a,
        _federating_node(tmp_path / "b", "bob") as b,
    ):
        a_port = load_port(a)
        b_addr = f"bob@127.0.0.1:{load_port(b)}"
        saved = json.loads(
            await cli("--data", a, "card", "set", "--name", "Alice", "--email", "a@x.example", "--json")
        )
        assert saved["card"]["name"] == "Alice" and "published_to" in saved
        assert "card saved" in await cli("--data", a, "card", "set", "--title", "Engineer")
        rules = json.loads(await cli("--data", a, "card", "disclose", "email", "friends", "--json"))
        assert rules["disclosure"]["email"] == ["friends"]
        assert "email is now seen by: friends" in await cli(
            "--data", a, "card", "disclose", "email", "friends"
        )
        assert json.loads(await cli("--data", a, "card", "show", "--json"))["card"]["title"] == "Engineer"

        line = await cli("--data", a, "block", b_addr)
        assert (
            line.startswith("blocked the account") and f"{b_addr.split('@')[0]}@" in line and _not_json(line)
        )
        blocked = json.loads(await cli("--data", a, "block", b_addr, "--json"))
        assert blocked["kind"] == "actor" and blocked["value"].startswith("http://127.0.0.1:")
        line = await cli("--data", a, "unblock", b_addr)
        assert line.startswith("unblocked the account") and _not_json(line)
        assert json.loads(await cli("--data", a, "unblock", "spam.example", "--json")) == {
            "kind": "domain",
            "value": "spam.example",
        }
        assert (await cli("--data", a, "block", "spam.example")).strip() == "blocked the domain spam.example"

        # Bob names Alice's account as his old one; then Alice moves to Bob's.
        line = await cli("--data", b, "alias", f"alice@127.0.0.1:{a_port}")
        assert line.startswith("also known as: http://127.0.0.1:") and _not_json(line)
        aliases = json.loads(await cli("--data", b, "alias", f"alice@127.0.0.1:{a_port}", "--json"))
        assert len(aliases["also_known_as"]) == 1
        line = await cli("--data", a, "move", b_addr)
        assert line.startswith("moved to http://127.0.0.1:") and "told 0 follower inboxes" in line
        _not_json(line)
        moved = json.loads(await cli("--data", a, "move", b_addr, "--json"))
        assert moved["notified"] == 0 and moved["moved_to"].startswith("http://127.0.0.1:")
        assert (await cli("--data", b, "alias")).strip() == "no aliases: this account names no old accounts"
        for listing in ("requests", "followers", "following", "peers"):
            assert isinstance(json.loads(await cli("--data", a, listing, "--json")), list)


def load_port(folder: Path) -> int:
    from node.config import load_config

    return load_config(folder, env={}).server.port


def _not_json(text: str) -> bool:
    with pytest.raises(ValueError):
        json.loads(text)
    return True
