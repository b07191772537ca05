-- The stay-in-touch loop (issue 16): mail and calendar capture, reminders the owner snoozes or marks done,
-- digests sent at most once per period, and the owner's preferred channel per person.

-- Every captured message once, keyed by its Message-ID, whoever it involved: a message seen in two folders,
-- or again after the server changed UIDVALIDITY, is counted once. No body is ever stored; the subject only
-- when the owner turned subjects on.
CREATE TABLE mail_message (
    pk           INTEGER PRIMARY KEY,
    message_id   TEXT NOT NULL UNIQUE,
    occurred_at  TEXT NOT NULL,
    from_owner   INTEGER NOT NULL,
    initiated_by TEXT NOT NULL CHECK (initiated_by IN ('owner', 'them', 'unknown')),
    in_reply_to  TEXT,
    subject      TEXT NOT NULL DEFAULT ''
);

-- Who took part in each message (other than the owner), for messages small enough to be a conversation:
-- when the owner accepts a proposed person, their past messages become interactions from these rows.
CREATE TABLE mail_participant (
    address    TEXT NOT NULL,              -- mailto: uri, plus-addressing folded
    message_pk INTEGER NOT NULL REFERENCES mail_message(pk) ON DELETE CASCADE,
    PRIMARY KEY (address, message_pk)
) WITHOUT ROWID;

-- Correspondents seen in mail: how often each way, for proposing the two-way ones as new people.
CREATE TABLE mail_correspondent (
    address    TEXT PRIMARY KEY,           -- mailto: uri, plus-addressing folded
    name       TEXT NOT NULL DEFAULT '',
    sent       INTEGER NOT NULL DEFAULT 0, -- messages the owner sent them (in a group of at most five)
    received   INTEGER NOT NULL DEFAULT 0, -- personal messages they sent the owner
    first_at   TEXT NOT NULL,
    last_at    TEXT NOT NULL,
    status     TEXT NOT NULL DEFAULT 'seen' CHECK (status IN ('seen', 'proposed', 'accepted', 'dismissed'))
) WITHOUT ROWID;
CREATE INDEX mail_correspondent_status ON mail_correspondent(status);

-- Reminders the owner acted on: snoozed until a time, or done (for that occurrence: the key names it).
CREATE TABLE reminder_state (
    item       TEXT PRIMARY KEY,           -- e.g. "due:p_x:2026-11-22", "birthday:p_x:2026", "cadence:p_x"
    state      TEXT NOT NULL CHECK (state IN ('snoozed', 'done')),
    until      TEXT,                       -- snoozed until this time
    updated_at TEXT NOT NULL
) WITHOUT ROWID;

-- Digests: one row per period, claimed before the mail is sent, so that a digest goes out at most once per
-- period even across restarts and several servers on one folder.
CREATE TABLE digest_sent (
    period     TEXT PRIMARY KEY,           -- "day:2026-11-22" or "week:2026-W47"
    state      TEXT NOT NULL CHECK (state IN ('sending', 'sent', 'failed')),
    attempts   INTEGER NOT NULL DEFAULT 1,
    error      TEXT,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;

-- The identity the owner prefers to reach a person by.
CREATE TABLE reach_preference (
    person_pk  INTEGER PRIMARY KEY REFERENCES person(pk) ON DELETE CASCADE,
    uri        TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
