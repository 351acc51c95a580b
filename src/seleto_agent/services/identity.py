"""One person, one conversation: which conversation a WhatsApp sender is, whatever id names them.

Z-API's `phone` is the number or the `@lid`, and `chatLid`/`senderLid` name the `@lid` next to a
number (contracts/zapi.md §2.1); WhatsApp switches between the forms, inconsistently. Every id a
callback names is an identity row pointing at one conversation (`whatsapp_identities`), so
ingest resolves a sender to the conversation key it already has: the worker, the Chatwoot
mirror and the CRM sync all see one key.

- Known sender, nothing new (every message but a contact's first, or a new form): one indexed
  lookup, then the usual writes (`fast`).
- A first contact: a conversation under the sender's own key, and its identities.
- A new id for a known conversation: linked to it (a `@lid` conversation learns its number).
- The ids of one callback point at two conversations: the newer one is merged into the older,
  under both rows' locks (taken in id order), and audited.

A race (two first messages of one person in two forms at once) makes one transaction find an
identity row that another has just written; it raises `IdentityRace` and the caller runs again,
then finds everything linked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from seleto_agent.db.repositories.audit import AuditRepository
from seleto_agent.db.repositories.conversations import ConversationRecord, ConversationRepository
from seleto_agent.db.repositories.identities import (
    KEY_KIND,
    OWN_KEY,
    IdentityMatch,
    IdentityRepository,
    KnownConversation,
)
from seleto_agent.db.repositories.merges import MergeRepository
from seleto_agent.domain.events import IdentityChange
from seleto_agent.domain.ownership import on_merge
from seleto_agent.domain.phone import (
    WhatsAppAddress,
    mask_conversation_key,
    preferred_reply_to,
)
from seleto_agent.observability.logging import get_logger
from seleto_agent.services.ownership import OwnershipService, state_of

log = get_logger(__name__)

ACTOR = "identity"
MERGED_ACTION = "identity.merged"
CHANGED_ACTION = "identity.changed"


class IdentityRace(Exception):
    """Another transaction linked one of these ids meanwhile: run the transaction again."""


@dataclass(frozen=True, slots=True)
class Resolved:
    """The conversation a lead message belongs to, and where replies go."""

    conversation_id: int
    key: str
    reply_to: str
    first_contact: bool = False
    merged: int = 0


def lookup_pairs(address: WhatsAppAddress) -> list[tuple[str, str]]:
    key = address.conversation_key
    # The sender's own key may be one merged into another conversation since.
    return [*address.identities, (KEY_KIND, key)]


def _oldest(conversations: list[KnownConversation]) -> KnownConversation:
    return min(conversations, key=lambda c: (c.created_at, c.id))


def _distinct(matches: list[IdentityMatch]) -> list[KnownConversation]:
    return list({m.conversation.id: m.conversation for m in matches}.values())


async def lookup(conn: AsyncConnection, address: WhatsAppAddress) -> list[IdentityMatch]:
    """The conversations the sender's ids point at (one round trip)."""
    return await IdentityRepository(conn).lookup(lookup_pairs(address), [address.conversation_key])


async def find_conversation_key(conn: AsyncConnection, address: WhatsAppAddress) -> str:
    """The key of the sender's conversation, linking nothing: for callbacks anyone with the URL
    could forge without being the person (company-phone messages, echoes, receipts) and for
    ops looking a person up. The sender's own key when unknown."""
    return await known_conversation_key(conn, address) or address.conversation_key


async def known_conversation_key(conn: AsyncConnection, address: WhatsAppAddress) -> str | None:
    """As `find_conversation_key`, but None for a sender no conversation knows."""
    found = _distinct(await lookup(conn, address))
    return _oldest(found).conversation_key if found else None


def already_settled(
    address: WhatsAppAddress, matches: list[IdentityMatch]
) -> KnownConversation | None:
    """The one conversation every id of the sender already points at; None when something is
    new (a first contact, an id not linked yet, two conversations to merge)."""
    found = _distinct(matches)
    if len(found) != 1:
        return None
    linked = {(m.kind, m.value) for m in matches if m.kind not in (OWN_KEY, KEY_KIND)}
    return found[0] if set(address.identities) <= linked else None


