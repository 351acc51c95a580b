"""All SQL on `inbound_events`. Callers own the transaction (an AsyncConnection in a `begin()`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, func, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from seleto_agent.db.clock import db_now
from seleto_agent.db.dialect import insert_for
from seleto_agent.db.tables import inbound_events as t
from seleto_agent.domain.events import PENDING_STATUSES, EventStatus


@dataclass(frozen=True, slots=True)
class NewEvent:
    provider: str
    instance_id: str
    message_id: str | None
    event_type: str
    payload: bytes
    status: EventStatus
    received_at: datetime
    conversation_key: str | None = None
    reply_to: str | None = None
    phone_e164: str | None = None
    content_kind: str | None = None
    body_text: str | None = None
    last_error: str | None = None
    sent_at: datetime | None = None
    machine_value: str | None = None
    referral: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class EventRecord:
    id: int
    provider: str
    instance_id: str
    message_id: str | None
    event_type: str
    conversation_key: str | None
    reply_to: str | None
    content_kind: str | None
    body_text: str | None
    body_is_transcript: bool
    media_error: str | None
    status: EventStatus
    attempts: int
    next_attempt_at: datetime
    turn_id: str | None
    last_error: str | None
    received_at: datetime
    updated_at: datetime
    # The provider's send time when it gives one (Cloud API), else None.
    sent_at: datetime | None = None


_RECORD_COLUMNS = [t.c[name] for name in EventRecord.__dataclass_fields__]


def _record(row: Row[Any]) -> EventRecord:
    data = row._asdict()
    data["status"] = EventStatus(data["status"])
    return EventRecord(**data)


def _pending_or_orphaned(conn: AsyncConnection) -> Any:
    """Waiting events, plus events of a turn whose worker died (lease expired, on the
    database's clock like every lease)."""
    return or_(
        t.c.status.in_(PENDING_STATUSES),
        and_(t.c.status == EventStatus.PROCESSING, t.c.lease_expires_at < db_now(conn)),
    )


class EventRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def insert_unique(self, event: NewEvent) -> int | None:
        """Insert the event; None when its (provider, instance, message id) is already stored."""
        values = {
            **{name: getattr(event, name) for name in NewEvent.__dataclass_fields__},
            "attempts": 0,
            "next_attempt_at": event.received_at,
            "updated_at": event.received_at,
            # SQL NULL, not the JSON `null` SQLAlchemy writes for None.
            "referral": null() if event.referral is None else event.referral,
        }
        statement = (
            insert_for(self._conn, t)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["provider", "instance_id", "message_id"])
            .returning(t.c.id)
        )
        inserted: int | None = (await self._conn.execute(statement)).scalar_one_or_none()
        return inserted

    async def get(self, event_id: int) -> EventRecord | None:
        row = (await self._conn.execute(select(*_RECORD_COLUMNS).where(t.c.id == event_id))).first()
        return _record(row) if row else None

    async def referrals_for(self, key: str) -> list[dict[str, Any]]:
        """The ads a conversation's lead came from (Cloud API `referral`), oldest first."""
        query = (
            select(t.c.referral)
            .where(t.c.conversation_key == key, t.c.referral.is_not(None))
            .order_by(t.c.id)
        )
        return [dict(referral) for (referral,) in await self._conn.execute(query)]

    async def get_payload(self, event_id: int) -> bytes | None:
        result = await self._conn.execute(select(t.c.payload).where(t.c.id == event_id))
        payload: bytes | None = result.scalar_one_or_none()
        return payload

    async def list_page(
        self, *, status: EventStatus | None, limit: int, before_id: int | None
    ) -> list[EventRecord]:
        query = select(*_RECORD_COLUMNS).order_by(t.c.id.desc()).limit(limit)
        if status is not None:
            query = query.where(t.c.status == status)
        if before_id is not None:
            query = query.where(t.c.id < before_id)
        return [_record(row) for row in await self._conn.execute(query)]

    async def find_ripe_conversations(
        self, *, now: datetime, quiet_before: datetime, waited_before: datetime, limit: int
    ) -> list[str]:
        """Conversations with a burst ready for a turn, oldest first.

        Ready = nothing waiting on a backoff, and the lead has been quiet since `quiet_before`
        or the burst's first message is older than `waited_before`.
        """
        query = (
            select(t.c.conversation_key)
            .where(t.c.conversation_key.is_not(None), _pending_or_orphaned(self._conn))
            .group_by(t.c.conversation_key)
            .having(
                and_(
                    func.max(t.c.next_attempt_at) <= now,
                    or_(
                        func.max(t.c.received_at) <= quiet_before,
                        func.min(t.c.received_at) <= waited_before,
                    ),
                )
            )
            .order_by(func.min(t.c.id))
            .limit(limit)
        )
        return [key for (key,) in await self._conn.execute(query)]

    async def pending_for_conversation(self, key: str) -> list[EventRecord]:
        query = (
            select(*_RECORD_COLUMNS)
            .where(t.c.conversation_key == key, _pending_or_orphaned(self._conn))
            .order_by(t.c.received_at, t.c.id)
        )
        return [_record(row) for row in await self._conn.execute(query)]

    async def start_processing(
        self, ids: list[int], *, lease_seconds: float, now: datetime
    ) -> None:
        """One more attempt begins for these events, under the caller's conversation lease."""
        await self._conn.execute(
            update(t)
            .where(t.c.id.in_(ids))
            .values(
                status=EventStatus.PROCESSING,
                attempts=t.c.attempts + 1,
                lease_expires_at=db_now(self._conn, plus=timedelta(seconds=lease_seconds)),
                updated_at=now,
            )
        )

    async def assign_turn(self, ids: list[int], turn_id: str, now: datetime) -> None:
        await self._conn.execute(
            update(t).where(t.c.id.in_(ids)).values(turn_id=turn_id, updated_at=now)
        )

    async def extend_lease(self, ids: list[int], *, lease_seconds: float) -> None:
        await self._conn.execute(
            update(t)
            .where(t.c.id.in_(ids), t.c.status == EventStatus.PROCESSING)
            .values(lease_expires_at=db_now(self._conn, plus=timedelta(seconds=lease_seconds)))
        )

    async def mark_done(self, ids: list[int], now: datetime, note: str | None = None) -> None:
        await self._conn.execute(
            update(t)
            .where(t.c.id.in_(ids))
            .values(status=EventStatus.DONE, lease_expires_at=None, last_error=note, updated_at=now)
        )

    async def mark_retry(
        self,
        event_id: int,
        *,
        error: str,
        next_attempt_at: datetime,
        now: datetime,
        count_attempt: bool = True,
    ) -> None:
        values: dict[str, Any] = {
            "status": EventStatus.FAILED,
            "last_error": error,
            "next_attempt_at": next_attempt_at,
            "lease_expires_at": None,
            "updated_at": now,
        }
        if not count_attempt:
            # Waiting on something else (a send's callbacks) is not a failed attempt.
            values["attempts"] = t.c.attempts - 1
            values["status"] = EventStatus.RECEIVED
        await self._conn.execute(update(t).where(t.c.id == event_id).values(**values))

    async def mark_dead(self, event_id: int, *, error: str, now: datetime) -> None:
        await self._conn.execute(
            update(t)
            .where(t.c.id == event_id)
            .values(
                status=EventStatus.DEAD, last_error=error, lease_expires_at=None, updated_at=now
            )
        )

    async def requeue(self, ids: list[int], now: datetime) -> None:
        """Replay: a fresh set of attempts, due now."""
        await self._conn.execute(
            update(t)
            .where(t.c.id.in_(ids))
            .values(
                status=EventStatus.RECEIVED,
                attempts=0,
                next_attempt_at=now,
                lease_expires_at=None,
                updated_at=now,
            )
        )

    async def record_transcript(self, event_id: int, *, text: str, now: datetime) -> None:
        """A voice note's transcript becomes the event's text, marked as a transcription."""
        await self._conn.execute(
            update(t)
            .where(t.c.id == event_id)
            .values(body_text=text, body_is_transcript=True, media_error=None, updated_at=now)
        )

    async def record_media_error(self, event_id: int, *, reason: str, now: datetime) -> None:
        """Why a voice note could not be used (final: later attempts do not fetch it again)."""
        await self._conn.execute(
            update(t).where(t.c.id == event_id).values(media_error=reason, updated_at=now)
        )

    async def ids_with_status(self, status: EventStatus, limit: int) -> list[int]:
        query = select(t.c.id).where(t.c.status == status).order_by(t.c.id).limit(limit)
        return [event_id for (event_id,) in await self._conn.execute(query)]
