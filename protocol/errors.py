"""One exception tree for the protocol layer, split by who is at fault.

    KithError
    ├── LocalError            we (or our caller) asked for something invalid: a bug or bad owner input
    │   ├── InvalidRecord         a record that cannot exist (fails its own validation)
    │   └── IllegalTransition     a lifecycle step the transition table does not declare
    └── RemoteError           the peer, the request or the file is at fault
        ├── MalformedInput        unparseable or structurally wrong input
        │   ├── UnknownContext        a JSON-LD context we do not ship
        │   └── TooLarge              over a size or depth limit
        ├── SignatureError        a wire signature is missing, malformed, stale or does not verify
        │   └── DigestMismatch        the body does not match its Digest / Content-Digest
        ├── ProofError            a Data Integrity proof is missing or does not verify
        ├── OriginMismatch        key owner, actor and ids do not share an origin
        └── CanonicalizationLimit RDF canonicalisation exceeded its work limit (a poisoned graph)

Every error carries ``status_hint``, the HTTP status the edge should answer with. The edge turns errors into
status codes in exactly one place; nothing below it knows about HTTP.
"""

from __future__ import annotations

__all__ = [
    "CanonicalizationLimit",
    "DigestMismatch",
    "IllegalTransition",
    "InvalidRecord",
    "KithError",
    "LocalError",
    "MalformedInput",
    "OriginMismatch",
    "ProofError",
    "RemoteError",
    "SignatureError",
    "TooLarge",
    "UnknownContext",
]


class KithError(Exception):
    """Root of the tree. ``field`` names the offending field where there is one."""

    status_hint: int = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class LocalError(KithError, ValueError):
    status_hint = 400


class InvalidRecord(LocalError):
    status_hint = 400


class IllegalTransition(LocalError):
    status_hint = 409


class RemoteError(KithError, ValueError):
    status_hint = 400


class MalformedInput(RemoteError):
    status_hint = 400


class UnknownContext(MalformedInput):
    status_hint = 400


class TooLarge(MalformedInput):
    status_hint = 413


class SignatureError(RemoteError):
    status_hint = 401


class DigestMismatch(SignatureError):
    status_hint = 401


class ProofError(RemoteError):
    status_hint = 401


class OriginMismatch(RemoteError):
    status_hint = 403


class CanonicalizationLimit(RemoteError):
    status_hint = 400
