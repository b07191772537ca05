"""The wire-signature modules stay pure (STYLE.md habit 1): no I/O, no clock, no randomness of their own.

Only ``protocol/keys.py`` may draw randomness, through ``cryptography``'s key generation (documented there).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PROTOCOL = Path(__file__).resolve().parents[2] / "protocol"
WIRE_MODULES = ("wire", "keys", "digest", "sfv", "cavage", "rfc9421")
FORBIDDEN_IMPORTS = {
    "asyncio", "aiohttp", "aiosqlite", "socket", "ssl", "http", "urllib.request", "requests", "httpx",
    "httpsig", "os", "subprocess", "time", "random", "secrets", "federation", "node", "bridges",
}  # fmt: skip
CLOCK_CALLS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter", "urandom", "token_bytes"}


@pytest.mark.parametrize("name", WIRE_MODULES)
def test_no_io_clock_or_randomness(name: str) -> None:
    tree = ast.parse((PROTOCOL / f"{name}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""]
        else:
            modules = []
        for module in modules:
            assert module.split(".")[0] not in FORBIDDEN_IMPORTS and module not in FORBIDDEN_IMPORTS, (
                f"protocol/{name}.py imports {module}"
            )
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            assert node.func.attr not in CLOCK_CALLS, f"protocol/{name}.py calls .{node.func.attr}()"
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "generate"
        ):
            assert name == "keys", f"protocol/{name}.py generates keys"
