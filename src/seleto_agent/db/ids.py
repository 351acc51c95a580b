"""Ids from outside on their way into SQL: the range of our id columns, and batches of ids."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

# Every id column is a bigint (Postgres) / INTEGER (SQLite, 64-bit): a larger number is no row,
# and binding it fails in the driver (psycopg: bigint out of range; sqlite3: OverflowError).
MAX_ROW_ID = 2**63 - 1

# Ids per statement (an IN list or a multi-row INSERT): 4 bound values per receipt row keeps a
# statement at 2,000 parameters, far below psycopg's 65,535 and SQLite's 32,766.
ID_CHUNK = 500


def chunked(items: Sequence[T], size: int = ID_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
