"""The node's exception tree. The owner API turns these into status codes in exactly one place (node/api.py).

    NodeError
    ├── BadInput      400  a field is missing or invalid (``field`` names it)
    ├── Unauthorized  401  no or wrong owner token
    ├── NotFound      404  also used for "exists but not yours": missing and forbidden look the same
    ├── Conflict      409  e.g. an identity already belongs to another person
    └── TooLarge      413

protocol.errors.LocalError/RemoteError carry their own status hints and are mapped the same way.
"""

from __future__ import annotations

__all__ = ["BadInput", "Conflict", "NodeError", "NotFound", "TooLarge", "Unauthorized"]


class NodeError(Exception):
    status_hint = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class BadInput(NodeError, ValueError):
    status_hint = 400


class Unauthorized(NodeError):
    status_hint = 401


class NotFound(NodeError, LookupError):
    status_hint = 404


class Conflict(NodeError):
    status_hint = 409


class TooLarge(NodeError):
    status_hint = 413
