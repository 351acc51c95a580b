"""All SQL on `outbound_messages`: one row per intended send, keyed for idempotency."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from seleto_agent.db.clock import db_now
from seleto_agent.db.dialect import insert_for
from seleto_agent.db.ids import chunked
from seleto_agent.db.tables import outbound_messages as t
from seleto_agent.domain.events import OutboundStatus, delivery_rank

# Rows whose send may be out there without our knowing its message id.
AMBIGUOUS_STATUSES = (OutboundStatus.SENDING, OutboundStatus.UNKNOWN)
# The key of a turn's reply: `reply:<turn_id>` (services/turn.py).
TURN_REPLY_PREFIX = "reply:"


@dataclass(frozen=True, slots=True)
class OutboundRecord:
    id: int
    idempotency_key: str
    provider: str
    conversation_key: str
    recipient: str
    body: str
    turn_id: str | None
    status: OutboundStatus
    attempts: int
    provider_message_id: str | None
    send_started_at: datetime | None
    unknown_since: datetime | None
    ambiguous_sends: int
    reply_kind: str | None
    last_error: str | None


_COLUMNS = [t.c[name] for name in OutboundRecord.__dataclass_fields__]


class OutboundRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def create_if_absent(
        self,
        *,
        key: str,
        provider: str,
        conversation_key: str,
        recipient: str,
        body: str,
        turn_id: str | None,
        now: datetime,
        reply_kind: str | None = None,
        prompt_version: str | None = None,
        agent_run_id: str | None = None,
    ) -> OutboundRecord:
        """The row for `key`: created now, or the one an earlier attempt already wrote."""
        await self._conn.execute(
            insert_for(self._conn, t)
            .values(
                idempotency_key=key,
                provider=provider,
                conversation_key=conversation_key,
                recipient=recipient,
                body=body,
                turn_id=turn_id,
                reply_kind=reply_kind,
                prompt_version=prompt_version,
                agent_run_id=agent_run_id,
                status=OutboundStatus.PENDING,
                attempts=0,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
        )
        record = await self.get_by_key(key)
        assert record is not None
        return record

    async def get_by_key(self, key: str) -> OutboundRecord | None:
        row = (
            await self._conn.execute(select(*_COLUMNS).where(t.c.idempotency_key == key))
        ).first()
        return _record(row._asdict()) if row else None

    async def by_key(self, key: str) -> OutboundRecord | None:
        row = (
            await self._conn.execute(select(*_COLUMNS).where(t.c.idempotency_key == key))
        ).first()
        return _record(row._asdict()) if row else None

    async def by_message_id(self, *, provider: str, message_id: str) -> OutboundRecord | None:
        row = (
            await self._conn.execute(
                select(*_COLUMNS)
                .where(t.c.provider == provider, t.c.provider_message_id == message_id)
                .limit(1)
            )
        ).first()
        return _record(row._asdict()) if row else None

    async def reopen_failed(self, outbound_id: int, *, attempt: int, error: str) -> bool:
        """The provider reported a send it had accepted as failed: the row is `failed` again
        (a later attempt may send it, unless the error makes it final)."""
        return await self._settle(
            outbound_id,
            attempt,
            (OutboundStatus.SENT, OutboundStatus.FAILED, OutboundStatus.UNKNOWN),
            status=OutboundStatus.FAILED,
            last_error=error,
            updated_at=db_now(self._conn),
        )

    async def by_turn_ids(self, turn_ids: Sequence[str]) -> dict[str, OutboundRecord]:
        if not turn_ids:
            return {}
        rows = await self._conn.execute(select(*_COLUMNS).where(t.c.turn_id.in_(turn_ids)))
        records = [_record(row._asdict()) for row in rows]
        return {r.turn_id: r for r in records if r.turn_id is not None}

    async def turn_replies_since(
        self, conversation_key: str, since: datetime
    ) -> list[tuple[datetime, str | None]]:
        """(created_at, reply_kind) of the bot's turn replies to a conversation since `since`
        (SDR replies and other sends have keys of their own and are not counted)."""
        query = select(t.c.created_at, t.c.reply_kind).where(
            t.c.conversation_key == conversation_key,
            t.c.idempotency_key.startswith(TURN_REPLY_PREFIX, autoescape=True),
            t.c.created_at > since,
        )
        return [(_utc(created_at), kind) for created_at, kind in await self._conn.execute(query)]

    async def current(self, outbound_id: int) -> tuple[OutboundRecord, datetime]:
        """The row as stored now, with the database's clock read in the same statement."""
        row = (
            await self._conn.execute(
                select(*_COLUMNS, db_now(self._conn).label("db_now")).where(t.c.id == outbound_id)
            )
        ).one()
        data = row._asdict()
        now = data.pop("db_now")
        return _record(data), _utc(now)

    async def claim_send(self, seen: OutboundRecord, *, ambiguous_sends: int) -> int | None:
        """Compare-and-set into `sending`, from exactly the state `seen` was read in; `attempts`
        grows on every claim, so it is the row's version. Returns the claimed attempt number,
        or None when another caller changed the row first (it sends, not us)."""
        claimed: int | None = (
            await self._conn.execute(
                update(t)
                .where(t.c.id == seen.id, t.c.status == seen.status, t.c.attempts == seen.attempts)
                .values(
                    status=OutboundStatus.SENDING,
                    attempts=t.c.attempts + 1,
                    ambiguous_sends=ambiguous_sends,
                    send_started_at=db_now(self._conn),
                    updated_at=db_now(self._conn),
                )
                .returning(t.c.attempts)
            )
        ).scalar_one_or_none()
        return claimed

    async def mark_sent(
        self,
        outbound_id: int,
        *,
        attempt: int,
        message_id: str,
        zaap_id: str | None,
        now: datetime,
        from_statuses: Sequence[OutboundStatus] = (OutboundStatus.SENDING,),
    ) -> bool:
        """Record the outcome of attempt `attempt`; False if the row moved on since (a later
        claim owns it now)."""
        return await self._settle(
            outbound_id,
            attempt,
            from_statuses,
            status=OutboundStatus.SENT,
            provider_message_id=message_id,
            provider_zaap_id=zaap_id,
            last_error=None,
            sent_at=now,
            updated_at=now,
        )

    async def mark_failed(
        self, outbound_id: int, *, attempt: int, error: str, now: datetime
    ) -> bool:
        return await self._settle(
            outbound_id,
            attempt,
            (OutboundStatus.SENDING,),
            status=OutboundStatus.FAILED,
            last_error=error,
            updated_at=now,
        )

    async def mark_unknown(
        self,
        outbound_id: int,
        *,
        attempt: int,
        error: str,
        ambiguous_sends: int,
        from_statuses: Sequence[OutboundStatus] = (OutboundStatus.SENDING,),
    ) -> bool:
        """The send may have gone out; the grace before anything else counts from now (DB)."""
        return await self._settle(
            outbound_id,
            attempt,
            from_statuses,
            status=OutboundStatus.UNKNOWN,
            last_error=error,
            ambiguous_sends=ambiguous_sends,
            unknown_since=db_now(self._conn),
            updated_at=db_now(self._conn),
        )

    async def _settle(
        self,
        outbound_id: int,
        attempt: int,
        from_statuses: Sequence[OutboundStatus],
        **values: Any,
    ) -> bool:
        result = await self._conn.execute(
            update(t)
            .where(
                t.c.id == outbound_id,
                t.c.attempts == attempt,
                t.c.status.in_(list(from_statuses)),
            )
            .values(**values)
            .returning(t.c.id)
        )
        return result.scalar_one_or_none() is not None

    async def holds_message_id(self, *, provider: str, message_id: str) -> bool:
        found = await self._conn.execute(
            select(t.c.id)
            .where(t.c.provider == provider, t.c.provider_message_id == message_id)
            .limit(1)
        )
        return found.first() is not None

    async def ambiguous_of(self, *, provider: str, conversation_key: str) -> list[OutboundRecord]:
        """The chat's sends whose outcome we do not know: in flight, or `unknown`."""
        rows = await self._conn.execute(
            select(*_COLUMNS).where(
                t.c.provider == provider,
                t.c.conversation_key == conversation_key,
                t.c.status.in_(AMBIGUOUS_STATUSES),
            )
        )
        return [_record(row._asdict()) for row in rows]

    async def release_unknown(self, turn_ids: Sequence[str], now: datetime) -> int:
        """Ops replayed these turns: their `unknown` replies count as not sent (a fresh budget).
        Returns how many rows were released."""
        if not turn_ids:
            return 0
        result = await self._conn.execute(
            update(t)
            .where(t.c.turn_id.in_(list(turn_ids)), t.c.status == OutboundStatus.UNKNOWN)
            .values(status=OutboundStatus.FAILED, ambiguous_sends=0, updated_at=now)
            .returning(t.c.id)
        )
        return len(result.all())

    async def record_delivery(
        self,
        provider_message_ids: Sequence[str],
        status: str,
        now: datetime,
        *,
        error: str | None = None,
    ) -> int:
        """Apply a receipt to the sends it names, never moving one back (READ then a late
        RECEIVED stays READ; FAILED stays FAILED). `error` (why a send failed) is kept as the
        row's last error when the receipt applies. Returns how many sends it matched."""
        matched = 0
        # Chunked IN lists: psycopg binds at most 65,535 parameters per statement.
        for chunk in chunked(provider_message_ids):
            rows = (
                await self._conn.execute(
                    select(t.c.id, t.c.delivery_status).where(t.c.provider_message_id.in_(chunk))
                )
            ).all()
            advance = [
                row.id for row in rows if delivery_rank(status) > delivery_rank(row.delivery_status)
            ]
            if advance:
                await self._conn.execute(
                    update(t)
                    .where(t.c.id.in_(advance))
                    .values(
                        delivery_status=status,
                        updated_at=now,
                        **({"last_error": error} if error else {}),
                    )
                )
            matched += len(rows)
        return matched


def _record(data: dict[str, object]) -> OutboundRecord:
    data["status"] = OutboundStatus(str(data["status"]))
    return OutboundRecord(**data)  # type: ignore[arg-type]


def _utc(value: Any) -> datetime:
    """The database clock as an aware datetime (SQLite hands the bound literal back as is)."""
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
