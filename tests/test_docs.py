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


_SOURCE_DIRS = ("node", "federation", "protocol", "bridges", "specs", "tests", "bench", "scripts", "docs")


def _project_texts() -> list[tuple[Path, str]]:
    out = []
    for folder in _SOURCE_DIRS:
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in {".py", ".md", ".sql", ".toml"} and path.is_file():
                out.append((path, path.read_text(encoding="utf-8")))
    out.append((ROOT / "README.md", (ROOT / "README.md").read_text(encoding="utf-8")))
    return out


def test_code_cites_only_documents_the_repository_holds() -> None:
    """Comments and docs cite the project's own pages (docs/, specs/), never a file outside the repository."""
    import re

    cited = re.compile(r"\b((?:docs|specs)/[A-Za-z0-9_./-]+\.md)\b")
    outside = re.compile(r"(?<![/\w])(DESIGN|STYLE|FORMATS)\.md")
    missing, foreign = [], []
    for path, text in _project_texts():
        if path.name == "test_docs.py":
            continue
        missing += [f"{path.relative_to(ROOT)}: {m}" for m in cited.findall(text) if not (ROOT / m).is_file()]
        foreign += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in outside.finditer(text)]
    assert not foreign, f"cites documents that are not in the repository: {foreign}"
    assert not missing, f"cites documents that do not exist: {missing}"
