"""The node's private keys, kept in the data folder (encrypted at rest when the owner sets a passphrase).

- ``owner_rsa``: RSA-2048, the owner actor's ``publicKey``, signs HTTP requests made on the owner's behalf.
- ``owner_ed25519``: Ed25519, the owner's ``assertionMethod`` Multikey, signs records (FEP-8b32 proofs).
- ``node_rsa``: RSA-2048, the node's own Application actor, signs fetches (Mastodon's instance-actor pattern).

Generation and PEM handling are protocol/keys.py's; this module only decides where the files live and writes
them atomically (a kill mid-write leaves the old key or the new one, never half of one).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from protocol.errors import LocalError
from protocol.keys import generate_ed25519_key, generate_rsa_key, load_private_key_pem, private_key_to_pem

__all__ = ["KeyError_", "KeyRing"]

_FILES = {"owner_rsa": "owner-rsa.pem", "owner_ed25519": "owner-ed25519.pem", "node_rsa": "node-rsa.pem"}


class KeyError_(ValueError):
    """The key files are missing, damaged, or need a (different) passphrase."""


@dataclass(frozen=True, slots=True)
class KeyRing:
    owner_rsa: rsa.RSAPrivateKey
    owner_ed25519: ed25519.Ed25519PrivateKey
    node_rsa: rsa.RSAPrivateKey

    @classmethod
    def generate(cls) -> KeyRing:
        return cls(
            owner_rsa=generate_rsa_key(), owner_ed25519=generate_ed25519_key(), node_rsa=generate_rsa_key()
        )

    def save(self, data_dir: Path, passphrase: str | None) -> None:
        """Write the key files (0600); also how the passphrase is changed, set or removed."""
        folder = data_dir / "keys"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        for attr, name in _FILES.items():
            pem = private_key_to_pem(getattr(self, attr), passphrase)
            tmp = folder / (name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(pem)
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(folder / name)

    @classmethod
    def load(cls, data_dir: Path, passphrase: str | None) -> KeyRing:
        loaded: dict[str, object] = {}
        for attr, name in _FILES.items():
            path = data_dir / "keys" / name
            try:
                pem = path.read_bytes()
            except FileNotFoundError:
                raise KeyError_(f"{path} is missing; run `kith init` to create the node's keys") from None
            try:
                loaded[attr] = load_private_key_pem(pem, passphrase)
            except LocalError as exc:
                hint = (
                    " (set KITH_PASSPHRASE to the passphrase given at `kith init`)"
                    if "passphrase" in exc.message
                    else ""
                )
                raise KeyError_(f"{path}: {exc.message}{hint}") from None
        owner_rsa, owner_ed, node_rsa = loaded["owner_rsa"], loaded["owner_ed25519"], loaded["node_rsa"]
        if not (
            isinstance(owner_rsa, rsa.RSAPrivateKey)
            and isinstance(owner_ed, ed25519.Ed25519PrivateKey)
            and isinstance(node_rsa, rsa.RSAPrivateKey)
        ):
            raise KeyError_(f"{data_dir / 'keys'} holds keys of the wrong type; restore them from a backup")
        return cls(owner_rsa=owner_rsa, owner_ed25519=owner_ed, node_rsa=node_rsa)
