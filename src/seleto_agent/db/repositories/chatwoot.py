"""All SQL on `chatwoot_links` and `chatwoot_messages`, and the mirror's job queueing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from seleto_agent.db.dialect import insert_for
from seleto_agent.db.repositories.jobs import JobRepository
from seleto_agent.db.tables import chatwoot_links, chatwoot_messages
from seleto_agent.domain.jobs import JobKind


@dataclass(frozen=True, slots=True)
class ChatwootLink:
    conversation_key: str
    contact_id: int | None
    source_id: str | None
    chatwoot_conversation_id: int | None


_LINK_COLUMNS = [chatwoot_links.c[name] for name in ChatwootLink.__dataclass_fields__]


class ChatwootRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def link(self, key: str) -> ChatwootLink | None:
        query = select(*_LINK_COLUMNS).where(chatwoot_links.c.conversation_key == key)
        row = (await self._conn.execute(query)).first()
        return ChatwootLink(**row._asdict()) if row else None

    async def key_for_conversation(self, chatwoot_conversation_id: int) -> str | None:
        query = select(chatwoot_links.c.conversation_key).where(
            chatwoot_links.c.chatwoot_conversation_id == chatwoot_conversation_id
        )
        key: str | None = (await self._conn.execute(query)).scalar_one_or_none()
        return key

    async def save_link(self, key: str, values: dict[str, Any], *, now: datetime) -> None:
        statement = insert_for(self._conn, chatwoot_links).values(
            conversation_key=key, created_at=now, updated_at=now, **values
        )
        await self._conn.execute(
            statement.on_conflict_do_update(
                index_elements=["conversation_key"], set_={**values, "updated_at": now}
            )
        )

    async def message(self, mirror_key: str) -> tuple[bool, int | None]:
        """(whether a post was attempted, the Chatwoot id when known)."""
        query = select(chatwoot_messages.c.chatwoot_message_id).where(
            chatwoot_messages.c.mirror_key == mirror_key
        )
        row = (await self._conn.execute(query)).first()
        return (row is not None, row.chatwoot_message_id if row else None)

    async def intend_message(self, key: str, mirror_key: str, *, now: datetime) -> None:
        await self._conn.execute(
            insert_for(self._conn, chatwoot_messages)
            .values(conversation_key=key, mirror_key=mirror_key, created_at=now)
            .on_conflict_do_nothing(index_elements=["mirror_key"])
        )

    async def record_message(self, mirror_key: str, chatwoot_message_id: int) -> None:
        await self._conn.execute(
            update(chatwoot_messages)
            .where(chatwoot_messages.c.mirror_key == mirror_key)
            .values(chatwoot_message_id=chatwoot_message_id)
        )

    async def is_ours(self, chatwoot_message_id: int) -> bool:
        query = select(chatwoot_messages.c.id).where(
            chatwoot_messages.c.chatwoot_message_id == chatwoot_message_id
        )
        return (await self._conn.execute(query.limit(1))).first() is not None


def mirror_ordering_key(conversation_key: str) -> str:
    return f"cw:{conversation_key}"


def mirror_dedupe_key(what: str, ref: str) -> str:
    return f"cw:{what}:{ref}"


async def queue_mirror(
    conn: AsyncConnection,
    *,
    conversation_key: str,
    what: str,
    ref: str,
    now: datetime,
    extra: dict[str, Any] | None = None,
) -> None:
    """Queue one mirror post in the caller's transaction; queueing the same thing twice is a
    no-op. Jobs of one conversation run in order, so Chatwoot shows messages as they happened."""
    await JobRepository(conn).enqueue(
        kind=JobKind.CHATWOOT_MIRROR,
        ordering_key=mirror_ordering_key(conversation_key),
        dedupe_key=mirror_dedupe_key(what, ref),
        # No phone in the payload (ops see it): the conversation is in the ordering key.
        payload={"what": what, "ref": ref, **(extra or {})},
        now=now,
    )
