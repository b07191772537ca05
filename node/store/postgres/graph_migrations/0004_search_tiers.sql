-- Search tiers for broad queries (node/store/postgres/insights.py, specs/POSTGRESQL.md §6): a query matching
-- more people than are worth ranking is answered tier by tier, each in an order an index gives, so that a page
-- costs about its own rows, not one per match.
--
-- first_word: the first word of the names as search folds it (kith_words), in code-point order (COLLATE "C") so
-- that a btree range `first_word >= w AND first_word < w || chr(1114111)` finds every name beginning with the
-- prefix w, and hands them over in (first_word, pk) order. Cut to 100 characters: a btree entry has a size limit
-- (about 2,700 bytes) that a pasted name without spaces must not reach; a longer query word simply finds no one
-- in this tier and its people in the next.
-- names_doc (the names' words) and named_doc (the names' and the organisation's and title's), each under a GIN
-- index of its own, rather than weight-restricted queries on `doc` ('w':*A): GIN does not keep weights, so such a
-- query fetches every row whose identities or notes hold the word to check its weight, and the planner, whose
-- statistics cannot see weights either, takes a mail domain held by half the graph for a name held by half the
-- graph and scans the whole table in key order for a tier that is empty. Their own statistics count the words
-- people are named by.
ALTER TABLE person_fts
    ADD COLUMN first_word text COLLATE "C"
        GENERATED ALWAYS AS (left(split_part(btrim(kith_words(names)), ' ', 1), 100)) STORED,
    ADD COLUMN names_doc tsvector
        GENERATED ALWAYS AS (to_tsvector('simple', kith_words(names))) STORED,
    ADD COLUMN named_doc tsvector
        GENERATED ALWAYS AS (to_tsvector('simple', kith_words(names) || ' ' || kith_words(organization))) STORED;
CREATE INDEX person_fts_first_word ON person_fts (first_word, pk);
CREATE INDEX person_fts_names_doc ON person_fts USING gin (names_doc);
CREATE INDEX person_fts_named_doc ON person_fts USING gin (named_doc);
