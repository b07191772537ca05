"""Session-wide loopback servers (dovecot, Radicale) for the capture tests; each test takes its own mailbox or
calendar user from them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.capture.servers import Dovecot, Radicale, start_dovecot, start_radicale


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    server = start_dovecot()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def radicale() -> Iterator[Radicale]:
    server = start_radicale()
    try:
        yield server
    finally:
        server.stop()
