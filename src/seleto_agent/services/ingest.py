"""Ingestion: every webhook body is stored raw first, then classified into a turn or an ignore.

The dedupe key is (provider, instance id, message id); the database's unique constraint is the
arbiter, so ten concurrent copies of one message store one row. A body that batches several
items (the Cloud API's) is stored as one row per item, each with its own key and the whole raw
body, so any row can be replayed or read alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from seleto_agent.db.ids import chunked
from seleto_agent.db.repositories.chatwoot import queue_mirror
from seleto_agent.db.repositories.conversations import ConversationRepository
from seleto_agent.db.repositories.events import EventRepository, NewEvent
from seleto_agent.db.repositories.ingest_lane import IngestLane, LaneUnavailable
from seleto_agent.db.repositories.jobs import JobRepository
from seleto_agent.db.repositories.outbound import OutboundRepository
from seleto_agent.db.repositories.receipts import ReceiptRepository
from seleto_agent.domain.events import (
    FAILED_STATUS,
    OWN_ECHO_REASON,
    PHONE_REPLY_REASON,
    Classified,
    DeliveryUpdate,
    EventStatus,
    IdentityUpdate,
    IgnoredCallback,
    InboundMessage,
    IngestOutcome,
    SentEcho,
    combined_outcome,
)
from seleto_agent.domain.jobs import JobKind
from seleto_agent.domain.phone import preferred_reply_to
from seleto_agent.observability.errors import describe_error
from seleto_agent.observability.logging import get_logger
from seleto_agent.observability.metrics import (
    FIRST_CONTACTS,
    FUNNEL,
    IDENTITY_MERGES,
    WEBHOOKS,
)
from seleto_agent.services.identity import (
    IdentityRace,
    IdentityService,
    Resolved,
    already_settled,
    find_conversation_key,
    known_conversation_key,
    lookup,
    lookup_pairs,
)
from seleto_agent.services.send_confirmation import confirm_by_reference, record_proof
from seleto_agent.services.send_failures import queue_send_failure

log = get_logger(__name__)

# Two first messages of one person in two forms at once: the loser of the race finds the other's
# identity rows on its next try; a third try would mean something else is wrong.
IDENTITY_RACE_ATTEMPTS = 3


class IngestService:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        identity: IdentityService,
        on_accepted: Callable[[], None],
        mirror: bool = False,
        phone_echo_grace: timedelta = timedelta(seconds=5),
        lane: IngestLane | None = None,
    ) -> None:
        self._engine = engine
        # Postgres: lead messages are stored through the two-round-trip lane when they can be.
        self._lane = lane
        self._identity = identity
        self._on_accepted = on_accepted
        # Chatwoot configured: every lead message is queued for the mirror with its event.
        self._mirror = mirror
        # Our own send can echo back before its message id is stored: look after a pause.
        self._phone_echo_grace = phone_echo_grace

    async def close(self) -> None:
        if self._lane is not None:
            await self._lane.close()

    async def record_rejected(
        self, *, provider: str, raw: bytes, event_type: str, error: str
    ) -> int:
        """Keep a body we could not read (malformed JSON...), so ops can see what came in."""
        now = datetime.now(UTC)
        event = NewEvent(
            provider=provider,
            instance_id="",
            message_id=None,
            event_type=event_type,
            payload=raw,
            status=EventStatus.IGNORED,
            received_at=now,
            last_error=error,
        )
        async with self._engine.begin() as conn:
            event_id = await EventRepository(conn).insert_unique(event)
        assert event_id is not None  # no message id: never a duplicate
        WEBHOOKS.labels(provider, "rejected").inc()
        log.info("inbound.rejected", provider=provider, event_id=event_id, reason=error)
        return event_id

    async def ingest_all(self, *, raw: bytes, items: Sequence[Classified]) -> IngestOutcome:
        """Store every item of one body, each in its own transaction under its own key (a
        re-delivered body finds the ones already stored). Returns once all are durable: the
        provider's 200 must follow the writes (Meta never re-sends an acknowledged body)."""
        return combined_outcome([await self.ingest(raw=raw, classified=item) for item in items])

    async def ingest(self, *, raw: bytes, classified: Classified) -> IngestOutcome:
        """Store a classified callback (the adapter has checked it names our line)."""
        if isinstance(classified, InboundMessage):
            outcome = await self._accept(raw, classified)
        elif isinstance(classified, DeliveryUpdate):
            outcome = await self._delivery(raw, classified)
        elif isinstance(classified, SentEcho):
            outcome = await self._echo(raw, classified)
        elif isinstance(classified, IdentityUpdate):
            outcome = await self._identity_update(raw, classified)
        else:
            outcome = await self._ignore(raw, classified)
        WEBHOOKS.labels(classified.provider, outcome.value).inc()
        return outcome

    async def _accept(self, raw: bytes, message: InboundMessage) -> IngestOutcome:
        if self._lane is not None:
            outcome = await self._accept_in_lane(raw, message)
            if outcome is not None:
                return outcome
        return await _retry_identity_race(lambda: self._accept_once(raw, message))

    async def _accept_in_lane(self, raw: bytes, message: InboundMessage) -> IngestOutcome | None:
        """The plain cases (a sender whose ids are all linked to one conversation, or a sender
        none is linked to) in two round trips; None for the general path: a new id to link,
        a merge, a race, or a lane that cannot reach the database right now."""
        assert self._lane is not None
        now = datetime.now(UTC)
        sender = message.sender
        try:
            matches = await self._lane.lookup(lookup_pairs(sender), sender.conversation_key)
            known = already_settled(sender, matches)
            if known is not None:
                resolved = Resolved(
                    known.id,
                    known.conversation_key,
                    preferred_reply_to(known.reply_to, sender.reply_to),
                )
                stored = await self._lane.store_known(
                    _message_event(raw, message, resolved, now),
                    conversation_id=known.id,
                    mirror=self._mirror,
                )
            elif not matches:
                resolved = Resolved(0, sender.conversation_key, sender.reply_to, first_contact=True)
                stored = await self._lane.store_first_contact(
                    _message_event(raw, message, resolved, now),
                    identities=sender.identities,
                    mirror=self._mirror,
                )
            else:
                return None
        except LaneUnavailable as error:
            log.warning("inbound.lane_unavailable", error=describe_error(error))
            return None
        if stored is None:
            return None
        return self._accepted(stored.event_id, message, resolved)

    async def _accept_once(self, raw: bytes, message: InboundMessage) -> IngestOutcome:
        now = datetime.now(UTC)
        sender = message.sender
        async with self._engine.begin() as conn:
            matches = await lookup(conn, sender)
            known = already_settled(sender, matches)
            if known is not None:
                # The usual case: one indexed lookup, then the same writes as ever.
                resolved = Resolved(
                    known.id,
                    known.conversation_key,
                    preferred_reply_to(known.reply_to, sender.reply_to),
                )
            else:
                resolved = await self._identity.settle(conn, sender, matches, now=now)
            event_id = await EventRepository(conn).insert_unique(
                _message_event(raw, message, resolved, now)
            )
            if event_id is None:
                return self._accepted(None, message, resolved)
            if known is not None and not await ConversationRepository(conn).touch_inbound(
                known.id, reply_to=resolved.reply_to, now=now
            ):
                raise IdentityRace("the conversation was merged into another meanwhile")
            if message.sent_at is not None:
                # The service window counts from when the lead wrote, not from when the
                # provider managed to deliver it.
                await ConversationRepository(conn).recount_last_inbound(
                    resolved.conversation_id, resolved.key
                )
            if self._mirror:
                await queue_mirror(
                    conn, conversation_key=resolved.key, what="incoming", ref=str(event_id), now=now
                )
        return self._accepted(event_id, message, resolved)

    def _accepted(
        self, event_id: int | None, message: InboundMessage, resolved: Resolved
    ) -> IngestOutcome:
        """After the commit: counters, the log line and the worker's wake-up."""
        if event_id is None:
            log.info("inbound.duplicate", provider=message.provider)
            return IngestOutcome.DUPLICATE
        if resolved.first_contact:
            FIRST_CONTACTS.inc()
            FUNNEL.labels("new").inc()
        IDENTITY_MERGES.inc(resolved.merged)
        log.info("inbound.accepted", event_id=event_id, kind=message.kind.value, phone=resolved.key)
        self._on_accepted()
        return IngestOutcome.ACCEPTED

    async def _ignore(self, raw: bytes, callback: IgnoredCallback) -> IngestOutcome:
        now = datetime.now(UTC)
        sender = callback.sender
        async with self._engine.begin() as conn:
            # Filed under the conversation the sender already has; such a callback links
            # nothing (a company-phone message names the lead, not who typed it).
            key = await find_conversation_key(conn, sender) if sender else None
            event_id = await EventRepository(conn).insert_unique(
                NewEvent(
                    provider=callback.provider,
                    instance_id=callback.instance_id or "",
                    message_id=callback.message_id,
                    event_type=callback.event_type,
                    payload=raw,
                    status=EventStatus.IGNORED,
                    received_at=now,
                    conversation_key=key,
                    reply_to=sender.reply_to if sender else None,
                    phone_e164=sender.e164 if sender else None,
                    body_text=callback.text,
                    last_error=callback.reason,
                )
            )
            if event_id is not None and callback.reason == PHONE_REPLY_REASON and key:
                await JobRepository(conn).enqueue(
                    kind=JobKind.PHONE_REPLY,
                    ordering_key=f"phone:{key}",
                    dedupe_key=f"phone:{event_id}",
                    payload={"event_id": event_id},
                    now=now,
                    not_before=now + self._phone_echo_grace,
                )
        if event_id is None:
            return IngestOutcome.DUPLICATE
        log.info("inbound.ignored", event_id=event_id, reason=callback.reason)
        return IngestOutcome.IGNORED

    async def _delivery(self, raw: bytes, update: DeliveryUpdate) -> IngestOutcome:
        now = datetime.now(UTC)
        event = NewEvent(
            provider=update.provider,
            instance_id=update.instance_id or "",
            message_id=update.event_key,
            event_type=update.event_type,
            payload=raw,
            status=EventStatus.IGNORED,
            received_at=now,
            reply_to=update.sent_to.reply_to if update.sent_to else None,
            phone_e164=update.sent_to.e164 if update.sent_to else None,
            last_error=f"delivery_status:{update.status}",
        )
        # The adapter turns a callback without ids into an ignored one: there is a first chunk.
        first, *rest = chunked(update.provider_message_ids)
        async with self._engine.begin() as conn:
            stored = await EventRepository(conn).insert_unique(event)
            if stored is None and update.event_key is not None:
                # This very update was applied by an earlier copy of the body.
                return IngestOutcome.DUPLICATE
            matched = await self._apply_receipts(conn, update, first, now)
            wamid = update.provider_message_ids[0]
            if not matched and update.callback_data is not None:
                # Our outbound key, echoed back (Cloud API): it names the row outright.
                matched = int(
                    await confirm_by_reference(
                        conn,
                        provider=update.provider,
                        reference=update.callback_data,
                        message_id=wamid,
                    )
                )
            if matched and update.status == FAILED_STATUS and update.error_code is not None:
                await queue_send_failure(
                    conn,
                    provider=update.provider,
                    message_id=wamid,
                    error_code=update.error_code,
                    now=now,
                )
            if not matched and update.sent_to is not None:
                # An id we do not hold: maybe the send whose answer was lost.
                await record_proof(
                    conn,
                    provider=update.provider,
                    message_id=update.provider_message_ids[0],
                    kind="delivery",
                    conversation_key=await find_conversation_key(conn, update.sent_to),
                    text=None,
                )
        # Any further ids in short transactions of their own: a SQLite writer holds the whole
        # database, and a lead's message must not wait behind a callback naming thousands.
        for chunk in rest:
            async with self._engine.begin() as conn:
                matched += await self._apply_receipts(conn, update, chunk, now)
        log.info("outbound.delivery_status", status=update.status, matched=matched)
        return IngestOutcome.IGNORED

    @staticmethod
    async def _apply_receipts(
        conn: AsyncConnection, update: DeliveryUpdate, ids: Sequence[str], now: datetime
    ) -> int:
        # Kept even when it matches nothing yet: the send may not have stored its id.
        await ReceiptRepository(conn).add(
            provider=update.provider, message_ids=ids, status=update.status, now=now
        )
        error = f"delivery_failed:{update.error_code}" if update.error_code is not None else None
        return await OutboundRepository(conn).record_delivery(ids, update.status, now, error=error)

    async def _echo(self, raw: bytes, echo: SentEcho) -> IngestOutcome:
        """Our own send, echoed back: starts nothing, but proves which text went out."""
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            key = await find_conversation_key(conn, echo.recipient)
            event_id = await EventRepository(conn).insert_unique(
                NewEvent(
                    provider=echo.provider,
                    instance_id=echo.instance_id or "",
                    message_id=echo.message_id,
                    event_type=echo.event_type,
                    payload=raw,
                    status=EventStatus.IGNORED,
                    received_at=now,
                    conversation_key=key,
                    reply_to=echo.recipient.reply_to,
                    phone_e164=echo.recipient.e164,
                    last_error=OWN_ECHO_REASON,
                )
            )
            if event_id is None:
                return IngestOutcome.DUPLICATE
            if not await OutboundRepository(conn).holds_message_id(
                provider=echo.provider, message_id=echo.message_id
            ):
                await record_proof(
                    conn,
                    provider=echo.provider,
                    message_id=echo.message_id,
                    kind="echo",
                    conversation_key=key,
                    text=echo.text,
                )
        log.info("inbound.ignored", event_id=event_id, reason=OWN_ECHO_REASON)
        return IngestOutcome.IGNORED

    async def _identity_update(self, raw: bytes, update: IdentityUpdate) -> IngestOutcome:
        """WhatsApp says a known lead has a new number or BSUID: link it to the lead, audited.
        Starts no turn; a lead we never met has nothing to link."""
        return await _retry_identity_race(lambda: self._identity_update_once(raw, update))

    async def _identity_update_once(self, raw: bytes, update: IdentityUpdate) -> IngestOutcome:
        now = datetime.now(UTC)
        sender = update.sender
        async with self._engine.begin() as conn:
            key = await known_conversation_key(conn, sender)
            event_id = await EventRepository(conn).insert_unique(
                NewEvent(
                    provider=update.provider,
                    instance_id=update.instance_id,
                    message_id=update.message_id,
                    event_type=update.event_type,
                    payload=raw,
                    status=EventStatus.IGNORED,
                    received_at=now,
                    conversation_key=key,
                    reply_to=sender.reply_to,
                    phone_e164=sender.e164,
                    last_error=f"identity:{update.change.value}",
                )
            )
            if event_id is None:
                return IngestOutcome.DUPLICATE
            if key is not None:
                await self._identity.link_changed_id(
                    conn, key, update.new_address, change=update.change, now=now
                )
        log.info("inbound.identity_update", event_id=event_id, change=update.change.value)
        return IngestOutcome.IGNORED


async def _retry_identity_race(once: Callable[[], Awaitable[IngestOutcome]]) -> IngestOutcome:
    """The loser of a race between two first messages of one person finds the winner's rows
    on its next try."""
    for _attempt in range(IDENTITY_RACE_ATTEMPTS - 1):
        try:
            return await once()
        except IdentityRace as race:
            log.info("inbound.identity_race", reason=str(race))
    return await once()


def _message_event(
    raw: bytes, message: InboundMessage, resolved: Resolved, now: datetime
) -> NewEvent:
    return NewEvent(
        provider=message.provider,
        instance_id=message.instance_id,
        message_id=message.message_id,
        event_type=message.event_type,
        payload=raw,
        status=EventStatus.RECEIVED,
        received_at=now,
        conversation_key=resolved.key,
        reply_to=resolved.reply_to,
        phone_e164=message.sender.e164,
        content_kind=message.kind.value,
        body_text=message.text,
        # A clock ahead of ours would stretch the service window: never later.
        sent_at=min(message.sent_at, now) if message.sent_at else None,
        machine_value=message.machine_value,
        referral=message.referral.as_dict() if message.referral else None,
    )
