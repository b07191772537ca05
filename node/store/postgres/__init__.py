"""The PostgreSQL engine (specs/POSTGRESQL.md): one schema per account graph, the server's own tables in schema
``kith``, one pool of connections for all of them. Only this package and node/store/sqlite/ import a driver."""
