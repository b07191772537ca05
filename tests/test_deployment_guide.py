"""docs/DEPLOYMENT.md runs as written: its systemd units verify, its PgBouncer settings are the ones the tests
run with (tests/support/pgcluster.py), and every `kith` command it shows exists, or is marked "(not yet)"."""

from __future__ import annotations

import configparser
import contextlib
import io
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from node.cli import build_parser
from tests.support import pgcluster

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "DEPLOYMENT.md"

#: Commands the guide shows before they exist (issue #14). When one lands, this test fails until it is removed
#: here and the guide's "(not yet)" beside it goes.
NOT_YET: tuple[str, ...] = ()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", GUIDE.read_text(encoding="utf-8"), flags=re.S)


def _units() -> dict[str, str]:
    units = {}
    for block in _blocks("ini"):
        first = block.splitlines()[0]
        if first.startswith("# /etc/systemd/system/"):
            units[first.rsplit("/", 1)[1]] = block
    return units


def test_the_guide_has_both_units() -> None:
    assert set(_units()) == {"kith-serve@.service", "kith-worker@.service"}


def test_the_systemd_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    kith = Path(sys.executable).with_name("kith")
    for name, text in _units().items():
        # The guide's paths and user exist on a server, not here: point them at this checkout for the check.
        text = text.replace("/opt/kith/.venv/bin/kith", str(kith)).replace("=kith\n", "=root\n")
        (tmp_path / name).write_text(text, encoding="utf-8")
    for name in _units():
        instance = name.replace("@.", "@8701.")
        done = subprocess.run(
            [analyze, "verify", "--man=no", instance],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        complaints = [line for line in done.stderr.splitlines() if name in line]
        assert done.returncode == 0 and not complaints, done.stderr


def test_the_pgbouncer_settings_are_the_ones_the_tests_run_with() -> None:
    (block,) = [b for b in _blocks("ini") if "[pgbouncer]" in b]
    guide, tested = configparser.ConfigParser(), configparser.ConfigParser()
    guide.read_string(block)
    tested.read_string(pgcluster.BOUNCER_INI)
    for key in (
        "auth_type",
        "pool_mode",
        "max_client_conn",
        "default_pool_size",
        "ignore_startup_parameters",
    ):
        assert guide["pgbouncer"][key] == tested["pgbouncer"][key], key
    assert guide["pgbouncer"]["pool_mode"] == "transaction"


def _commands() -> list[str]:
    """Every `kith ...` invocation the guide shows: a line or inline code that starts with `kith `, or a path
    ending in /bin/kith (ExecStart, the venv), up to a comment."""
    text = GUIDE.read_text(encoding="utf-8")
    found = []
    for snippet in [*re.findall(r"`([^`\n]+)`", text), *text.splitlines()]:
        snippet = snippet.strip()
        if re.match(r"kith [a-z]", snippet):
            at = 0
        elif "/bin/kith " in snippet:
            at = snippet.index("/bin/kith ") + len("/bin/")
        else:
            continue
        found.append(re.split(r" #|'", snippet[at:])[0].strip())
    return sorted(set(found))


def _parses(command: str) -> bool:
    argv = shlex.split(command.replace("%i", "8701"))[1:]
    argv = [a for a in argv if a != "\\"]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            build_parser().parse_args(argv)
        except SystemExit as exc:
            return exc.code == 0
    return True


def test_every_command_the_guide_shows_exists_or_is_marked_not_yet() -> None:
    commands = _commands()
    assert "kith serve --no-workers --host 127.0.0.1 --port %i" in commands  # the extraction works
    text = GUIDE.read_text(encoding="utf-8")
    for command in commands:
        pending = [p for p in NOT_YET if command.startswith(p)]
        if _parses(command):
            assert not pending, (
                f"`{command}` exists now: drop it from NOT_YET and its '(not yet)' in the guide"
            )
        else:
            assert pending, f"the guide shows `{command}`, which does not exist; mark it (not yet) in NOT_YET"
    for pending in NOT_YET:
        mentions = [line for line in text.splitlines() if pending.split(" --")[0] in line]
        assert any("(not yet)" in line for line in mentions), f"the guide must mark `{pending}` (not yet)"
