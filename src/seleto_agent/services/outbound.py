"""Sends a stored outbound row through the provider; a send is never repeated blindly.

The row is written before the provider is called; a retry finds the row and sends its stored
text instead of asking the agent again. Only the caller that moves the row into `sending` (a
compare-and-set on its version) calls the provider. A call that ends without a usable answer
(the provider may have the message) leaves the row `unknown`; it is settled, in this order:

1. by a provider callback that proves it went out (a delivery callback, or the echo of our
   send, for the same chat: `services/send_confirmation.py`);
2. otherwise, once OUTBOUND_UNKNOWN_GRACE_SECONDS have passed on the database clock, by one
   more send;
3. a second ambiguous outcome is not sent again: `SendAbandoned`, and ops decide.

A row left in `sending` longer than the grace (its sender died mid-call) counts as one more
ambiguous send. What remains at-least-once: the provider accepted the message, its answer was
lost, and no callback came within the grace; the lead then gets the text twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum

from sqlalchemy import select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from seleto_agent.db.clock import db_now
from seleto_agent.db.repositories.chatwoot import queue_mirror
from seleto_agent.db.repositories.conversations import ConversationRepository
from seleto_agent.db.repositories.leads import LeadRepository
from seleto_agent.db.repositories.outbound import OutboundRecord, OutboundRepository
from seleto_agent.db.repositories.pacing import PacingRepository
from seleto_agent.db.repositories.send_proofs import SendProofRepository
from seleto_agent.db.tables import UtcDateTime
from seleto_agent.domain.events import OutboundStatus
from seleto_agent.integrations.whatsapp import (
    WhatsAppError,
    WhatsAppOutcomeUnknown,
    WhatsAppOutsideWindow,
    WhatsAppSender,
)
from seleto_agent.observability.errors import describe_error
from seleto_agent.observability.logging import get_logger
from seleto_agent.observability.metrics import OUTBOUND, OUTBOUND_AMBIGUOUS
from seleto_agent.services.send_confirmation import apply_early_receipts, confirm_from_proofs
from seleto_agent.services.send_rules import (
    OutsideServiceWindow,
    SendRules,
    TemplateSender,
    window_note,
)

log = get_logger(__name__)

# Provider calls of one row whose outcome may be unknown: the first, and one resend.
MAX_AMBIGUOUS_SENDS = 2


class SendUnsettled(Exception):
    """The row's send is not settled yet: its outcome is unknown and the grace still runs, or
    another caller is sending it right now. Look again in `retry_in` seconds; not a failure."""

    def __init__(self, reason: str, *, retry_in: float) -> None:
        super().__init__(reason)
        self.retry_in = retry_in


class SendAbandoned(WhatsAppError):
    """Two sends of the row ended without a usable answer and no callback proved either went
    out: the lead may have the text (even twice). Not sent blindly again; a replay of its event
    is ops' decision to send it once more."""

    retryable = False


@dataclass(frozen=True, slots=True)
class _Claim:
    attempt: int
    ambiguous_sends: int


# A row whose text is an approved template's name, sent outside the service window.
TEMPLATE_KIND_PREFIX = "template:"
# `last_error` of a row refused for the service window: final.
OUTSIDE_WINDOW = "outside_window"
# `last_error` prefix of a row the provider failed for a reason a resend cannot fix.
FINAL_ERROR_PREFIX = "final:"
# What an SDR typed (Chatwoot), as opposed to what the bot wrote.
HUMAN_KIND_PREFIX = "human:"


class _Plan(Enum):
    TEXT = "text"
    # Outside the service window: refused as free text (a note tells the SDR team why).
    REFUSE = "refuse"


