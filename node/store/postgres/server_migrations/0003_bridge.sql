-- The Bluesky bridge's own state in schema kith: the same tables as SQLite's
-- node/store/server_migrations/0003_bridge.sql (which says what each holds and why they replaced the JSON
-- document in server_meta), and the same move of that document into them, in this migration's transaction.

CREATE TABLE bridge_actor (
    did         text PRIMARY KEY,
    handle      text NOT NULL DEFAULT '',
    account     text NOT NULL,
    state       text NOT NULL CHECK (state IN ('bridged', 'waiting', 'blocked', 'opted-out')),
    reason      text NOT NULL DEFAULT '',
    since       text NOT NULL,
    first_seen  text NOT NULL,
    last_seen   text NOT NULL,
    updated_at  text NOT NULL
);
CREATE INDEX bridge_actor_state ON bridge_actor(state);
CREATE INDEX bridge_actor_account ON bridge_actor(account);
CREATE INDEX bridge_actor_handle ON bridge_actor(lower(handle)) WHERE state = 'bridged';

CREATE TABLE bridge_block (
    did         text PRIMARY KEY,
    created_at  text NOT NULL
);

CREATE TABLE bridge_stream (
    stream      text PRIMARY KEY,
    cursor      bigint,
    synced_at   text,
    updated_at  text NOT NULL
);

-- The old document, moved (its moments were Python isoformat() text: normalised to the stores' own form,
-- node/store/values.py's stamp).
INSERT INTO bridge_actor (did, handle, account, state, reason, since, first_seen, last_seen, updated_at)
SELECT a.key, COALESCE(a.value->>'handle', ''), replace(lower(a.key), ':', '.'), a.value->>'state',
       COALESCE(a.value->>'reason', ''), COALESCE(t.since, t.now), COALESCE(t.since, t.now), t.now, t.now
FROM server_meta m,
     jsonb_each(m.value::jsonb -> 'actors') a,
     LATERAL (SELECT to_char((a.value->>'since')::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                     to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')) AS t(since, now)
WHERE m.key = 'bridge.bluesky';

INSERT INTO bridge_block (did, created_at)
SELECT DISTINCT b.value, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
FROM server_meta m, jsonb_array_elements_text(m.value::jsonb) b
WHERE m.key = 'bridge.bluesky.blocked';

INSERT INTO bridge_stream (stream, cursor, synced_at, updated_at)
SELECT 'bluesky',
       CASE WHEN jsonb_typeof(m.value::jsonb -> 'cursor') = 'number' THEN (m.value::jsonb ->> 'cursor')::bigint END,
       to_char((m.value::jsonb ->> 'synced_at')::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
FROM server_meta m
WHERE m.key = 'bridge.bluesky';

INSERT INTO server_meta (key, value)
SELECT 'bridge.bluesky.bot_did', m.value::jsonb ->> 'bot_did'
FROM server_meta m
WHERE m.key = 'bridge.bluesky' AND jsonb_typeof(m.value::jsonb -> 'bot_did') = 'string';

DELETE FROM server_meta WHERE key IN ('bridge.bluesky', 'bridge.bluesky.blocked');
