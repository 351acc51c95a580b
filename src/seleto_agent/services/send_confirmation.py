"""Settling a send whose answer was lost from the provider's own callbacks, and applying the
receipts that arrived before a send's message id was stored.

Used from both ends: the outbound service looks for a proof when a send ends ambiguous and
before it would send again; ingestion looks when a proof arrives. Callers own the transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from seleto_agent.db.repositories.outbound import (
    AMBIGUOUS_STATUSES,
    OutboundRecord,
    OutboundRepository,
)
from seleto_agent.db.repositories.receipts import ReceiptRepository
from seleto_agent.db.repositories.send_proofs import SendProofRepository
from seleto_agent.domain.events import OutboundStatus, most_advanced
from seleto_agent.domain.send_proofs import AmbiguousSend, body_digest, proving_message_id
from seleto_agent.observability.logging import get_logger
from seleto_agent.observability.metrics import OUTBOUND_AMBIGUOUS

log = get_logger(__name__)


async def apply_early_receipts(conn: AsyncConnection, *, provider: str, message_id: str) -> None:
    """Receipts that arrived before the id was stored (the provider can call back faster than
    `sent` commits)."""
    statuses = await ReceiptRepository(conn).statuses_for(provider=provider, message_id=message_id)
    best = most_advanced(statuses)
    if best is not None:
        await OutboundRepository(conn).record_delivery([message_id], best, datetime.now(UTC))


async def confirm_from_proofs(conn: AsyncConnection, record: OutboundRecord) -> str | None:
    """Mark the ambiguous `record` sent if a stored proof singles it out; the message id, or
    None (no proof, or the row moved on meanwhile)."""
    if record.send_started_at is None:
        return None
    outbound = OutboundRepository(conn)
    rivals = [
        _ambiguous(r)
        for r in await outbound.ambiguous_of(
            provider=record.provider, conversation_key=record.conversation_key
        )
        if r.id != record.id
    ]
    proofs = await SendProofRepository(conn).unclaimed(
        provider=record.provider,
        conversation_key=record.conversation_key,
        since=record.send_started_at,
    )
    message_id = proving_message_id(_ambiguous(record), proofs, rivals)
    if message_id is None:
        return None
    settled = await outbound.mark_sent(
        record.id,
        attempt=record.attempts,
        message_id=message_id,
        zaap_id=None,
        now=datetime.now(UTC),
        from_statuses=(record.status,),
    )
    if not settled:
        return None
    await apply_early_receipts(conn, provider=record.provider, message_id=message_id)
    await SendProofRepository(conn).forget(provider=record.provider, message_id=message_id)
    OUTBOUND_AMBIGUOUS.labels(record.provider, "confirmed_by_callback").inc()
    log.info("outbound.confirmed_by_callback", outbound_id=record.id)
    return message_id


async def confirm_by_reference(
    conn: AsyncConnection, *, provider: str, reference: str, message_id: str
) -> bool:
    """A status that carries our outbound key (Meta's `biz_opaque_callback_data`) names its
    row outright: a send whose answer was lost, or still awaited, is sent with that id."""
    outbound = OutboundRepository(conn)
    record = await outbound.by_key(reference)
    if record is None or record.provider != provider or record.status not in AMBIGUOUS_STATUSES:
        return False
    settled = await outbound.mark_sent(
        record.id,
        attempt=record.attempts,
        message_id=message_id,
        zaap_id=None,
        now=datetime.now(UTC),
        from_statuses=(record.status,),
    )
    if settled:
        # The status itself was stored as a receipt before it matched anything.
        await apply_early_receipts(conn, provider=provider, message_id=message_id)
        OUTBOUND_AMBIGUOUS.labels(provider, "confirmed_by_reference").inc()
        log.info("outbound.confirmed_by_reference", outbound_id=record.id)
    return settled


async def record_proof(
    conn: AsyncConnection,
    *,
    provider: str,
    message_id: str,
    kind: str,
    conversation_key: str,
    text: str | None,
) -> int:
    """Keep a callback that names a message id no send holds, then settle the chat's `unknown`
    sends it singles out. Returns how many were settled."""
    await SendProofRepository(conn).add(
        provider=provider,
        message_id=message_id,
        kind=kind,
        conversation_key=conversation_key,
        body_digest=None if text is None else body_digest(text),
    )
    settled = 0
    for record in await OutboundRepository(conn).ambiguous_of(
        provider=provider, conversation_key=conversation_key
    ):
        # A send still in flight learns its id from its own answer.
        if record.status is OutboundStatus.UNKNOWN and await confirm_from_proofs(conn, record):
            settled += 1
    return settled


def _ambiguous(record: OutboundRecord) -> AmbiguousSend:
    return AmbiguousSend(
        id=record.id, body_digest=body_digest(record.body), send_started_at=record.send_started_at
    )
