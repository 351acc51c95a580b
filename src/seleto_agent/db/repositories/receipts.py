"""All SQL on `delivery_receipts`: every delivery/read receipt, kept until its send is known."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from seleto_agent.db.dialect import insert_for
from seleto_agent.db.ids import chunked
from seleto_agent.db.tables import delivery_receipts as t


class ReceiptRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(
        self, *, provider: str, message_ids: Sequence[str], status: str, now: datetime
    ) -> None:
        """One multi-row INSERT per chunk: a callback naming thousands of ids costs a few
        statements, not one round trip (and one lock hold on SQLite) per id."""
        for chunk in chunked(message_ids):
            rows = [
                {
                    "provider": provider,
                    "provider_message_id": message_id,
                    "status": status,
                    "received_at": now,
                }
                for message_id in chunk
            ]
            await self._conn.execute(
                insert_for(self._conn, t)
                .values(rows)
                .on_conflict_do_nothing(
                    index_elements=["provider", "provider_message_id", "status"]
                )
            )

    async def statuses_for(self, *, provider: str, message_id: str) -> list[str]:
        query = select(t.c.status).where(
            t.c.provider == provider, t.c.provider_message_id == message_id
        )
        return [row.status for row in await self._conn.execute(query)]
