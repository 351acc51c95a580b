"""All SQL of the retention pass (services/retention.py), one bounded batch per call.

Only finished work loses data: an inbound event `done` or `ignored`, a reply `sent` (or whose
turn's events are all finished), and never a row an unfinished outbox job (pending,
processing, failed or dead, which ops may replay) still reads: the Chatwoot mirror posts an
event's text or a reply's body, a Chatwoot or company-phone job parses the event's payload, a
failed-send job resends the reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, func, literal_column, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from seleto_agent.db.tables import audit_log, delivery_receipts, inbound_events, outbound_messages
from seleto_agent.db.tables import outbox_jobs as jobs
from seleto_agent.domain.events import EventStatus
from seleto_agent.domain.jobs import JobKind, JobStatus

_FINISHED_EVENTS = (EventStatus.DONE, EventStatus.IGNORED)
_UNFINISHED_EVENTS = (
    EventStatus.RECEIVED,
    EventStatus.PROCESSING,
    EventStatus.FAILED,
    EventStatus.DEAD,
)
_UNFINISHED_JOBS = (JobStatus.PENDING, JobStatus.PROCESSING, JobStatus.FAILED, JobStatus.DEAD)
# Audit rows of data-subject requests are the record that a request was answered: kept.
_KEPT_AUDIT = "lgpd.%"
# Written into the SQL, not bound: the planner proves a partial index's predicate only from
# constants (20261203130000_lgpd.sql).
_ZERO: Any = literal_column("0")
_EMPTY: Any = literal_column("''")


@dataclass(frozen=True, slots=True)
class Protected:
    """Rows unfinished jobs still read."""

    event_ids: frozenset[int]
    outbound_ids: frozenset[int]


class RetentionRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def protected(self) -> Protected:
        rows = await self._conn.execute(
            select(jobs.c.kind, jobs.c.payload).where(jobs.c.status.in_(_UNFINISHED_JOBS))
        )
        events: set[int] = set()
        outbound: set[int] = set()
        for kind, payload in rows:
            if not isinstance(payload, dict):
                continue
            if "event_id" in payload:
                events.add(int(payload["event_id"]))
            if kind == JobKind.SEND_FAILED and "outbound_id" in payload:
                outbound.add(int(payload["outbound_id"]))
            if kind == JobKind.CHATWOOT_MIRROR and str(payload.get("ref", "")).isdigit():
                what, ref = payload.get("what"), int(payload["ref"])
                if what in ("incoming", "phone"):
                    events.add(ref)
                elif what == "outgoing":
                    outbound.add(ref)
        return Protected(frozenset(events), frozenset(outbound))

    async def _ids(self, query: Any) -> list[int]:
        return [row[0] for row in await self._conn.execute(query)]

    def _finished_events(self, before: datetime, protected: Protected) -> Any:
        ev = inbound_events
        return and_(
            ev.c.status.in_(_FINISHED_EVENTS),
            ev.c.received_at < before,
            ev.c.id.not_in(protected.event_ids),
        )

    async def empty_payloads(self, *, before: datetime, protected: Protected, limit: int) -> int:
        """Raw webhook bodies of finished events; the parsed columns and the dedupe key stay."""
        ev = inbound_events
        ids = await self._ids(
            select(ev.c.id)
            .where(self._finished_events(before, protected), func.length(ev.c.payload) > _ZERO)
            .order_by(ev.c.received_at)
            .limit(limit)
        )
        if ids:
            await self._conn.execute(update(ev).where(ev.c.id.in_(ids)).values(payload=b""))
        return len(ids)

    async def delete_receipts(self, *, before: datetime, limit: int) -> int:
        """Delivery receipts: needed only until their send stores its message id (seconds)."""
        r = delivery_receipts
        ids = await self._ids(
            select(r.c.id).where(r.c.received_at < before).order_by(r.c.received_at).limit(limit)
        )
        if ids:
            await self._conn.execute(delete(r).where(r.c.id.in_(ids)))
        return len(ids)

    async def clear_texts(self, *, before: datetime, protected: Protected, limit: int) -> int:
        """Message texts and voice transcripts of finished events (`body_is_transcript` stays:
        the record that it was audio)."""
        ev = inbound_events
        ids = await self._ids(
            select(ev.c.id)
            .where(self._finished_events(before, protected), ev.c.body_text.is_not(None))
            .order_by(ev.c.received_at)
            .limit(limit)
        )
        if ids:
            await self._conn.execute(update(ev).where(ev.c.id.in_(ids)).values(body_text=None))
        return len(ids)

    async def clear_replies(self, *, before: datetime, protected: Protected, limit: int) -> int:
        """Bodies of replies nothing may send again."""
        om, ev = outbound_messages, aliased(inbound_events)
        waiting_turn = exists().where(
            ev.c.turn_id == om.c.turn_id, ev.c.status.in_(_UNFINISHED_EVENTS)
        )
        ids = await self._ids(
            select(om.c.id)
            .where(
                om.c.created_at < before,
                om.c.body != _EMPTY,
                om.c.id.not_in(protected.outbound_ids),
                or_(om.c.status == "sent", and_(om.c.turn_id.is_not(None), not_(waiting_turn))),
            )
            .order_by(om.c.created_at)
            .limit(limit)
        )
        if ids:
            await self._conn.execute(update(om).where(om.c.id.in_(ids)).values(body=""))
        return len(ids)

    async def delete_audit(self, *, before: datetime, limit: int) -> int:
        ids = await self._ids(
            select(audit_log.c.id)
            .where(audit_log.c.at < before, audit_log.c.action.not_like(_KEPT_AUDIT))
            .order_by(audit_log.c.at)
            .limit(limit)
        )
        if ids:
            await self._conn.execute(delete(audit_log).where(audit_log.c.id.in_(ids)))
        return len(ids)
