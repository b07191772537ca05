-- Federation interop (issue 19, issue 12 §7); federation/store.py holds every statement that uses these.
--
-- fed_inbox.request: a digest of the signature that carried each received activity. Dedupe by activity id
-- alone lost new requests from servers that reuse an id (a re-Follow after an Undo, its Accept and its
-- Undo: one follow record per pair, as Takahē keeps). A finished item whose id comes again in another signed
-- request is such a new request; the very same signed request again is a replay, and stays a duplicate.
-- NULL for items stored before this column existed.
ALTER TABLE fed_inbox ADD COLUMN request TEXT;
