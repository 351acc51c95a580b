"""All SQL on `send_proofs`: provider callbacks naming a message id none of our sends holds."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from seleto_agent.db.clock import db_now
from seleto_agent.db.dialect import insert_for
from seleto_agent.db.tables import outbound_messages as out
from seleto_agent.db.tables import send_proofs as t
from seleto_agent.domain.send_proofs import SendProof


class SendProofRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(
        self,
        *,
        provider: str,
        message_id: str,
        kind: str,
        conversation_key: str,
        body_digest: str | None,
    ) -> None:
        """Kept with the database's clock, which is what send start times are read on."""
        await self._conn.execute(
            insert_for(self._conn, t)
            .values(
                provider=provider,
                provider_message_id=message_id,
                kind=kind,
                conversation_key=conversation_key,
                body_digest=body_digest,
                received_at=db_now(self._conn),
            )
            .on_conflict_do_nothing(index_elements=["provider", "provider_message_id", "kind"])
        )

    async def unclaimed(
        self, *, provider: str, conversation_key: str, since: datetime
    ) -> list[SendProof]:
        """The chat's proofs from `since` on whose message id no send of ours holds."""
        claimed = select(out.c.id).where(
            out.c.provider == provider, out.c.provider_message_id == t.c.provider_message_id
        )
        rows = await self._conn.execute(
            select(t.c.provider_message_id, t.c.body_digest, t.c.received_at).where(
                t.c.provider == provider,
                t.c.conversation_key == conversation_key,
                t.c.received_at >= since,
                ~claimed.exists(),
            )
        )
        return [
            SendProof(
                message_id=row.provider_message_id,
                body_digest=row.body_digest,
                received_at=row.received_at,
            )
            for row in rows
        ]

    async def forget(self, *, provider: str, message_id: str) -> None:
        """The message id now belongs to a send: its proofs have nothing left to prove."""
        await self._conn.execute(
            delete(t).where(t.c.provider == provider, t.c.provider_message_id == message_id)
        )
