"""node.keys: key files written by `kith init`, loaded back, protected by a passphrase, clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from node.keys import KeyError_, KeyRing
from tests.conftest import run_cli


def _public(key: object) -> bytes:
    return key.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_init_keys_load_back(data_dir: Path) -> None:
    ring = KeyRing.load(data_dir, None)
    for name in ("owner-rsa.pem", "owner-ed25519.pem", "node-rsa.pem"):
        path = data_dir / "keys" / name
        assert path.stat().st_mode & 0o777 == 0o600
    assert (data_dir / "keys").stat().st_mode & 0o777 == 0o700
    assert _public(ring.owner_rsa) != _public(ring.node_rsa)
    assert not list((data_dir / "keys").glob("*.tmp"))


def test_passphrase_round_trip_and_errors(data_dir: Path, tmp_path: Path) -> None:
    ring = KeyRing.load(data_dir, None)
    copy = tmp_path / "copy"
    shutil.copytree(data_dir, copy)
    ring.save(copy, "correct horse")
    assert b"ENCRYPTED" in (copy / "keys" / "owner-rsa.pem").read_bytes()
    again = KeyRing.load(copy, "correct horse")
    assert _public(again.owner_ed25519) == _public(ring.owner_ed25519)
    with pytest.raises(KeyError_) as info:
        KeyRing.load(copy, None)
    assert "KITH_PASSPHRASE" in str(info.value)
    with pytest.raises(KeyError_) as info:
        KeyRing.load(copy, "wrong")
    assert "owner-rsa.pem" in str(info.value) or "owner-ed25519.pem" in str(info.value)
    # Removing the passphrase again.
    again.save(copy, None)
    assert _public(KeyRing.load(copy, None).node_rsa) == _public(ring.node_rsa)


def test_missing_and_damaged_key_files(data_dir: Path) -> None:
    (data_dir / "keys" / "node-rsa.pem").write_text("-----BEGIN PRIVATE KEY-----\nnonsense\n")
    with pytest.raises(KeyError_) as info:
        KeyRing.load(data_dir, None)
    assert "node-rsa.pem" in str(info.value)
    (data_dir / "keys" / "node-rsa.pem").unlink()
    with pytest.raises(KeyError_) as info:
        KeyRing.load(data_dir, None)
    assert "kith init" in str(info.value)
    # A swapped key type is refused too.
    shutil.copy(data_dir / "keys" / "owner-ed25519.pem", data_dir / "keys" / "node-rsa.pem")
    with pytest.raises(KeyError_) as info:
        KeyRing.load(data_dir, None)
    assert "wrong type" in str(info.value)


def test_serve_with_encrypted_keys_needs_the_passphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KITH_PASSPHRASE", "s3cret")
    folder = tmp_path / "enc"
    result = run_cli("--data", folder, "init", "--username", "enc")
    assert result.code == 0, result.err
    assert "encrypted with KITH_PASSPHRASE" in result.out
    monkeypatch.delenv("KITH_PASSPHRASE")
    served = run_cli("--data", folder, "serve", "--port", "0")
    assert served.code == 1
    (line,) = served.err.strip().splitlines()
    assert "KITH_PASSPHRASE" in line
