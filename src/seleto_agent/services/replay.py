"""Replay: ops re-queue dead or failed events. Work already done is never redone.

A re-queued event keeps its turn id, so if its reply was already written the worker sends that
stored reply (or sees it was sent) instead of running the agent again. A reply whose outcome
was left unknown (it may have reached the lead) is sent once more: replaying is ops' decision.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from seleto_agent.db.repositories.audit import AuditRepository
from seleto_agent.db.repositories.events import EventRepository
from seleto_agent.db.repositories.outbound import OutboundRepository
from seleto_agent.domain.events import REPLAYABLE_STATUSES, EventStatus

S = TypeVar("S", bound=StrEnum)

# A bulk replay by status touches at most this many events per call.
MAX_BULK_REPLAY = 1000

_SKIP_REASONS = {
    EventStatus.DONE: "already_done",
    EventStatus.IGNORED: "ignored_event",
    EventStatus.RECEIVED: "already_queued",
    EventStatus.PROCESSING: "in_progress",
}


@dataclass(slots=True)
class ReplayResult:
    queued: list[int] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    not_found: list[int] = field(default_factory=list)


class ReplayService:
    def __init__(self, engine: AsyncEngine, *, on_queued: Callable[[], None]) -> None:
        self._engine = engine
        self._on_queued = on_queued

    async def replay(
        self,
        *,
        ids: list[int] | None = None,
        status: EventStatus | None = None,
        dry_run: bool = False,
        actor: str,
    ) -> ReplayResult:
        result = ReplayResult()
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            repo = EventRepository(conn)
            wanted = list(dict.fromkeys(ids or []))
            if status is not None:
                wanted += await repo.ids_with_status(status, MAX_BULK_REPLAY)
            turn_ids: dict[int, str] = {}
            for event_id in dict.fromkeys(wanted):
                event = await repo.get(event_id)
                if event is not None and event.turn_id:
                    turn_ids[event_id] = event.turn_id
                sort_for_replay(
                    result,
                    event_id,
                    None if event is None else event.status,
                    replayable=REPLAYABLE_STATUSES,
                    skip_reasons=_SKIP_REASONS,
                )
            if result.queued and not dry_run:
                await repo.requeue(result.queued, now)
                # A reply left `unknown` (maybe sent) is ops' call: replaying it says "send".
                await OutboundRepository(conn).release_unknown(
                    sorted({turn_ids[i] for i in result.queued if i in turn_ids}), now
                )
                await audit_replay(
                    conn,
                    result,
                    actor=actor,
                    action="events.replay",
                    table="inbound_events",
                    now=now,
                )
        if result.queued and not dry_run:
            self._on_queued()
        return result


def sort_for_replay(
    result: ReplayResult,
    row_id: int,
    status: S | None,
    *,
    replayable: Collection[S],
    skip_reasons: Mapping[S, str],
) -> None:
    """File one requested id as queued, skipped (with why) or not found."""
    if status is None:
        result.not_found.append(row_id)
    elif status in replayable:
        result.queued.append(row_id)
    else:
        result.skipped.append((row_id, skip_reasons[status]))


async def audit_replay(
    conn: AsyncConnection,
    result: ReplayResult,
    *,
    actor: str,
    action: str,
    table: str,
    now: datetime,
) -> None:
    await AuditRepository(conn).record(
        actor=actor,
        action=action,
        subject_type=table,
        subject_id=",".join(map(str, result.queued))[:500],
        details={"count": len(result.queued), "skipped": len(result.skipped)},
        now=now,
    )
