"""Federation's errors, grafted onto the protocol tree (protocol/errors.py) so that one edge maps them all.

KithError
├── LocalError
│   ├── NotFound                  an owner asked about an address or id we cannot find (404)
│   └── Gone                      the actor was deleted: nothing more is done as it (410)
└── RemoteError
    ├── FetchError                an outbound request failed (502 at the edge)
    │   ├── FetchBlocked              the address is private/special, the scheme is not allowed,
    │   │                             or too many redirects: we refuse to connect
    │   ├── FetchTooLarge             the answer exceeded the size limit while streaming
    │   ├── FetchTimeout              connect or total timeout
    │   ├── FetchStatus               the peer answered with an error status (``status``)
    │   ├── FetchContentType          the answer is not the type we asked for
    │   └── FetchBudgetExceeded       one activity caused more fetches than allowed
    ├── Blocked                   the actor or its domain is blocked (403; missing and forbidden alike)
    ├── RateLimited               a peer host sends faster than we take (503 with ``retry_after``)
    └── UnsupportedMedia          an inbox POST that is not ActivityStreams JSON (415)
"""

from __future__ import annotations

from protocol.errors import LocalError, RemoteError

__all__ = [
    "Blocked",
    "FetchBlocked",
    "FetchBudgetExceeded",
    "FetchContentType",
    "FetchError",
    "FetchStatus",
    "FetchTimeout",
    "FetchTooLarge",
    "Gone",
    "NotFound",
    "RateLimited",
    "UnsupportedMedia",
]


class NotFound(LocalError):
    status_hint = 404


class Gone(LocalError):
    status_hint = 410


class FetchError(RemoteError):
    status_hint = 502


class FetchBlocked(FetchError):
    status_hint = 502


class FetchTooLarge(FetchError):
    status_hint = 502


class FetchTimeout(FetchError):
    status_hint = 504


class FetchStatus(FetchError):
    def __init__(self, message: str, *, status: int, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class FetchContentType(FetchError):
    status_hint = 502


class FetchBudgetExceeded(FetchError):
    status_hint = 502


class Blocked(RemoteError):
    status_hint = 403


class RateLimited(RemoteError):
    status_hint = 503

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UnsupportedMedia(RemoteError):
    status_hint = 415
