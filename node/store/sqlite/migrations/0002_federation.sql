-- Federation's own tables (federation/store.py holds every statement that touches them).
-- Times are Unix seconds (REAL) from the node's clock. Queue rows follow docs/ARCHITECTURE.md §3.3: state, when it last
-- changed, when to try next, a lock expiry and an attempt count.

CREATE TABLE fed_actors (
    id              TEXT PRIMARY KEY,          -- actor URL
    host            TEXT NOT NULL,
    acct            TEXT,                      -- user@host after a WebFinger round trip
    key_id          TEXT NOT NULL,
    key_pem         TEXT NOT NULL,
    inbox           TEXT NOT NULL,
    shared_inbox    TEXT,
    is_kith         INTEGER NOT NULL DEFAULT 0,
    gone            INTEGER NOT NULL DEFAULT 0,
    moved_to        TEXT,
    doc             TEXT NOT NULL,             -- the actor document as fetched (JSON)
    fetched_at      REAL NOT NULL,
    key_refetched_at REAL                      -- last re-fetch after a failed verification (rate limit)
);
CREATE UNIQUE INDEX fed_actors_key ON fed_actors(key_id);
CREATE INDEX fed_actors_acct ON fed_actors(acct);

-- Follows both ways. direction 'in': they follow the owner; 'out': the owner follows them.
-- state: pending | accepted | rejected | cancelled | ended (FOLLOW_REQUEST in protocol/states.py)
CREATE TABLE fed_follows (
    follow_id   TEXT PRIMARY KEY,              -- the Follow activity's id, matched by Accept/Reject/Undo
    direction   TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    actor_id    TEXT NOT NULL,
    state       TEXT NOT NULL,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);
CREATE INDEX fed_follows_actor ON fed_follows(direction, actor_id, state);

-- Kith relationship offers both ways. state: RELATIONSHIP_OFFER in protocol/states.py
CREATE TABLE fed_offers (
    offer_id    TEXT PRIMARY KEY,              -- the Offer activity's id
    direction   TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    actor_id    TEXT NOT NULL,
    rel_type    TEXT NOT NULL,
    record      TEXT NOT NULL,                 -- the Relationship record as offered (with the offerer's proof)
    final       TEXT,                          -- the record with both proofs, once accepted
    state       TEXT NOT NULL,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);
CREATE INDEX fed_offers_actor ON fed_offers(actor_id, state);

-- Received activities, stored before the 202. state: INBOX_ITEM in protocol/states.py
CREATE TABLE fed_inbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    activity_id     TEXT NOT NULL UNIQUE,      -- dedupe: a replay is answered 202 and stored once
    actor_id        TEXT NOT NULL,
    type            TEXT NOT NULL,
    body            TEXT NOT NULL,
    received_at     REAL NOT NULL,
    state           TEXT NOT NULL DEFAULT 'received',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    lock_expires_at REAL,
    last_error      TEXT,
    updated_at      REAL NOT NULL
);
CREATE INDEX fed_inbox_due ON fed_inbox(state, next_attempt_at);

-- Activities we send, written before any delivery is attempted.
CREATE TABLE fed_outbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    activity_id TEXT NOT NULL UNIQUE,
    type        TEXT NOT NULL,
    body        TEXT NOT NULL,
    public      INTEGER NOT NULL DEFAULT 0,    -- listed in the public outbox collection
    created_at  REAL NOT NULL
);

-- One row per (activity, inbox). state: DELIVERY in protocol/states.py
CREATE TABLE fed_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    outbox_seq      INTEGER NOT NULL REFERENCES fed_outbox(seq) ON DELETE CASCADE,
    inbox           TEXT NOT NULL,
    host            TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'queued',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    lock_expires_at REAL,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL,
    UNIQUE (outbox_seq, inbox)
);
CREATE INDEX fed_deliveries_due ON fed_deliveries(state, next_attempt_at);
CREATE INDEX fed_deliveries_host ON fed_deliveries(host, state);

-- Per remote host: circuit breaker, dead-lettering, and the signature scheme that worked (double knock).
CREATE TABLE fed_hosts (
    host                 TEXT PRIMARY KEY,
    failures             INTEGER NOT NULL DEFAULT 0,   -- consecutive failed attempts
    first_failure_at     REAL,
    open_until           REAL,                          -- circuit open: no attempts before this time
    dead                 INTEGER NOT NULL DEFAULT 0,    -- dead-lettered: only a probe now and then
    scheme               TEXT,                          -- 'cavage' | 'rfc9421'
    updated_at           REAL NOT NULL
);

-- Blocks of actors and whole domains, enforced on every inbound and outbound path.
CREATE TABLE fed_blocks (
    kind        TEXT NOT NULL CHECK (kind IN ('actor', 'domain')),
    value       TEXT NOT NULL,
    block_id    TEXT,                          -- the Block activity we sent, for its Undo
    created_at  REAL NOT NULL,
    PRIMARY KEY (kind, value)
);

-- Blocks others sent us: we stop delivering to them and hide the owner from them.
CREATE TABLE fed_blocked_by (
    actor_id    TEXT PRIMARY KEY,
    block_id    TEXT NOT NULL,
    created_at  REAL NOT NULL
);

-- Small federation settings of the owner's actor: alsoKnownAs aliases, movedTo after a move.
CREATE TABLE fed_settings (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL                      -- JSON
);
