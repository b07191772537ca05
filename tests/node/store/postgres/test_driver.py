"""The driver is an optional extra: a Kith without psycopg runs on SQLite, and asked for PostgreSQL says which
extra to install instead of failing with an ImportError (node/store/postgres/driver.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]

_WITHOUT_PSYCOPG = """
import sys
sys.modules["psycopg"] = None  # as if it were not installed: importing it raises ImportError
sys.modules["psycopg_pool"] = None
from node.config import ConfigError, load_config
from node.store.factory import check_storage
from pathlib import Path
folder = Path(sys.argv[1])
check_storage(load_config(folder, env={}))  # SQLite needs nothing of it
try:
    check_storage(load_config(folder, env={"KITH_STORAGE_URL": "postgresql://kith:pw@db.example/kith"}))
except ConfigError as exc:
    print(exc)
"""


def test_without_psycopg_postgresql_is_refused_naming_the_extra(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_PSYCOPG, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "kith[postgres]" in result.stdout and "psycopg" in result.stdout
    assert "pw" not in result.stdout
