"""All SQL on `whatsapp_identities`: which conversation each id of a contact belongs to."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, literal, or_, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection

from seleto_agent.db.dialect import insert_for
from seleto_agent.db.tables import conversations as c
from seleto_agent.db.tables import whatsapp_identities as t

# A conversation key that was merged into another conversation.
KEY_KIND = "key"
# A lookup row for a conversation found by its own key (not an identity row): conversations
# from before the identity table (SQLite gets no backfill) are still found and then linked.
OWN_KEY = "own_key"


@dataclass(frozen=True, slots=True)
class KnownConversation:
    id: int
    conversation_key: str
    phone_e164: str | None
    reply_to: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class IdentityMatch:
    kind: str
    value: str
    conversation: KnownConversation


_CONVERSATION = [
    c.c.id,
    c.c.conversation_key,
    c.c.phone_e164,
    c.c.reply_to,
    c.c.created_at,
]


class IdentityRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def lookup(
        self, pairs: Iterable[tuple[str, str]], keys: Iterable[str]
    ) -> list[IdentityMatch]:
        """One round trip, two unique-index probes: the conversations these (kind, value)
        pairs point at, and those whose own key is one of `keys`."""
        wanted = [and_(t.c.kind == kind, t.c.value == value) for kind, value in pairs]
        keys = list(keys)
        parts = []
        if wanted:
            parts.append(
                select(t.c.kind, t.c.value, *_CONVERSATION)
                .select_from(t.join(c, c.c.id == t.c.conversation_id))
                .where(or_(*wanted))
            )
        if keys:
            parts.append(
                select(
                    literal(OWN_KEY).label("kind"),
                    c.c.conversation_key.label("value"),
                    *_CONVERSATION,
                ).where(c.c.conversation_key.in_(keys))
            )
        if not parts:
            return []
        query = parts[0] if len(parts) == 1 else union_all(*parts)
        return [
            IdentityMatch(
                kind=row.kind,
                value=row.value,
                conversation=KnownConversation(
                    id=row.id,
                    conversation_key=row.conversation_key,
                    phone_e164=row.phone_e164,
                    reply_to=row.reply_to,
                    created_at=row.created_at,
                ),
            )
            for row in await self._conn.execute(query)
        ]

    async def add(self, conversation_id: int, kind: str, value: str, *, now: datetime) -> int:
        """Point (kind, value) at the conversation unless it already points somewhere; returns
        the conversation it points at now."""
        await self._conn.execute(
            insert_for(self._conn, t)
            .values(kind=kind, value=value, conversation_id=conversation_id, created_at=now)
            .on_conflict_do_nothing(index_elements=["kind", "value"])
        )
        owner: int = (
            await self._conn.execute(
                select(t.c.conversation_id).where(t.c.kind == kind, t.c.value == value)
            )
        ).scalar_one()
        return owner

    async def repoint(self, from_id: int, to_id: int) -> int:
        result = await self._conn.execute(
            update(t).where(t.c.conversation_id == from_id).values(conversation_id=to_id)
        )
        return result.rowcount

    async def of_conversation(self, conversation_id: int) -> list[tuple[str, str]]:
        query = (
            select(t.c.kind, t.c.value)
            .where(t.c.conversation_id == conversation_id)
            .order_by(t.c.kind, t.c.value)
        )
        return [(row.kind, row.value) for row in await self._conn.execute(query)]

    async def canonical_key(self, key: str) -> str | None:
        """The key of the conversation `key` names: its own, or the one it was merged into."""
        matches = await self.lookup([(KEY_KIND, key)], [key])
        return matches[0].conversation.conversation_key if matches else None
