"""Search, as every store must answer it (node/store/insights.py): names, organisations, identities and notes;
prefixes; ranking; filters; pages; hostile queries. SQLite's own ranking tiers: tests/node/store/sqlite/."""

from __future__ import annotations

import pytest

from node.errors import BadInput
from node.graph import Graph
from node.store import GraphStore
from tests.conftest import FixedClock

pytestmark = pytest.mark.part("insights", "people")


@pytest.fixture
def blank(store: GraphStore, clock: FixedClock) -> Graph:
    """A graph with nobody in it yet (``graph`` below holds five people)."""
    return Graph(store, clock)


@pytest.fixture
async def graph(graph: Graph) -> Graph:
    g = graph
    await g.create_person(
        {"display_name": "Margaret Hamilton", "organization": "MIT Instrumentation Lab", "circles": ["space"]}
    )
    await g.create_person(
        {"display_name": "Katherine Johnson", "organization": "NASA", "cadence_days": 3, "circles": ["space"]}
    )
    await g.create_person({"display_name": "José Ñúñez", "identities": ["acct:jnunez@fedi.example"]})
    p = await g.create_person(
        {"display_name": "Quiet Person", "identities": ["mailto:hidden@secret.example"]}
    )
    await g.add_note(p.id, "plays the theremin on Thursdays")
    await g.create_person({"display_name": "Hamilton Fan", "nickname": "hammy"})
    return g


async def names(graph: Graph, q: str, **kw: object) -> list[str]:
    return [p.display_name for p in (await graph.search(q, **kw)).items]  # type: ignore[arg-type]


async def test_search_fields(graph: Graph) -> None:
    assert await names(graph, "katherine") == ["Katherine Johnson"]
    assert await names(graph, "nasa") == ["Katherine Johnson"]
    assert await names(graph, "instrumentation") == ["Margaret Hamilton"]
    assert await names(graph, "jnunez") == ["José Ñúñez"]
    assert await names(graph, "secret.example") == ["Quiet Person"]
    assert await names(graph, "theremin") == ["Quiet Person"]
    assert await names(graph, "hammy") == ["Hamilton Fan"]


async def test_prefix_and_diacritics(graph: Graph) -> None:
    assert await names(graph, "kath") == ["Katherine Johnson"]
    assert await names(graph, "Ka") == ["Katherine Johnson"]
    assert await names(graph, "jose nunez") == ["José Ñúñez"]
    assert await names(graph, "JOSÉ") == ["José Ñúñez"]
    assert await names(graph, "marg ham") == ["Margaret Hamilton"]  # every word must match


async def test_ranking_prefers_names(graph: Graph) -> None:
    # "hamilton" is a family name of one and part of the other's display name; both are names, so both
    # rank above a note-only match.
    p = await graph.create_person({"display_name": "Note Only"})
    await graph.add_note(p.id, "read the Hamilton biography")
    found = await names(graph, "hamilton")
    assert set(found[:2]) == {"Margaret Hamilton", "Hamilton Fan"}
    assert found[-1] == "Note Only"


async def test_filters(graph: Graph, clock: FixedClock) -> None:
    assert set(await names(graph, "j", circle="space")) == {"Katherine Johnson"}
    assert "José Ñúñez" in await names(graph, "j")
    assert await names(graph, "hamilton", circle="space") == ["Margaret Hamilton"]
    assert await names(graph, "johnson", due_within_days=0) == []
    clock.advance(days=5)
    assert await names(graph, "johnson", due_within_days=0) == ["Katherine Johnson"]
    assert await names(graph, "hamilton", due_within_days=30) == []  # no cadence: never due
    assert await names(graph, "hamilton", circle="nonexistent") == []


async def test_pagination(blank: Graph) -> None:
    g = blank
    for i in range(7):
        await g.create_person({"display_name": f"Pagey {i}"})
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = await g.search("pagey", limit=3, offset=offset)
        seen += [p.id for p in page.items]
        offset = page.next_offset
    assert len(seen) == len(set(seen)) == 7


