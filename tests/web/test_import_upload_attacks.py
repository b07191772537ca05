"""The import page's upload under the same malformed bodies as the owner API (tests/node/test_import_bad_requests.py):
signed in and with the form's CSRF token, each is a message on the import page, never an error page, and
nothing is kept under the data folder's imports/."""

from __future__ import annotations

import pytest

from tests.node.test_import_bad_requests import MULTIPART_ATTACKS, B, leftovers, part

from .conftest import Browserish, Node


@pytest.mark.parametrize(
    ("what", "ctype", "body", "_status", "_words"), MULTIPART_ATTACKS, ids=[a[0] for a in MULTIPART_ATTACKS]
)
async def test_malformed_uploads_are_a_message_on_the_import_page(
    client: Browserish, node: Node, what: str, ctype: str, body: bytes, _status: int, _words: str
) -> None:
    html = await client.get("/import")
    # The form's token first, as a browser sends it; bodies without a boundary cannot carry it.
    payload = part("csrf", client.csrf(html).encode()) + body if f"boundary={B}" in ctype else body
    async with client.session.post(
        node.base + "/import", data=payload, headers={"Content-Type": ctype}
    ) as resp:
        page = await resp.text()
        assert resp.status == 200 and resp.url.path == "/import", (what, resp.status, page[:500])
    assert "Traceback" not in page and 'class="flash' in page, what
    assert leftovers(node.ctx) == [], what
    await client.get("/")  # the node goes on answering
