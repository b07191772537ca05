"""The SQLite implementation of the store (docs/ARCHITECTURE.md §6): one database file per account's graph and
one for the server, WAL, synchronous=FULL, versioned migrations, group commit, FTS5 for search."""
