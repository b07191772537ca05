"""What both engines' bridge stores (node/store/sqlite/bridge.py, node/store/postgres/bridge.py) share: their
rows as records, and the statements whose text is the same on both but for the placeholder (written with
``{p}``; node/store/bridge.py says what each answers)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from node.store.bridge import BridgedActor, HostQueue
from node.store.values import NamedRow

__all__ = [
    "ACTOR_COLUMNS",
    "PUT_ACTOR",
    "QUEUE",
    "TRAFFIC",
    "actor_from_row",
    "host_queue_from_row",
    "moment",
]

ACTOR_COLUMNS = "did, handle, account, state, reason, since, first_seen, last_seen"

#: One actor's upsert: first_seen is kept, since only while the state holds, the handle unless one is given; an
#: opted-out actor takes no other state (no row is returned then: the caller reads the row as it is).
PUT_ACTOR = (
    "INSERT INTO bridge_actor (did, handle, account, state, reason, since, first_seen, last_seen, updated_at) "
    "VALUES ({p}, COALESCE({p}, ''), {p}, {p}, {p}, {p}, {p}, {p}, {p}) "
    "ON CONFLICT (did) DO UPDATE SET handle = COALESCE({p}, bridge_actor.handle), account = excluded.account, "
    "since = CASE WHEN bridge_actor.state = excluded.state THEN bridge_actor.since ELSE excluded.since END, "
    "state = excluded.state, reason = excluded.reason, last_seen = excluded.last_seen, "
    "updated_at = excluded.updated_at "
    "WHERE bridge_actor.state <> 'opted-out' OR excluded.state = 'opted-out' "
    f"RETURNING {ACTOR_COLUMNS}"
)

#: The bridged accounts' deliveries by host (every account a bridge_actor row names: an opted-out actor's
#: Delete is the bridge's traffic too), and each host's breaker. Parameters: now.
QUEUE = """
SELECT d.host AS host,
       sum(CASE WHEN d.state IN ('queued', 'retry_wait') THEN 1 ELSE 0 END) AS waiting,
       sum(CASE WHEN d.state = 'sending' THEN 1 ELSE 0 END) AS in_flight,
       sum(CASE WHEN d.state = 'failed' THEN 1 ELSE 0 END) AS failed,
       sum(CASE WHEN d.state = 'dead' THEN 1 ELSE 0 END) AS dead,
       min(CASE WHEN d.state IN ('queued', 'retry_wait') THEN d.created_at END) AS oldest_waiting,
       CASE WHEN max(h.open_until) > {p} THEN max(h.open_until) END AS open_until,
       COALESCE(max(h.dead), 0) AS host_dead
FROM fed_deliveries d
LEFT JOIN fed_hosts h ON h.host = d.host
WHERE d.state IN ('queued', 'retry_wait', 'sending', 'failed', 'dead')
  AND d.account IN (SELECT account FROM bridge_actor)
GROUP BY d.host
ORDER BY sum(CASE WHEN d.state IN ('queued', 'retry_wait', 'sending') THEN 1 ELSE 0 END) DESC, d.host
"""

#: Followers of the actors bridged now, and the deliveries of every bridged account finished since each of
#: two moments, and those waiting. Parameters: a minute ago, an hour ago.
TRAFFIC = """
SELECT
  (SELECT count(*) FROM fed_follows f JOIN bridge_actor b ON b.account = f.account
    WHERE b.state = 'bridged' AND f.direction = 'in' AND f.state = 'accepted') AS follows,
  (SELECT count(*) FROM fed_deliveries d WHERE d.state = 'delivered' AND d.updated_at >= {p}
    AND d.account IN (SELECT account FROM bridge_actor)) AS minute,
  (SELECT count(*) FROM fed_deliveries d WHERE d.state = 'delivered' AND d.updated_at >= {p}
    AND d.account IN (SELECT account FROM bridge_actor)) AS hour,
  (SELECT count(*) FROM fed_deliveries d WHERE d.state IN ('queued', 'retry_wait')
    AND d.account IN (SELECT account FROM bridge_actor)) AS waiting
"""


def moment(text: Any) -> datetime | None:
    """A stored moment (node/store/values.py's stamp) as an aware datetime."""
    return None if text is None else datetime.fromisoformat(str(text))


def actor_from_row(r: NamedRow) -> BridgedActor:
    since, first, last = moment(r["since"]), moment(r["first_seen"]), moment(r["last_seen"])
    assert since is not None and first is not None and last is not None  # NOT NULL columns
    return BridgedActor(
        did=r["did"],
        handle=r["handle"],
        account=r["account"],
        state=r["state"],
        reason=r["reason"],
        since=since,
        first_seen=first,
        last_seen=last,
    )


def host_queue_from_row(r: NamedRow) -> HostQueue:
    return HostQueue(
        host=r["host"],
        waiting=int(r["waiting"] or 0),
        in_flight=int(r["in_flight"] or 0),
        failed=int(r["failed"] or 0),
        dead=int(r["dead"] or 0),
        oldest_waiting=None if r["oldest_waiting"] is None else float(r["oldest_waiting"]),
        open_until=None if r["open_until"] is None else float(r["open_until"]),
        host_dead=bool(r["host_dead"]),
    )
