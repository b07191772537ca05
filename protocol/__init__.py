"""Kith's protocol core: records, vocabulary, canonical forms, proofs, signature bases, lifecycle tables.

Pure: no sockets, files, clock or randomness of its own; callers pass ``now``, keys and ids (docs/ARCHITECTURE.md §3.1).
"""
