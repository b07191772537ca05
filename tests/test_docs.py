"""The README's configuration table is generated from the config schema; keep them in step."""

from __future__ import annotations

from pathlib import Path

from node.config import config_table_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_readme_config_table_matches_schema() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("<!-- config-table:start -->") + len("<!-- config-table:start -->")
    end = text.index("<!-- config-table:end -->")
    assert text[start:end].strip() == config_table_markdown().strip(), (
        "README's configuration table is stale: paste the output of `kith config --table`"
    )


def test_readme_names_both_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "./scripts/start" in readme and "./scripts/check" in readme
    assert "./scripts/check" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
