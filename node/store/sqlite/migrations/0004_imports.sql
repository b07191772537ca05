-- Imports and live links (issue 5). An import's graph rows are written in one transaction with its
-- import_run row finished; the run row itself is written first, so an import killed mid-way leaves a
-- 'running' row that later readers report as interrupted, and no graph rows.

CREATE TABLE import_run (
    pk          INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    source      TEXT NOT NULL,
    name        TEXT NOT NULL,           -- the file or folder name, never a full path from another machine
    status      TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'dry-run')),
    summary     TEXT,                    -- JSON: counts and skipped rows
    error       TEXT,
    started_at  TEXT NOT NULL,
    finished_at TEXT
);

-- What each source record said when it was last imported, so that a newer export updates only the person
-- fields the owner has not changed since (source_record.digest says whether anything changed at all).
ALTER TABLE source_record ADD COLUMN fields TEXT;

-- A linked live account: where it lives, the token (encrypted when the owner has a passphrase).
CREATE TABLE bridge_link (
    source      TEXT NOT NULL,
    account     TEXT NOT NULL,           -- the silo's own id or handle of the owner's account
    base_url    TEXT NOT NULL,
    secret      TEXT NOT NULL DEFAULT '',-- JSON of the credentials, or "enc:v1:..." when encrypted
    status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    resume_at   TEXT,                    -- set by a rate limit: do not call before this time
    last_sync_at TEXT,
    last_error  TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (source, account)
) WITHOUT ROWID;

-- Where an interrupted sync resumes: one cursor per link and direction, saved after every page.
CREATE TABLE sync_cursor (
    source     TEXT NOT NULL,
    account    TEXT NOT NULL,
    direction  TEXT NOT NULL,
    cursor     TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (source, account, direction)
) WITHOUT ROWID;
