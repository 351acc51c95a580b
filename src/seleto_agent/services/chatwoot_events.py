"""What a Chatwoot webhook event means, decided in the worker (job `chatwoot.event`).

- our own echo (a message we created, recognised by its stamp or its recorded id, whatever its
  `sender.type` says) → nothing;
- an SDR's public reply → delivered to the lead on WhatsApp, exactly once, and the bot goes
  quiet for the conversation;
- an SDR's private note → a command (`/retomar`, `/bot off 2h`...) or nothing; a command is
  confirmed by a private note of ours, never sent to the lead;
- the conversation resolved → CHATWOOT_ON_RESOLVED.

Ownership changes are applied as of when the webhook arrived, so a replayed or late event
never undoes a later decision (OwnershipService: stale events change nothing).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from seleto_agent.db.repositories.audit import AuditRepository
from seleto_agent.db.repositories.chatwoot import ChatwootRepository, queue_mirror
from seleto_agent.db.repositories.conversations import ConversationRepository
from seleto_agent.db.repositories.events import EventRepository
from seleto_agent.db.repositories.identities import IdentityRepository
from seleto_agent.db.repositories.jobs import JobRecord
from seleto_agent.db.repositories.outbound import OutboundRecord, OutboundRepository
from seleto_agent.domain.phone import mask_conversation_key
from seleto_agent.domain.sdr_commands import SdrCommand, parse_note
from seleto_agent.integrations.chatwoot.webhook import ChatwootEvent, parse_event
from seleto_agent.integrations.whatsapp import WhatsAppOutsideWindow
from seleto_agent.observability.logging import get_logger
from seleto_agent.services.chatwoot_mirror import mirror_key_of
from seleto_agent.services.outbound import (
    HUMAN_KIND_PREFIX,
    TEMPLATE_KIND_PREFIX,
    OutboundService,
    SendAbandoned,
    SendUnsettled,
)
from seleto_agent.services.outbox import JobAbandoned, JobNotReady
from seleto_agent.services.ownership import OwnershipService

log = get_logger(__name__)

HUMAN_REPLY_KIND = f"{HUMAN_KIND_PREFIX}chatwoot"


class ChatwootEventHandler:
    def __init__(
        self, engine: AsyncEngine, *, ownership: OwnershipService, outbound: OutboundService
    ) -> None:
        self._engine = engine
        self._ownership = ownership
        self._outbound = outbound

    async def handle(self, job: JobRecord) -> str | None:
        event_id = int(job.payload["event_id"])
        async with self._engine.connect() as conn:
            events = EventRepository(conn)
            stored = await events.get(event_id)
            raw = await events.get_payload(event_id)
        if stored is None or raw is None:
            raise ValueError(f"event {event_id} not found")
        event = parse_event(raw)
        occurred_at = stored.received_at
        assert event.conversation_id is not None  # ingestion ignores events without one
        async with self._engine.connect() as conn:
            linked = await ChatwootRepository(conn).key_for_conversation(event.conversation_id)
            # A Chatwoot conversation of a conversation since merged into another (both had
            # one): the SDR's reply or command is for the survivor.
            key = await IdentityRepository(conn).canonical_key(linked) if linked else None
        if key is None:
            return "unknown_conversation"
        if event.event == "conversation_status_changed":
            transition = await self._ownership.resolved(key, occurred_at=occurred_at)
            return f"resolved:{transition.audit_action if transition else None}"
        if await self._is_our_echo(event):
            return "echo"
        if event.private:
            return await self._note(key, event, occurred_at)
        return await self._human_reply(key, event, occurred_at)

    async def _is_our_echo(self, event: ChatwootEvent) -> bool:
        stamp = mirror_key_of(event.content_attributes)
        async with self._engine.begin() as conn:
            repo = ChatwootRepository(conn)
            if stamp is not None:
                # The echo may beat our own POST's answer: record the id it tells us.
                attempted, posted = await repo.message(stamp)
                if attempted and posted is None and event.message_id is not None:
                    await repo.record_message(stamp, event.message_id)
                return True
            return event.message_id is not None and await repo.is_ours(event.message_id)

    async def _note(self, key: str, event: ChatwootEvent, occurred_at: datetime) -> str:
        parsed = parse_note(event.content or "")
        if parsed is None:
            return "private_note"
        transition = await self._ownership.command(key, parsed, occurred_at=occurred_at)
        if transition is None:
            return "unknown_conversation"
        if transition.note:
            async with self._engine.begin() as conn:
                await queue_mirror(
                    conn,
                    conversation_key=key,
                    what="note",
                    ref=f"command-{event.message_id}",
                    now=datetime.now(UTC),
                    extra={"text": transition.note},
                )
        kind = parsed.kind.value if isinstance(parsed, SdrCommand) else "invalid"
        async with self._engine.begin() as conn:
            # Every command is audited, also one that changed nothing (a status, a repeat).
            await AuditRepository(conn).record(
                actor="sdr:chatwoot",
                action=f"sdr.command.{kind}",
                subject_type="conversation",
                subject_id=mask_conversation_key(key),
                details={"changed": transition.changed, "chatwoot_message_id": event.message_id},
                now=datetime.now(UTC),
            )
        log.info("chatwoot.command", command=kind, changed=transition.changed)
        return f"command:{kind}"

    async def _human_reply(self, key: str, event: ChatwootEvent, occurred_at: datetime) -> str:
        await self._ownership.human_replied(key, source="chatwoot", occurred_at=occurred_at)
        text = (event.content or "").strip()
        if not text:
            # An attachment-only reply: the SDR sends files from the phone for now.
            return "human_reply_without_text"
        async with self._engine.begin() as conn:
            conversation = await ConversationRepository(conn).get(key)
            assert conversation is not None
            record = await OutboundRepository(conn).create_if_absent(
                key=f"human:chatwoot:{event.message_id}",
                provider=self._outbound.provider,
                conversation_key=key,
                recipient=conversation.reply_to,
                body=text,
                turn_id=None,
                now=datetime.now(UTC),
                reply_kind=HUMAN_REPLY_KIND,
            )
        try:
            await self._outbound.deliver(record)
        except WhatsAppOutsideWindow:
            template = self._outbound.reengage_template(record)
            if template is None:
                return "human_reply_outside_window"
            await self._send_in_place(record, template)
            return "human_reply_outside_window_template_sent"
        except SendUnsettled as exc:
            # The reply may be out there: wait for the provider's callbacks, not an attempt.
            raise JobNotReady(f"whatsapp send {exc}", retry_in=exc.retry_in) from exc
        except SendAbandoned as exc:
            raise JobAbandoned(str(exc)) from exc
        return "human_reply_delivered"

    async def _send_in_place(self, refused: OutboundRecord, template: str) -> None:
        """The approved template that invites the lead back, as a send of its own: its own
        row and key, so a retry of this job never sends it twice."""
        async with self._engine.begin() as conn:
            record = await OutboundRepository(conn).create_if_absent(
                key=f"{refused.idempotency_key}:reengage",
                provider=self._outbound.provider,
                conversation_key=refused.conversation_key,
                recipient=refused.recipient,
                body=template,
                turn_id=None,
                now=datetime.now(UTC),
                reply_kind=f"{TEMPLATE_KIND_PREFIX}reengage",
            )
        try:
            await self._outbound.deliver(record)
        except SendUnsettled as exc:
            raise JobNotReady(f"whatsapp send {exc}", retry_in=exc.retry_in) from exc
        except SendAbandoned as exc:
            raise JobAbandoned(str(exc)) from exc
