"""The person page explains tie strength; pages survive values an older version stored unchecked; the card form
keeps identities in the form peers read, and refuses what could not be sent."""

from __future__ import annotations

import re
from typing import Any

from node.owner_card import get_card

from .conftest import Browserish, Node

CARD_FORM = {
    "name": "Alice Example",
    "summary": "",
    "email": "",
    "phone": "",
    "website": "",
    "organization": "",
    "title": "",
    "photo": "",
    "identities": "",
}


async def test_the_person_page_explains_tie_strength(client: Browserish, node: Node) -> None:
    graph = node.ctx.graph
    ann = await graph.create_person({"display_name": "Ann Lee", "priority": 3})
    for by in ("them", "owner"):
        await graph.log_interaction({"people": [ann.id], "initiated_by": by})
    shown = await graph.get_person(ann.id)
    html = await client.get(f"/people/{ann.id}")
    block = re.search(r'<details id="tie-strength">(.*?)</details>', html, re.S)
    assert block, "no tie-strength explanation on the page"
    text = block.group(1)
    assert f"Why tie strength {shown.tie_strength:.2f}" in text
    for part in shown.tie_strength_parts or ():
        assert f'<th scope="row">{part.name}</th>' in text
        assert f"{part.points:.2f}" in text and part.detail in text
    assert "they started 1, you started 1" in text and "priority 3 of 3" in text


async def test_pages_survive_values_an_older_version_left(client: Browserish, node: Node) -> None:
    graph = node.ctx.graph
    ann = await graph.create_person({"display_name": "Ann Lee", "circles": ["club"], "cadence_days": 7})
    await graph.log_interaction({"people": [ann.id]})

    async def spoil(conn: Any) -> None:
        await conn.execute(
            "UPDATE person SET last_interaction_at = 'garbage', due_at = 'garbage', birthday = 'nope', "
            "created_at = 'x', interaction_count = -5, display_name = 'Ann\x07Lee' WHERE id = ?",
            (ann.id,),
        )
        await conn.execute("UPDATE interaction SET occurred_at = 'garbage'")

    await graph.store.db.write(spoil)
    for path in (
        "/",
        "/people",
        "/people?q=ann",
        "/people?circle=club",
        f"/people/{ann.id}",
        "/export?format=json",
        "/export?format=vcard",
        "/export?format=csv",
    ):
        await client.get(path)


async def test_the_card_form_keeps_identities_as_peers_read_them(client: Browserish, node: Node) -> None:
    form = {**CARD_FORM, "identities": "@Alice@Social.Example\nalice.example\n@alice@social.example"}
    _, html = await client.post("/settings/card", form, from_page="/settings")
    assert "Card saved" in html
    card = await get_card(node.ctx.store)
    assert card["identities"] == ["acct:alice@social.example", "https://alice.example/"]


async def test_the_card_form_refuses_what_could_not_be_sent(client: Browserish, node: Node) -> None:
    await client.post(
        "/settings/card", {**CARD_FORM, "identities": "@alice@social.example"}, from_page="/settings"
    )
    before = await get_card(node.ctx.store)
    for field, value in (
        ("identities", "not an address at all"),
        ("phone", "0123 456 789"),
        ("photo", "javascript:alert(1)"),
    ):
        _, html = await client.post("/settings/card", {**CARD_FORM, field: value}, from_page="/settings")
        assert "Card saved" not in html and field in html
        assert await get_card(node.ctx.store) == before


async def test_a_note_written_in_a_textarea_keeps_its_line_breaks(client: Browserish, node: Node) -> None:
    """Browsers send a textarea's line breaks as CR LF: they are line breaks, not control characters."""
    ann = await node.ctx.graph.create_person({"display_name": "Ann Lee"})
    _, html = await client.post(
        f"/people/{ann.id}/notes", {"body": "first line\r\nsecond line\rthird"}, from_page=f"/people/{ann.id}"
    )
    assert "Note added" in html
    assert [n.body for n in await node.ctx.graph.notes(ann.id)] == ["first line\nsecond line\nthird"]
