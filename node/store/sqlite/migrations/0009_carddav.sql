-- CardDAV (issue #17): the change log behind sync tokens and ETags, published circles and app passwords.
-- node/store/sqlite/dav.py holds every statement that reads or writes these tables.
--
-- dav_card is a compacted change log: one row per card (a person, or a circle shown as a group card), carrying
-- the account-wide change counter (seq) of the card's last change. A card whose person is archived, merged or
-- deleted keeps its row, so a sync-collection report still names it as removed (RFC 6578 §3.5.2); rows are
-- never deleted. ETags and sync tokens are made from seq: a card's ETag changes exactly when its row's seq does.
--
-- The rows are kept by triggers, not by the store's write paths: every path that changes what a card shows
-- (the API, the web UI, the CLI, imports in their worker process, merges and their undo, federated card
-- updates, restores) changes one of the tables below, so the log cannot miss one that a future change adds.
-- Each trigger does one indexed upsert or update (max(seq) is read off the unique index), not the full-text
-- work the store keeps explicit (migration 0001).
CREATE TABLE dav_card (
    pk          INTEGER PRIMARY KEY,
    person_pk   INTEGER UNIQUE,               -- no foreign key: the row outlives a deleted person
    circle_pk   INTEGER UNIQUE,               -- a group card (KIND:group): the circle's members
    href        TEXT NOT NULL UNIQUE,         -- the card's name in its address books ("<id>.vcf" or the client's)
    uid         TEXT NOT NULL,                -- the vCard UID
    seq         INTEGER NOT NULL,             -- the change counter when this card last changed
    extra       TEXT,                         -- JSON: what the last CardDAV PUT said that the graph has no field for
    edited_by   TEXT,                         -- the app password of the last CardDAV PUT
    edited_at   TEXT,
    CHECK ((person_pk IS NULL) != (circle_pk IS NULL))
);
CREATE INDEX dav_card_uid ON dav_card(uid);
-- Changes since a token are a range of this index. Cards changed by one statement (a circle renamed, a merge
-- moving notes) share a seq: a token is a point in time, and both came after it.
CREATE INDEX dav_card_seq ON dav_card(seq);

-- Who left which circle, and when (seq): a circle's book reports them as removed, and only them, besides its
-- members' own changes (a change to someone who was never in the circle is no news to that book).
CREATE TABLE dav_departure (
    circle_pk   INTEGER NOT NULL,
    person_pk   INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    PRIMARY KEY (circle_pk, person_pk)
) WITHOUT ROWID;

INSERT INTO dav_card (person_pk, href, uid, seq)
SELECT pk, id || '.vcf', 'urn:kith:' || id, row_number() OVER (ORDER BY pk) FROM person;
INSERT INTO dav_card (circle_pk, href, uid, seq)
SELECT pk, 'group-' || id || '.vcf', 'urn:kith:' || id,
       (SELECT coalesce(max(seq), 0) FROM dav_card) + row_number() OVER (ORDER BY pk) FROM circle;

-- Tokens name this epoch: a database restored elsewhere, or replaced, gets a new one, so that a client holding
-- a token of the old file is told to sync afresh (DAV:valid-sync-token) rather than handed a wrong difference.
INSERT INTO meta (key, value) VALUES ('dav_epoch', lower(hex(randomblob(8))))
ON CONFLICT(key) DO NOTHING;

CREATE TRIGGER dav_person_insert AFTER INSERT ON person BEGIN
    INSERT INTO dav_card (person_pk, href, uid, seq)
    VALUES (NEW.pk, NEW.id || '.vcf', 'urn:kith:' || NEW.id, (SELECT coalesce(max(seq), 0) + 1 FROM dav_card))
    ON CONFLICT (person_pk) DO UPDATE SET seq = excluded.seq;
END;
CREATE TRIGGER dav_person_update AFTER UPDATE OF display_name, given_name, family_name, nickname, organization,
    title, birthday, photo_url, status, merged_into ON person BEGIN
    UPDATE dav_card SET seq = (SELECT max(seq) FROM dav_card) + 1 WHERE person_pk = NEW.pk;
END;
CREATE TRIGGER dav_person_delete AFTER DELETE ON person BEGIN
    UPDATE dav_card SET seq = (SELECT max(seq) FROM dav_card) + 1 WHERE person_pk = OLD.pk;
END;

CREATE TRIGGER dav_identity_insert AFTER INSERT ON identity BEGIN
    UPDATE dav_card SET seq = (SELECT max(seq) FROM dav_card) + 1 WHERE person_pk = NEW.person_pk;
