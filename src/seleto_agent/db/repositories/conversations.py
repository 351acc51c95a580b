"""All SQL on `conversations`, including the per-phone lease that serialises turns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from seleto_agent.db.clock import db_now
from seleto_agent.db.dialect import insert_for
from seleto_agent.db.tables import conversations as t
from seleto_agent.db.tables import inbound_events as ev
from seleto_agent.domain.conversation import ConversationOwner


@dataclass(frozen=True, slots=True)
class ConversationRecord:
    id: int
    conversation_key: str
    phone_e164: str | None
    reply_to: str
    owner: ConversationOwner
    paused_until: datetime | None
    session_id: str
    last_inbound_at: datetime | None
    session_started_at: datetime | None
    last_turn_at: datetime | None
    owner_reason: str | None
    owner_turn_id: str | None
    human_last_activity_at: datetime | None = None
    owner_changed_at: datetime | None = None


_COLUMNS = [t.c[name] for name in ConversationRecord.__dataclass_fields__]


class ConversationRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def create(
        self, *, key: str, phone_e164: str | None, reply_to: str, session_id: str, now: datetime
    ) -> int | None:
        """Open the conversation of a first contact; None when the key already exists."""
        statement = (
            insert_for(self._conn, t)
            .values(
                conversation_key=key,
                phone_e164=phone_e164,
                reply_to=reply_to,
                owner=ConversationOwner.BOT,
                session_id=session_id,
                last_inbound_at=now,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["conversation_key"])
            .returning(t.c.id)
        )
        created: int | None = (await self._conn.execute(statement)).scalar_one_or_none()
        return created

    async def touch_inbound(self, conversation_id: int, *, reply_to: str, now: datetime) -> bool:
        """The lead wrote: remember the address to reply to. False when the conversation is
        gone (merged into another meanwhile)."""
        result = await self._conn.execute(
            update(t)
            .where(t.c.id == conversation_id)
            .values(reply_to=reply_to, last_inbound_at=now, updated_at=now)
        )
        return result.rowcount == 1

    async def recount_last_inbound(self, conversation_id: int, key: str) -> None:
        """`last_inbound_at` from the lead's messages as the provider dated them (Cloud API
        `timestamp`; arrival time for providers that give none): a message delivered days late
        does not reopen the 24 h service window."""
        latest = (
            select(func.max(func.coalesce(ev.c.sent_at, ev.c.received_at)))
            .where(ev.c.conversation_key == key, ev.c.content_kind.is_not(None))
            .scalar_subquery()
        )
        await self._conn.execute(
            update(t).where(t.c.id == conversation_id).values(last_inbound_at=latest)
        )

    async def set_reply_to(self, conversation_id: int, reply_to: str, *, now: datetime) -> None:
        """Where replies go from now on, without counting as a message of the lead."""
        await self._conn.execute(
            update(t).where(t.c.id == conversation_id).values(reply_to=reply_to, updated_at=now)
        )

    async def learn_phone(self, conversation_id: int, phone_e164: str, *, now: datetime) -> None:
        """A conversation known only by `@lid` learns the person's number."""
        await self._conn.execute(
            update(t).where(t.c.id == conversation_id).values(phone_e164=phone_e164, updated_at=now)
        )

    async def get(self, key: str) -> ConversationRecord | None:
        row = (
            await self._conn.execute(select(*_COLUMNS).where(t.c.conversation_key == key))
        ).first()
        return _record(row._asdict()) if row else None

    async def lock(self, key: str) -> ConversationRecord | None:
        """Read the conversation and hold its row until the transaction ends, so everything
        that decides from it (lead tools, ownership changes, the reply) runs one at a time.

        Postgres: `SELECT ... FOR UPDATE`. SQLite has no row locks and pysqlite begins a
        transaction only at the first write, so a write comes first: it takes the database's
        single writer lock (waiting up to the busy timeout), like `BEGIN IMMEDIATE`. Call it
        before any other statement of the transaction.
        """
        if self._conn.dialect.name == "postgresql":
            query = select(*_COLUMNS).where(t.c.conversation_key == key).with_for_update()
            row = (await self._conn.execute(query)).first()
            return _record(row._asdict()) if row else None
        await self._conn.execute(
            update(t).where(t.c.conversation_key == key).values(owner=t.c.owner)
        )
        return await self.get(key)

    async def try_acquire_lease(self, key: str, *, owner: str, seconds: float) -> bool:
        """Take the phone's lock if free or expired, on the database's clock. The conditional
        UPDATE is the arbiter: on Postgres a concurrent claimer re-checks the WHERE after the
        row lock is released."""
        result = await self._conn.execute(
            update(t)
            .where(
                t.c.conversation_key == key,
                or_(t.c.lease_expires_at.is_(None), t.c.lease_expires_at < db_now(self._conn)),
            )
            .values(lease_owner=owner, lease_expires_at=_until(self._conn, seconds))
        )
        return result.rowcount == 1

    async def extend_lease(self, key: str, *, owner: str, seconds: float) -> bool:
        """Renew our lease; False when another worker has taken the phone."""
        result = await self._conn.execute(
            update(t)
            .where(t.c.conversation_key == key, t.c.lease_owner == owner)
            .values(lease_expires_at=_until(self._conn, seconds))
        )
        return result.rowcount == 1

    async def fence(self, key: str, *, owner: str, seconds: float) -> bool:
        """Renew our lease only while it is still valid; False when it lapsed or was taken.

        A write, not a read: on Postgres it holds the row until commit, so no takeover can
        slip in between this check and the writes that follow it in the same transaction."""
        result = await self._conn.execute(
            update(t)
            .where(
                t.c.conversation_key == key,
                t.c.lease_owner == owner,
                t.c.lease_expires_at >= db_now(self._conn),
            )
            .values(lease_expires_at=_until(self._conn, seconds))
        )
        return result.rowcount == 1

    async def release_lease(self, key: str, *, owner: str) -> None:
        await self._conn.execute(
            update(t)
            .where(t.c.conversation_key == key, t.c.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None)
        )

    async def save_ownership(
        self,
        key: str,
        *,
        owner: ConversationOwner,
        paused_until: datetime | None,
        reason: str | None,
        turn_id: str | None,
        human_last_activity_at: datetime | None,
        changed_at: datetime | None,
        now: datetime,
    ) -> None:
        await self._conn.execute(
            update(t)
            .where(t.c.conversation_key == key)
            .values(
                owner=owner,
                paused_until=paused_until,
                owner_reason=reason,
                owner_turn_id=turn_id,
                human_last_activity_at=human_last_activity_at,
                owner_changed_at=changed_at,
                updated_at=now,
            )
        )

    async def start_session(self, key: str, *, session_id: str, now: datetime) -> None:
        await self._conn.execute(
            update(t)
            .where(t.c.conversation_key == key)
            .values(session_id=session_id, session_started_at=now, updated_at=now)
        )

    async def mark_turn(self, key: str, *, now: datetime) -> None:
        await self._conn.execute(
            update(t).where(t.c.conversation_key == key).values(last_turn_at=now, updated_at=now)
        )


def _record(data: dict[str, object]) -> ConversationRecord:
    data["owner"] = ConversationOwner(str(data["owner"]))
    return ConversationRecord(**data)  # type: ignore[arg-type]


def _until(conn: AsyncConnection, seconds: float) -> object:
    return db_now(conn, plus=timedelta(seconds=seconds))
