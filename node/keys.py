"""Private keys: each account actor's pair, and the server's own Application actor key.

- An account's ``rsa`` (RSA-2048) is its actor's ``publicKey`` and signs HTTP requests made on its behalf; its
  ``ed25519`` is its ``assertionMethod`` Multikey and signs records (FEP-8b32 proofs). Both live in the server
  database (``account_key``) as PEM, encrypted with the server's passphrase when it has one.
- ``node_rsa`` (RSA-2048) is the server's Application actor's key, which signs fetches (Mastodon's instance-actor
  pattern); it lives in ``keys/node-rsa.pem`` in the data folder.

Generation and PEM handling are protocol/keys.py's; this module decides where keys live and writes files
atomically (a kill mid-write leaves the old key or the new one, never half of one).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from protocol.errors import LocalError
from protocol.keys import generate_ed25519_key, generate_rsa_key, load_private_key_pem, private_key_to_pem

__all__ = [
    "LEGACY_OWNER_FILES",
    "NODE_KEY_FILE",
    "ActorKeys",
    "KeyError_",
    "KeyRing",
    "load_node_key",
    "save_node_key",
    "write_private_file",
]

NODE_KEY_FILE = "node-rsa.pem"
#: Where a node made before accounts kept its owner's keys (node/upgrade.py moves them into the database).
LEGACY_OWNER_FILES = {"rsa": "owner-rsa.pem", "ed25519": "owner-ed25519.pem"}


class KeyError_(ValueError):
    """The keys are missing, damaged, or need a (different) passphrase."""


def _hint(message: str) -> str:
    return " (set KITH_PASSPHRASE to the server's passphrase)" if "passphrase" in message else ""


def _load(pem: bytes, passphrase: str | None, where: str, *, validate: bool = True) -> object:
    try:
        return load_private_key_pem(pem, passphrase, validate=validate)
    except LocalError as exc:
        raise KeyError_(f"{where}: {exc.message}{_hint(exc.message)}") from None


@dataclass(frozen=True, slots=True)
class ActorKeys:
    """One account actor's private keys."""

    rsa: rsa.RSAPrivateKey
    ed25519: ed25519.Ed25519PrivateKey

    @classmethod
    def generate(cls) -> ActorKeys:
        return cls(rsa=generate_rsa_key(), ed25519=generate_ed25519_key())

    def to_pems(self, passphrase: str | None) -> dict[str, str]:
        return {
            "rsa": private_key_to_pem(self.rsa, passphrase),
            "ed25519": private_key_to_pem(self.ed25519, passphrase),
        }

    @classmethod
    def from_pems(
        cls, pems: Mapping[str, str], passphrase: str | None, *, account: str, validate: bool = True
    ) -> ActorKeys:
        """``validate=False``: keys the server made and keeps itself (protocol.keys.load_private_key_pem)."""
        if set(pems) != {"rsa", "ed25519"}:
            raise KeyError_(f"account {account} has no keys; restore them from a backup")
        rsa_key = _load(pems["rsa"].encode(), passphrase, f"account {account}'s RSA key", validate=validate)
        ed_key = _load(pems["ed25519"].encode(), passphrase, f"account {account}'s Ed25519 key")
        if not isinstance(rsa_key, rsa.RSAPrivateKey) or not isinstance(ed_key, ed25519.Ed25519PrivateKey):
            raise KeyError_(f"account {account} holds keys of the wrong type; restore them from a backup")
        return cls(rsa=rsa_key, ed25519=ed_key)


@dataclass(frozen=True, slots=True)
class KeyRing:
    """What federation signs with on an account's behalf: the account's keys and the server's fetch key."""

    owner_rsa: rsa.RSAPrivateKey
    owner_ed25519: ed25519.Ed25519PrivateKey
    node_rsa: rsa.RSAPrivateKey

    @classmethod
    def of(cls, actor: ActorKeys, node_rsa: rsa.RSAPrivateKey) -> KeyRing:
        return cls(owner_rsa=actor.rsa, owner_ed25519=actor.ed25519, node_rsa=node_rsa)

    @classmethod
    def generate(cls) -> KeyRing:
        return cls.of(ActorKeys.generate(), generate_rsa_key())

    @property
    def actor(self) -> ActorKeys:
        return ActorKeys(rsa=self.owner_rsa, ed25519=self.owner_ed25519)


def write_private_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only, atomically and durably."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def save_node_key(data_dir: Path, key: rsa.RSAPrivateKey, passphrase: str | None) -> None:
    write_private_file(data_dir / "keys" / NODE_KEY_FILE, private_key_to_pem(key, passphrase))


def load_node_key(data_dir: Path, passphrase: str | None) -> rsa.RSAPrivateKey:
    path = data_dir / "keys" / NODE_KEY_FILE
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        raise KeyError_(f"{path} is missing; run `kith init` to create the server's keys") from None
    key = _load(pem, passphrase, str(path))
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyError_(f"{path} holds a key of the wrong type; restore it from a backup")
    return key
