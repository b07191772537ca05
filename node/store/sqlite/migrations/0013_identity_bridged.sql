-- The verification level "bridged" (issue #18; specs/PROTOCOL.md "Verification levels"): an identity a bridge
-- vouches for, such as the Bluesky DID and handle of a bridged actor. SQLite cannot change a CHECK constraint in
-- place, so the identity table is rebuilt with the wider list; every row is kept as it is (older levels stay
-- valid, nothing is rewritten). Dropping the old table deletes its provenance rows (ON DELETE CASCADE, with
-- foreign keys on, as the migrations run), so they are kept aside and put back; the CardDAV triggers (0009) are
-- dropped first so that the rebuild bumps no card, and made again after. The rename runs with
-- legacy_alter_table, which does not re-check the views that name `identity` while it is briefly missing.
DROP TRIGGER dav_identity_insert;
DROP TRIGGER dav_identity_update;
DROP TRIGGER dav_identity_delete;
CREATE TEMP TABLE provenance_kept AS SELECT * FROM provenance;
CREATE TABLE identity_bridged (
    pk           INTEGER PRIMARY KEY,
    person_pk    INTEGER REFERENCES person(pk) ON DELETE CASCADE,
    uri          TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    display      TEXT NOT NULL,
    label        TEXT,
    verification TEXT NOT NULL
        CHECK (verification IN ('signed', 'two-way', 'email-match', 'bridged', 'claimed', 'guessed')),
    state        TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'gone', 'moved')),
    moved_to     TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
INSERT INTO identity_bridged (pk, person_pk, uri, kind, display, label, verification, state, moved_to,
                              created_at, updated_at)
SELECT pk, person_pk, uri, kind, display, label, verification, state, moved_to, created_at, updated_at
FROM identity;
DROP TABLE identity;
PRAGMA legacy_alter_table = ON;
ALTER TABLE identity_bridged RENAME TO identity;
PRAGMA legacy_alter_table = OFF;
INSERT INTO provenance (identity_pk, source, source_record_id, seen_at)
SELECT identity_pk, source, source_record_id, seen_at FROM temp.provenance_kept;
DROP TABLE temp.provenance_kept;
CREATE INDEX identity_person ON identity(person_pk);
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
