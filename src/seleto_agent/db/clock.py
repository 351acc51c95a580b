"""The database's clock, for every time that several hosts compare (leases, grace periods).

Each host's own clock may be skewed; a lease taken on a fast host would look expired to a slow
one. On Postgres the server's `statement_timestamp()` is the one clock everybody reads. SQLite is
a local file, so its only clients share this machine's clock and Python's is used.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, literal
from sqlalchemy.ext.asyncio import AsyncConnection

from seleto_agent.db.tables import UtcDateTime


def db_now(conn: AsyncConnection, plus: timedelta = timedelta(0)) -> Any:
    """A SQL expression for "now" (+ `plus`) on the database's clock."""
    if conn.dialect.name == "postgresql":
        now = func.statement_timestamp()
        return now + plus if plus else now
    return literal(datetime.now(UTC) + plus, UtcDateTime())
