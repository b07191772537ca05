"""The graph store's contract, part two: the read side of staying in touch (who is due, who is fading, the
Dunbar layers) and search (docs/ARCHITECTURE.md §1). Every method is one consistent read.

Search behaviour every backend keeps (tests/node/store/contract/test_search.py):
- The owner's text is words, never a query language: every word must match, each as a prefix, case and accents
  as the backend folds them; punctuation and operators from outside are only separators. A pasted address
  (``acct:``, ``mailto:``, ``https://``...) matches with or without its scheme. Empty text finds nobody.
- Names, organisation and title, identities and notes are searched; merged people never appear, archived ones
  only when asked for.
- Better matches first (a name match before a note match); among equals, the stronger tie first; then a fixed
  order, so pages never disagree. Pages are uncounted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from node.models import FadingEntry, LayerReport, Page

__all__ = ["LAYERS", "Insights"]

#: Dunbar-style layers by the cadence the owner keeps with people: (name, cadence at most, budget). Budgets are
#: cumulative (the 15 include the 5), following Dunbar's nested layers of about 5, 15, 50 and 150.
LAYERS = (
    ("support clique", 7, 5),
    ("sympathy group", 30, 15),
    ("close network", 90, 50),
    ("active network", 365, 150),
)


class Insights(Protocol):
    async def due(self, *, until: datetime, now: datetime, offset: int, limit: int) -> Page:
        """Active people due by ``until`` (node.models.DueEntry), soonest first, each with how many days
        overdue they are at ``now``; uncounted."""
        ...

    async def fading(self, *, recent_start: datetime, past_start: datetime, limit: int) -> list[FadingEntry]:
        """Active people whose interactions since ``recent_start`` (the graph: 90 days ago) fell below 40% of
        their rate per quarter between ``past_start`` (a year before that) and ``recent_start``, who had at
        least 4 then; the steepest fall first."""
        ...

    async def layers(self) -> list[LayerReport]:
        """How many active people each of LAYERS holds by their effective cadence, against its budget."""
        ...

    async def search(
        self,
        text: str,
        *,
        circle: str | None,
        due_until: datetime | None,
        include_archived: bool,
        now: datetime,
        offset: int,
        limit: int,
    ) -> Page:
        """People matching ``text`` (the module's rules), in ``circle`` and due by ``due_until`` when given,
        each with their tie strength at ``now``."""
        ...