class OutboundService:
    def __init__(
        self,
        engine: AsyncEngine,
        sender: WhatsAppSender,
        *,
        unknown_grace: timedelta,
        rules: SendRules | None = None,
        templates: TemplateSender | None = None,
    ) -> None:
        self._engine = engine
        self._sender = sender
        self._grace = unknown_grace
        # The Cloud API's window and pacing (None for Z-API, which has neither).
        self._rules = rules
        self._templates = templates

    @property
    def provider(self) -> str:
        return self._sender.provider

    async def deliver(self, record: OutboundRecord) -> None:
        """Send the row unless it is sent, being sent, or settled otherwise. Raises
        `SendUnsettled` (wait, then call again), `SendAbandoned`, or the provider's error."""
        if record.status is OutboundStatus.SENT:
            return
        task = asyncio.ensure_future(self._deliver(record.id))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            # A shutdown mid-send: the call and the write of its outcome finish first, or the
            # row stays `sending` for a message the provider already has.
            with contextlib.suppress(Exception):
                await task
            raise

    async def _deliver(self, outbound_id: int) -> None:
        attempt: int | None = None
        plan, wait = _Plan.TEXT, 0.0
        async with self._engine.begin() as conn:
            repo = OutboundRepository(conn)
            record, now = await repo.current(outbound_id)
            if record.status is OutboundStatus.SENT:
                return
            if record.status is OutboundStatus.FAILED and record.last_error == OUTSIDE_WINDOW:
                # Refused for the window once (by us or by Meta's 131047): final, never
                # tried again as text, whatever the window says now.
                raise OutsideServiceWindow(f"outside_window: outbound {record.id} was refused")
            if record.status is OutboundStatus.FAILED and (record.last_error or "").startswith(
                FINAL_ERROR_PREFIX
            ):
                raise SendAbandoned(
                    f"outbound {record.id}: the provider reported it failed for good "
                    f"({record.last_error}); not sent again"
                )
            if record.status in (OutboundStatus.PENDING, OutboundStatus.FAILED):
                step: int | SendAbandoned | None = record.ambiguous_sends
            else:
                step = await self._settle_ambiguous(conn, record, now)
            if isinstance(step, int):
                if self._rules is not None:
                    plan, wait = await self._apply_rules(conn, self._rules, record, now)
                attempt = await repo.claim_send(record, ambiguous_sends=step)
                if attempt is not None and plan is _Plan.REFUSE:
                    await self._refuse(conn, record, attempt, now)
        # Raised only now, after what led to it was committed.
        if isinstance(step, SendAbandoned):
            raise step
        if step is None:
            return
        if attempt is None:
            # Another caller moved the row first: it sends, we do nothing.
            raise SendUnsettled("claimed_by_another_sender", retry_in=self._seconds(self._grace))
        if plan is _Plan.REFUSE:
            raise OutsideServiceWindow(
                "outside_window: the lead's last message is more than 24 h old; free text "
                "cannot be sent (an approved template can)"
            )
        if wait > 0:
            # Our slot in the number's and the lead's pacing, reserved in that transaction.
            await asyncio.sleep(wait)
        await self._send(record, _Claim(attempt=attempt, ambiguous_sends=step))

    async def _apply_rules(
        self, conn: AsyncConnection, rules: SendRules, record: OutboundRecord, now: datetime
    ) -> tuple[_Plan, float]:
        """Whether the row may go out as it is, and how long to wait for its pacing slot."""
        if not _is_template(record):
            conversation = await ConversationRepository(conn).get(record.conversation_key)
            last_inbound = conversation.last_inbound_at if conversation else None
            if not rules.window(last_inbound, now).is_open:
                return _Plan.REFUSE, 0.0
        slot, db_time = await PacingRepository(conn).reserve(rules.gaps(record.conversation_key))
        return _Plan.TEXT, self._seconds(slot - db_time)

    async def window_closed(self, conversation_key: str, *, ref: str) -> bool:
        """Before a turn runs the model: True when no free text could reach the lead now
        (its last message is past the service window), with the SDR team's note queued."""
        if self._rules is None:
            return False
        async with self._engine.begin() as conn:
            conversation = await ConversationRepository(conn).get(conversation_key)
            now = await conn.scalar(select(type_coerce(db_now(conn), UtcDateTime())))
            assert isinstance(now, datetime)
            last_inbound = conversation.last_inbound_at if conversation else None
            if self._rules.window(last_inbound, now).is_open:
                return False
            if self._rules.notify_chatwoot:
                await queue_mirror(
                    conn,
                    conversation_key=conversation_key,
                    what="note",
                    ref=f"window-{ref}",
                    now=now,
                    extra={"text": window_note(template=None, human=False)},
                )
        OUTBOUND.labels(self.provider, "outside_window").inc()
        return True

    async def _refuse(
        self, conn: AsyncConnection, record: OutboundRecord, attempt: int, now: datetime
    ) -> None:
        await OutboundRepository(conn).mark_failed(
            record.id, attempt=attempt, error=OUTSIDE_WINDOW, now=now
        )
        OUTBOUND.labels(self.provider, "outside_window").inc()
        log.warning("outbound.outside_window", outbound_id=record.id, kind=record.reply_kind)
        if self._rules is not None and self._rules.notify_chatwoot:
            template = self._rules.reengage_template if _is_human(record) else None
            await queue_mirror(
                conn,
                conversation_key=record.conversation_key,
                what="note",
                ref=f"window-{record.id}",
                now=now,
                extra={"text": window_note(template=template, human=_is_human(record))},
            )

    async def _addressee(self, record: OutboundRecord) -> str:
        """The template's one variable ({{1}}): the lead's first name, or a neutral word."""
        async with self._engine.connect() as conn:
            name = await LeadRepository(conn).name_in(record.conversation_key)
        first = (name or "").strip().split(" ")[0]
        return first or "cliente"

    def reengage_template(self, record: OutboundRecord) -> str | None:
        """The template to send in place of an SDR's text refused outside the window."""
        if self._rules is None or self._templates is None or not _is_human(record):
            return None
        return self._rules.reengage_template

    async def _settle_ambiguous(
        self, conn: AsyncConnection, record: OutboundRecord, now: datetime
    ) -> int | SendAbandoned | None:
        """For a row that may be out there: None when a callback proved it went out, the
        ambiguous count to resend with, or the `SendAbandoned` to raise once committed.
        Raises `SendUnsettled` while the grace runs."""
        stale = record.status is OutboundStatus.SENDING
        since = record.send_started_at if stale else record.unknown_since
        waited = now - since if since is not None else self._grace
        if stale and waited < self._grace:
            raise SendUnsettled("in_flight", retry_in=self._seconds(self._grace - waited))
        # Its sender died mid-call (stale `sending`): that call counts as ambiguous too.
        ambiguous = record.ambiguous_sends + (1 if stale else 0)
        if await confirm_from_proofs(conn, record) is not None:
            return None
        if ambiguous >= MAX_AMBIGUOUS_SENDS:
            if stale:
                await OutboundRepository(conn).mark_unknown(
                    record.id,
                    attempt=record.attempts,
                    error="sender died mid-call",
                    ambiguous_sends=ambiguous,
                )
                self._count_abandoned(record.id, ambiguous)
            return SendAbandoned(_abandoned_reason(record.id, ambiguous))
        if waited < self._grace:
            raise SendUnsettled(
                "outcome_unknown_waiting_for_callback",
                retry_in=self._seconds(self._grace - waited),
            )
        if stale:
            OUTBOUND_AMBIGUOUS.labels(self.provider, "stale_sending").inc()
            log.warning("outbound.stale_sending", outbound_id=record.id)
        OUTBOUND_AMBIGUOUS.labels(self.provider, "resent").inc()
        log.warning("outbound.resend_after_unknown_outcome", outbound_id=record.id)
        return ambiguous

    async def _send(self, record: OutboundRecord, claim: _Claim) -> None:
        try:
            if _is_template(record):
                assert self._templates is not None, "a template row needs a template sender"
                sent = await self._templates.send_template(
                    to=record.recipient,
                    name=record.body,
                    body_params=[await self._addressee(record)],
                    reference=record.idempotency_key,
                )
            else:
                sent = await self._sender.send_text(
                    to=record.recipient, text=record.body, reference=record.idempotency_key
                )
        except WhatsAppOutcomeUnknown as exc:
            await self._unknown(record, claim, exc)
            return
        except WhatsAppOutsideWindow:
            # Meta's own verdict (131047), also its "known issue" inside the window: never
            # resent as text.
            async with self._engine.begin() as conn:
                await self._refuse(conn, record, claim.attempt, datetime.now(UTC))
            raise
        except WhatsAppError as exc:
            async with self._engine.begin() as conn:
                await OutboundRepository(conn).mark_failed(
                    record.id,
                    attempt=claim.attempt,
                    error=describe_error(exc),
                    now=datetime.now(UTC),
                )
            OUTBOUND.labels(self.provider, "failed").inc()
            raise
        assert sent.provider_message_id is not None  # a provider answers an id or raises
        async with self._engine.begin() as conn:
            recorded = await OutboundRepository(conn).mark_sent(
                record.id,
                attempt=claim.attempt,
                message_id=sent.provider_message_id,
                zaap_id=sent.provider_zaap_id,
                now=datetime.now(UTC),
            )
        if not recorded:
            log.warning("outbound.sent_after_row_moved_on", outbound_id=record.id)
        # Read after that commit, so a receipt is missed only if its own transaction commits in
        # the instant between its lookup and this read.
        async with self._engine.begin() as conn:
            await apply_early_receipts(
                conn, provider=self.provider, message_id=sent.provider_message_id
            )
            await SendProofRepository(conn).forget(
                provider=self.provider, message_id=sent.provider_message_id
            )
        OUTBOUND.labels(self.provider, "sent").inc()
        log.info("outbound.sent", outbound_id=record.id)

    async def _unknown(
        self, record: OutboundRecord, claim: _Claim, exc: WhatsAppOutcomeUnknown
    ) -> None:
        """The provider may have it: look for a callback that already proves it, else wait
        (or, the second time, give up)."""
        ambiguous = claim.ambiguous_sends + 1
        OUTBOUND_AMBIGUOUS.labels(self.provider, "unknown").inc()
        log.warning(
            "outbound.outcome_unknown",
            outbound_id=record.id,
            error=type(exc).__name__,
            ambiguous_sends=ambiguous,
        )
        async with self._engine.begin() as conn:
            repo = OutboundRepository(conn)
            await repo.mark_unknown(
                record.id,
                attempt=claim.attempt,
                error=describe_error(exc),
                ambiguous_sends=ambiguous,
            )
            current, _now = await repo.current(record.id)
            if current.status is OutboundStatus.SENT:
                return
            if (
                current.status is OutboundStatus.UNKNOWN
                and await confirm_from_proofs(conn, current) is not None
            ):
                return
        if ambiguous >= MAX_AMBIGUOUS_SENDS:
            self._count_abandoned(record.id, ambiguous)
            raise SendAbandoned(_abandoned_reason(record.id, ambiguous)) from exc
        raise SendUnsettled(
            "outcome_unknown_waiting_for_callback", retry_in=self._seconds(self._grace)
        ) from exc

    def _count_abandoned(self, outbound_id: int, ambiguous: int) -> None:
        OUTBOUND_AMBIGUOUS.labels(self.provider, "abandoned").inc()
        log.error("outbound.abandoned", outbound_id=outbound_id, ambiguous_sends=ambiguous)

    @staticmethod
    def _seconds(delta: timedelta) -> float:
        return max(delta.total_seconds(), 0.0)

    async def mark_read(self, *, to: str, message_id: str) -> None:
        """Blue ticks for the lead, and "digitando…" while the bot prepares its answer (only
        called when the bot will answer: an SDR's ticks are the SDR's); a failure here must
        never cost the reply."""
        try:
            await self._sender.mark_read(to=to, message_id=message_id, typing=True)
        except WhatsAppError as exc:
            log.warning("outbound.mark_read_failed", error=type(exc).__name__)


def _is_template(record: OutboundRecord) -> bool:
    return (record.reply_kind or "").startswith(TEMPLATE_KIND_PREFIX)


def _is_human(record: OutboundRecord) -> bool:
    return (record.reply_kind or "").startswith(HUMAN_KIND_PREFIX)


def _abandoned_reason(outbound_id: int, ambiguous: int) -> str:
    return (
        f"outbound_ambiguous: outbound {outbound_id}: {ambiguous} provider calls ended without "
        "a usable answer and no provider callback proved one went out; the lead may have it. "
        "Not resent blindly: check the chat, then replay this event to send it once more, or "
        "leave it."
    )
