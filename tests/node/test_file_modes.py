"""Every file in the data folder is its owner's alone (issue 12 §5): folders 0700, files 0600, after `kith init`,
while and after `kith serve` runs an upload, after `kith backup` and an export written into the folder; and a
folder an older Kith left readable (0755 / 0644) is put right the next time the node's files are opened, said
in one line. The commands run as their own processes with the usual umask (022), as a user's shell runs them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.node.import_helpers import SAMPLES

ROOT = Path(__file__).resolve().parents[2]


def _kith(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "node", "--data", str(data), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        umask=0o022,
    )


def _serve(data: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "node", "--data", str(data), "serve", "--port", "0"],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            umask=0o022,
        )


def _loose(folder: Path) -> list[str]:
    """Everything under ``folder`` (and itself) that someone other than the owner may read, write or enter."""
    found = []
    for path in [folder, *folder.rglob("*")]:
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:  # gone since the listing (an import's lock file): nobody can read it now
            continue
        if not stat.S_ISLNK(mode) and mode & 0o077:
            found.append(f"{path.relative_to(folder)} {stat.filemode(mode)}")
    return found


def _modes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): stat.filemode(p.stat().st_mode) for p in folder.rglob("*")}


async def test_init_serve_import_backup_and_export_leave_only_owner_files(tmp_path: Path) -> None:
    data = tmp_path / "node"
    init = _kith(data, "init", "--username", "alice")
    assert init.returncode == 0, init.stderr
    assert _loose(data) == []
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for name in ("server.sqlite3", "accounts/alice.sqlite3", "kith.toml", "tokens/alice"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
    log = tmp_path / "serve.log"
    proc = _serve(data, log)
    try:
        base = ""
        for _ in range(1200):
            base = next(
                (ln.rsplit(" ", 1)[-1] for ln in log.read_text().splitlines() if " listening on " in ln), ""
            )
            if base:
                break
            await asyncio.sleep(0.05)
        assert base, log.read_text()
        token = (data / "tokens" / "alice").read_text().strip()
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
            form = aiohttp.FormData()
            form.add_field(
                "file", (SAMPLES / "google" / "contacts.csv").read_bytes(), filename="contacts.csv"
            )
            async with http.post(base + "/api/imports", data=form) as resp:
                assert resp.status == 202, await resp.text()
                url = base + (await resp.json())["url"]
            seen: list[str] = []
            for _ in range(1200):  # while the import runs: its upload, lock and the WAL are the owner's too
                seen += _loose(data)
                async with http.get(url) as resp:
                    if (await resp.json())["status"] != "running":
                        break
                await asyncio.sleep(0.01)
            assert seen == []
        assert (data / "accounts" / "alice.sqlite3-wal").exists() and (data / "serve.url").exists()
        assert _loose(data) == [], _modes(data)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    backup = _kith(data, "backup")
    assert backup.returncode == 0, backup.stderr
    exported = _kith(data, "export", "--format", "json", "--output", str(data / "export.json"))
    assert exported.returncode == 0, exported.stderr
    assert list((data / "backups").iterdir()) and (data / "export.json").exists()
    assert _loose(data) == [], _modes(data)


def test_files_an_older_node_left_readable_are_put_right_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "node"
    assert _kith(data, "init", "--username", "alice").returncode == 0
    (data / "backups").mkdir()
    (data / "backups" / "old.sqlite3").write_bytes(b"")
    for path in [data, *data.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    assert len(_loose(data)) > 5
    listed = _kith(data, "people", "list")
    assert listed.returncode == 0, listed.stderr
    assert _loose(data) == [], _modes(data)
    lines = [ln for ln in listed.stderr.splitlines() if "owner's alone" in ln]
    assert len(lines) == 1 and "could be read by other users" in lines[0], listed.stderr
    again = _kith(data, "people", "list")
    assert "owner's alone" not in again.stderr  # said once, when something was changed
