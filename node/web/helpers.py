"""Small helpers the views share: form fields, names for ids, and the template filters."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import UTC, datetime

from node.errors import BadInput, NotFound
from node.graph import Graph
from node.web.framework import Form

__all__ = ["FILTERS", "ago", "field", "names_for", "short_date"]


def field(form: Form, name: str, *, limit: int = 10_000) -> str:
    """A text field of a form ("" when absent); files and oversized values are refused with a clear message."""
    value = form.get(name, "")
    if not isinstance(value, str):
        raise BadInput(f"{name} must be text", field=name)
    if len(value) > limit:
        raise BadInput(f"{name} is longer than {limit} characters", field=name)
    return value.strip()


async def names_for(graph: Graph, ids: Iterable[str], *, limit: int = 100) -> dict[str, str]:
    """Display names for person ids (merged and deleted people included where they still exist)."""
    names: dict[str, str] = {}
    for pid in list(dict.fromkeys(ids))[:limit]:
        with contextlib.suppress(NotFound):
            names[pid] = (await graph.get_person(pid)).display_name
    return names


def _parse(value: str | float | None) -> datetime | None:
    """ISO-8601 text (the graph) or epoch seconds (federation's rows)."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def ago(value: str | float | None, now: datetime | None = None) -> str:
    """'3 days ago', 'in 2 weeks', 'today'... for ISO times; '' for none."""
    moment = _parse(value)
    if moment is None:
        return ""
    days = ((now or datetime.now(UTC)) - moment).total_seconds() / 86400
    future, days = days < 0, abs(days)
    if days < 1:
        return "today"
    for size, unit in ((365, "year"), (30, "month"), (7, "week"), (1, "day")):
        if days >= size:
            n = int(days // size)
            text = f"{n} {unit}{'s' if n != 1 else ''}"
            return f"in {text}" if future else f"{text} ago"
    return "today"


def short_date(value: str | float | None) -> str:
    moment = _parse(value)
    return moment.strftime("%Y-%m-%d") if moment else str(value or "")


FILTERS = {"ago": ago, "short_date": short_date}
