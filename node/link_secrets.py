"""Credentials of linked silo accounts, sealed at rest when the owner has set a passphrase (docs/ARCHITECTURE.md §6).

Format of a sealed value: ``enc:v1:`` + URL-safe base64 of salt (16 bytes) ‖ nonce (12) ‖ AES-256-GCM
ciphertext of the credentials' JSON, with the key derived from the passphrase by scrypt (n=2^15, r=8, p=1) and
the source and account bound in as associated data, so that a sealed token cannot be moved to another link.
Without a passphrase the JSON is stored as it is and the caller warns the owner.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

__all__ = ["PREFIX", "SecretError", "is_sealed", "open_secret", "seal"]

PREFIX = "enc:v1:"
_N, _R, _P = 2**15, 8, 1


class SecretError(ValueError):
    """The stored credentials cannot be read: sealed without a passphrase given, or with another one."""


def _key(passphrase: str, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=_N, r=_R, p=_P).derive(passphrase.encode("utf-8"))


def _aad(source: str, account: str) -> bytes:
    return f"kith-link\x1f{source}\x1f{account}".encode()


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)


def seal(credentials: dict[str, Any], *, passphrase: str | None, source: str, account: str) -> str:
    plain = json.dumps(credentials, separators=(",", ":"), sort_keys=True)
    if not passphrase:
        return plain
    salt, nonce = os.urandom(16), os.urandom(12)
    box = AESGCM(_key(passphrase, salt)).encrypt(nonce, plain.encode(), _aad(source, account))
    return PREFIX + base64.urlsafe_b64encode(salt + nonce + box).decode("ascii")


def open_secret(stored: str, *, passphrase: str | None, source: str, account: str) -> dict[str, Any]:
    if not is_sealed(stored):
        data = json.loads(stored or "{}")
        if not isinstance(data, dict):
            raise SecretError(f"the {source} link's credentials are damaged; link the account again")
        return data
    if not passphrase:
        raise SecretError(f"the {source} link's token is encrypted: set KITH_PASSPHRASE to use it")
    try:
        raw = base64.urlsafe_b64decode(stored[len(PREFIX) :].encode("ascii"))
        salt, nonce, box = raw[:16], raw[16:28], raw[28:]
        plain = AESGCM(_key(passphrase, salt)).decrypt(nonce, box, _aad(source, account))
    except (InvalidTag, ValueError):
        raise SecretError(
            f"cannot decrypt the {source} link's token: wrong KITH_PASSPHRASE, or the value was damaged"
        ) from None
    data = json.loads(plain)
    if not isinstance(data, dict):
        raise SecretError(f"the {source} link's credentials are damaged; link the account again")
    return data
