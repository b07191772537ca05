"""`kith bridge ...` (node/cli_bridge.py) against the real AT Protocol devnet: the operator's commands by
issue #18's fixed names and JSON fields, and the errors an operator meets (a PDS that is down, a bridge not
configured) as one line saying what to do, never a traceback."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from node.cli import main
from tests.bridges.atproto_net import Account, Devnet, Pds
from tests.bridges.test_bridge_node import avatar

pytestmark = pytest.mark.timeout(900)


def kith(capsys: pytest.CaptureFixture[str], data: Path, *argv: str) -> tuple[int, Any, str]:
    code = main(["--data", str(data), *argv])
    out, err = capsys.readouterr()
    try:
        return code, json.loads(out), err
    except ValueError:
        return code, out, err


async def _users(net: Devnet) -> tuple[Account, Account]:
    async with aiohttp.ClientSession() as session:
        pds = Pds(net, session)
        bot = await pds.create_account("clibot")
        user = await pds.create_account("cliuser")
        await pds.set_profile(user, displayName="Cli User", avatar=await avatar(pds, user))
        await pds.follow(user, bot.did)
        return bot, user


def test_bridge_commands_by_their_fixed_names(
    tmp_path: Path,
    atproto_devnet: Devnet,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bot, user = asyncio.run(_users(atproto_devnet))
    data = tmp_path / "node"
    assert main(["--data", str(data), "init", "--username", "operator", "--domain", "bridge.example"]) == 0
    capsys.readouterr()

    # not configured: one line naming the setting
    code, _, err = kith(capsys, data, "bridge", "status")
    assert code == 1 and "bridge.bluesky.pds_url" in err and "Traceback" not in err

    monkeypatch.setenv("KITH_BRIDGE_BLUESKY_PDS_URL", atproto_devnet.pds_url)
    monkeypatch.setenv("KITH_BRIDGE_BLUESKY_PLC_URL", atproto_devnet.plc_url)
    monkeypatch.setenv("KITH_BRIDGE_BLUESKY_BOT_HANDLE", bot.handle)
    code, _, err = kith(capsys, data, "bridge", "run")
    assert code == 1 and "bridge.bluesky.enabled" in err  # a loop that would do nothing is refused
    monkeypatch.setenv("KITH_BRIDGE_BLUESKY_ENABLED", "1")

    code, status, _ = kith(capsys, data, "bridge", "status", "--json")
    assert code == 0 and status["actors"] == 0 and status["opted_in"] == 0 and status["lag_seconds"] is None

    code, report, _ = kith(capsys, data, "bridge", "run", "--once", "--json")
    assert code == 0 and report["bridged"] == 1
    code, status, _ = kith(capsys, data, "bridge", "status", "--json")
    assert code == 0 and status["actors"] == 1 and status["opted_in"] == 1 and status["lag_seconds"] >= 0
    # the metrics: nobody follows the actor yet, nothing was delivered, nothing waits
    assert (status["follows"], status["waiting"]) == (0, 0)
    assert status["deliveries_per_second"] == {"last_minute": 0.0, "last_hour": 0.0}
    assert status["bot_did"] == bot.did
    code, text, _ = kith(capsys, data, "bridge", "status")
    assert code == 0 and "1 bridged" in text and "0 followers of bridged actors" in text
    assert "0/s over the last minute" in text and "0 waiting" in text and "last caught up" in text
    code, queue, _ = kith(capsys, data, "bridge", "queue", "--json")
    assert code == 0 and queue["hosts"] == [] and queue["open_circuits"] == []
    code, items, _ = kith(capsys, data, "bridge", "actors", "--json")
    name = user.did.replace(":", ".")
    assert items == [
        {
            "did": user.did,
            "handle": user.handle,
            "actor": f"http://bridge.example/users/{name}",
            "state": "bridged",
            "reason": "opted-in",
            "since": items[0]["since"],
        }
    ]
    code, accounts, _ = kith(capsys, data, "account", "list", "--json")
    assert name in {a["name"] for a in accounts}

    # the operator's block removes it at once
    code, out, _ = kith(capsys, data, "bridge", "block", user.did, "--json")
    assert code == 0 and out == {"did": user.did, "blocked": True}
    code, items, _ = kith(capsys, data, "bridge", "actors", "--json")
    assert items[0]["state"] == "opted-out" and items[0]["reason"] == "blocked"
    code, accounts, _ = kith(capsys, data, "account", "list", "--json")
    assert {a["name"]: a["state"] for a in accounts}[name] == "removed"
    code, out, _ = kith(capsys, data, "bridge", "unblock", user.did, "--json")
    assert code == 0 and out == {"did": user.did, "blocked": False}
    code, _, err = kith(capsys, data, "bridge", "unblock", user.did)
    assert code == 1 and "not blocked" in err
    code, _, err = kith(capsys, data, "bridge", "block", "not-a-did")
    assert code == 1 and "is not a DID" in err and "kith bridge actors" in err

    # the PDS is down: one line, nothing changed
    monkeypatch.setenv("KITH_BRIDGE_BLUESKY_PDS_URL", "http://127.0.0.1:9")
    code, _, err = kith(capsys, data, "bridge", "run", "--once")
    assert code == 1 and "pds_url" in err and "Traceback" not in err
    code, items, _ = kith(capsys, data, "bridge", "actors", "--json")
    assert len(items) == 1


def test_the_queue_reads_the_data_folder_alone_and_its_errors_say_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``kith bridge queue`` needs no bridge settings (an operator looking at a bridge whose settings are wrong
    still sees what it left waiting); an empty queue says so; a folder that is not a node, one whose server
    database went missing (no empty database is made in its place) and a block of something that is not a DID
    are one line each that says what to do."""
    data = tmp_path / "node"
    assert main(["--data", str(data), "init", "--username", "operator"]) == 0
    capsys.readouterr()
    code, queue, _ = kith(capsys, data, "bridge", "queue", "--json")
    assert code == 0 and queue == {
        "hosts": [],
        "waiting": 0,
        "in_flight": 0,
        "failed": 0,
        "dead": 0,
        "oldest_waiting_seconds": None,
        "open_circuits": [],
    }
    code, out, _ = kith(capsys, data, "bridge", "queue")
    assert code == 0 and out.strip() == "the bridge has no deliveries waiting, in flight, failed or dead"

    code, _, err = kith(capsys, tmp_path / "nowhere", "bridge", "queue")
    assert code == 1 and err.startswith("kith: no Kith node") and "init" in err and "Traceback" not in err
    (data / "server.sqlite3").rename(data / "kept.sqlite3")
    for command in (("queue",), ("status",), ("actors",), ("unblock", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")):
        code, _, err = kith(capsys, data, "bridge", *command)
        assert code == 1 and "server.sqlite3 is missing" in err and "kith restore" in err, (command, err)
        assert err.count("\n") == 1 and not (data / "server.sqlite3").exists()
    for not_a_did in ("https://not.a.did/", "did:key:z6Mk", "did:plc:" + "a" * 300):
        code, _, err = kith(capsys, data, "bridge", "block", not_a_did)
        assert code == 1 and err.count("\n") == 1 and "is not a DID" in err and "kith bridge actors" in err
