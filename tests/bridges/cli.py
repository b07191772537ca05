"""`kith` run in-process on a real node folder, as a user runs it: the return code and what it printed. An
exception leaving ``main`` (a traceback the user would see) fails the test that caused it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from node.cli import main


class Kith:
    def __init__(self, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.data = data
        self.capsys = capsys
        assert main(["--data", str(data), "init", "--username", "me"]) == 0
        capsys.readouterr()

    def __call__(self, *args: str | Path) -> tuple[int, str, str]:
        code = main(["--data", str(self.data), *map(str, args)])
        out, err = self.capsys.readouterr()
        return code, out, err

    def json(self, *args: str | Path) -> Any:
        code, out, err = self(*args, "--json")
        assert code == 0, err
        return json.loads(out)

    def people(self) -> list[dict[str, Any]]:
        doc = self.json("people", "list", "--limit", "500")
        items: list[dict[str, Any]] = doc["items"]
        return items


@pytest.fixture
def kith(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Kith:
    return Kith(tmp_path / "node", capsys)