@pytest.mark.parametrize(
    "query",
    [
        '"',
        '""',
        "'",
        'a"b',
        "NEAR(a b)",
        "a NEAR b",
        "*",
        "ham*",
        "^ham",
        "a OR b",
        "NOT x",
        "AND",
        "names:hamilton",
        "{names}: x",
        "(((",
        ")",
        "-x",
        "+",
        "\\",
        "%_",
        "🙂",
        "日本語",
        "ﬁ ligature",
        "x" * 500,
        " ".join(["w"] * 200),
        "\u202e\u200b",
        "a\tb",
    ],
)
async def test_hostile_queries_never_error(graph: Graph, query: str) -> None:
    page = await graph.search(query)
    assert isinstance(page.items, tuple)


async def test_syntax_is_taken_literally(graph: Graph) -> None:
    assert await names(graph, "names:hamilton") == []  # "names" is not a word anyone has
    assert set(await names(graph, "hamilton*")) == {"Margaret Hamilton", "Hamilton Fan"}
    assert await names(graph, "katherine OR hamilton") == []  # OR is a word here, not an operator


@pytest.mark.parametrize("query", ["", "   ", None, "x" * 501, "bad\x00"])
async def test_invalid_queries_name_q(graph: Graph, query: object) -> None:
    with pytest.raises(BadInput) as info:
        await graph.search(query)
    assert info.value.field == "q"


async def test_filters_and_pages_reach_beyond_the_first_matches(blank: Graph) -> None:
    """More matches than search ranks in its first pass: filters and deep pages still see all of them."""
    g = blank

    async def add(k: int) -> None:
        await g.create_person({"display_name": f"Common Name {k}", "organization": "Common Org"})

    import asyncio

    await asyncio.gather(*(add(k) for k in range(700)))
    rare = await g.create_person({"display_name": "Common Name Rare", "circles": ["rare"]})
    page = await g.search("common", circle="rare")
    assert [p.id for p in page.items] == [rare.id]
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = await g.search("comm", limit=200, offset=offset)
        seen += [p.id for p in page.items]
        offset = page.next_offset
    assert len(seen) == len(set(seen)) == 701
    deep = await g.search("common", offset=690, limit=50)
    assert len(deep.items) == 11 and deep.next_offset is None


async def test_addresses_pasted_whole_and_schemes_are_not_words(graph: Graph) -> None:
    assert await names(graph, "acct:jnunez@fedi.example") == ["José Ñúñez"]
    assert await names(graph, "@jnunez@fedi.example") == ["José Ñúñez"]
    assert await names(graph, "mailto:hidden@secret.example") == ["Quiet Person"]
    # Every identity of a kind shares its scheme: as a word it would match everyone, so it matches no one.
    assert await names(graph, "acct") == []
    assert await names(graph, "mailto") == []


async def test_equal_scores_are_ordered_by_tie_strength_across_pages(blank: Graph, clock: FixedClock) -> None:
    """A crowd with one name scores alike: tie strength orders them, the same way on every page."""
    import asyncio

    g = blank
    people = await asyncio.gather(
        *(g.create_person({"display_name": "Sam Same", "priority": k % 4}) for k in range(150))
    )
    for p in people[:40]:
        await g.log_interaction({"people": [p.id]})
    whole = [p.id for p in (await g.search("sam same", limit=500)).items]
    strengths = {p.id: p.tie_strength for p in (await g.search("sam same", limit=500)).items}
    assert sorted(whole) == sorted(p.id for p in people)
    assert [strengths[i] for i in whole] == sorted(strengths.values(), reverse=True)
    paged: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = await g.search("sam same", limit=7, offset=offset)
        paged += [p.id for p in page.items]
        offset = page.next_offset
    assert paged == whole
