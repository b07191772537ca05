-- Federation interop (issue 19, issue 12 §7); federation/store.py holds every statement that uses these.
--
-- fed_inbox.request: a digest of the signature that carried each received activity. Dedupe by activity id
-- alone lost new requests from servers that reuse an id (a re-Follow after an Undo, its Accept and its
-- Undo: one follow record per pair, as Takahē keeps). A finished item whose id comes again in another signed
-- request is such a new request; the very same signed request again is a replay, and stays a duplicate.
-- NULL for items stored before this column existed.
ALTER TABLE fed_inbox ADD COLUMN request TEXT;

-- Actors of this node that were deleted: a Delete of each went to every follower and peer, the actor and its
-- objects answer 410 Gone with a Tombstone from then on, and nothing more is sent as it. Kept for good: a
-- deleted actor's id must never be served again (peers have forgotten it; a new actor there would be a
-- stranger wearing its name).
CREATE TABLE fed_tombstones (
    actor_id     TEXT PRIMARY KEY,
    former_type  TEXT NOT NULL,                 -- Person, Organization (the Tombstone's formerType)
    activity_id  TEXT NOT NULL,                 -- the Delete sent for it
    deleted_at   REAL NOT NULL
);
