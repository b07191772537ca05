"""vdirsyncer, a real CardDAV client, syncs a local folder of cards with a live node both ways: creations,
edits and deletions on either side, merges in Kith, conflicts, and a second sync that finds nothing to do.

vdirsyncer runs as its own process (as a person runs it), against the node served on loopback by this test's
event loop."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.node.dav_helpers import DavNode, dav_node

pytestmark = pytest.mark.skipif(
    shutil.which("vdirsyncer", path=str(Path(sys.executable).parent)) is None,
    reason="vdirsyncer is not installed (the dev extras install it)",
)
VDIRSYNCER = str(Path(sys.executable).parent / "vdirsyncer")


@dataclass
class Sync:
    node: DavNode
    folder: Path
    config: Path
    password: str = ""

    def write_config(self, password: str, conflict: str | None = None) -> None:
        self.password = password
        resolution = f'conflict_resolution = "{conflict}"\n' if conflict else ""
        self.config.write_text(
            f"""[general]
status_path = "{self.folder.parent / "status"}/"

[pair phone]
a = "phone_local"
b = "kith"
collections = null
{resolution}
[storage phone_local]
type = "filesystem"
path = "{self.folder}/"
fileext = ".vcf"

[storage kith]
type = "carddav"
url = "{self.node.base}/dav/addressbooks/alice/all/"
username = "alice"
password = "{password}"
"""
        )

    async def run(self, *args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            VDIRSYNCER,
            "-c",
            str(self.config),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 90)
        return proc.returncode or 0, out.decode("utf-8", "replace")

    async def sync(self) -> str:
        code, out = await self.run("sync")
        assert code == 0, out
        return out

    def files(self) -> dict[str, str]:
        return {p.name: p.read_text(encoding="utf-8") for p in sorted(self.folder.glob("*.vcf"))}

    def by_text(self, needle: str) -> Path:
        (path,) = [p for p in self.folder.glob("*.vcf") if needle in p.read_text(encoding="utf-8")]
        return path


@pytest.fixture
async def sync(tmp_path: Path) -> AsyncIterator[Sync]:
    async with dav_node(tmp_path / "node") as node:
        folder = tmp_path / "phone" / "cards"
        folder.mkdir(parents=True)
        s = Sync(node, folder, tmp_path / "vdirsyncer.conf")
        s.write_config(await node.password())
        code, out = await s.run("discover")
        assert code == 0, out
        yield s


async def test_vdirsyncer_syncs_both_ways(sync: Sync) -> None:
    g = sync.node.ctx.graph
    ada = await g.create_person(
        {"display_name": "Ada Lovelace", "identities": ["ada@example.org"], "organization": "Engines"}
    )
    bob = await g.create_person({"display_name": "Bob Babbage", "identities": ["bob@example.org"]})
    dup = await g.create_person({"display_name": "A. Lovelace", "identities": ["https://x.com/ada"]})
    await sync.sync()
    uids = {f"UID:urn:kith:{p.id}" for p in (ada, bob, dup)}
    assert {next(u for u in uids if u in text) for text in sync.files().values()} == uids

    # the phone: an edit, a new card, a deletion
    ada_file = sync.by_text(f"UID:urn:kith:{ada.id}")
    ada_file.write_text(
        ada_file.read_text(encoding="utf-8").replace(
            "END:VCARD", "TEL;TYPE=CELL:+1 202 555 0100\r\nEND:VCARD"
        ),
        encoding="utf-8",
    )
    (sync.folder / "carl-on-the-phone.vcf").write_text(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:carl-on-the-phone\r\nFN:Carl Gauss\r\nN:Gauss;Carl;;;\r\n"
        "EMAIL:carl@example.org\r\nEND:VCARD\r\n",
        encoding="utf-8",
    )
    sync.by_text(f"UID:urn:kith:{bob.id}").unlink()
    await sync.sync()
    # then Kith merges two people into one
    await g.merge(ada.id, dup.id)
    out = await sync.sync()

    survivor = await g.get_person(ada.id)
    assert {"mailto:ada@example.org", "tel:+12025550100", "https://x.com/ada"} <= {
        i.uri for i in survivor.identities
    }
    carl = await g.person_for_identity("carl@example.org")
    assert carl is not None and carl.display_name == "Carl Gauss"
    assert (await g.get_person(bob.id)).status == "archived"  # deleted on the phone: archived, never deleted
    texts = "".join(sync.files().values())
    assert f"urn:kith:{dup.id}" not in texts, out  # the merge: one card replacing two
    assert "https://x.com/ada" in sync.by_text(f"UID:urn:kith:{ada.id}").read_text(encoding="utf-8")
    assert "UID:carl-on-the-phone" in texts and f"urn:kith:{bob.id}" not in texts
    assert len(sync.files()) == 2

    # Kith edits reach the phone
    await g.update_person(ada.id, {"title": "Countess"})
    await g.add_note(carl.id, "Prince of mathematicians")
    await sync.sync()
    assert "TITLE:Countess" in sync.by_text(f"UID:urn:kith:{ada.id}").read_text(encoding="utf-8")
    assert "Prince of mathematicians" in sync.by_text("UID:carl-on-the-phone").read_text(encoding="utf-8")

    # nothing changed: a second sync changes nothing on either side
    before = (sync.files(), await g.export_json())
    out = await sync.sync()
    after = (sync.files(), await g.export_json())
    assert before[0] == after[0]
    before[1].pop("exported_at")
    after[1].pop("exported_at")
    assert before[1] == after[1], out


async def test_a_conflict_loses_nothing_and_resolves_as_configured(sync: Sync) -> None:
    g = sync.node.ctx.graph
    ada = await g.create_person({"display_name": "Ada Lovelace", "identities": ["ada@example.org"]})
    await sync.sync()
    path = sync.by_text(f"UID:urn:kith:{ada.id}")
    path.write_text(
        path.read_text(encoding="utf-8").replace("END:VCARD", "TITLE:Phone Title\r\nEND:VCARD"),
        encoding="utf-8",
    )
    await g.update_person(ada.id, {"title": "Kith Title"})
    code, out = await sync.run("sync")
    assert code != 0 and "conflict" in out.lower(), out
    assert "TITLE:Phone Title" in path.read_text(encoding="utf-8")  # neither side was overwritten
    assert (await g.get_person(ada.id)).title == "Kith Title"

    sync.write_config(sync.password, "a wins")
    await sync.sync()
    assert (await g.get_person(ada.id)).title == "Phone Title"
    await sync.sync()
    assert "TITLE:Phone Title" in path.read_text(encoding="utf-8")
