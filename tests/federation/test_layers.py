"""The layer rules of docs/ARCHITECTURE.md §2 that federation's ports exist for (issue #13, "Contracts").

federation/ never imports node/ or bridges/ (it declares what it needs in federation/ports.py and node wires it
in), and nothing outside the storage package (node/store/) imports a database driver. Walks the AST of every
module, so an import inside a function or under TYPE_CHECKING counts as well.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DRIVERS = {"sqlite3", "aiosqlite", "pysqlite3", "psycopg", "psycopg2", "asyncpg"}
STORAGE = ROOT / "node" / "store"


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _violations(path: Path, forbidden: set[str]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for line, name in _imports(path)
        if name.split(".")[0] in forbidden
    ]


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", _modules("federation"), ids=lambda p: str(p.relative_to(ROOT)))
def test_federation_does_not_import_node(path: Path) -> None:
    assert _violations(path, {"node", "bridges"} | DRIVERS) == []


def _outside_storage() -> list[Path]:
    return [
        p
        for folder in ("node", "federation", "protocol", "bridges")
        for p in _modules(folder)
        if STORAGE not in p.parents
    ]


@pytest.mark.parametrize("path", _outside_storage(), ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_storage_package_imports_a_database_driver(path: Path) -> None:
    assert _violations(path, DRIVERS) == []


def test_the_checker_sees_nested_and_type_checking_imports(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from node.server import Server\n"
        "def f():\n    import aiosqlite\n    from node import store\n",
        encoding="utf-8",
    )
    found = [name for _, name in _imports(bad)]
    assert {"node.server", "aiosqlite", "node"} <= set(found)
