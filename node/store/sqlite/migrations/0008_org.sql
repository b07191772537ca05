-- Organisations (specs/ORGANISATIONS.md). Every account holds both halves; an organisation's account fills
-- the org_* tables of the organisation side, a person's account the member side. node/store/sqlite/org.py
-- and node/store/sqlite/org_member.py hold every statement that touches them. Times are ISO-8601 UTC text.

-- == the organisation's side ==================================================================================

-- Who is a member, in which role. A row stays after the member leaves or is removed (state), so that the
-- directory's history and a late record from a former member are told apart from a stranger's.
CREATE TABLE org_member (
    actor      TEXT PRIMARY KEY,
    acct       TEXT,
    name       TEXT,
    role       TEXT NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
    state      TEXT NOT NULL CHECK (state IN ('active', 'left', 'removed')),
    joined_at  TEXT NOT NULL,
    ended_at   TEXT
) WITHOUT ROWID;

-- The organisation's settings (JSON values): the sharing cap, its domains, the default cool-down.
CREATE TABLE org_setting (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
) WITHOUT ROWID;

-- People the members' shared records describe, merged across members by the identity rules of imports
-- (docs/ARCHITECTURE.md §7: a shared verified identifier merges; a name alone never does). Derived: rebuilt
-- from org_shared whenever records come or go, so that a person left with no record is gone.
CREATE TABLE org_person (
    pk            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    organization  TEXT,            -- every organisation name the records give, joined by ' · '
    updated_at    TEXT NOT NULL
);
-- The words of each person's name (field 0) and organisations (field 1), for who-knows by prefix. A plain
-- table rather than FTS5: a deleted row of it is gone from the file (secure_delete), where an FTS5 index keeps
-- deleted words in its segments until they are merged.
CREATE TABLE org_person_word (
    field      INTEGER NOT NULL,
    word       TEXT NOT NULL,
    person_pk  INTEGER NOT NULL,
    PRIMARY KEY (field, word, person_pk)
) WITHOUT ROWID;
CREATE INDEX org_person_word_person ON org_person_word(person_pk);

-- One member's record of one person, as received (record: the JSON as signed, the evidence).
CREATE TABLE org_shared (
    pk            INTEGER PRIMARY KEY,
    record_id     TEXT NOT NULL UNIQUE,
    member        TEXT NOT NULL,
    person_pk     INTEGER NOT NULL,
    level         TEXT NOT NULL,
    version       INTEGER NOT NULL,
    name          TEXT NOT NULL,
    organization  TEXT,
    strength      REAL,            -- NULL below level interactions: the bucket is all that was shared
    bucket        TEXT NOT NULL,
    explained     TEXT,
    last_contact  TEXT,
    last_channel  TEXT,
    record        TEXT NOT NULL,
    received_at   TEXT NOT NULL
);
CREATE INDEX org_shared_member ON org_shared(member);
CREATE INDEX org_shared_person ON org_shared(person_pk);

CREATE TABLE org_shared_identity (
    uri        TEXT NOT NULL,
    shared_pk  INTEGER NOT NULL REFERENCES org_shared(pk) ON DELETE CASCADE,
    merges     INTEGER NOT NULL,   -- 1: an identifier two records are merged on
    PRIMARY KEY (uri, shared_pk)
) WITHOUT ROWID;
CREATE INDEX org_shared_identity_record ON org_shared_identity(shared_pk);

CREATE TABLE org_shared_interaction (
    shared_pk     INTEGER NOT NULL REFERENCES org_shared(pk) ON DELETE CASCADE,
    occurred_at   TEXT NOT NULL,
    channel       TEXT NOT NULL,
    initiated_by  TEXT NOT NULL
);
CREATE INDEX org_shared_interaction_record ON org_shared_interaction(shared_pk);

CREATE TABLE org_shared_note (
    shared_pk  INTEGER NOT NULL REFERENCES org_shared(pk) ON DELETE CASCADE,
    body       TEXT NOT NULL
);
CREATE INDEX org_shared_note_record ON org_shared_note(shared_pk);

