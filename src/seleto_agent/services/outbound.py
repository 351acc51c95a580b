"""Sends a stored outbound row through the provider, at most once per successful send.

The row is written before the provider is called; a retry finds the row and sends its stored
text instead of asking the agent again. The one window left open is a crash after the provider
accepted the message and before `sent` is committed: that row is found in `sending` and sent
again (at-least-once), because losing a lead's reply is worse than a rare duplicate.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from seleto_agent.db.repositories.outbound import OutboundRecord, OutboundRepository
from seleto_agent.db.repositories.receipts import ReceiptRepository
from seleto_agent.domain.events import OutboundStatus, most_advanced
from seleto_agent.integrations.whatsapp import WhatsAppError, WhatsAppSender
from seleto_agent.observability.logging import get_logger
from seleto_agent.observability.metrics import OUTBOUND

log = get_logger(__name__)


class OutboundService:
    def __init__(self, engine: AsyncEngine, sender: WhatsAppSender) -> None:
        self._engine = engine
        self._sender = sender

    @property
    def provider(self) -> str:
        return self._sender.provider

    async def deliver(self, record: OutboundRecord) -> None:
        if record.status is OutboundStatus.SENT:
            return
        if record.status is OutboundStatus.SENDING:
            log.warning("outbound.resend_after_interrupted_send", outbound_id=record.id)
        async with self._engine.begin() as conn:
            await OutboundRepository(conn).mark_sending(record.id, datetime.now(UTC))
        try:
            sent = await self._sender.send_text(to=record.recipient, text=record.body)
        except WhatsAppError as exc:
            async with self._engine.begin() as conn:
                await OutboundRepository(conn).mark_failed(
                    record.id, error=str(exc)[:500], now=datetime.now(UTC)
                )
            OUTBOUND.labels(self.provider, "failed").inc()
            raise
        async with self._engine.begin() as conn:
            await OutboundRepository(conn).mark_sent(
                record.id,
                message_id=sent.provider_message_id,
                zaap_id=sent.provider_zaap_id,
                now=datetime.now(UTC),
            )
        if sent.provider_message_id:
            await self._apply_early_receipts(sent.provider_message_id)
        OUTBOUND.labels(self.provider, "sent").inc()
        log.info("outbound.sent", outbound_id=record.id)

    async def _apply_early_receipts(self, message_id: str) -> None:
        """Receipts that arrived before the id was stored (the provider can call back faster
        than `sent` commits). Read after that commit, so a receipt is missed only if its own
        transaction commits in the instant between its lookup and this read."""
        async with self._engine.begin() as conn:
            statuses = await ReceiptRepository(conn).statuses_for(
                provider=self.provider, message_id=message_id
            )
            best = most_advanced(statuses)
            if best is not None:
                await OutboundRepository(conn).record_delivery(
                    [message_id], best, datetime.now(UTC)
                )

    async def mark_read(self, *, to: str, message_id: str) -> None:
        """Blue ticks for the lead; a failure here must never cost the reply."""
        try:
            await self._sender.mark_read(to=to, message_id=message_id)
        except WhatsAppError as exc:
            log.warning("outbound.mark_read_failed", error=type(exc).__name__)
