"""All SQL on `handoffs`: a conversation passed to the SDR team, with its brief."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

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

    async def create(
        self,
        *,
        conversation_key: str,
        lead_id: int | None,
        kind: str,
        reason: str,
        summary: dict[str, Any],
        turn_id: str | None,
        now: datetime,
    ) -> HandoffRecord:
        result = await self._conn.execute(
            insert(t)
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
            .returning(*_COLUMNS)
        )
        return _record(result.one()._asdict())

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
