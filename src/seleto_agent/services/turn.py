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

from seleto_agent.agents.context import render_lead_context
from seleto_agent.agents.prompts import FixedReplies, Prompt
from seleto_agent.agents.runner import AgentReply, AgentRunFailed, AgentRunner, TurnRequest
from seleto_agent.db.repositories.audit import AuditRepository
from seleto_agent.db.repositories.chatwoot import queue_mirror
from seleto_agent.db.repositories.conversations import ConversationRecord, ConversationRepository
from seleto_agent.db.repositories.events import EventRecord, EventRepository
from seleto_agent.db.repositories.outbound import (
    TURN_REPLY_PREFIX,
    OutboundRecord,
    OutboundRepository,
)
from seleto_agent.domain.conversation import (
    bot_may_answer,
    needs_new_session,
    new_session_id,
    resumed_after,
)
from seleto_agent.domain.events import ContentKind, OutboundStatus
from seleto_agent.domain.input_checks import InputFlag, inspect_input
from seleto_agent.domain.phone import mask_conversation_key
from seleto_agent.domain.turn_budget import BUDGET_REPLY
from seleto_agent.domain.turns import (
    TurnMessage,
    backoff_delay,
    cap_turn_input,
    render_turn_input,
)
from seleto_agent.integrations.whatsapp import WhatsAppError, WhatsAppOutsideWindow
from seleto_agent.observability.errors import describe_error
from seleto_agent.observability.logging import get_logger
from seleto_agent.observability.metrics import EVENTS_DEAD, FIXED_REPLIES, TURN_SECONDS, TURNS
from seleto_agent.services.flags import FlagService
from seleto_agent.services.leads import LeadService
from seleto_agent.services.outbound import OutboundService, SendUnsettled
from seleto_agent.services.ownership import OwnershipService, state_of
from seleto_agent.services.turn_budget import TurnBudget
from seleto_agent.services.voice import ResolvedBurst, VoiceNoteNotReady, VoiceService

log = get_logger(__name__)

LGPD_FLAGS = frozenset(
    {
        InputFlag.DATA_DELETION,
        InputFlag.DATA_ACCESS,
        InputFlag.DATA_CORRECTION,
        InputFlag.OPT_OUT,
    }
)
LGPD_REPLY = "lgpd_request_received"
# Sent instead of a model run when a burst holds only voice notes that could not be used.
AUDIO_UNUSABLE_REPLY = "audio_unusable"
# ... or only messages WhatsApp could not hand over (Cloud API `unsupported`).
UNSUPPORTED_REPLY = "unsupported_message"
OUTAGE_HOLDING_REPLY = "model_outage_holding"
OUTAGE_HANDOFF_REPLY = "model_outage_handoff"
OUTAGE_HANDOFF_KIND = "model_outage"
# Retries during a model outage: no faster than the first backoff, no slower than this.
OUTAGE_RETRY_MAX = timedelta(seconds=30)
# Why a turn's events ended without a reply because a runtime flag has the bot off.
BOT_DISABLED_NOTE = "bot_disabled"
# ... because the lead is over a turn budget and was already told so in this window.
BUDGET_NOTE = "budget_exceeded"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    base_seconds: float
    max_seconds: float
    # A model outage: one holding message after `outage_hold`, a hand-off after
    # `outage_handoff`, counted from the burst's first message (MODEL_OUTAGE_*_SECONDS).
    outage_hold: timedelta = timedelta(seconds=60)
    outage_handoff: timedelta = timedelta(seconds=900)


class LeaseLost(Exception):
    """Another worker took the phone over (our lease expired); it owns these events now."""


