"""The repository event stream (``com.atproto.sync.subscribeRepos``, a PDS's own or a relay's firehose), read for
what the bridge must act on (issue #18 "Reading Bluesky": the firehose, with cursors that survive restarts).

Each binary message is two DAG-CBOR values: a header ``{op, t}`` and a body with ``seq``. A ``#commit`` carries
the repository's DID, its ops (``action``, ``path`` = ``collection/rkey``, ``cid``) and a CAR of the new
blocks; ``#identity`` a handle change; ``#account`` a change of status (deactivated, taken down). The bridge
needs only *which accounts to read again*: :func:`concerns` says so for one event, and the caller re-reads those
accounts from the PDS (bridges/bluesky_bridge/reader.py), so nothing in an event is trusted beyond "look here".
"""

from __future__ import annotations

import io
from collections.abc import Set
from dataclasses import dataclass, field

import cbor2

from bridges._car import CarReader, Link, decode_dag_cbor
from bridges.base import ExportError

__all__ = ["Event", "StreamError", "concerns", "decode_event", "stream_url"]

_WATCHED = ("app.bsky.graph.follow/", "app.bsky.graph.block/", "app.bsky.actor.profile/")


class StreamError(Exception):
    """The stream sent an error frame (``refused``: a cursor in the future, a consumer too slow) or an
    undecodable one."""

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


@dataclass(frozen=True)
class Event:
    type: str  # "#commit", "#identity", "#account", "#sync", "#info"
    seq: int | None
    did: str | None
    time: str | None
    ops: tuple[tuple[str, str], ...] = ()  # (action, path)
    subjects: dict[str, str] = field(
        default_factory=dict
    )  # path -> the subject DID of a created follow/block


def stream_url(relay_url: str, pds_url: str) -> str:
    """The subscribeRepos URL: the relay's when one is set, else the PDS's own (ws:// for http://)."""
    base = relay_url or pds_url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    base = base.rstrip("/")
    return base if base.endswith("subscribeRepos") else f"{base}/xrpc/com.atproto.sync.subscribeRepos"


def decode_event(data: bytes) -> Event:
    """One frame of the stream; StreamError for an error frame or anything that is not a frame."""
    try:
        fh = io.BytesIO(data)
        header = cbor2.CBORDecoder(fh).decode()
        body = decode_dag_cbor(data[fh.tell() :])  # cbor2 ignores trailing bytes: decode the body on its own
    except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError) as exc:
        raise StreamError(f"an undecodable frame ({exc})") from None
    if not isinstance(header, dict) or not isinstance(body, dict):
        raise StreamError("a frame whose header or body is not a map")
    if header.get("op") == -1:
        raise StreamError(f"the stream refused: {body.get('error')}: {body.get('message')}", refused=True)
    kind = header.get("t")
    seq = body.get("seq") if isinstance(body.get("seq"), int) else None
    did = body.get("repo") if kind == "#commit" else body.get("did")
    time = body.get("time")
    event = Event(
        type=kind if isinstance(kind, str) else "",
        seq=seq,
        did=did if isinstance(did, str) else None,
        time=time if isinstance(time, str) else None,
    )
    if kind != "#commit":
        return event
    ops = [op for op in body.get("ops") or [] if isinstance(op, dict) and isinstance(op.get("path"), str)]
    subjects: dict[str, str] = {}
    blocks = body.get("blocks")
    wanted = [
        op
        for op in ops
        if op.get("action") == "create"
        and op["path"].startswith(_WATCHED[:2])
        and isinstance(op.get("cid"), Link)
    ]
    if wanted and isinstance(blocks, bytes) and blocks:
        try:
            car = CarReader(io.BytesIO(blocks))
            for op in wanted:
                record = car.get(op["cid"]) if op["cid"] in car else None
                subject = record.get("subject") if isinstance(record, dict) else None
                if isinstance(subject, str):
                    subjects[op["path"]] = subject
        except (ExportError, ValueError, TypeError, KeyError) as exc:
            raise StreamError(f"a commit of {did} whose blocks cannot be read ({exc})") from None
    return Event(
        type=event.type,
        seq=seq,
        did=event.did,
        time=event.time,
        ops=tuple((str(op.get("action")), op["path"]) for op in ops),
        subjects=subjects,
    )


def concerns(event: Event, *, bot: str, known: Set[str]) -> bool:
    """Whether the account of ``event`` must be read again: a follow or block of the bot created (a new
    opt-in, or an opt-out), or, for an account the bridge already knows, any change of its follows, blocks or
    profile, its handle or its status."""
    if event.did is None or event.did == bot:
        return False
    if event.type == "#commit":
        if bot in event.subjects.values():
            return True
        return event.did in known and any(path.startswith(_WATCHED) for _, path in event.ops)
    return event.type in ("#identity", "#account", "#sync") and event.did in known
