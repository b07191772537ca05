"""Reaching out from a person's record over the owner API: every identity actionable, the preferred channel,
outreach logged once (it resets the clock), and no way to make the node send anyone elsewhere."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.conftest import T0, Api, FixedClock


async def test_every_identity_is_actionable(api: Api) -> None:
    ada = await api.person(
        "Ada",
        "ada@example.org",
        "+44 7700 900123",
        "https://x.com/i/user/12345",
        "https://www.linkedin.com/in/ada-l",
        "@ada@example.social",
        "did:plc:abcdefghijklmnopqrstuvwx",
        "https://ada.example.org/",
    )
    status, body = await api.get(f"/api/people/{ada['id']}/reach")
    assert status == 200
    got = {a["kind"]: (a["href"], a["message_href"], a["channel"]) for a in body["items"]}
    assert got == {
        "email": ("mailto:ada@example.org", None, "email"),
        "tel": ("tel:+447700900123", None, "call"),
        "x": ("https://x.com/i/user/12345", "https://x.com/messages/compose?recipient_id=12345", "message"),
        "linkedin": ("https://www.linkedin.com/in/ada-l", None, "message"),
        "acct": ("https://example.social/@ada", None, "message"),
        "bluesky": ("https://bsky.app/profile/did:plc:abcdefghijklmnopqrstuvwx", None, "message"),
        "web": ("https://ada.example.org/", None, "message"),
    }
    assert all(a["href"].startswith(("mailto:", "tel:", "https://")) for a in body["items"])


async def test_outreach_is_logged_once_and_resets_the_clock(api: Api, clock: FixedClock) -> None:
    ada = await api.person("Ada", "ada@example.org", "https://x.com/i/user/12345", cadence_days=7)
    clock.advance(days=10)
    status, due = await api.get("/api/due")
    assert [e["person"]["id"] for e in due["items"]] == [ada["id"]]
    [mail, x] = sorted((await api.get(f"/api/people/{ada['id']}/reach"))[1]["items"], key=lambda a: a["n"])
    status, first = await api.post(f"/api/people/{ada['id']}/reach/{mail['n']}", {"tag": mail["tag"]})
    assert status == 201 and first["href"] == "mailto:ada@example.org"
    assert first["interaction"]["channel"] == "email" and first["interaction"]["source"] == "reach"
    status, again = await api.post(f"/api/people/{ada['id']}/reach/{mail['n']}", {"tag": mail["tag"]})
    assert again["interaction"]["id"] == first["interaction"]["id"]  # a second click is not a second message
    status, dm = await api.post(f"/api/people/{ada['id']}/reach/{x['n']}", {"message": True})
    assert dm["href"] == "https://x.com/messages/compose?recipient_id=12345"
    status, person = await api.get(f"/api/people/{ada['id']}")
    assert person["interaction_count"] == 2
    assert person["due_at"] == (T0 + timedelta(days=17)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (await api.get("/api/due"))[1]["items"] == []
    clock.advance(minutes=11)
    await api.post(f"/api/people/{ada['id']}/reach/{mail['n']}", {})
    assert (await api.get(f"/api/people/{ada['id']}"))[1]["interaction_count"] == 3


async def test_stale_forged_and_unknown_actions_are_refused(api: Api) -> None:
    ada = await api.person("Ada", "ada@example.org")
    bob = await api.person("Bob", "bob@example.org")
    [mail] = (await api.get(f"/api/people/{ada['id']}/reach"))[1]["items"]
    cases: list[tuple[str, Any, int]] = [
        (f"/api/people/{ada['id']}/reach/{mail['n']}", {"tag": "0123456789"}, 404),  # another identity's tag
        (f"/api/people/{ada['id']}/reach/7", {}, 404),
        (f"/api/people/{ada['id']}/reach/-1", {}, 400),
        (f"/api/people/{ada['id']}/reach/99999999999999999999", {}, 400),
        (f"/api/people/{ada['id']}/reach/abc", {}, 400),
        (f"/api/people/{ada['id']}/reach/{mail['n']}", {"tag": 5}, 400),
        (f"/api/people/{ada['id']}/reach/{mail['n']}", {"message": True}, 404),  # e-mail has no DM link
        ("/api/people/p_nobody/reach/0", {}, 404),
    ]
    for path, body, expected in cases:
        status, answer = await api.post(path, body)
        assert status == expected, (path, status, answer)
        assert "error" in answer
    for who in (ada, bob):
        assert (await api.get(f"/api/people/{who['id']}"))[1]["interaction_count"] == 0


async def test_preferred_channel(api: Api) -> None:
    ada = await api.person("Ada", "ada@example.org", "+44 7700 900123")
    items = (await api.get(f"/api/people/{ada['id']}/reach"))[1]["items"]
    tel = next(a for a in items if a["kind"] == "tel")
    status, body = await api.put(f"/api/people/{ada['id']}/preferred-channel", {"n": float(tel["n"])})
    assert status == 200 and body["preferred"]["uri"] == "tel:+447700900123"
    first = (await api.get(f"/api/people/{ada['id']}/reach"))[1]["items"][0]
    assert first["kind"] == "tel" and first["preferred"] is True
    status, body = await api.put(f"/api/people/{ada['id']}/preferred-channel", {"n": None})
    assert body["preferred"] is None
    assert not any(a["preferred"] for a in (await api.get(f"/api/people/{ada['id']}/reach"))[1]["items"])
    status, _ = await api.put(f"/api/people/{ada['id']}/preferred-channel", {"n": True})
    assert status == 400


async def test_digest_over_the_api(api: Api, clock: FixedClock) -> None:
    ada = await api.person("Ada", cadence_days=1)
    clock.advance(days=2)
    status, digest = await api.get("/api/digest")
    [item] = digest["items"]
    assert item["kind"] == "due" and item["person_id"] == ada["id"]
    status, body = await api.post(f"/api/digest/items/{item['key']}/snooze", {"days": 3})
    assert status == 200 and body["state"] == "snoozed"
    assert (await api.get("/api/digest"))[1]["items"] == []
    status, body = await api.post("/api/digest/items/not-a-key/done", {})
    assert (
        status == 400 and "a digest item's key, like due:" in body["error"]["message"]
    )  # not "control chars"
    status, settings = await api.put("/api/digest/settings", {"every": "weekly", "to": "me@example.org"})
    assert status == 200 and settings["every"] == "weekly"
    # JSON's 7.0 is the whole number 7, as the schema's "integer" says: the handlers take it so too.
    status, settings = await api.put("/api/digest/settings", {"hour": 9.0, "weekday": 2.0})
    assert status == 200 and (settings["hour"], settings["weekday"]) == (9, 2), settings
    for bad in ({"every": "hourly"}, {"hour": "7"}, {"to": "a@b, c@d"}, {"colour": "red"}):
        assert (await api.put("/api/digest/settings", bad))[0] == 400
    status, body = await api.post("/api/digest/send", {})  # the server's settings: not the request's fault
    assert status == 409 and "mail.smtp_host" in body["error"]["message"]
    for to in ("me@example.org, eve@evil.example", "me@example.org\r\nBcc: eve@evil.example"):
        status, body = await api.post("/api/digest/send", {"to": to})
        assert status == 400 and body["error"]["field"] == "to", body
    status, _ = await api.put("/api/digest/settings", {"to": ""})  # a digest that is on needs an address
    assert status == 409 and (await api.get("/api/digest/settings"))[1]["to"] == "me@example.org"
    status, body = await api.get("/api/capture/proposals")
    assert status == 200 and body["items"] == []
    status, body = await api.post("/api/capture/imap/sync", {})
    assert status == 404 and "kith link imap" in body["error"]["message"]
