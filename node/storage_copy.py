"""Moving a server to another storage engine: ``kith storage copy --to URL`` (issue #14; specs/POSTGRESQL.md
§12). The rows move table by table (node/store/copy.py); then every account's full export is
taken on both sides and compared, so the command says "identical" only when it has seen it.

The node must not run during the copy: what it wrote after the copy read a database would not be carried over.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from node.config import Config, StorageConfig
from node.errors import BadInput
from node.models import STATES_WITH_GRAPH
from node.server import Server
from node.storage_url import StorageUrlError, parse_storage_url, redact_url
from node.store.copy import CopySummary, copy_server
from node.store.errors import StoreError
from node.store.factory import open_server_store

__all__ = ["CopyReport", "copy_storage", "destination_config"]


@dataclass(frozen=True, slots=True)
class CopyReport:
    to: str  # the destination URL, its password redacted
    summary: CopySummary
    verified: list[str]  # accounts whose exports were compared and found identical


def destination_config(config: Config, url: str) -> Config:
    """``config`` with its storage at ``url`` (checked as storage.url is); BadInput when it names where the
    server already is."""
    try:
        parsed = parse_storage_url(url)
    except StorageUrlError as exc:  # what the operator typed after --to: their input, said as such
        raise BadInput(str(exc), field="to") from None
    if parsed.backend == config.storage.backend and (
        parsed.backend == "sqlite" or parsed.url == parse_storage_url(config.storage.url).url
    ):
        raise BadInput(
            "the destination is where this server's data already is; name another database", field="to"
        )
    return dataclasses.replace(config, storage=StorageConfig(url=parsed.url))


def _comparable(doc: dict[str, Any]) -> str:
    doc = dict(doc)
    doc.pop("exported_at", None)  # the moment of each export, the one value that must differ
    return json.dumps(doc, sort_keys=True, ensure_ascii=False)


def _first_difference(a: dict[str, Any], b: dict[str, Any]) -> str:
    for key in sorted(set(a) | set(b)):
        if key == "exported_at":
            continue
        if key == "tables":
            for table in sorted(set(a.get(key, {})) | set(b.get(key, {}))):
                if a[key].get(table) != b[key].get(table):
                    return f"table {table}"
        elif a.get(key) != b.get(key):
            return key
    return "the document"


async def copy_storage(
    config: Config,
    dest: Config,
    *,
    passphrase: str | None,
    progress: Callable[[str, int, int], None],
    say: Callable[[str], None],
) -> CopyReport:
    """Copy the server of ``config`` into the empty database of ``dest``, then compare every account's export
    on both sides (StoreError naming the first difference if one is found)."""
    source = await Server.open(config, passphrase=passphrase, progress=say)
    try:
        rows = [r for r in await source.accounts.list() if r.state in STATES_WITH_GRAPH]
        target = await open_server_store(dest, progress=say)
        try:
            summary = await copy_server(
                source.store,
                target,
                accounts=[(r.name, r.graph_file) for r in rows],
                dest_is_empty=lambda: _no_accounts(target),
                progress=progress,
            )
        finally:
            await target.close()
        say("comparing every account's export on both sides")
        copied = await Server.open(dest, passphrase=passphrase, progress=say)
        try:
            verified = []
            for row in rows:
                async with source.borrow(row, removed_ok=True, keep_open=False) as ctx:
                    before = await ctx.graph.export_json()
                twin = await copied.accounts.get(row.name)
                async with copied.borrow(twin, removed_ok=True, keep_open=False) as ctx:
                    after = await ctx.graph.export_json()
                if _comparable(before) != _comparable(after):
                    raise StoreError(
                        f"account {row.name}: its export differs after the copy ({_first_difference(before, after)}); "
                        "keep using the source, and report this as a bug"
                    )
                verified.append(row.name)
        finally:
            await copied.close()
    finally:
        await source.close()
    return CopyReport(to=redact_url(dest.storage.url), summary=summary, verified=verified)


async def _no_accounts(store: Any) -> bool:
    return not await store.accounts.list()
