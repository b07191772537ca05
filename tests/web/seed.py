"""A small, believable contact graph for the browser journeys and the README screenshots, built through the
graph's own operations (so every derived column, due date and search row is what the node would make)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from node.graph import Graph, iso
from node.models import Person


def _ago(days: float) -> str:
    return iso(datetime.now(UTC) - timedelta(days=days))


async def seed(graph: Graph) -> dict[str, Person]:
    await graph.create_circle("family", 7)
    await graph.create_circle("friends", 30)
    await graph.create_circle("work", 90)
    people: dict[str, Person] = {}
    spec = [
        (
            "ada",
            "Ada Lovelace",
            "Analytical Engines Ltd",
            "Mathematician",
            ["ada@example.com", "acct:ada@mathstodon.example"],
            "friends",
        ),
        (
            "grace",
            "Grace Hopper",
            "US Navy",
            "Rear Admiral",
            ["grace@example.org", "https://x.com/amazinggrace"],
            "work",
        ),
        (
            "alan",
            "Alan Turing",
            "Bletchley Park",
            "Cryptanalyst",
            ["https://www.linkedin.com/in/alanturing"],
            "work",
        ),
        ("katherine", "Katherine Johnson", "NASA", "Research Mathematician", ["kj@example.net"], "friends"),
        ("mum", "Margaret Lovelace", None, None, ["+44 20 7946 0000"], "family"),
        (
            "tim",
            "Tim Berners-Lee",
            "W3C",
            "Director",
            ["acct:timbl@w3c.example", "https://www.w3.org/People/Berners-Lee/"],
            "work",
        ),
        ("radia", "Radia Perlman", "Intel", "Fellow", ["radia@example.com"], "friends"),
        ("linus", "Linus Torvalds", "Linux Foundation", "Fellow", ["https://x.com/linustorvalds"], None),
    ]
    for key, name, org, title, idents, circle in spec:
        data: dict[str, object] = {"display_name": name, "identities": idents}
        if org:
            data["organization"] = org
        if title:
            data["title"] = title
        if circle:
            data["circles"] = [circle]
        people[key] = await graph.create_person(data)
    # A duplicate: the same handle on two silos makes a "suggested" merge.
    people["linus2"] = await graph.create_person(
        {"display_name": "Linus B. Torvalds", "identities": ["https://www.linkedin.com/in/linustorvalds"]}
    )
    history = [
        ("ada", 45, "call", "them", "Talked about the engine's loops"),
        ("ada", 12, "meeting", "owner", "Coffee at the Royal Society"),
        ("grace", 100, "email", "owner", "Sent the COBOL notes"),
        ("katherine", 40, "message", "them", "Trajectory question"),
        ("mum", 20, "call", "owner", "Sunday call"),
        ("tim", 3, "comment", "them", "Replied to the Solid thread"),
        ("radia", 200, "meeting", "owner", "Met at SIGCOMM"),
    ]
    for key, days, channel, by, summary in history:
        await graph.log_interaction(
            {
                "people": [people[key].id],
                "occurred_at": _ago(days),
                "channel": channel,
                "initiated_by": by,
                "summary": summary,
            }
        )
    # Tapering off: often in the year before, rarely lately.
    for days in (120, 150, 180, 210, 250, 300, 330):
        await graph.log_interaction(
            {"people": [people["alan"].id], "occurred_at": _ago(days), "channel": "message"}
        )
    await graph.add_note(people["ada"].id, "Prefers letters to e-mail. Ask about the Bernoulli numbers.")
    await graph.add_relationship(
        people["ada"].id,
        {"type": "friend", "since": "2019-06-01", "how_we_met": "A lecture on difference engines"},
    )
    await graph.add_relationship(people["mum"].id, {"type": "parent"})
    return {k: await graph.get_person(p.id) for k, p in people.items()}
