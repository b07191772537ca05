-- Federation's state, in the server's database (node/store/sqlite/federation.py holds every statement that
-- touches these tables; federation/ports.py declares what they answer). Every row that belongs to one account
-- names it (`account`: its name, never reused, docs/ARCHITECTURE.md §8); the cache of remote actors, the health
-- of remote hosts and the workers are the server's, shared by every account. A graph database made before this
-- kept these tables itself: graph migration 0012 set them aside and the server moves their rows here.
-- Times are Unix seconds (REAL) from federation's clock. Queue rows follow docs/ARCHITECTURE.md §3.3: state,
-- when it last changed, when to try next, a lock expiry (and which worker holds it) and an attempt count.

-- Actor documents of other servers (and of this server's own accounts, read as any server reads them).
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
CREATE INDEX fed_actors_host ON fed_actors(host, is_kith);
CREATE INDEX fed_actors_inbox ON fed_actors(inbox);

-- Follows both ways. direction 'in': they follow the account; 'out': the account follows them. Two accounts of
-- this server following each other hold the same follow id, each from its own side.
-- state: pending | accepted | rejected | cancelled | ended (FOLLOW_REQUEST in protocol/states.py)
CREATE TABLE fed_follows (
    account     TEXT NOT NULL REFERENCES account(name),
    follow_id   TEXT NOT NULL,                 -- the Follow activity's id, matched by Accept/Reject/Undo
    direction   TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    actor_id    TEXT NOT NULL,
    state       TEXT NOT NULL,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    PRIMARY KEY (account, follow_id)
);
CREATE INDEX fed_follows_actor ON fed_follows(account, direction, actor_id, state);
CREATE INDEX fed_follows_by_actor ON fed_follows(actor_id, state);

-- Kith relationship offers both ways. state: RELATIONSHIP_OFFER in protocol/states.py
CREATE TABLE fed_offers (
    account     TEXT NOT NULL REFERENCES account(name),
    offer_id    TEXT NOT NULL,                 -- the Offer activity's id
    direction   TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    actor_id    TEXT NOT NULL,
    rel_type    TEXT NOT NULL,
    record_id   TEXT,                          -- the Relationship record's id (fetched at /relationships/...)
    record      TEXT NOT NULL,                 -- the Relationship record as offered (with the offerer's proof)
    final       TEXT,                          -- the record with both proofs, once accepted
    state       TEXT NOT NULL,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    PRIMARY KEY (account, offer_id)
);
CREATE INDEX fed_offers_actor ON fed_offers(account, actor_id, state);
CREATE INDEX fed_offers_by_actor ON fed_offers(actor_id, state);
CREATE INDEX fed_offers_record ON fed_offers(record_id);

-- Received activities, stored before the 202: one row per account the activity concerns.
-- state: INBOX_ITEM in protocol/states.py
CREATE TABLE fed_inbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    account         TEXT NOT NULL REFERENCES account(name),
    activity_id     TEXT NOT NULL,             -- dedupe per account: a replay is answered 202 and stored once
    actor_id        TEXT NOT NULL,
    type            TEXT NOT NULL,
    body            TEXT NOT NULL,
    received_at     REAL NOT NULL,
    state           TEXT NOT NULL DEFAULT 'received',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    lock_expires_at REAL,
    locked_by       TEXT,                      -- the worker holding the lock
    last_error      TEXT,
    updated_at      REAL NOT NULL,
    request         TEXT,                      -- a digest of the signed request that carried it (issue 19)
    UNIQUE (account, activity_id)
);
CREATE INDEX fed_inbox_due ON fed_inbox(state, next_attempt_at);
CREATE INDEX fed_inbox_activity ON fed_inbox(activity_id);

-- Activities an account sends, written before any delivery is attempted.
CREATE TABLE fed_outbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    account     TEXT NOT NULL REFERENCES account(name),
    activity_id TEXT NOT NULL UNIQUE,
    type        TEXT NOT NULL,
    body        TEXT NOT NULL,
    public      INTEGER NOT NULL DEFAULT 0,    -- listed in the account's public outbox collection
    created_at  REAL NOT NULL,
    kind        TEXT                           -- 'card' | 'profile': rendered again at send time; NULL as written
);
CREATE INDEX fed_outbox_account ON fed_outbox(account, public, seq);

