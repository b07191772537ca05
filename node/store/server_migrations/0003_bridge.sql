-- The Bluesky bridge's own state (node/bridge_bluesky.py; node/store/bridge.py declares what these tables answer):
-- the DIDs it has seen follow its bot and what became of each, the operator's blocks, and a cursor per event
-- stream. Until now this was one JSON document in server_meta, rewritten whole on every change (at 10,000 actors
-- the bottleneck, and a lost update when `kith serve` and `kith bridge block` both wrote it); the document and
-- the operator's blocks move here below, in this migration's transaction, and their server_meta rows go.
-- Moments are ISO-8601 UTC text to the second (node/store/values.py's stamp), as in the account registry.

-- One row per DID that followed the bot (nothing is kept of an account that never did).
-- state: bridged | waiting (held back by a gate or #nobridge: `reason` says which) | blocked (the operator's) |
-- opted-out (its account was removed; a tombstone: names are never reused, docs/ARCHITECTURE.md §8).
CREATE TABLE bridge_actor (
    did         TEXT PRIMARY KEY,
    handle      TEXT NOT NULL DEFAULT '',
    account     TEXT NOT NULL,             -- the server account that bridges (or would bridge) it
    state       TEXT NOT NULL CHECK (state IN ('bridged', 'waiting', 'blocked', 'opted-out')),
    reason      TEXT NOT NULL DEFAULT '',
    since       TEXT NOT NULL,             -- when it entered its state
    first_seen  TEXT NOT NULL,
    last_seen   TEXT NOT NULL,             -- the last time a pass read it
    updated_at  TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX bridge_actor_state ON bridge_actor(state);
CREATE INDEX bridge_actor_account ON bridge_actor(account);
-- WebFinger by handle (node/federation_port.py): handles compare without case
CREATE INDEX bridge_actor_handle ON bridge_actor(lower(handle)) WHERE state = 'bridged';

-- The operator's blocks (`kith bridge block DID`): never bridged while listed.
CREATE TABLE bridge_block (
    did         TEXT PRIMARY KEY,
    created_at  TEXT NOT NULL
) WITHOUT ROWID;

-- Per event stream: the last sequence number whose events were applied, and when the bridge last caught up
-- (a full pass, or a stream pass that went quiet): what `kith bridge status` reports as lag.
CREATE TABLE bridge_stream (
    stream      TEXT PRIMARY KEY,          -- 'bluesky'
    cursor      INTEGER,
    synced_at   TEXT,
    updated_at  TEXT NOT NULL
) WITHOUT ROWID;

-- The old document, moved. Its moments were Python isoformat() text (with microseconds and +00:00).
INSERT INTO bridge_actor (did, handle, account, state, reason, since, first_seen, last_seen, updated_at)
SELECT a.key,
       COALESCE(json_extract(a.value, '$.handle'), ''),
       replace(lower(a.key), ':', '.'),
       json_extract(a.value, '$.state'),
       COALESCE(json_extract(a.value, '$.reason'), ''),
       COALESCE(strftime('%Y-%m-%dT%H:%M:%SZ', json_extract(a.value, '$.since')),
                strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
       COALESCE(strftime('%Y-%m-%dT%H:%M:%SZ', json_extract(a.value, '$.since')),
                strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
       strftime('%Y-%m-%dT%H:%M:%SZ', 'now'),
       strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
FROM server_meta m, json_each(m.value, '$.actors') a
WHERE m.key = 'bridge.bluesky' AND json_valid(m.value);

INSERT INTO bridge_block (did, created_at)
SELECT DISTINCT b.value, strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
FROM server_meta m, json_each(m.value) b
WHERE m.key = 'bridge.bluesky.blocked' AND json_valid(m.value) AND b.type = 'text';

INSERT INTO bridge_stream (stream, cursor, synced_at, updated_at)
SELECT 'bluesky',
       CASE WHEN json_type(m.value, '$.cursor') = 'integer' THEN json_extract(m.value, '$.cursor') END,
       strftime('%Y-%m-%dT%H:%M:%SZ', json_extract(m.value, '$.synced_at')),
       strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
FROM server_meta m
WHERE m.key = 'bridge.bluesky' AND json_valid(m.value);

INSERT INTO server_meta (key, value)
SELECT 'bridge.bluesky.bot_did', json_extract(m.value, '$.bot_did')
FROM server_meta m
WHERE m.key = 'bridge.bluesky' AND json_valid(m.value) AND json_type(m.value, '$.bot_did') = 'text';

DELETE FROM server_meta WHERE key IN ('bridge.bluesky', 'bridge.bluesky.blocked');
