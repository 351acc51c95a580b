"""Async engines for SQLite (the embedded default) and Postgres (Supabase in production)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

# SQLite serialises writers; concurrent webhooks wait on the lock this long instead of failing.
SQLITE_BUSY_TIMEOUT_SECONDS = 30


def async_url(database_url: str) -> URL:
    """Map the configured URL to the async driver of its backend."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url.set(drivername="sqlite+aiosqlite")
    if backend == "postgresql":
        return url.set(drivername="postgresql+psycopg")
    raise ValueError(f"unsupported database backend: {backend}")


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


# Held open connections: enough for a burst of concurrent webhooks plus the worker's turns, so
# load does not churn connections (overflow ones are closed on return); well under Supabase's
# smallest connection limit.
POOL_SIZE = 20


def create_engine(database_url: str, *, pool_size: int = POOL_SIZE) -> AsyncEngine:
    """`hide_parameters`: a failed statement's message would otherwise quote the row (message
    text, phone, name) into logs and `last_error`."""
    url = async_url(database_url)
    if url.get_backend_name() == "sqlite":
        database = url.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            pool_size=pool_size,
            hide_parameters=True,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size // 2,
        pool_pre_ping=True,
        # Supabase's pooler closes idle connections; recycle before it does.
        pool_recycle=1800,
        hide_parameters=True,
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (admin, readyz) run while a worker writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
