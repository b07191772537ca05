"""Storage stays behind its contract (docs/ARCHITECTURE.md §2 and §6): only the storage package imports a
database driver, and above the storage engines nothing imports one of them: the rest of the code holds the
store's Protocols (node/store/*.py) and gets its stores from node/store/factory.py, the one place that knows
which engine runs.

Walks the AST of every module of the packages: ``import x``, ``from x import y`` (relative ones resolved),
``from node.store import sqlite``, and ``importlib.import_module("x")`` / ``__import__("x")`` with a literal
name. Each finding names the file, the line and what it imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("node", "federation", "protocol", "bridges")
#: Database drivers, today's and those the PostgreSQL backend may use.
DRIVERS = frozenset({"aiosqlite", "sqlite3", "pysqlite3", "psycopg", "psycopg2", "psycopg_pool", "asyncpg"})
STORE = ("node", "store")
#: The engines' own code: node/store/sqlite/ (federation's SQL among it: node/store/sqlite/federation.py), and
#: later node/store/postgres/.
ENGINE_PREFIXES = ("node.store.sqlite", "node.store.postgres")
#: The one module of the storage package that may reach the engines: it chooses one.
FACTORY = "node.store.factory"

# Imports waiting for work in progress elsewhere, each with the reason. Each entry must still be found (the test
# fails once it is gone, so that the entry is removed); do not add to this list.
PENDING: dict[str, set[str]] = {}


def _modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def _dotted(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imported(path: Path) -> list[tuple[int, list[str]]]:
    """(line, what it may import) for every import in ``path``: ``from a import b`` may import the module a
    or its submodule a.b, so both are named; the first one that breaks a rule is reported."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = _dotted(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found: list[tuple[int, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, [alias.name]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            found.append((node.lineno, [base, *(f"{base}.{alias.name}" for alias in node.names)]))
        elif isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            first = node.args[0] if node.args else None
            if name in ("import_module", "__import__") and isinstance(first, ast.Constant):
                found.append((node.lineno, [str(first.value)]))
    return found


def _is_engine(module: str) -> bool:
    return any(module == p or module.startswith((p + ".", p + "_")) for p in ENGINE_PREFIXES)


def _broken(me: str, module: str, *, in_store: bool, engine: bool) -> str | None:
    if module.split(".")[0] in DRIVERS:
        if not in_store:
            return f"imports the driver {module}"
        return None if engine else f"(the store's contract) imports the driver {module}"
    if _is_engine(module) and not engine and me != FACTORY:
        return f"imports the storage engine {module}"
    return None


def violations(path: Path) -> list[str]:
    me = _dotted(path)
    in_store = me == "node.store" or me.startswith("node.store.")
    engine = _is_engine(me) or (in_store and path.name.startswith("sqlite_"))
    found = []
    for line, candidates in imported(path):
        for module in candidates:
            what = _broken(me, module, in_store=in_store, engine=engine)
            if what is not None:
                found.append(f"{path.relative_to(ROOT)}:{line} {what}")
                break
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_storage_engines_touch_a_database(path: Path) -> None:
    rel = str(path.relative_to(ROOT))
    pending = PENDING.get(rel, set())
    left = [v for v in violations(path) if not any(v.endswith(f" {name}") for name in pending)]
    assert left == []
    for name in pending:
        assert any(v.endswith(f" {name}") for v in violations(path)), (
            f"{rel} no longer imports {name}: drop it"
        )


def test_the_checker_catches_what_it_should(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    for folder in ("node/store/sqlite", "bridges"):
        (tmp_path / folder).mkdir(parents=True)
    sneaky = tmp_path / "bridges" / "sneaky.py"
    sneaky.write_text(
        "import sqlite3 as s\nfrom aiosqlite import connect\nimport importlib\n"
        "importlib.import_module('psycopg')\n__import__('pysqlite3.dbapi2')\n"
        "from node.store import sqlite\nfrom node.store.sqlite.db import Database\nimport asyncpg.pool\n",
        encoding="utf-8",
    )
    said = "\n".join(violations(sneaky))
    for expected in (
        ":1 imports the driver sqlite3",
        ":2 imports the driver aiosqlite",
        ":4 imports the driver psycopg",
        ":5 imports the driver pysqlite3.dbapi2",
        ":6 imports the storage engine node.store.sqlite",
        ":7 imports the storage engine node.store.sqlite.db",
        ":8 imports the driver asyncpg.pool",
    ):
        assert expected in said
    contract = tmp_path / "node" / "store" / "people.py"
    contract.write_text("from .sqlite import rows\nimport aiosqlite\n", encoding="utf-8")
    said = "\n".join(violations(contract))
    assert ":1 imports the storage engine node.store.sqlite" in said and ":2 (the store's contract)" in said
    engine = tmp_path / "node" / "store" / "sqlite" / "people.py"
    engine.write_text("import aiosqlite\nfrom node.store.sqlite.rows import x\n", encoding="utf-8")
    assert violations(engine) == []
