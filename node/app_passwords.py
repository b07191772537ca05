"""App passwords: what an address book app (iOS Contacts, DAVx5, Thunderbird) signs in to CardDAV with.

Rules kept:
- One password per app, named by the owner (`kith app-password add phone`), shown once, stored only as an scrypt
  hash with the web password's cost (node/web/sessions.py), in the account's own database. Never the owner
  token or the web password: losing a phone costs one revocation, not the account.
- 160 random bits, in groups a person can type into a phone.
- A check costs an scrypt (tens of milliseconds, off the event loop). A phone sends the password with every
  request of a sync, so a password that checked out is remembered for a while by an HMAC of it under a key that
  lives only in this process's memory, together with the stored hash it matched: revoking or replacing the
  password ends it at once (the hashes are read again on every request, one indexed read).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import time
from collections import OrderedDict

from node.errors import BadInput
from node.store import GraphStore
from node.web.sessions import hash_password, verify_password

__all__ = ["NAME_PATTERN", "AppPasswords", "add_app_password", "check_name", "new_password"]

NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
_REMEMBER_SECONDS = 600.0
_REMEMBERED = 4096


def check_name(name: str) -> str:
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        raise BadInput(
            "an app password's name is 1-64 letters, digits, '.', '_' or '-' (e.g. phone, ipad, thunderbird)",
            field="name",
        )
    return name


def new_password() -> str:
    """Five groups of six characters from an alphabet without look-alikes (30 × log2(31) ≈ 149 bits)."""
    alphabet = "abcdefghijkmnpqrstuvwxyz2345679"
    raw = "".join(secrets.choice(alphabet) for _ in range(30))
    return "-".join(raw[i : i + 6] for i in range(0, 30, 6))


async def add_app_password(store: GraphStore, name: str, now: str) -> str:
    """Make the app password ``name`` in this account; returns the password (shown once, never stored)."""
    check_name(name)
    password = new_password()
    hashed = await asyncio.get_running_loop().run_in_executor(None, hash_password, password)
    await store.dav.add_password(name, hashed, now)
    return password


class AppPasswords:
    """The server's checks of app passwords, across accounts (each account's hashes are in its own store)."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        # (account pk, HMAC of the password) -> (app password name, the stored hash it matched, when)
        self._ok: OrderedDict[tuple[int, bytes], tuple[str, str, float]] = OrderedDict()

    async def add(self, store: GraphStore, name: str, now: str) -> str:
        return await add_app_password(store, name, now)

    async def check(
        self, account_pk: int, store: GraphStore, password: str, *, remembered_only: bool = False
    ) -> tuple[str, bool] | None:
        """(the name of the app password ``password`` is, whether it was checked afresh rather than remembered),
        or None. ``remembered_only``: run no scrypt, answer only from what was checked recently."""
        if not password or len(password) > 1024:
            return None
        stored = await store.dav.password_hashes()
        if not stored:
            return None
        mark = hmac.new(self._key, password.encode("utf-8", "replace"), hashlib.sha256).digest()
        hit = self._ok.get((account_pk, mark))
        if hit is not None and time.monotonic() - hit[2] < _REMEMBER_SECONDS and (hit[0], hit[1]) in stored:
            return hit[0], False
        if remembered_only:
            return None
        loop = asyncio.get_running_loop()
        for name, hashed in stored:
            if await loop.run_in_executor(None, verify_password, password, hashed):
                self._ok[(account_pk, mark)] = (name, hashed, time.monotonic())
                while len(self._ok) > _REMEMBERED:
                    self._ok.popitem(last=False)
                return name, True
        return None
