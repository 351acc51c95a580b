"""Replay of outbox jobs: ops re-queue dead (or done) vendor work after fixing its cause.

Every job handler is idempotent (it looks up what it already created), so replaying a job that
did its work changes nothing in PipeRun or Chatwoot beyond bringing records up to date.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from seleto_agent.db.repositories.jobs import JobRepository
from seleto_agent.domain.jobs import REPLAYABLE_JOB_STATUSES, JobKind, JobStatus
from seleto_agent.services.replay import (
    MAX_BULK_REPLAY,
    ReplayResult,
    audit_replay,
    sort_for_replay,
)

_SKIP_REASONS = {
    JobStatus.PENDING: "already_queued",
    JobStatus.PROCESSING: "in_progress",
}


class JobReplayService:
    def __init__(self, engine: AsyncEngine, *, on_queued: Callable[[], None]) -> None:
        self._engine = engine
        self._on_queued = on_queued

    async def replay(
        self,
        *,
        ids: list[int] | None = None,
        status: JobStatus | None = None,
        kind: JobKind | None = None,
        dry_run: bool = False,
        actor: str,
    ) -> ReplayResult:
        result = ReplayResult()
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            repo = JobRepository(conn)
            wanted = list(dict.fromkeys(ids or []))
            if status is not None:
                wanted += await repo.ids_with_status(status, kind=kind, limit=MAX_BULK_REPLAY)
            for job_id in dict.fromkeys(wanted):
                job = await repo.get(job_id)
                sort_for_replay(
                    result,
                    job_id,
                    None if job is None else job.status,
                    replayable=REPLAYABLE_JOB_STATUSES,
                    skip_reasons=_SKIP_REASONS,
                )
            if result.queued and not dry_run:
                await repo.requeue(result.queued, now)
                await audit_replay(
                    conn, result, actor=actor, action="jobs.replay", table="outbox_jobs", now=now
                )
        if result.queued and not dry_run:
            self._on_queued()
        return result