-- One row per (activity, inbox), signed with its account's key. state: DELIVERY in protocol/states.py
CREATE TABLE fed_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    outbox_seq      INTEGER NOT NULL REFERENCES fed_outbox(seq) ON DELETE CASCADE,
    account         TEXT NOT NULL REFERENCES account(name),
    inbox           TEXT NOT NULL,
    host            TEXT NOT NULL,
    actor_id        TEXT,                      -- the recipient, for a personal inbox (send-time checks)
    state           TEXT NOT NULL DEFAULT 'queued',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    lock_expires_at REAL,
    locked_by       TEXT,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL,
    UNIQUE (outbox_seq, inbox)
);
CREATE INDEX fed_deliveries_due ON fed_deliveries(state, next_attempt_at);
CREATE INDEX fed_deliveries_host ON fed_deliveries(host, state);
CREATE INDEX fed_deliveries_actor ON fed_deliveries(actor_id, outbox_seq) WHERE actor_id IS NOT NULL;
CREATE INDEX fed_deliveries_inbox ON fed_deliveries(inbox, outbox_seq);
CREATE INDEX fed_deliveries_account ON fed_deliveries(account, host);

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

-- Blocks of actors and whole domains by an account, enforced on every inbound and outbound path.
CREATE TABLE fed_blocks (
    account     TEXT NOT NULL REFERENCES account(name),
    kind        TEXT NOT NULL CHECK (kind IN ('actor', 'domain')),
    value       TEXT NOT NULL,
    block_id    TEXT,                          -- the Block activity sent, for its Undo
    created_at  REAL NOT NULL,
    PRIMARY KEY (account, kind, value)
);

-- Blocks others sent an account: nothing more is delivered to them, and the account is hidden from them.
CREATE TABLE fed_blocked_by (
    account     TEXT NOT NULL REFERENCES account(name),
    actor_id    TEXT NOT NULL,
    block_id    TEXT NOT NULL,
    created_at  REAL NOT NULL,
    PRIMARY KEY (account, actor_id)
);

-- Small settings of an account's actor: alsoKnownAs aliases, movedTo after a move, and what was last
-- published (the card version, the digest of the actor document followers were sent).
CREATE TABLE fed_settings (
    account TEXT NOT NULL REFERENCES account(name),
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,                     -- JSON
    PRIMARY KEY (account, key)
);

-- Actors of this server that were deleted: a Delete of each went to every follower and peer, the actor and its
-- objects answer 410 Gone with a Tombstone from then on, and nothing more is sent as it. Kept for good, also
-- when a removed account is purged: a deleted actor's id must never be served again.
CREATE TABLE fed_tombstones (
    actor_id     TEXT PRIMARY KEY,
    account      TEXT NOT NULL REFERENCES account(name),
    former_type  TEXT NOT NULL,                 -- Person, Organization (the Tombstone's formerType)
    activity_id  TEXT NOT NULL,                 -- the Delete sent for it
    deleted_at   REAL NOT NULL
);

-- The last card an account applied from each Kith peer: an older one (by `updated`) arriving later is
-- dropped. Identities the card claimed that their actors did not confirm are kept here, out of the graph.
CREATE TABLE fed_cards_received (
    account      TEXT NOT NULL REFERENCES account(name),
    actor_id     TEXT NOT NULL,
    updated      TEXT NOT NULL,              -- the card's `updated` (YYYY-MM-DDThh:mm:ssZ sorts as text)
    activity_id  TEXT,
    unverified   TEXT NOT NULL DEFAULT '[]', -- JSON list of claimed identities not confirmed
    received_at  REAL NOT NULL,
    PRIMARY KEY (account, actor_id)
);
CREATE INDEX fed_cards_received_actor ON fed_cards_received(actor_id);

-- The processes working the queues: a claim stamps its rows with the worker; a worker that starts again
-- releases what its previous run held, and the locks of a worker not heard from for a while are released too
-- (so that several processes can share this database, none releasing another's live locks).
CREATE TABLE fed_workers (
    worker        TEXT PRIMARY KEY,
    started_at    REAL NOT NULL,
    heartbeat_at  REAL NOT NULL
);
