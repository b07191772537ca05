"""node.keys: the server's key file and each account's keys in the server database, loaded back, protected by a
passphrase, with clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from node.config import load_config
from node.keys import ActorKeys, KeyError_, load_node_key
from node.server import Server
from tests.conftest import run_cli


def _public(key: object) -> bytes:
    return key.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


async def test_init_keys_load_back(data_dir: Path) -> None:
    node = load_node_key(data_dir, None)
    assert (data_dir / "keys" / "node-rsa.pem").stat().st_mode & 0o777 == 0o600
    assert (data_dir / "keys").stat().st_mode & 0o777 == 0o700
    assert not list((data_dir / "keys").glob("*.tmp"))
    server = await Server.open(load_config(data_dir, env={}))
    try:
        alice = await server.actor_keys(await server.resolve("alice"))
        assert _public(alice.rsa) != _public(node)
        ring = await server.keyring(await server.resolve("alice"))
        assert _public(ring.owner_rsa) == _public(alice.rsa) and _public(ring.node_rsa) == _public(node)
    finally:
        await server.close()


def test_passphrase_round_trip_and_errors() -> None:
    keys = ActorKeys.generate()
    pems = keys.to_pems("correct horse")
    assert all("ENCRYPTED" in pem for pem in pems.values())
    again = ActorKeys.from_pems(pems, "correct horse", account="alice")
    assert _public(again.ed25519) == _public(keys.ed25519)
    with pytest.raises(KeyError_, match="KITH_PASSPHRASE"):
        ActorKeys.from_pems(pems, None, account="alice")
    with pytest.raises(KeyError_, match="alice"):
        ActorKeys.from_pems(pems, "wrong", account="alice")
    with pytest.raises(KeyError_, match="no keys"):
        ActorKeys.from_pems({"rsa": pems["rsa"]}, "correct horse", account="alice")
    swapped = {"rsa": keys.to_pems(None)["ed25519"], "ed25519": keys.to_pems(None)["rsa"]}
    with pytest.raises(KeyError_, match="wrong type"):
        ActorKeys.from_pems(swapped, None, account="alice")


def test_missing_and_damaged_node_key(data_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(data_dir, copy)
    (copy / "keys" / "node-rsa.pem").write_text("-----BEGIN PRIVATE KEY-----\nnonsense\n")
    with pytest.raises(KeyError_, match=r"node-rsa\.pem"):
        load_node_key(copy, None)
    (copy / "keys" / "node-rsa.pem").unlink()
    with pytest.raises(KeyError_, match="kith init"):
        load_node_key(copy, None)


def test_serve_with_encrypted_keys_needs_the_passphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KITH_PASSPHRASE", "s3cret")
    folder = tmp_path / "enc"
    result = run_cli("--data", folder, "init", "--username", "enc")
    assert result.code == 0, result.err
    assert "encrypted with KITH_PASSPHRASE" in result.out
    added = run_cli("--data", folder, "account", "add", "second")
    assert added.code == 0, added.err
    monkeypatch.delenv("KITH_PASSPHRASE")
    served = run_cli("--data", folder, "serve", "--port", "0")
    assert served.code == 1
    (line,) = served.err.strip().splitlines()
    assert "KITH_PASSPHRASE" in line
    refused = run_cli("--data", folder, "account", "add", "third")
    assert refused.code == 1 and "KITH_PASSPHRASE" in refused.err
