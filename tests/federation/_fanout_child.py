"""Child process for the SIGKILL test: a node that fans one activity out to N inboxes and delivers it.

Run as ``python -m tests.federation._fanout_child DATA PEER_BASE N``. The activity is enqueued only when the
outbox is empty, so a restarted child resumes what the killed one left instead of starting over."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from federation.fetch import FetchPolicy, GuardedClient
from federation.service import Federation, FederationContext
from node.keys import KeyRing
from node.store.sqlite.db import Database
from protocol.keys import load_private_key_pem, private_key_to_pem

from .memgraph import MemoryGraph
from .nodes import make_config


def _keys(data: Path) -> KeyRing:
    """The same keys for a restarted child: made once, kept as PEM files in DATA (a test's folder)."""
    names = {"owner_rsa": "rsa", "owner_ed25519": "ed25519", "node_rsa": "node"}
    folder = data / "test-keys"
    if not folder.exists():
        ring = KeyRing.generate()
        folder.mkdir(parents=True)
        for attr, name in names.items():
            (folder / f"{name}.pem").write_text(private_key_to_pem(getattr(ring, attr), None))
    loaded = {
        attr: load_private_key_pem((folder / f"{n}.pem").read_bytes(), None) for attr, n in names.items()
    }
    return KeyRing(**loaded)  # type: ignore[arg-type]


async def main(data: Path, peer: str, n: int) -> None:
    keys = _keys(data)
    config = make_config(data, 1, "sender")
    db = await Database.open(config.database_path)
    ctx = FederationContext(config=config, keys=keys, db=db, graph=MemoryGraph(), run_workers=False)
    fed = Federation(ctx, GuardedClient(FetchPolicy.from_config(config)))
    await fed.start()
    if not (await fed.store.public_outbox())[0] and not await fed.store.delivery_counts():
        activity = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": fed.new_id(),
            "type": "Update",
            "actor": fed.urls.owner,
            "object": fed.urls.owner,
        }
        await fed.send(activity, [f"{peer}/inbox/{i}" for i in range(n)])
        print("enqueued", flush=True)
    while (await fed.store.delivery_counts()).get("queued"):
        await fed.delivery.run_once(limit=32)
    print("done", flush=True)
    await fed.close()
    await db.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
