"""The Chatwoot mirror: every WhatsApp conversation shown to the SDR team, exactly once, in order.

Runs as outbox jobs (`chatwoot.mirror`), one ordering key per conversation, so a Chatwoot
outage delays the mirror, never the lead's reply, and the mirror catches up in order. Every
message we post carries our mirror key in `content_attributes`: the webhook echo of it is
recognised as ours (whatever its sender type), and a post whose answer was lost is found again
in the conversation instead of being posted twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from seleto_agent.db.repositories.chatwoot import ChatwootRepository
from seleto_agent.db.repositories.conversations import ConversationRepository
from seleto_agent.db.repositories.events import EventRepository
from seleto_agent.db.repositories.handoffs import HandoffStatus
from seleto_agent.db.repositories.identities import IdentityRepository
from seleto_agent.db.repositories.jobs import JobRecord
from seleto_agent.db.tables import handoffs, leads, outbound_messages
from seleto_agent.domain.crm import handoff_brief_text
from seleto_agent.domain.events import EventStatus
from seleto_agent.domain.phone import mask_conversation_key
from seleto_agent.integrations.chatwoot.client import ChatwootClient
from seleto_agent.services.outbox import JobNotReady

# Our stamp on every message we create; the webhook classifier reads it.
MIRROR_STAMP = "seleto_mirror_key"
_WAITING_STATUSES = (EventStatus.RECEIVED, EventStatus.PROCESSING, EventStatus.FAILED)
_KIND_LABELS = {
    "image": "imagem",
    "video": "vídeo",
    "document": "documento",
    "sticker": "figurinha",
    "location": "localização",
    "contact": "contato",
}


def mirror_key_of(content_attributes: dict[str, object]) -> str | None:
    value = content_attributes.get(MIRROR_STAMP)
    return value if isinstance(value, str) else None


class ChatwootMirrorHandler:
    def __init__(
        self,
        engine: AsyncEngine,
        client: ChatwootClient,
        *,
        inbox_id: int,
        handoff_assignee_id: int | None,
        handoff_team_id: int | None,
        handoff_labels: list[str],
    ) -> None:
        self._engine = engine
        self._client = client
        self._inbox_id = inbox_id
        self._assignee_id = handoff_assignee_id
        self._team_id = handoff_team_id
        self._labels = handoff_labels

    async def handle(self, job: JobRecord) -> str | None:
        queued_for = job.ordering_key.removeprefix("cw:")
        what, ref = str(job.payload["what"]), str(job.payload["ref"])
        mirror_key = f"{what}:{ref}"
        async with self._engine.connect() as conn:
            # Queued before its conversation was merged into another: it goes to the survivor.
            key = await IdentityRepository(conn).canonical_key(queued_for) or queued_for
            _attempted, posted = await ChatwootRepository(conn).message(mirror_key)
        if posted is not None and what != "handoff":
            return "already_posted"
        if what == "incoming":
            content = await self._incoming_text(int(ref))
            return await self._post(key, mirror_key, content, "incoming", private=False)
        if what == "outgoing":
            body = await self._outgoing_text(int(ref))
            if body is None:
                return "not_mirrored"
            return await self._post(key, mirror_key, body, "outgoing", private=False)
        if what == "phone":
            # What an SDR typed on the company phone, so the team sees the whole conversation.
            content = await self._phone_text(int(ref))
            return await self._post(key, mirror_key, content, "outgoing", private=False)
        if what == "note":
            text = str(job.payload["text"])
            return await self._post(key, mirror_key, text, "outgoing", private=True)
        if what == "handoff":
            return await self._handoff(key, mirror_key, int(ref), already_posted=posted is not None)
        raise ValueError(f"unknown mirror job {what!r}")

    # -- what to post --------------------------------------------------------------------------

    async def _incoming_text(self, event_id: int) -> str:
        async with self._engine.connect() as conn:
            event = await EventRepository(conn).get(event_id)
        if event is None:
            raise ValueError(f"event {event_id} not found")
        if event.content_kind == "audio":
            if event.body_is_transcript and event.body_text:
                return f"🎤 [áudio transcrito] {event.body_text}"
            if event.media_error:
                return f"🎤 [áudio recebido; não foi possível transcrever: {event.media_error}]"
            if event.status in _WAITING_STATUSES:
                # The turn is transcribing it right now; the SDR should read the words.
                raise JobNotReady("voice note not transcribed yet", retry_in=1.0)
            return "🎤 [áudio recebido]"
        label = _KIND_LABELS.get(event.content_kind or "")
        if label is not None:
            caption = f" {event.body_text}" if event.body_text else ""
            return f"[{label} recebido]{caption}"
        return event.body_text or "[mensagem sem texto]"

    async def _phone_text(self, event_id: int) -> str:
        async with self._engine.connect() as conn:
            event = await EventRepository(conn).get(event_id)
        if event is None or not event.body_text:
            raise ValueError(f"event {event_id} has no text")
        return f"📱 [enviado pelo celular da empresa] {event.body_text}"

    async def _outgoing_text(self, outbound_id: int) -> str | None:
        query = select(outbound_messages.c.body, outbound_messages.c.reply_kind).where(
            outbound_messages.c.id == outbound_id
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise ValueError(f"outbound message {outbound_id} not found")
        if (row.reply_kind or "").startswith("human:"):
            # An SDR's own reply: it is already in Chatwoot.
            return None
        body: str = row.body
        return body

    async def _handoff(
        self, key: str, mirror_key: str, handoff_id: int, *, already_posted: bool
    ) -> str:
        query = (
            select(
                handoffs.c.kind,
                handoffs.c.reason,
                handoffs.c.summary,
                handoffs.c.status,
                leads.c.temperature,
                leads.c.temperature_reason,
            )
            .select_from(handoffs.outerjoin(leads, leads.c.id == handoffs.c.lead_id))
            .where(handoffs.c.id == handoff_id)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise ValueError(f"handoff {handoff_id} not found")
        if not already_posted:
            text = handoff_brief_text(
                row.summary,
                kind=row.kind,
                reason=row.reason,
                temperature=row.temperature,
                temperature_reason=row.temperature_reason,
            )
            await self._post(key, mirror_key, text, "outgoing", private=True)
        if row.status != HandoffStatus.PENDING:
            # The bot has the conversation back (a replay, or a job that waited out an outage):
            # re-opening and re-assigning it now would undo what the team decided since.
            return "handoff_closed"
        conversation_id = await self._conversation(key)
        await self._open(conversation_id)
        # Assignment and labels are set-to-value calls: repeating them is harmless.
        if self._assignee_id is not None or self._team_id is not None:
            await self._client.assign(
                conversation_id, assignee_id=self._assignee_id, team_id=self._team_id
            )
        if self._labels:
            await self._client.set_labels(conversation_id, self._labels)
        return "handoff_delivered"

    async def _open(self, conversation_id: int) -> None:
        """Opens the conversation before it is assigned, never after.

        Chatwoot's toggle_status makes a calling user with the agent role the assignee whenever
        the conversation ends open, already open or not (PR 3925). So an open conversation is
        not toggled, and the assignment comes after the toggle. Without an agent to assign, an
        assignee the toggle put there is taken back to what it was.
        """
        before = await self._client.conversation(conversation_id)
        if before.status == "open":
            return
        await self._client.toggle_status(conversation_id, "open")
        if self._assignee_id is not None:
            return
        after = await self._client.conversation(conversation_id)
        if after.assignee_id == before.assignee_id:
            return
        if before.assignee_id is None:
            await self._client.unassign(conversation_id)
        else:
            await self._client.assign(conversation_id, assignee_id=before.assignee_id)

    # -- posting -------------------------------------------------------------------------------

    async def _post(
        self,
        key: str,
        mirror_key: str,
        content: str,
        message_type: Literal["incoming", "outgoing"],
        *,
        private: bool,
    ) -> str:
        conversation_id = await self._conversation(key)
        async with self._engine.connect() as conn:
            attempted, posted = await ChatwootRepository(conn).message(mirror_key)
        if posted is not None:
            return "already_posted"
        if attempted:
            # An earlier attempt may have posted it and lost the answer: look before posting.
            for message in await self._client.list_messages(conversation_id):
                if mirror_key_of(message.content_attributes) == mirror_key:
                    await self._record(mirror_key, message.id)
                    return "recovered"
        async with self._engine.begin() as conn:
            await ChatwootRepository(conn).intend_message(key, mirror_key, now=datetime.now(UTC))
        message = await self._client.create_message(
            conversation_id,
            content=content,
            message_type=message_type,
            private=private,
            content_attributes={MIRROR_STAMP: mirror_key},
        )
        await self._record(mirror_key, message.id)
        return "posted"

    async def _record(self, mirror_key: str, message_id: int) -> None:
        async with self._engine.begin() as conn:
            await ChatwootRepository(conn).record_message(mirror_key, message_id)

    async def _conversation(self, key: str) -> int:
        """The Chatwoot conversation of this WhatsApp conversation, created on first use."""
        async with self._engine.connect() as conn:
            link = await ChatwootRepository(conn).link(key)
            conversation = await ConversationRepository(conn).get(key)
        if link is not None and link.chatwoot_conversation_id is not None:
            return link.chatwoot_conversation_id
        if conversation is None:
            raise ValueError("conversation not found")
        phone = conversation.phone_e164
        identifier = f"whatsapp:{key.removeprefix('wa:')}"
        contact_id, source_id = (link.contact_id, link.source_id) if link else (None, None)
        if contact_id is None or source_id is None:
            contact_id, source_id = await self._contact(phone, identifier, key)
            await self._save_link(key, {"contact_id": contact_id, "source_id": source_id})
        # A conversation created before a crash is found on the contact, not created again.
        existing = [
            c
            for c in await self._client.contact_conversations(contact_id)
            if c.inbox_id in (None, self._inbox_id)
        ]
        open_first = sorted(existing, key=lambda c: (c.status == "resolved", -c.id))
        if open_first:
            conversation_id = open_first[0].id
        else:
            await self._still_current(key)
            created = await self._client.create_conversation(
                source_id=source_id, inbox_id=self._inbox_id, contact_id=contact_id
            )
            conversation_id = created.id
        await self._save_link(key, {"chatwoot_conversation_id": conversation_id})
        return conversation_id

    async def _contact(self, phone: str | None, identifier: str, key: str) -> tuple[int, str]:
        for contact in await self._client.search_contacts(phone or identifier):
            if contact.identifier == identifier or (phone and contact.phone_number == phone):
                source_id = contact.source_id_for(self._inbox_id)
                if source_id is None:
                    # A contact from another inbox (a customer, one an SDR typed in): linked
                    # to ours, so the team sees one person with all their conversations.
                    source_id = await self._client.link_contact_inbox(contact.id, self._inbox_id)
                return contact.id, source_id
        await self._still_current(key)
        created = await self._client.create_contact(
            inbox_id=self._inbox_id,
            name=await self._display_name(key, phone),
            phone_number=phone,
            identifier=identifier,
        )
        return created.contact_id, created.source_id

    async def _still_current(self, key: str) -> None:
        """Right before creating a Chatwoot record: a job that started before its conversation
        was merged into another (and waited out a Chatwoot outage since) starts over under the
        survivor's key, instead of giving the merged conversation a contact of its own."""
        async with self._engine.connect() as conn:
            current = await IdentityRepository(conn).canonical_key(key)
        if current != key:
            raise JobNotReady("the conversation was merged into another", retry_in=0.0)

    async def _display_name(self, key: str, phone: str | None) -> str:
        async with self._engine.connect() as conn:
            name = (
                await conn.execute(select(leads.c.name).where(leads.c.phone == (phone or key)))
            ).scalar_one_or_none()
        return str(name) if name else (phone or mask_conversation_key(key))

    async def _save_link(self, key: str, values: dict[str, object]) -> None:
        async with self._engine.begin() as conn:
            await ChatwootRepository(conn).save_link(key, values, now=datetime.now(UTC))
