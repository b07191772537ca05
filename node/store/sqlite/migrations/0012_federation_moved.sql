-- Federation's state lives in the server's database now, every row naming its account (server migration
-- 0002_federation.sql; docs/ARCHITECTURE.md §8). Its old tables are set aside under new names, so that nothing
-- reads or writes them here any more; node/store/sqlite/federation.py's move_graph_federation copies their rows
-- into the server's database with the account, then drops them. The copy is idempotent, so a kill at any
-- point loses nothing: the next open copies again and drops.
ALTER TABLE fed_actors RENAME TO moved_fed_actors;
ALTER TABLE fed_follows RENAME TO moved_fed_follows;
ALTER TABLE fed_offers RENAME TO moved_fed_offers;
ALTER TABLE fed_inbox RENAME TO moved_fed_inbox;
ALTER TABLE fed_outbox RENAME TO moved_fed_outbox;
ALTER TABLE fed_deliveries RENAME TO moved_fed_deliveries;
ALTER TABLE fed_hosts RENAME TO moved_fed_hosts;
ALTER TABLE fed_blocks RENAME TO moved_fed_blocks;
ALTER TABLE fed_blocked_by RENAME TO moved_fed_blocked_by;
ALTER TABLE fed_settings RENAME TO moved_fed_settings;
ALTER TABLE fed_tombstones RENAME TO moved_fed_tombstones;
ALTER TABLE fed_cards_received RENAME TO moved_fed_cards_received;
