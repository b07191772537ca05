-- Federation privacy and card order (issue #12 §1-§2, issue #19 items 1 and 3); federation/store.py holds the
-- statements that touch these columns and tables.

-- What an outbox activity is, when its body is rendered again at send time (federation/delivery.py):
-- 'card' a ProfileCard Update for one peer (re-rendered for what that peer may see now), 'profile' an Update
-- of the owner's actor to followers (re-rendered from the current public card); NULL: sent as written.
ALTER TABLE fed_outbox ADD COLUMN kind TEXT;

-- The actor a delivery is for, when it goes to that actor's personal inbox: the send-time block and disclosure
-- checks ask about it. NULL for shared inboxes (a host, not an actor).
ALTER TABLE fed_deliveries ADD COLUMN actor_id TEXT;
CREATE INDEX fed_deliveries_actor ON fed_deliveries(actor_id, outbox_seq) WHERE actor_id IS NOT NULL;
CREATE INDEX fed_deliveries_inbox ON fed_deliveries(inbox, outbox_seq);

-- The last card applied from each Kith peer: an older one (by `updated`) arriving later is dropped. Identities
-- the card claimed that their actors did not confirm are kept here, unverified, out of the graph.
CREATE TABLE fed_cards_received (
    actor_id     TEXT PRIMARY KEY,
    updated      TEXT NOT NULL,              -- the card's `updated` (YYYY-MM-DDThh:mm:ssZ sorts as text)
    activity_id  TEXT,
    unverified   TEXT NOT NULL DEFAULT '[]', -- JSON list of claimed identities not confirmed
    received_at  REAL NOT NULL
);
