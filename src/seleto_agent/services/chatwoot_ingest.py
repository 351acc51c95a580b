"""Chatwoot webhooks: stored raw, deduplicated, and handed to the worker as a job.

Only two kinds of event can change anything: a message created in a mirrored conversation (a
human reply, a command, or our own echo — told apart in the job) and a status change (an SDR
resolving the conversation). Everything else is stored as ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from seleto_agent.db.repositories.events import EventRepository, NewEvent
from seleto_agent.db.repositories.jobs import JobRepository
from seleto_agent.domain.events import EventStatus, IngestOutcome
from seleto_agent.domain.jobs import JobKind
from seleto_agent.integrations.chatwoot.webhook import ChatwootEvent
from seleto_agent.observability.logging import get_logger
from seleto_agent.observability.metrics import WEBHOOKS

log = get_logger(__name__)

PROVIDER = "chatwoot"


def ignore_reason(event: ChatwootEvent) -> str | None:
    """Why an event needs no work at all (None: the worker must look at it)."""
    if event.conversation_id is None:
        return "no_conversation"
    if event.event == "message_created":
        if event.message_type == "incoming":
            # Our own mirror of the lead's message.
            return "incoming_message"
        if event.message_type != "outgoing":
            return f"{event.message_type or 'unknown'}_message"
        return None
    if event.event == "conversation_status_changed":
        return None if event.conversation_status == "resolved" else "status_not_resolved"
    return "event_not_handled"


def dedupe_key(event: ChatwootEvent, delivery_id: str | None) -> str | None:
    """One message is acted on once, however many webhooks (and retries) announce it."""
    if event.message_id is not None:
        return f"{event.event}:message:{event.message_id}"
    if delivery_id:
        return f"{event.event}:delivery:{delivery_id}"
    return None


class ChatwootIngest:
    def __init__(self, engine: AsyncEngine, *, on_queued: Callable[[], None]) -> None:
        self._engine = engine
        self._on_queued = on_queued

    async def ingest(
        self, *, raw: bytes, event: ChatwootEvent, delivery_id: str | None
    ) -> IngestOutcome:
        now = datetime.now(UTC)
        reason = ignore_reason(event)
        record = NewEvent(
            provider=PROVIDER,
            instance_id=str(event.account_id or ""),
            message_id=dedupe_key(event, delivery_id),
            event_type=event.event,
            payload=raw,
            status=EventStatus.IGNORED if reason else EventStatus.DONE,
            received_at=now,
            last_error=reason,
        )
        async with self._engine.begin() as conn:
            event_id = await EventRepository(conn).insert_unique(record)
            if event_id is None:
                outcome = IngestOutcome.DUPLICATE
            elif reason:
                outcome = IngestOutcome.IGNORED
            else:
                await JobRepository(conn).enqueue(
                    kind=JobKind.CHATWOOT_EVENT,
                    # One Chatwoot conversation's events in order (a reply, then /retomar).
                    ordering_key=f"cwin:{event.conversation_id}",
                    dedupe_key=f"cw.event:{event_id}",
                    payload={"event_id": event_id},
                    now=now,
                )
                outcome = IngestOutcome.ACCEPTED
        WEBHOOKS.labels(PROVIDER, outcome.value).inc()
        log.info("chatwoot.webhook", outcome=outcome.value, event_type=event.event, reason=reason)
        if outcome is IngestOutcome.ACCEPTED:
            self._on_queued()
        return outcome
