"""Chatwoot webhooks: stored raw, deduplicated, and handed to the worker as a job.

Only two kinds of event can change anything: a message a person wrote in a mirrored
conversation of our account and inbox (a human reply, a command, or our own echo — told apart
in the job) and a status change (an SDR resolving the conversation). Everything else is stored
as ignored, with the reason.
"""

from __future__ import annotations

import hashlib
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


# Set by Chatwoot's automation rules ("send a message" action) on what they post.
_AUTOMATION_RULE = "automation_rule_id"


def ignore_reason(
    event: ChatwootEvent, *, account_id: int | None, inbox_id: int | None
) -> str | None:
    """Why an event needs no work at all (None: the worker must look at it).

    `account_id` and `inbox_id` are ours (None: not configured, nothing to compare). Chatwoot
    always names the inbox; older versions leave the account out of conversation events.
    """
    if event.conversation_id is None:
        return "no_conversation"
    if account_id is not None and event.account_id not in (None, account_id):
        return "other_account"
    if inbox_id is not None and event.inbox_id != inbox_id:
        return "other_inbox"
    if event.event == "message_created":
        return _message_ignore_reason(event)
    if event.event == "conversation_status_changed":
        return None if event.conversation_status == "resolved" else "status_not_resolved"
    return "event_not_handled"


def _message_ignore_reason(event: ChatwootEvent) -> str | None:
    if event.message_id is None:
        # Nothing to act on once: a reply must be keyed by its Chatwoot id.
        return "no_message_id"
    if event.message_type == "incoming":
        # Our own mirror of the lead's message.
        return "incoming_message"
    if event.message_type != "outgoing":
        return f"{event.message_type or 'unknown'}_message"
    if _AUTOMATION_RULE in event.content_attributes:
        return "automation_message"
    if event.sender_type != "user":
        # An agent bot, Captain (`captain_assistant`), or no sender at all: not an SDR.
        return "not_from_a_person"
    return None


def dedupe_key(event: ChatwootEvent, *, raw: bytes, signed_at: str | None) -> str:
    """One message is acted on once, however many webhooks (and retries) announce it.

    Any other event is keyed on what its signature covers (`"<timestamp>.<body>"`): a captured
    delivery replayed within the signature window is the same key whatever its
    X-Chatwoot-Delivery, which nothing signs; after the window the signature check refuses it.
    Without signatures (no secret set) the body alone: Chatwoot's carry the change's time.
    """
    if event.message_id is not None:
        return f"{event.event}:message:{event.message_id}"
    signed = f"{signed_at}.".encode() + raw if signed_at else raw
    return f"{event.event}:sha256:{hashlib.sha256(signed).hexdigest()}"


class ChatwootIngest:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        on_queued: Callable[[], None],
        account_id: int | None,
        inbox_id: int | None,
    ) -> None:
        self._engine = engine
        self._on_queued = on_queued
        self._account_id = account_id
        self._inbox_id = inbox_id

    async def ingest(
        self, *, raw: bytes, event: ChatwootEvent, signed_at: str | None
    ) -> IngestOutcome:
        """`signed_at`: the X-Chatwoot-Timestamp of a delivery whose signature was verified."""
        now = datetime.now(UTC)
        reason = ignore_reason(event, account_id=self._account_id, inbox_id=self._inbox_id)
        record = NewEvent(
            provider=PROVIDER,
            instance_id=str(event.account_id or ""),
            message_id=dedupe_key(event, raw=raw, signed_at=signed_at),
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
