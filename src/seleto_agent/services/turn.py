"""One turn of a conversation: the pending burst of a phone → one agent run → one reply.

The caller (the worker) holds the phone's lease, so nothing else touches these events meanwhile.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from seleto_agent.agents.runner import AgentRunFailed, AgentRunner
from seleto_agent.db.repositories.conversations import ConversationRecord, ConversationRepository
from seleto_agent.db.repositories.events import EventRecord, EventRepository
from seleto_agent.db.repositories.outbound import OutboundRecord, OutboundRepository
from seleto_agent.domain.conversation import bot_may_answer
from seleto_agent.domain.events import ContentKind
from seleto_agent.domain.turns import TurnMessage, backoff_delay, render_turn_input
from seleto_agent.integrations.whatsapp import WhatsAppError
from seleto_agent.observability.logging import get_logger
from seleto_agent.observability.metrics import EVENTS_DEAD, TURN_SECONDS, TURNS
from seleto_agent.services.outbound import OutboundService

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    base_seconds: float
    max_seconds: float


class LeaseLost(Exception):
    """Another worker took the phone over (our lease expired); it owns these events now."""


@dataclass(frozen=True, slots=True)
class ClaimedTurn:
    lease_owner: str
    conversation: ConversationRecord
    events: list[EventRecord]
    # Replies already written by an earlier attempt, by the turn id they answer.
    answered: dict[str, OutboundRecord]

    @property
    def event_ids(self) -> list[int]:
        return [e.id for e in self.events]


class TurnProcessor:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        agent: AgentRunner,
        outbound: OutboundService,
        retry: RetryPolicy,
    ) -> None:
        self._engine = engine
        self._agent = agent
        self._outbound = outbound
        self._retry = retry

    async def claim(
        self, key: str, *, lease_owner: str, lease_until: datetime
    ) -> ClaimedTurn | None:
        """Start an attempt on the phone's pending events (None when there are none)."""
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            events = await EventRepository(conn).pending_for_conversation(key, now)
            conversation = await ConversationRepository(conn).get(key)
            if not events or conversation is None:
                return None
            turn_ids = sorted({e.turn_id for e in events if e.turn_id})
            answered = await OutboundRepository(conn).by_turn_ids(turn_ids)
            await EventRepository(conn).start_processing(
                [e.id for e in events], lease_until=lease_until, now=now
            )
        return ClaimedTurn(
            lease_owner=lease_owner, conversation=conversation, events=events, answered=answered
        )

    async def process(self, claimed: ClaimedTurn) -> None:
        started = time.perf_counter()
        try:
            outcome = await self._process(claimed)
        except LeaseLost:
            log.warning("turn.lease_lost", conversation_id=claimed.conversation.id)
            TURNS.labels("lease_lost").inc()
            return
        except (AgentRunFailed, WhatsAppError) as exc:
            await self._fail(claimed.events, exc)
            TURNS.labels("failed").inc()
            return
        except Exception as exc:
            # A bug must not wedge the phone: the events retry and end dead with the reason.
            log.exception("turn.crashed", conversation_id=claimed.conversation.id)
            await self._fail(claimed.events, exc)
            TURNS.labels("crashed").inc()
            return
        TURNS.labels(outcome).inc()
        TURN_SECONDS.observe(time.perf_counter() - started)

    async def _process(self, claimed: ClaimedTurn) -> str:
        conversation = claimed.conversation
        remaining: list[EventRecord] = []
        for event in claimed.events:
            if event.turn_id in claimed.answered:
                continue
            remaining.append(event)
        # First finish replies an interrupted attempt already wrote: send, never regenerate.
        for turn_id, record in claimed.answered.items():
            await self._outbound.deliver(record)
            await self._finish([e.id for e in claimed.events if e.turn_id == turn_id])
        if not remaining:
            return "resumed"
        if not bot_may_answer(conversation.owner, conversation.paused_until, datetime.now(UTC)):
            await self._finish([e.id for e in remaining], note="bot_paused")
            return "paused"
        turn_id = uuid.uuid4().hex
        async with self._engine.begin() as conn:
            await EventRepository(conn).assign_turn(
                [e.id for e in remaining], turn_id, datetime.now(UTC)
            )
        last = remaining[-1]
        # Blue ticks go out while the model thinks, not before it.
        read_receipt = (
            asyncio.create_task(
                self._outbound.mark_read(to=last.reply_to, message_id=last.message_id)
            )
            if last.message_id and last.reply_to
            else None
        )
        text = render_turn_input(
            [
                TurnMessage(e.id, ContentKind(e.content_kind or "other"), e.body_text or "")
                for e in remaining
            ]
        )
        try:
            reply = await self._agent.reply(
                session_id=conversation.session_id,
                user_id=conversation.conversation_key,
                text=text,
            )
        finally:
            if read_receipt is not None:
                await read_receipt
        async with self._engine.begin() as conn:
            conversations = ConversationRepository(conn)
            # Fencing: a worker whose lease lapsed mid-run must not write a second reply.
            if not await conversations.holds_lease(
                conversation.conversation_key, owner=claimed.lease_owner, now=datetime.now(UTC)
            ):
                raise LeaseLost(conversation.conversation_key)
            current = await conversations.get(conversation.conversation_key)
            if current and not bot_may_answer(
                current.owner, current.paused_until, datetime.now(UTC)
            ):
                # A human took over while the model was thinking: drop the draft.
                await EventRepository(conn).mark_done(
                    [e.id for e in remaining], datetime.now(UTC), note="draft_dropped"
                )
                return "draft_dropped"
            record = await OutboundRepository(conn).create_if_absent(
                key=f"reply:{turn_id}",
                provider=self._outbound.provider,
                conversation_key=conversation.conversation_key,
                recipient=last.reply_to or conversation.reply_to,
                body=reply.text,
                turn_id=turn_id,
                now=datetime.now(UTC),
            )
        await self._outbound.deliver(record)
        await self._finish([e.id for e in remaining])
        log.info("turn.replied", conversation_id=conversation.id, events=len(remaining))
        return "replied"

    async def _finish(self, ids: list[int], note: str | None = None) -> None:
        async with self._engine.begin() as conn:
            await EventRepository(conn).mark_done(ids, datetime.now(UTC), note=note)

    async def _fail(self, events: list[EventRecord], exc: BaseException) -> None:
        now = datetime.now(UTC)
        error = f"{type(exc).__name__}: {exc}"[:500]
        retryable = getattr(exc, "retryable", True)
        async with self._engine.begin() as conn:
            repo = EventRepository(conn)
            for event in events:
                current = await repo.get(event.id)
                if current is None or current.status.value != "processing":
                    continue
                if not retryable or current.attempts >= self._retry.max_attempts:
                    await repo.mark_dead(event.id, error=error, now=now)
                    EVENTS_DEAD.inc()
                    log.error("event.dead", event_id=event.id, attempts=current.attempts)
                    continue
                delay = backoff_delay(
                    current.attempts,
                    base_seconds=self._retry.base_seconds,
                    max_seconds=self._retry.max_seconds,
                )
                await repo.mark_retry(event.id, error=error, next_attempt_at=now + delay, now=now)
                log.warning(
                    "event.retry", event_id=event.id, attempts=current.attempts, delay=delay.seconds
                )


def lease_deadline(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)
