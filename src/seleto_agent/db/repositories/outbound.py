"""All SQL on `outbound_messages`: one row per intended send, keyed for idempotency."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from seleto_agent.db.dialect import insert_for
from seleto_agent.db.tables import outbound_messages as t
from seleto_agent.domain.events import OutboundStatus, delivery_rank


@dataclass(frozen=True, slots=True)
class OutboundRecord:
    id: int
    idempotency_key: str
    provider: str
    conversation_key: str
    recipient: str
    body: str
    turn_id: str | None
    status: OutboundStatus
    attempts: int
    provider_message_id: str | None


_COLUMNS = [t.c[name] for name in OutboundRecord.__dataclass_fields__]


class OutboundRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def create_if_absent(
        self,
        *,
        key: str,
        provider: str,
        conversation_key: str,
        recipient: str,
        body: str,
        turn_id: str | None,
        now: datetime,
        reply_kind: str | None = None,
        prompt_version: str | None = None,
        agent_run_id: str | None = None,
    ) -> OutboundRecord:
        """The row for `key`: created now, or the one an earlier attempt already wrote."""
        await self._conn.execute(
            insert_for(self._conn, t)
            .values(
                idempotency_key=key,
                provider=provider,
                conversation_key=conversation_key,
                recipient=recipient,
                body=body,
                turn_id=turn_id,
                reply_kind=reply_kind,
                prompt_version=prompt_version,
                agent_run_id=agent_run_id,
                status=OutboundStatus.PENDING,
                attempts=0,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
        )
        record = await self.get_by_key(key)
        assert record is not None
        return record

    async def get_by_key(self, key: str) -> OutboundRecord | None:
        row = (
            await self._conn.execute(select(*_COLUMNS).where(t.c.idempotency_key == key))
        ).first()
        return _record(row._asdict()) if row else None

    async def by_turn_ids(self, turn_ids: Sequence[str]) -> dict[str, OutboundRecord]:
        if not turn_ids:
            return {}
        rows = await self._conn.execute(select(*_COLUMNS).where(t.c.turn_id.in_(turn_ids)))
        records = [_record(row._asdict()) for row in rows]
        return {r.turn_id: r for r in records if r.turn_id is not None}

    async def mark_sending(self, outbound_id: int, now: datetime) -> None:
        await self._conn.execute(
            update(t)
            .where(t.c.id == outbound_id)
            .values(status=OutboundStatus.SENDING, attempts=t.c.attempts + 1, updated_at=now)
        )

    async def mark_sent(
        self, outbound_id: int, *, message_id: str | None, zaap_id: str | None, now: datetime
    ) -> None:
        await self._conn.execute(
            update(t)
            .where(t.c.id == outbound_id)
            .values(
                status=OutboundStatus.SENT,
                provider_message_id=message_id,
                provider_zaap_id=zaap_id,
                last_error=None,
                sent_at=now,
                updated_at=now,
            )
        )

    async def mark_failed(self, outbound_id: int, *, error: str, now: datetime) -> None:
        await self._conn.execute(
            update(t)
            .where(t.c.id == outbound_id)
            .values(status=OutboundStatus.FAILED, last_error=error, updated_at=now)
        )

    async def record_delivery(
        self, provider_message_ids: Sequence[str], status: str, now: datetime
    ) -> int:
        """Apply a receipt to the sends it names, never moving one back (READ then a late
        RECEIVED stays READ). Returns how many sends it matched."""
        rows = (
            await self._conn.execute(
                select(t.c.id, t.c.delivery_status).where(
                    t.c.provider_message_id.in_(provider_message_ids)
                )
            )
        ).all()
        advance = [
            row.id for row in rows if delivery_rank(status) > delivery_rank(row.delivery_status)
        ]
        if advance:
            await self._conn.execute(
                update(t).where(t.c.id.in_(advance)).values(delivery_status=status, updated_at=now)
            )
        return len(rows)


def _record(data: dict[str, object]) -> OutboundRecord:
    data["status"] = OutboundStatus(str(data["status"]))
    return OutboundRecord(**data)  # type: ignore[arg-type]