-- Records a member withdrew, with the version of the withdrawal: an older copy arriving late stays out.
CREATE TABLE org_withdrawn (
    record_id  TEXT PRIMARY KEY,
    member     TEXT NOT NULL,
    version    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX org_withdrawn_member ON org_withdrawn(member);

-- Contact policies: one per person (named by the addresses it was set on) or per company.
CREATE TABLE org_policy (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('person', 'company')),
    target          TEXT NOT NULL,   -- person: the first address, company: the folded name
    name            TEXT NOT NULL,
    identities      TEXT NOT NULL DEFAULT '[]',
    owner           TEXT,
    dnc_reason      TEXT,
    dnc_by          TEXT,
    cool_down_days  INTEGER,
    updated_at      TEXT NOT NULL,
    UNIQUE (kind, target)
);

-- Introductions members asked for, and whom each was asked of (anonymous to the requester until accepted).
CREATE TABLE org_intro (
    id               TEXT PRIMARY KEY,
    requester        TEXT NOT NULL,
    name             TEXT NOT NULL,
    note             TEXT,
    state            TEXT NOT NULL,   -- INTRODUCTION in protocol/states.py
    introducer       TEXT,
    introducer_note  TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX org_intro_requester ON org_intro(requester);

CREATE TABLE org_intro_ask (
    ask_id     TEXT PRIMARY KEY,     -- the Offer sent to the introducer
    intro_id   TEXT NOT NULL REFERENCES org_intro(id) ON DELETE CASCADE,
    member     TEXT NOT NULL,
    record_id  TEXT NOT NULL,        -- the introducer's own shared record it is about
    state      TEXT NOT NULL         -- RELATIONSHIP_OFFER: offered, accepted, rejected, revoked, expired
) WITHOUT ROWID;
CREATE INDEX org_intro_ask_intro ON org_intro_ask(intro_id);

-- == a member's side ==========================================================================================

-- Each organisation the owner joined (or asked to join): the default sharing level for it, what the
-- organisation last told (its info: directory, cap, domains, policies), and the state of sharing with it.
CREATE TABLE org_membership (
    org           TEXT PRIMARY KEY,
    level         TEXT NOT NULL DEFAULT 'none',
    info          TEXT,              -- the last OrganizationInfo received, as sent (JSON)
    info_updated  TEXT,
    share_seq     INTEGER NOT NULL DEFAULT 0,   -- versions given to shared records so far
    reconciled    TEXT,              -- what the graph and the settings were when last shared (a fingerprint)
    deleted_count INTEGER,           -- what the organisation said it deleted when the membership ended
    deleted_at    TEXT,
    created_at    TEXT NOT NULL
) WITHOUT ROWID;

-- Per circle and per person overrides of the default level ('none': never shared).
CREATE TABLE org_share_rule (
    org     TEXT NOT NULL,
    scope   TEXT NOT NULL CHECK (scope IN ('circle', 'person')),
    target  TEXT NOT NULL COLLATE NOCASE,
    level   TEXT NOT NULL,
    PRIMARY KEY (org, scope, target)
) WITHOUT ROWID;

-- Notes the owner chose to share (at level notes).
CREATE TABLE org_note_share (
    org      TEXT NOT NULL,
    note_id  TEXT NOT NULL,
    PRIMARY KEY (org, note_id)
) WITHOUT ROWID;

-- What was last sent for each person: the outbox of changes compares the graph with it (a change is sent once
-- its row here differs from what the graph says now, so a change saved before a crash is sent after it).
CREATE TABLE org_sent (
    org        TEXT NOT NULL,
    person_id  TEXT NOT NULL,
    record_id  TEXT NOT NULL,
    digest     TEXT NOT NULL,
    version    INTEGER NOT NULL,
    level      TEXT NOT NULL,
    sent_at    TEXT NOT NULL,
    PRIMARY KEY (org, person_id)
) WITHOUT ROWID;

-- Introductions on this side: the ones the owner asked for, and the ones the organisation asked of them.
CREATE TABLE org_intro_local (
    id          TEXT PRIMARY KEY,    -- the introduction's id (on the organisation's server)
    org         TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('requester', 'introducer')),
    name        TEXT NOT NULL,
    person_id   TEXT,                -- introducer: the person of their graph it is about
    requester   TEXT,
    introducer  TEXT,
    note        TEXT,
    answer      TEXT,                -- introducer: their note on accepting
    ask_id      TEXT,                -- introducer: the Offer to answer
    state       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) WITHOUT ROWID;
