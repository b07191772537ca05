"""Every template compiles (a syntax error would otherwise surface only when its page is first shown)."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from node.web.helpers import FILTERS

TEMPLATES = Path(__file__).resolve().parents[2] / "node" / "web" / "templates"


@pytest.mark.parametrize("name", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_template_compiles(name: str) -> None:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True)
    env.filters.update(FILTERS)
    env.get_template(name)
