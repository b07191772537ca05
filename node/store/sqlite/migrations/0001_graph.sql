-- The contact graph. Ids exposed to the owner are random text (person.id ...); joins use integer rowids.
-- Timestamps are ISO-8601 UTC text ("2026-11-22T10:00:00Z"), which sorts correctly as text.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE person (
    pk               INTEGER PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    display_name     TEXT NOT NULL DEFAULT '',
    given_name       TEXT,
    family_name      TEXT,
    nickname         TEXT,
    organization     TEXT,
    title            TEXT,
    birthday         TEXT,
    photo_url        TEXT,
    priority         INTEGER NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 3),
    cadence_days     INTEGER CHECK (cadence_days IS NULL OR cadence_days > 0),
    -- Materialised so that "who is due" is one index range scan: the person's own cadence, else the
    -- shortest cadence of their circles; due_at = last touch (or created_at) + that cadence.
    effective_cadence_days INTEGER,
    last_interaction_at    TEXT,
    due_at                 TEXT,
    interaction_count      INTEGER NOT NULL DEFAULT 0,
    initiated_by_them      INTEGER NOT NULL DEFAULT 0,
    initiated_by_owner     INTEGER NOT NULL DEFAULT 0,
    met_on           TEXT,
    status           TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived', 'merged')),
    merged_into      INTEGER REFERENCES person(pk),
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX person_due ON person(due_at) WHERE status = 'active' AND due_at IS NOT NULL;
CREATE INDEX person_status_name ON person(status, display_name);

CREATE TABLE identity (
    pk           INTEGER PRIMARY KEY,
    person_pk    INTEGER REFERENCES person(pk) ON DELETE CASCADE,
    uri          TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    display      TEXT NOT NULL,
    label        TEXT,
    verification TEXT NOT NULL CHECK (verification IN ('signed', 'two-way', 'email-match', 'claimed', 'guessed')),
    state        TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'gone', 'moved')),
    moved_to     TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX identity_person ON identity(person_pk);

CREATE TABLE provenance (
    identity_pk      INTEGER NOT NULL REFERENCES identity(pk) ON DELETE CASCADE,
    source           TEXT NOT NULL,
    source_record_id TEXT NOT NULL DEFAULT '',
    seen_at          TEXT NOT NULL,
    PRIMARY KEY (identity_pk, source, source_record_id)
) WITHOUT ROWID;

-- Which person a source's record became, so that re-importing the same export changes nothing even for
-- records with no identity (a Facebook friend is only a name).
CREATE TABLE source_record (
    source     TEXT NOT NULL,
    record_id  TEXT NOT NULL,
    person_pk  INTEGER NOT NULL REFERENCES person(pk) ON DELETE CASCADE,
    digest     TEXT NOT NULL DEFAULT '',
    seen_at    TEXT NOT NULL,
    PRIMARY KEY (source, record_id)
) WITHOUT ROWID;
CREATE INDEX source_record_person ON source_record(person_pk);

CREATE TABLE relationship (
    pk           INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    person_pk    INTEGER NOT NULL REFERENCES person(pk) ON DELETE CASCADE,
    -- NULL: between the owner and person_pk; else between person_pk and other_pk (e.g. vCard RELATED).
    other_pk     INTEGER REFERENCES person(pk) ON DELETE CASCADE,
    type         TEXT NOT NULL,
    iri          TEXT NOT NULL,
    direction    TEXT NOT NULL CHECK (direction IN ('outgoing', 'incoming', 'mutual')),
    since        TEXT,
    how_we_met   TEXT,
    status       TEXT NOT NULL DEFAULT 'local'
                 CHECK (status IN ('local', 'offered', 'pending', 'accepted', 'rejected', 'revoked')),
    record_json  TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX relationship_person ON relationship(person_pk);
CREATE INDEX relationship_other ON relationship(other_pk) WHERE other_pk IS NOT NULL;

CREATE TABLE interaction (
    pk               INTEGER PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    occurred_at      TEXT NOT NULL,
    channel          TEXT NOT NULL CHECK (channel IN ('message', 'email', 'call', 'meeting', 'comment', 'other')),
    initiated_by     TEXT NOT NULL CHECK (initiated_by IN ('owner', 'them', 'unknown')),
    summary          TEXT NOT NULL DEFAULT '',
    source           TEXT NOT NULL DEFAULT 'owner',
    source_record_id TEXT,
    created_at       TEXT NOT NULL
);
CREATE UNIQUE INDEX interaction_source ON interaction(source, source_record_id) WHERE source_record_id IS NOT NULL;

CREATE TABLE interaction_person (
    person_pk      INTEGER NOT NULL REFERENCES person(pk) ON DELETE CASCADE,
    interaction_pk INTEGER NOT NULL REFERENCES interaction(pk) ON DELETE CASCADE,
    PRIMARY KEY (person_pk, interaction_pk)
) WITHOUT ROWID;
CREATE INDEX interaction_person_rev ON interaction_person(interaction_pk);

CREATE TABLE note (
    pk         INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    person_pk  INTEGER NOT NULL REFERENCES person(pk) ON DELETE CASCADE,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX note_person ON note(person_pk);

CREATE TABLE circle (
    pk           INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    cadence_days INTEGER CHECK (cadence_days IS NULL OR cadence_days > 0),
    created_at   TEXT NOT NULL
);

CREATE TABLE circle_member (
    circle_pk INTEGER NOT NULL REFERENCES circle(pk) ON DELETE CASCADE,
    person_pk INTEGER NOT NULL REFERENCES person(pk) ON DELETE CASCADE,
    PRIMARY KEY (circle_pk, person_pk)
) WITHOUT ROWID;
CREATE INDEX circle_member_person ON circle_member(person_pk);

CREATE TABLE merge_log (
    pk          INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    survivor_pk INTEGER NOT NULL REFERENCES person(pk),
    merged_pk   INTEGER NOT NULL REFERENCES person(pk),
    decided_by  TEXT NOT NULL CHECK (decided_by IN ('owner', 'automatic')),
    evidence    TEXT NOT NULL,  -- JSON list of {kind, detail}
    snapshot    TEXT NOT NULL,  -- JSON: both people's rows and associations before the merge
    created_at  TEXT NOT NULL,
    undone_at   TEXT
);

CREATE TABLE merge_suggestion (
    pk         INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    a_pk       INTEGER NOT NULL REFERENCES person(pk) ON DELETE CASCADE,
    b_pk       INTEGER NOT NULL REFERENCES person(pk) ON DELETE CASCADE,
    tier       TEXT NOT NULL CHECK (tier IN ('automatic', 'suggested', 'ask')),
    evidence   TEXT NOT NULL,
    status     TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'merged', 'dismissed')),
    created_at TEXT NOT NULL,
    UNIQUE (a_pk, b_pk)
);

-- Addresses the owner never wants to hear from (imports of Mastodon block lists, `kith block`).
CREATE TABLE blocked_address (
    uri        TEXT PRIMARY KEY,
    source     TEXT NOT NULL,
    created_at TEXT NOT NULL
) WITHOUT ROWID;

-- Full-text search over names, organisations, identities and notes; rowid = person.pk. Maintained by the
-- store explicitly (no triggers: a per-row trigger costs an order of magnitude on bulk imports).
CREATE VIRTUAL TABLE person_fts USING fts5(
    names, organization, identities, notes,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);
