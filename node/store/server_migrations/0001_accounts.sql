-- The server's own database (server.sqlite3): the accounts it hosts and what belongs to each account's actor
-- rather than to its contact graph. Each account's graph lives in a database file of its own
-- (specs/STORAGE.md explains the layout and why).

CREATE TABLE server_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- One row per account name ever used: a removed or purged account keeps its row, so that its name is never
-- handed to someone else (peers still hold records and follows naming its actor URL).
CREATE TABLE account (
    pk            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    type          TEXT NOT NULL CHECK (type IN ('Person', 'Organization')),
    display_name  TEXT NOT NULL DEFAULT '',
    state         TEXT NOT NULL DEFAULT 'active'
                  CHECK (state IN ('active', 'suspended', 'removed', 'purged')),
    graph_file    TEXT NOT NULL,            -- the account's graph database, relative to the data folder
    token_sha256  TEXT UNIQUE,              -- the owner API token's digest: a token names exactly one account
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    removed_at    TEXT,
    purge_after   TEXT                      -- a removed account's data is purged after this time
);

-- The account actor's private keys: RSA-2048 (HTTP signatures) and Ed25519 (record proofs), as PEM, encrypted
-- with the server's passphrase when it has one (server_meta 'keys_sealed').
CREATE TABLE account_key (
    account_pk  INTEGER NOT NULL REFERENCES account(pk) ON DELETE CASCADE,
    purpose     TEXT NOT NULL CHECK (purpose IN ('rsa', 'ed25519')),
    pem         TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (account_pk, purpose)
) WITHOUT ROWID;