END;
CREATE TRIGGER dav_identity_update AFTER UPDATE OF person_pk, uri, kind, display, label, state ON identity BEGIN
    UPDATE dav_card SET seq = (SELECT max(seq) FROM dav_card) + 1 WHERE person_pk = OLD.person_pk;
    UPDATE dav_card SET seq = (SELECT max(seq) FROM dav_card) + 1
    WHERE person_pk = NEW.person_pk AND NEW.person_pk IS NOT OLD.person_pk;
END;
CREATE TRIGGER dav_identity_delete AFTER DELETE ON identity BEGIN
    UPDATE dav_card SET seq = (SELECT max(seq) FROM dav_card) + 1 WHERE person_pk = OLD.person_pk;
END;

CREATE TRIGGER dav_note_insert AFTER INSERT ON note BEGIN
    UPDATE dav_card SET seq = (SELECT max(seq) FROM dav_card) + 1 WHERE person_pk = NEW.person_pk;
END;
CREATE TRIGGER dav_note_update AFTER UPDATE OF body, person_pk ON note BEGIN
    UPDATE dav_card SET seq = (SELECT max(seq) FROM dav_card) + 1 WHERE person_pk = OLD.person_pk;
    UPDATE dav_card SET seq = (SELECT max(seq) FROM dav_card) + 1
    WHERE person_pk = NEW.person_pk AND NEW.person_pk IS NOT OLD.person_pk;
END;
CREATE TRIGGER dav_note_delete AFTER DELETE ON note BEGIN
    UPDATE dav_card SET seq = (SELECT max(seq) FROM dav_card) + 1 WHERE person_pk = OLD.person_pk;
END;

-- A membership shows on the person's card (CATEGORIES) and on the circle's group card (its members).
CREATE TRIGGER dav_member_insert AFTER INSERT ON circle_member BEGIN
    UPDATE dav_card SET seq = (SELECT max(seq) FROM dav_card) + 1 WHERE person_pk = NEW.person_pk;
    UPDATE dav_card SET seq = (SELECT max(seq) FROM dav_card) + 1 WHERE circle_pk = NEW.circle_pk;
END;
CREATE TRIGGER dav_member_delete AFTER DELETE ON circle_member BEGIN
    UPDATE dav_card SET seq = (SELECT max(seq) FROM dav_card) + 1 WHERE person_pk = OLD.person_pk;
    INSERT INTO dav_departure (circle_pk, person_pk, seq) VALUES (OLD.circle_pk, OLD.person_pk,
        (SELECT max(seq) FROM dav_card))
    ON CONFLICT (circle_pk, person_pk) DO UPDATE SET seq = excluded.seq;
    UPDATE dav_card SET seq = (SELECT max(seq) FROM dav_card) + 1 WHERE circle_pk = OLD.circle_pk;
END;

CREATE TRIGGER dav_circle_insert AFTER INSERT ON circle BEGIN
    INSERT INTO dav_card (circle_pk, href, uid, seq)
    VALUES (NEW.pk, 'group-' || NEW.id || '.vcf', 'urn:kith:' || NEW.id,
            (SELECT coalesce(max(seq), 0) + 1 FROM dav_card))
    ON CONFLICT (circle_pk) DO UPDATE SET seq = excluded.seq;
END;
CREATE TRIGGER dav_circle_update AFTER UPDATE OF name ON circle BEGIN
    UPDATE dav_card SET seq = (SELECT max(seq) FROM dav_card) + 1 WHERE circle_pk = NEW.pk;
    UPDATE dav_card SET seq = (SELECT max(seq) FROM dav_card) + 1
    WHERE person_pk IN (SELECT person_pk FROM circle_member WHERE circle_pk = NEW.pk);
END;
CREATE TRIGGER dav_circle_delete AFTER DELETE ON circle BEGIN
    UPDATE dav_card SET seq = (SELECT max(seq) FROM dav_card) + 1 WHERE circle_pk = OLD.pk;
END;

-- Circles the owner shows as address books of their own (`kith circle publish NAME`).
CREATE TABLE dav_book (
    circle_pk    INTEGER PRIMARY KEY REFERENCES circle(pk) ON DELETE CASCADE,
    published_at TEXT NOT NULL
);

-- Passwords for address book apps (`kith app-password add NAME`): scrypt hashes, as the web password's
-- (node/web/sessions.py). Never the owner token or the web password.
CREATE TABLE app_password (
    name         TEXT PRIMARY KEY,
    hash         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT
) WITHOUT ROWID;
