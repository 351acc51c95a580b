"""All SQL on `send_pacing`: send slots shared by every process that sends (Meta's limits).

A send reserves the earliest instant at which every scope it counts against is free, and moves
each scope's `next_at` past it by that scope's gap. The scope rows are locked in name order, so
two reservations never deadlock and never get the same slot; on SQLite the first write takes the
database's writer lock, which serialises reservations the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncConnection

from seleto_agent.db.clock import db_now
from seleto_agent.db.dialect import insert_for
from seleto_agent.db.tables import UtcDateTime
from seleto_agent.db.tables import send_pacing as t


class PacingRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def reserve(self, gaps: Mapping[str, timedelta]) -> tuple[datetime, datetime]:
        """(slot, now) on the database clock: the send may go out at `slot`. `gaps` maps each
        scope to the least time between two sends counted against it."""
        scopes = sorted(gaps)
        now = await self._conn.scalar(select(type_coerce(db_now(self._conn), UtcDateTime())))
        assert isinstance(now, datetime)
        await self._conn.execute(
            insert_for(self._conn, t)
            .values([{"scope": scope, "next_at": now} for scope in scopes])
            .on_conflict_do_nothing(index_elements=["scope"])
        )
        query = select(t.c.scope, t.c.next_at).where(t.c.scope.in_(scopes)).order_by(t.c.scope)
        if self._conn.dialect.name == "postgresql":
            query = query.with_for_update()
        rows = (await self._conn.execute(query)).all()
        slot = max([now, *(row.next_at for row in rows)])
        for scope in scopes:
            await self._conn.execute(
                update(t).where(t.c.scope == scope).values(next_at=slot + gaps[scope])
            )
        return slot, now
