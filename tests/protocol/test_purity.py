"""protocol/ performs no I/O and has no clock or randomness of its own (docs/ARCHITECTURE.md §2 and §3.1).

Walks the AST of every module in protocol/: forbidden imports and forbidden calls fail the test, naming the
file and line. protocol/keys.py may draw randomness, because generating a key is its job.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PROTOCOL = Path(__file__).resolve().parents[2] / "protocol"

FORBIDDEN_MODULES = {
    "asyncio",
    "aiohttp",
    "aiosqlite",
    "sqlite3",
    "socket",
    "ssl",
    "requests",
    "httpx",
    "urllib.request",
    "http.client",
    "subprocess",
    "federation",
    "node",
    "bridges",
}
RANDOM_MODULES = {"random", "secrets"}
# Dotted call names (as written, after resolving `from x import y` aliases) that read the clock, the disk or
# the OS entropy pool.
FORBIDDEN_CALLS = {
    "open",
    "io.open",
    "time.time",
    "time.time_ns",
    "time.monotonic",
    "time.perf_counter",
    "datetime.now",
    "datetime.utcnow",
    "datetime.today",
    "date.today",
    "datetime.datetime.now",
    "datetime.datetime.utcnow",
    "datetime.date.today",
    "os.urandom",
    "os.getrandom",
    "uuid.uuid1",
    "uuid.uuid4",
    "pathlib.Path.read_text",
    "Path.read_text",
    "Path.read_bytes",
    "Path.open",
}
ALLOW_RANDOMNESS = {"keys.py"}


def _modules() -> list[Path]:
    return sorted(PROTOCOL.rglob("*.py"))


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(aliases.get(node.id, node.id))
    return ".".join(reversed(parts))


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    allow_random = path.name in ALLOW_RANDOMNESS
    found: list[str] = []
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            for alias in node.names:
                names.append(alias.name)
                aliases[alias.asname or alias.name.split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0]
                )
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            for alias in node.names:
                names.append(f"{node.module}.{alias.name}")
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        for name in names:
            root = name.split(".")[0]
            if root in FORBIDDEN_MODULES or name in FORBIDDEN_MODULES:
                found.append(f"{path.name}:{getattr(node, 'lineno', 0)} imports {name}")
            if root in RANDOM_MODULES and not allow_random:
                found.append(f"{path.name}:{getattr(node, 'lineno', 0)} imports {name} (randomness)")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            called = _dotted(node.func, aliases)
            if called is None:
                continue
            short = ".".join(called.split(".")[-2:])
            if called in FORBIDDEN_CALLS or short in FORBIDDEN_CALLS:
                if allow_random and called in {"os.urandom", "os.getrandom"}:
                    continue
                found.append(f"{path.name}:{node.lineno} calls {called}()")
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PROTOCOL)))
def test_protocol_module_is_pure(path: Path) -> None:
    assert _violations(path) == []


def test_the_checker_catches_what_it_should(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import asyncio\nfrom datetime import datetime\nimport os\nfrom node import store\nimport random\n"
        "def f():\n    open('x')\n    datetime.now()\n    os.urandom(4)\n    random.random()\n",
        encoding="utf-8",
    )
    found = "\n".join(_violations(bad))
    for expected in (
        "imports asyncio",
        "imports node",
        "randomness",
        "calls open()",
        "datetime.datetime.now",
        "os.urandom",
    ):
        assert expected in found
