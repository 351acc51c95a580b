"""All SQL on `handoffs`: a conversation passed to the SDR team, with its brief."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from seleto_agent.db.dialect import insert_for
from seleto_agent.db.tables import handoffs as t


class HandoffStatus(StrEnum):
    # Waiting for the SDR team (the Chatwoot mirror delivers the brief).
    PENDING = "pending"
    # The bot was given the conversation back.
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class HandoffRecord:
    id: int
    conversation_key: str
    lead_id: int | None
    kind: str
    reason: str
    summary: dict[str, Any]
    status: HandoffStatus
    turn_id: str | None


_COLUMNS = [t.c[name] for name in HandoffRecord.__dataclass_fields__]


class HandoffRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def pending_for(self, conversation_key: str) -> HandoffRecord | None:
        query = (
            select(*_COLUMNS)
            .where(t.c.conversation_key == conversation_key, t.c.status == HandoffStatus.PENDING)
            .order_by(t.c.id)
            .limit(1)
        )
        row = (await self._conn.execute(query)).first()
        return _record(row._asdict()) if row else None

    async def create_pending(
        self,
        *,
        conversation_key: str,
        lead_id: int | None,
        kind: str,
        reason: str,
        summary: dict[str, Any],
        turn_id: str | None,
        now: datetime,
    ) -> HandoffRecord | None:
        """Open a handoff; None when the conversation already has a pending one (the unique
        index `uq_handoffs_one_pending` decides, whatever runs concurrently)."""
        result = await self._conn.execute(
            insert_for(self._conn, t)
            .values(
                conversation_key=conversation_key,
                lead_id=lead_id,
                kind=kind,
                reason=reason,
                summary=summary,
                status=HandoffStatus.PENDING,
                turn_id=turn_id,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(
                index_elements=["conversation_key"], index_where=text("status = 'pending'")
            )
            .returning(*_COLUMNS)
        )
        row = result.first()
        return _record(row._asdict()) if row else None

    async def close_pending(self, conversation_key: str, *, now: datetime) -> int:
        result = await self._conn.execute(
            update(t)
            .where(t.c.conversation_key == conversation_key, t.c.status == HandoffStatus.PENDING)
            .values(status=HandoffStatus.CLOSED, updated_at=now)
        )
        return int(result.rowcount)


def _record(data: dict[str, Any]) -> HandoffRecord:
    data["status"] = HandoffStatus(data["status"])
    return HandoffRecord(**data)
