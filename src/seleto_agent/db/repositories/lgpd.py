"""All SQL on `lgpd_requests`: data-subject requests waiting for the LGPD process."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from seleto_agent.db.dialect import insert_for
from seleto_agent.db.tables import lgpd_requests as t

OPEN = "open"


class LgpdRequestRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def record(
        self,
        *,
        conversation_key: str,
        lead_id: int | None,
        kind: str,
        event_id: int | None,
        now: datetime,
    ) -> bool:
        """Store one request; the same message's request is stored once. `True` when new."""
        result = await self._conn.execute(
            insert_for(self._conn, t)
            .values(
                conversation_key=conversation_key,
                lead_id=lead_id,
                kind=kind,
                status=OPEN,
                event_id=event_id,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["event_id", "kind"])
            .returning(t.c.id)
        )
        return result.first() is not None

    async def kinds_for(self, conversation_key: str) -> list[str]:
        query = select(t.c.kind).where(t.c.conversation_key == conversation_key).order_by(t.c.id)
        return [row.kind for row in await self._conn.execute(query)]