class IdentityService:
    def __init__(self, ownership: OwnershipService) -> None:
        self._ownership = ownership

    async def settle(
        self,
        conn: AsyncConnection,
        address: WhatsAppAddress,
        matches: list[IdentityMatch],
        *,
        now: datetime,
    ) -> Resolved:
        """Create, link or merge so that every id of the sender points at one conversation.
        Call it before any write of the transaction: it takes the conversations' row locks
        (on SQLite, the writer lock) and reads the identities again under them."""
        found = _distinct(matches)
        if not found:
            return await self._first_contact(conn, address, now=now)
        conversations = ConversationRepository(conn)
        locked: dict[int, ConversationRecord] = {}
        # A stable order: two merges of the same conversations cannot deadlock.
        for known in sorted(found, key=lambda c: c.id):
            record = await conversations.lock(known.conversation_key)
            if record is None or record.id != known.id:
                raise IdentityRace("a conversation was merged meanwhile")
            locked[known.id] = record
        again = _distinct(await lookup(conn, address))
        if {c.id for c in again} != set(locked):
            raise IdentityRace("the sender's ids moved meanwhile")
        survivor = _oldest(again)
        others = [c for c in again if c.id != survivor.id]
        for other in others:
            # Read again: an earlier merge of this loop may have given it a number.
            current = await conversations.lock(survivor.conversation_key)
            assert current is not None
            await self._merge(conn, locked[other.id], into=current, now=now)
        record = await conversations.lock(survivor.conversation_key)
        assert record is not None
        identities = IdentityRepository(conn)
        for kind, value in address.identities:
            if await identities.add(record.id, kind, value, now=now) != record.id:
                raise IdentityRace("an id was linked elsewhere meanwhile")
        if address.e164 is not None and record.phone_e164 is None:
            await self._learn_phone(conn, record, address.e164, now=now)
        reply_to = preferred_reply_to(record.reply_to, address.reply_to)
        await conversations.touch_inbound(record.id, reply_to=reply_to, now=now)
        return Resolved(record.id, record.conversation_key, reply_to, merged=len(others))

    async def link_changed_id(
        self,
        conn: AsyncConnection,
        key: str,
        new_address: WhatsAppAddress,
        *,
        change: IdentityChange,
        now: datetime,
    ) -> None:
        """WhatsApp says the lead of `key` now has `new_address` (a new number, a new BSUID):
        link it to the conversation, audited. An id already linked to another conversation
        stays where it is (two leads are merged only by a message that names both, never by
        this notice alone); the audit says so. Replies follow a new number at once: the old
        one is no longer the lead's."""
        conversations = ConversationRepository(conn)
        record = await conversations.lock(key)
        if record is None:
            raise IdentityRace("the conversation was merged meanwhile")
        identities = IdentityRepository(conn)
        elsewhere = [
            kind
            for kind, value in new_address.identities
            if await identities.add(record.id, kind, value, now=now) != record.id
        ]
        if not elsewhere:
            if new_address.e164 is not None and record.phone_e164 is None:
                await self._learn_phone(conn, record, new_address.e164, now=now)
            reply_to = (
                new_address.reply_to
                if change is IdentityChange.NUMBER
                else preferred_reply_to(record.reply_to, new_address.reply_to)
            )
            await conversations.set_reply_to(record.id, reply_to, now=now)
        await AuditRepository(conn).record(
            actor=ACTOR,
            action=CHANGED_ACTION,
            subject_type="conversation",
            subject_id=mask_conversation_key(record.conversation_key),
            details={
                "change": change.value,
                "new_key": mask_conversation_key(new_address.conversation_key),
                "linked_elsewhere": elsewhere,
            },
            now=now,
        )
        log.info("identity.changed", change=change.value, linked_elsewhere=len(elsewhere))

    async def _first_contact(
        self, conn: AsyncConnection, address: WhatsAppAddress, *, now: datetime
    ) -> Resolved:
        key = address.conversation_key
        created = await ConversationRepository(conn).create(
            key=key, phone_e164=address.e164, reply_to=address.reply_to, session_id=key, now=now
        )
        if created is None:
            raise IdentityRace("the conversation was opened meanwhile")
        identities = IdentityRepository(conn)
        for kind, value in address.identities:
            if await identities.add(created, kind, value, now=now) != created:
                raise IdentityRace("an id was linked elsewhere meanwhile")
        return Resolved(created, key, address.reply_to, first_contact=True)

    async def _learn_phone(
        self, conn: AsyncConnection, record: ConversationRecord, e164: str, *, now: datetime
    ) -> None:
        """A conversation known only by `@lid` learns the number: its lead is filed under
        the number from now on (the lead table's phone; the CRM gets it on its next sync)."""
        await ConversationRepository(conn).learn_phone(record.id, e164, now=now)
        merges = MergeRepository(conn)
        lead = await merges.lead(record.conversation_key)
        if lead is not None:
            await merges.rehome_lead(
                int(lead["id"]), conversation_id=record.id, phone=e164, now=now
            )

    async def _merge(
        self,
        conn: AsyncConnection,
        other: ConversationRecord,
        *,
        into: ConversationRecord,
        now: datetime,
    ) -> None:
        survivor = into
        merges = MergeRepository(conn)
        moved = await merges.move_keyed_rows(other.conversation_key, survivor.conversation_key)
        moved["handoffs"] = await merges.move_handoffs(
            other.conversation_key, survivor.conversation_key, now=now
        )
        moved["jobs"] = await merges.move_conversation_jobs(
            other.conversation_key, survivor.conversation_key, now=now
        )
        chatwoot_left = await merges.move_chatwoot_link(
            other.conversation_key, survivor.conversation_key
        )
        phone = survivor.phone_e164 or other.phone_e164
        lead_phone = phone or survivor.conversation_key
        survivor_lead = await merges.lead(survivor.phone_e164 or survivor.conversation_key)
        other_lead = await merges.lead(other.phone_e164 or other.conversation_key)
        details: dict[str, Any] = {"merged_key": mask_conversation_key(other.conversation_key)}
        if other_lead is not None and survivor_lead is not None:
            leads = await merges.merge_leads(other_lead, survivor_lead, now=now)
            moved["quotes"] = leads.quotes_moved
            moved["quotes_combined"] = leads.quotes_combined
            if leads.crm_left:
                details["piperun_left"] = leads.crm_left
        kept_lead = survivor_lead or other_lead
        if kept_lead is not None and (kept_lead["phone"], kept_lead["conversation_id"]) != (
            lead_phone,
            survivor.id,
        ):
            await merges.rehome_lead(
                int(kept_lead["id"]), conversation_id=survivor.id, phone=lead_phone, now=now
            )
        if chatwoot_left:
            details["chatwoot_left"] = chatwoot_left
        identities = IdentityRepository(conn)
        await identities.repoint(other.id, survivor.id)
        await identities.add(survivor.id, KEY_KIND, other.conversation_key, now=now)
        last_inbound = max(
            (t for t in (survivor.last_inbound_at, other.last_inbound_at) if t), default=None
        )
        await merges.absorb(
            survivor.id,
            phone_e164=phone,
            reply_to=preferred_reply_to(other.reply_to, survivor.reply_to),
            last_inbound_at=last_inbound,
            now=now,
        )
        other_state = state_of(other)
        await self._ownership.apply_in(
            conn,
            survivor.conversation_key,
            lambda state: on_merge(state, other=other_state),
            name="identity_merge",
            actor=ACTOR,
            audit_unchanged=False,
        )
        await merges.delete_conversation(other.id)
        details["moved"] = moved
        await AuditRepository(conn).record(
            actor=ACTOR,
            action=MERGED_ACTION,
            subject_type="conversation",
            subject_id=mask_conversation_key(survivor.conversation_key),
            details=details,
            now=now,
        )
        log.info("identity.merged", events=moved["events"], handoffs=moved["handoffs"])
