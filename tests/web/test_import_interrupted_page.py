"""The import page after a node was killed during an import (issue 12 §4): the run is listed and its page says
it was interrupted and that nothing was kept, and its upload is gone; a run another process still holds is
shown as running."""

from __future__ import annotations

from datetime import UTC, datetime

from .conftest import Browserish, Node


async def test_an_interrupted_import_is_listed_and_explained(client: Browserish, node: Node) -> None:
    imports = node.ctx.store.imports
    # What a node killed mid-import leaves: the run recorded as running, its upload, nobody holding its lock.
    await imports.start_run(
        run_id="imp_killed", source="linkedin", name="Connections.csv", now=datetime(2026, 1, 1, tzinfo=UTC)
    )
    (imports.folder / "imp_killed").mkdir(parents=True)
    (imports.folder / "imp_killed" / "Connections.csv").write_text("First Name,Last Name\n")
    held = await imports.claim("imp_elsewhere")  # `kith import` running in another process
    try:
        await imports.start_run(
            run_id="imp_elsewhere", source="x", name="archive.zip", now=datetime(2026, 1, 1, tzinfo=UTC)
        )
        html = await client.get("/import")
        assert 'href="/import/imp_killed"' in html and "interrupted" in html
        assert 'href="/import/imp_elsewhere"' in html
        assert not (imports.folder / "imp_killed").exists()
        page = await client.get("/import/imp_killed")
        assert "interrupted" in page and "import the export again" in page
        status = await client.get("/import/imp_elsewhere/status")
        assert '"finished": false' in status
    finally:
        held.release()
