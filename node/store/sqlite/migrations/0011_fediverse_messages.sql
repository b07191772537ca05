-- Fediverse direct messages and mentions (issue 16 §1 and §3; federation/messages.py): one row per note, either
-- way, beside the interaction it made. Never the note's text: where it is, what it answers, and the
-- conversation it belongs to (the first note of the thread that we know of), so that a reply to a note of ours
-- joins that note's conversation.
CREATE TABLE fedi_message (
    object_id      TEXT PRIMARY KEY,          -- the Note's id
    interaction_pk INTEGER NOT NULL REFERENCES interaction(pk) ON DELETE CASCADE,
    direction      TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    actor_id       TEXT NOT NULL,             -- the other side
    url            TEXT NOT NULL,             -- its page on its sender's origin (or its id)
    in_reply_to    TEXT,
    conversation   TEXT NOT NULL,             -- object_id of the thread's first note we know of
    private        INTEGER NOT NULL CHECK (private IN (0, 1))
) WITHOUT ROWID;
CREATE INDEX fedi_message_conversation ON fedi_message(conversation);
CREATE INDEX fedi_message_interaction ON fedi_message(interaction_pk);