@dataclass(frozen=True, slots=True)
class ClaimedTurn:
    lease_owner: str
    lease_seconds: float
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
        leads: LeadService,
        prompt: Prompt,
        replies: FixedReplies,
        session_window: timedelta,
        ownership: OwnershipService,
        flags: FlagService,
        budget: TurnBudget,
        max_input_chars: int = 0,
        voice: VoiceService | None = None,
        mirror: bool = False,
    ) -> None:
        self._engine = engine
        self._agent = agent
        self._outbound = outbound
        self._retry = retry
        self._leads = leads
        self._prompt = prompt
        self._replies = replies
        self._session_window = session_window
        self._ownership = ownership
        self._flags = flags
        self._budget = budget
        # MAX_TURN_INPUT_CHARS: the model reads at most this much of a burst (0 = all of it).
        self._max_input_chars = max_input_chars
        # Chatwoot configured: every reply is queued for the mirror with its row.
        self._mirror = mirror
        # None: voice notes reach the agent as a placeholder (no transcription configured).
        self._voice = voice

    async def claim(
        self, key: str, *, lease_owner: str, lease_seconds: float
    ) -> ClaimedTurn | None:
        """Start an attempt on the phone's pending events (None when there are none)."""
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            events = await EventRepository(conn).pending_for_conversation(key)
            conversation = await ConversationRepository(conn).get(key)
            if not events or conversation is None:
                return None
            turn_ids = sorted({e.turn_id for e in events if e.turn_id})
            answered = await OutboundRepository(conn).by_turn_ids(turn_ids)
            await EventRepository(conn).start_processing(
                [e.id for e in events], lease_seconds=lease_seconds, now=now
            )
        return ClaimedTurn(
            lease_owner=lease_owner,
            lease_seconds=lease_seconds,
            conversation=conversation,
            events=events,
            answered=answered,
        )

    async def process(self, claimed: ClaimedTurn) -> None:
        started = time.perf_counter()
        try:
            outcome = await self._process(claimed)
        except LeaseLost:
            log.warning("turn.lease_lost", conversation_id=claimed.conversation.id)
            TURNS.labels("lease_lost").inc()
            return
        except SendUnsettled as exc:
            await self._wait_for_send(claimed.events, exc)
            TURNS.labels("send_unsettled").inc()
            return
        except WhatsAppOutsideWindow:
            # Nothing to retry: the lead's message is older than the service window (a late
            # delivery, a replay days later). Its reply row and the SDR team's note say so.
            await self._finish([e.id for e in claimed.events], note="outside_window")
            TURNS.labels("outside_window").inc()
            return
        except (AgentRunFailed, WhatsAppError, VoiceNoteNotReady) as exc:
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
        # A retried turn keeps its id: its reply key stays the same, and a handoff its own
        # tools made on the failed attempt does not silence it.
        turn_id = next((e.turn_id for e in remaining if e.turn_id), None) or uuid.uuid4().hex
        # The lead wrote: a timed pause may be over, or a takeover end by the client's rules.
        # As of the burst's last message: an older burst (a replay) cannot undo a later
        # takeover.
        transition = await self._ownership.lead_wrote(
            conversation.conversation_key, occurred_at=max(e.received_at for e in remaining)
        )
        owner = transition.state if transition else state_of(conversation)
        if not owner.bot_may_answer(datetime.now(UTC), turn_id=turn_id):
            await self._stand_aside(conversation.conversation_key, remaining, note="bot_paused")
            return "paused"
        if await self._bot_switched_off(conversation.conversation_key, remaining):
            # The kill switch (or this channel's flag): as if a person had the conversation.
            await self._stand_aside(
                conversation.conversation_key, remaining, note=BOT_DISABLED_NOTE
            )
            return "bot_disabled"
        # Checked again when the reply is sent; here it saves a model run nobody could read.
        if await self._outbound.window_closed(conversation.conversation_key, ref=turn_id):
            await self._finish([e.id for e in remaining], note="outside_window")
            return "outside_window"
        now = datetime.now(UTC)
        session_id = conversation.session_id
        rotate = needs_new_session(
            last_turn_at=conversation.last_turn_at,
            session_started_at=conversation.session_started_at,
            now=now,
            window=self._session_window,
        )
        async with self._engine.begin() as conn:
            await EventRepository(conn).assign_turn([e.id for e in remaining], turn_id, now)
            if rotate:
                session_id = new_session_id(conversation.conversation_key, now)
                await ConversationRepository(conn).start_session(
                    conversation.conversation_key, session_id=session_id, now=now
                )
        resumed = (
            conversation.last_turn_at
            if rotate
            else resumed_after(
                last_turn_at=conversation.last_turn_at,
                session_started_at=conversation.session_started_at,
            )
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
        try:
            # Voice notes become their transcripts (or are marked unusable) in arrival order;
            # a note worth retrying raises VoiceNoteNotReady and the turn goes back to retry.
            burst = await self._voice_burst(remaining)
            if burst.only_unusable_audio or burst.only_unsupported:
                # Nothing the model could answer: ask the lead to type, through the same
                # outbound path below (one `reply:<turn_id>` row, fencing, owner checks).
                reply = self._fixed_reply(
                    AUDIO_UNUSABLE_REPLY if burst.only_unusable_audio else UNSUPPORTED_REPLY
                )
            else:
                try:
                    answer = await self._answer(
                        conversation.conversation_key,
                        render_turn_input(burst.messages),
                        turn_id=turn_id,
                        session_id=session_id,
                        resumed=resumed,
                        last_event_id=last.id,
                    )
                except AgentRunFailed as exc:
                    if not exc.outage:
                        raise
                    answer = await self._outage(
                        conversation.conversation_key, remaining, turn_id, exc
                    )
                if answer is None:
                    # Over budget, and this window's note already went out: nothing to send.
                    await self._finish([e.id for e in remaining], note=BUDGET_NOTE)
                    return "over_budget"
                reply = answer
        finally:
            if read_receipt is not None:
                await read_receipt
        if reply.run_id is not None and await self._bot_switched_off(
            conversation.conversation_key, remaining
        ):
            # Switched off while the model was thinking: the draft is dropped like a takeover's.
            await self._finish([e.id for e in remaining], note=BOT_DISABLED_NOTE)
            return "bot_disabled"
        async with self._engine.begin() as conn:
            conversations = ConversationRepository(conn)
            # The row stays locked until the reply row is written: an SDR taking over (or a
            # worker taking the phone over) lands either before this check or after the write.
            current = await conversations.lock(conversation.conversation_key)
            # Fencing: a worker whose lease lapsed mid-run must not write a second reply.
            if not await conversations.fence(
                conversation.conversation_key,
                owner=claimed.lease_owner,
                seconds=claimed.lease_seconds,
            ):
                raise LeaseLost(conversation.conversation_key)
            # The fence just renewed the row's lease, so the row is there.
            assert current is not None
            # A pause this very turn caused (its own handoff) still lets its reply out.
            paused_by_this_turn = current.owner_turn_id == turn_id
            if not paused_by_this_turn and not bot_may_answer(
                current.owner, current.paused_until, datetime.now(UTC)
            ):
                # A human took over while the model was thinking: drop the draft.
                await EventRepository(conn).mark_done(
                    [e.id for e in remaining], datetime.now(UTC), note="draft_dropped"
                )
                return "draft_dropped"
            record = await OutboundRepository(conn).create_if_absent(
                key=f"{TURN_REPLY_PREFIX}{turn_id}",
                provider=self._outbound.provider,
                conversation_key=conversation.conversation_key,
                # The conversation's address, not the last message's: a lead who wrote by
                # `@lid` is still answered on the number once it is known (services/identity.py).
                recipient=current.reply_to,
                body=reply.text,
                turn_id=turn_id,
                now=datetime.now(UTC),
                reply_kind=reply.kind,
                prompt_version=reply.prompt_version,
                agent_run_id=reply.run_id,
            )
            if self._mirror:
                await queue_mirror(
                    conn,
                    conversation_key=conversation.conversation_key,
                    what="outgoing",
                    ref=str(record.id),
                    now=datetime.now(UTC),
                )
            await conversations.mark_turn(conversation.conversation_key, now=datetime.now(UTC))
        await self._outbound.deliver(record)
        await self._finish([e.id for e in remaining])
        log.info("turn.replied", conversation_id=conversation.id, events=len(remaining))
        return "replied"

    async def _outage(
        self, key: str, events: list[EventRecord], turn_id: str, failure: AgentRunFailed
    ) -> AgentReply:
        """The model failed (Agno reports OpenAI 429s, 5xx and timeouts as a failed run). Early
        on, the turn is retried (re-raised); once the lead has waited `outage_hold`, it gets one
        holding message meanwhile; after `outage_handoff`, a person takes over and this turn
        answers with the hand-off note instead of the model."""
        waited = datetime.now(UTC) - min(e.received_at for e in events)
        if waited >= self._retry.outage_handoff:
            await self._leads.request_handoff(
                key,
                reason="O assistente ficou indisponível (instabilidade do modelo) por mais de "
                f"{int(self._retry.outage_handoff.total_seconds() // 60)} minutos.",
                kind=OUTAGE_HANDOFF_KIND,
                turn_id=turn_id,
            )
            log.error("turn.model_outage_handoff", waited_s=round(waited.total_seconds()))
            return self._fixed_reply(OUTAGE_HANDOFF_REPLY)
        if waited >= self._retry.outage_hold:
            await self._hold(key, turn_id)
        raise failure

    async def _hold(self, key: str, turn_id: str) -> None:
        """The holding message, once per turn (its own row, `holding:<turn_id>`); a failure to
        send it never costs the turn."""
        async with self._engine.begin() as conn:
            conversation = await ConversationRepository(conn).get(key)
            assert conversation is not None
            record = await OutboundRepository(conn).create_if_absent(
                key=f"holding:{turn_id}",
                provider=self._outbound.provider,
                conversation_key=key,
                recipient=conversation.reply_to,
                body=self._replies.get(OUTAGE_HOLDING_REPLY),
                # Not the turn's reply: a retried turn must still answer.
                turn_id=None,
                now=datetime.now(UTC),
                reply_kind=f"fixed:{OUTAGE_HOLDING_REPLY}",
                prompt_version=self._replies.label,
            )
            if self._mirror and record.status is OutboundStatus.PENDING:
                await queue_mirror(
                    conn,
                    conversation_key=key,
                    what="outgoing",
                    ref=str(record.id),
                    now=datetime.now(UTC),
                )
        if record.status is OutboundStatus.SENT:
            return
        try:
            await self._outbound.deliver(record)
        except (WhatsAppError, SendUnsettled) as exc:
            log.warning("turn.holding_not_sent", error=type(exc).__name__)
            return
        FIXED_REPLIES.labels(OUTAGE_HOLDING_REPLY).inc()

    async def _answer(
        self,
        key: str,
        text: str,
        *,
        turn_id: str,
        session_id: str,
        resumed: datetime | None,
        last_event_id: int,
    ) -> AgentReply | None:
        """The turn's reply: a fixed one for a data-rights request or past a turn budget, else
        the agent's; None past a budget whose note this window already had."""
        flags = inspect_input(text)
        if await self._record_lgpd_if_asked(key, text, last_event_id, flags=flags, turn_id=turn_id):
            # Recorded for the LGPD process and handed to a person; the model is not asked.
            FIXED_REPLIES.labels(LGPD_REPLY).inc()
            return AgentReply(
                text=self._replies.get(LGPD_REPLY),
                run_id=None,
                kind=f"fixed:{LGPD_REPLY}",
                prompt_version=self._replies.label,
            )
        verdict = await self._budget.check(key, now=datetime.now(UTC))
        if verdict is not None:
            if not verdict.note_due:
                return None
            # Handed off as of this turn, so its own note still goes out (owner_turn_id).
            await self._budget.hand_off(key, verdict, turn_id=turn_id)
            return self._fixed_reply(BUDGET_REPLY)
        # Read whole for the checks above; only the model's input is cut.
        text = cap_turn_input(text, self._max_input_chars)
        if InputFlag.PROMPT_INJECTION in flags:
            log.warning("turn.prompt_injection_suspected")
            await self._audit_input(key, "input.prompt_injection_suspected")
            text = f"{text}\n\n{self._prompt.template('nota_injecao')}"
        state = await self._leads.state(key)
        return await self._agent.reply(
            TurnRequest(
                session_id=session_id,
                user_id=key,
                text=text,
                turn_id=turn_id,
                lead_context=render_lead_context(self._prompt, state, resumed_after=resumed),
            )
        )

    async def _record_lgpd_if_asked(
        self,
        key: str,
        text: str,
        last_event_id: int,
        *,
        flags: frozenset[InputFlag] | None = None,
        turn_id: str | None = None,
    ) -> bool:
        """Store a data-rights request in the burst for the LGPD process; True when there was
        one."""
        found = inspect_input(text) if flags is None else flags
        kinds = sorted(flag.value for flag in found & LGPD_FLAGS)
        if not kinds:
            return False
        await self._leads.record_lgpd_request(
            key, kinds=kinds, event_id=last_event_id, turn_id=turn_id
        )
        return True

    async def _stand_aside(self, key: str, events: list[EventRecord], *, note: str) -> None:
        """The bot does not answer this burst: voice notes are still transcribed, so the SDR
        reads them in Chatwoot, and a data-rights request is still recorded (it keeps the bot
        silent until a person has dealt with it)."""
        burst = await self._voice_burst(events)
        await self._record_lgpd_if_asked(key, render_turn_input(burst.messages), events[-1].id)
        await self._finish([e.id for e in events], note=note)

    async def _bot_switched_off(self, key: str, events: list[EventRecord]) -> bool:
        # The channel is the one the lead wrote the burst's last message through.
        flag = await self._flags.bot_stopped_by(key, provider=events[-1].provider)
        if flag is None:
            return False
        log.info("turn.bot_disabled", flag=flag, events=len(events))
        return True

    async def _voice_burst(self, events: list[EventRecord]) -> ResolvedBurst:
        if self._voice is not None:
            return await self._voice.resolve(events)
        return ResolvedBurst(
            messages=[
                TurnMessage(e.id, ContentKind(e.content_kind or "other"), e.body_text or "")
                for e in events
            ]
        )

    def _fixed_reply(self, key: str) -> AgentReply:
        FIXED_REPLIES.labels(key).inc()
        return AgentReply(
            text=self._replies.get(key),
            run_id=None,
            kind=f"fixed:{key}",
            prompt_version=self._replies.label,
        )

    async def _audit_input(self, key: str, action: str) -> None:
        async with self._engine.begin() as conn:
            await AuditRepository(conn).record(
                actor="worker",
                action=action,
                subject_type="conversation",
                subject_id=mask_conversation_key(key),
                details={},
                now=datetime.now(UTC),
            )

    async def _finish(self, ids: list[int], note: str | None = None) -> None:
        async with self._engine.begin() as conn:
            await EventRepository(conn).mark_done(ids, datetime.now(UTC), note=note)

    async def _fail(self, events: list[EventRecord], exc: BaseException) -> None:
        now = datetime.now(UTC)
        error = describe_error(exc)
        retryable = getattr(exc, "retryable", True)
        async with self._engine.begin() as conn:
            repo = EventRepository(conn)
            for event in events:
                current = await repo.get(event.id)
                if current is None or current.status.value != "processing":
                    continue
                waited = now - current.received_at
                if (
                    isinstance(exc, AgentRunFailed)
                    and exc.outage
                    and waited < self._retry.outage_handoff
                ):
                    # A model outage is waited out, not counted: the hand-off ends it. As the
                    # model asked (Retry-After), and at least a quarter of the wait so far.
                    floor = exc.retry_after or self._retry.base_seconds
                    delay = min(max(waited / 4, timedelta(seconds=floor)), OUTAGE_RETRY_MAX)
                    await repo.mark_retry(
                        event.id,
                        error=error,
                        next_attempt_at=now + delay,
                        now=now,
                        count_attempt=False,
                    )
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
                    "event.retry",
                    event_id=event.id,
                    attempts=current.attempts,
                    delay=delay.total_seconds(),
                )

    async def _wait_for_send(self, events: list[EventRecord], exc: SendUnsettled) -> None:
        """The reply may be out there: look again when its grace ends, without using up one
        of INBOUND_MAX_ATTEMPTS (waiting for the provider's callbacks is not a failure)."""
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            repo = EventRepository(conn)
            for event in events:
                current = await repo.get(event.id)
                if current is None or current.status.value != "processing":
                    continue
                await repo.mark_retry(
                    event.id,
                    error=f"SendUnsettled: {exc}",
                    next_attempt_at=now + timedelta(seconds=exc.retry_in),
                    now=now,
                    count_attempt=False,
                )
        log.info("turn.send_unsettled", reason=str(exc), retry_in=round(exc.retry_in, 3))
