"""A message sent from the company phone that we did not send: an SDR took the conversation.

Z-API reports every message of the line, ours included; ours normally carry `fromApi`, but the
flag is not guaranteed, so the job (run a few seconds later, once our send has stored its id)
compares the message with what we sent before deciding it was a person. Both the comparison
and the takeover are as of when the message arrived, so replaying the job later decides the
same and cannot undo what happened since (an SDR's `/retomar`, an admin resume).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from seleto_agent.db.repositories.chatwoot import queue_mirror
from seleto_agent.db.repositories.events import EventRepository
from seleto_agent.db.repositories.jobs import JobRecord
from seleto_agent.db.tables import outbound_messages as out
from seleto_agent.services.ownership import OwnershipService

# A send of ours whose echo this could be: same conversation, same text, this recent.
OWN_SEND_WINDOW = timedelta(minutes=10)


class PhoneReplyHandler:
    def __init__(self, engine: AsyncEngine, *, ownership: OwnershipService, mirror: bool) -> None:
        self._engine = engine
        self._ownership = ownership
        self._mirror = mirror

    async def handle(self, job: JobRecord) -> str | None:
        event_id = int(job.payload["event_id"])
        async with self._engine.connect() as conn:
            event = await EventRepository(conn).get(event_id)
            if event is None or event.conversation_key is None:
                return "event_gone"
            ours = (
                await conn.execute(
                    select(out.c.id)
                    .where(
                        or_(
                            out.c.provider_message_id == event.message_id,
                            (out.c.conversation_key == event.conversation_key)
                            & (out.c.body == (event.body_text or ""))
                            & (out.c.created_at >= event.received_at - OWN_SEND_WINDOW),
                        )
                    )
                    .limit(1)
                )
            ).first()
        if ours is not None:
            return "own_send"
        transition = await self._ownership.human_replied(
            event.conversation_key, source="phone", occurred_at=event.received_at
        )
        if transition is None:
            # A chat the bot never had: nothing to pause.
            return "unknown_conversation"
        if self._mirror and event.body_text:
            async with self._engine.begin() as conn:
                await queue_mirror(
                    conn,
                    conversation_key=event.conversation_key,
                    what="phone",
                    ref=str(event_id),
                    now=datetime.now(UTC),
                )
        return "phone_takeover"
