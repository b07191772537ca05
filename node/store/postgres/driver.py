"""The PostgreSQL driver seam: psycopg 3 (specs/POSTGRESQL.md §2), imported here and only through here, so that a
Kith installed without the ``postgres`` extra runs on SQLite and says what to install when asked for PostgreSQL.

Every connection the store makes comes from :func:`new_pool`: autocommit connections with explicit
transactions and no server-side prepared statements (``prepare_threshold=None``), so that the same settings are
safe behind PgBouncer in transaction mode.
"""

from __future__ import annotations

from typing import Any

from node.store.errors import StoreUnavailable

__all__ = [
    "CONNECT_TIMEOUT",
    "INSTALL_HINT",
    "POOL_MAX_LIFETIME",
    "POOL_MAX_SIZE",
    "new_pool",
    "require_driver",
]

INSTALL_HINT = "install Kith with its `postgres` extra: pip install 'kith[postgres]'"
#: Connections per process. A server of many accounts shares this one pool among all their graphs.
POOL_MAX_SIZE = 10
#: Seconds a connection lives: each backend caches every relation it touched, and with one schema per account
#: that cache grows with the accounts a connection served (specs/POSTGRESQL.md §4): recycling bounds it.
POOL_MAX_LIFETIME = 15 * 60.0
#: Seconds to wait for a connection to be made (libpq's connect_timeout).
CONNECT_TIMEOUT = 10


def require_driver() -> None:
    """StoreUnavailable naming the extra to install when psycopg or psycopg_pool is missing."""
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError as exc:
        raise StoreUnavailable(
            f"storage.url names PostgreSQL, but its driver is not installed ({exc.name}); {INSTALL_HINT}"
        ) from None


async def new_pool(url: str, *, max_size: int = POOL_MAX_SIZE) -> Any:
    """An open psycopg_pool.AsyncConnectionPool on ``url`` with the store's connection settings."""
    require_driver()
    import psycopg
    from psycopg_pool import AsyncConnectionPool

    from node.store.postgres.errors import store_error
    from node.store.postgres.rows import row_factory

    # One connection first, outside the pool: a wrong host, port or password is then told at once with the
    # server's own reason, where the pool would retry it in the background until its timeout.
    try:
        first = await psycopg.AsyncConnection.connect(url, connect_timeout=CONNECT_TIMEOUT, autocommit=True)
    except psycopg.Error as exc:
        raise store_error(exc, url) from exc
    await first.close()

    pool = AsyncConnectionPool(
        url,
        min_size=1,
        max_size=max_size,
        max_lifetime=POOL_MAX_LIFETIME,
        kwargs={"prepare_threshold": None, "autocommit": True, "row_factory": row_factory},
        open=False,
        name="kith",
    )
    try:
        await pool.open(wait=True, timeout=30.0)
    except Exception as exc:  # PoolTimeout: the server refused or could not be reached; say why, naming it
        await pool.close()
        raise store_error(exc, url) from exc
    return pool
