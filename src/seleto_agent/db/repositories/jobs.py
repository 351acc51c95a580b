"""All SQL on `outbox_jobs`. Callers own the transaction (an AsyncConnection in a `begin()`).

Jobs of one ordering key never run at once. Looking only at *earlier* ids is not enough on
Postgres: an identity value is taken at INSERT but becomes visible at COMMIT, so job 56 can be
claimed before job 55's transaction commits, and 55 then has no earlier unfinished job. A claim
therefore also requires that no other job of the key is running under a live lease, and claims
of one key are serialised (an advisory lock on Postgres; SQLite has a single writer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, exists, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from seleto_agent.db.clock import db_now
from seleto_agent.db.dialect import insert_for
from seleto_agent.db.tables import outbox_jobs as t
from seleto_agent.domain.jobs import PENDING_JOB_STATUSES, JobKind, JobStatus


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: int
    kind: JobKind
    ordering_key: str
    dedupe_key: str
    payload: dict[str, Any]
    status: JobStatus
    attempts: int
    next_attempt_at: datetime
    lease_owner: str | None
    lease_expires_at: datetime | None
    last_error: str | None
    error_detail: dict[str, Any] | None
    first_failed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    done_at: datetime | None


_COLUMNS = [t.c[name] for name in JobRecord.__dataclass_fields__]


def _record(row: Row[Any]) -> JobRecord:
    data = row._asdict()
    data["kind"] = JobKind(data["kind"])
    data["status"] = JobStatus(data["status"])
    return JobRecord(**data)


def _runnable(conn: AsyncConnection, now: datetime) -> Any:
    """Due jobs, plus jobs whose worker died mid-run (lease expired, on the database's clock)."""
    return or_(
        and_(t.c.status.in_(PENDING_JOB_STATUSES), t.c.next_attempt_at <= now),
        and_(t.c.status == JobStatus.PROCESSING, t.c.lease_expires_at < db_now(conn)),
    )


def _key_is_free(conn: AsyncConnection) -> Any:
    """Per ordering key, only the oldest unfinished job may run (dead ones are skipped over),
    and only while no other job of the key is running under a live lease."""
    other = aliased(t)
    return and_(
        ~exists().where(
            other.c.ordering_key == t.c.ordering_key,
            other.c.id < t.c.id,
            other.c.status.in_([*PENDING_JOB_STATUSES, JobStatus.PROCESSING]),
        ),
        ~exists().where(
            other.c.ordering_key == t.c.ordering_key,
            other.c.id != t.c.id,
            other.c.status == JobStatus.PROCESSING,
            other.c.lease_expires_at >= db_now(conn),
        ),
    )


class JobRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def enqueue(
        self,
        *,
        kind: JobKind,
        ordering_key: str,
        dedupe_key: str,
        payload: dict[str, Any],
        now: datetime,
        not_before: datetime | None = None,
    ) -> int | None:
        """Add a job; None when a job with this dedupe key already exists."""
        statement = (
            insert_for(self._conn, t)
            .values(
                kind=kind.value,
                ordering_key=ordering_key,
                dedupe_key=dedupe_key,
                payload=payload,
                status=JobStatus.PENDING,
                attempts=0,
                next_attempt_at=not_before or now,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(t.c.id)
        )
        inserted: int | None = (await self._conn.execute(statement)).scalar_one_or_none()
        return inserted

    async def get(self, job_id: int) -> JobRecord | None:
        row = (await self._conn.execute(select(*_COLUMNS).where(t.c.id == job_id))).first()
        return _record(row) if row else None

    async def has_unfinished(self, ordering_key: str) -> bool:
        query = select(t.c.id).where(
            t.c.ordering_key == ordering_key,
            t.c.status.in_([*PENDING_JOB_STATUSES, JobStatus.PROCESSING]),
        )
        return (await self._conn.execute(query.limit(1))).first() is not None

    async def runnable(self, *, now: datetime, limit: int) -> list[tuple[int, str]]:
        """(id, ordering key) of jobs a worker may claim now, oldest first."""
        query = (
            select(t.c.id, t.c.ordering_key)
            .where(_runnable(self._conn, now), _key_is_free(self._conn))
            .order_by(t.c.id)
            .limit(limit)
        )
        return [(job_id, key) for job_id, key in await self._conn.execute(query)]

    async def try_claim(
        self, job_id: int, *, ordering_key: str, owner: str, lease_seconds: float, now: datetime
    ) -> JobRecord | None:
        """Start an attempt if the job is still runnable and its key free (another worker may
        have won it, or claimed a job of the same key meanwhile). Run it alone in its
        transaction: the advisory lock is held until commit."""
        if self._conn.dialect.name == "postgresql":
            # Two claimers of one key now take turns, and the second one's UPDATE starts after
            # the first committed, so it sees the job the first one claimed running.
            await self._conn.execute(
                text("select pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                {"key": ordering_key},
            )
        statement = (
            update(t)
            .where(t.c.id == job_id, _runnable(self._conn, now), _key_is_free(self._conn))
            .values(
                status=JobStatus.PROCESSING,
                attempts=t.c.attempts + 1,
                lease_owner=owner,
                lease_expires_at=db_now(self._conn, plus=timedelta(seconds=lease_seconds)),
                updated_at=now,
            )
            .returning(*_COLUMNS)
        )
        row = (await self._conn.execute(statement)).first()
        return _record(row) if row else None

    async def extend_lease(self, job_id: int, *, owner: str, lease_seconds: float) -> None:
        await self._conn.execute(
            update(t)
            .where(t.c.id == job_id, t.c.lease_owner == owner, t.c.status == JobStatus.PROCESSING)
            .values(lease_expires_at=db_now(self._conn, plus=timedelta(seconds=lease_seconds)))
        )

    async def mark_done(self, job_id: int, *, owner: str, now: datetime, note: str | None) -> bool:
        """Finish the attempt; False when the lease was lost (another worker owns the job)."""
        statement = (
            update(t)
            .where(t.c.id == job_id, t.c.lease_owner == owner, t.c.status == JobStatus.PROCESSING)
            .values(
                status=JobStatus.DONE,
                lease_owner=None,
                lease_expires_at=None,
                last_error=note,
                error_detail=None,
                done_at=now,
                updated_at=now,
            )
            .returning(t.c.id)
        )
        return (await self._conn.execute(statement)).first() is not None

    async def mark_retry(
        self,
        job_id: int,
        *,
        owner: str,
        error: str,
        next_attempt_at: datetime,
        now: datetime,
        count_attempt: bool = True,
    ) -> None:
        values: dict[str, Any] = {
            "status": JobStatus.FAILED,
            "last_error": error,
            "next_attempt_at": next_attempt_at,
            "lease_owner": None,
            "lease_expires_at": None,
            "updated_at": now,
        }
        if not count_attempt:
            # Waiting on something else (a voice note's transcript) is not a failed attempt.
            values["attempts"] = t.c.attempts - 1
            values["status"] = JobStatus.PENDING
        else:
            # The give-up window counts from the first failure of this run of attempts.
            values["first_failed_at"] = func.coalesce(t.c.first_failed_at, now)
        await self._conn.execute(
            update(t).where(t.c.id == job_id, t.c.lease_owner == owner).values(**values)
        )

    async def mark_dead(
        self,
        job_id: int,
        *,
        owner: str,
        error: str,
        detail: dict[str, Any] | None,
        now: datetime,
    ) -> None:
        await self._conn.execute(
            update(t)
            .where(t.c.id == job_id, t.c.lease_owner == owner)
            .values(
                status=JobStatus.DEAD,
                last_error=error,
                error_detail=detail,
                lease_owner=None,
                lease_expires_at=None,
                updated_at=now,
            )
        )

    async def list_page(
        self,
        *,
        status: JobStatus | None,
        kind: JobKind | None,
        limit: int,
        before_id: int | None,
    ) -> list[JobRecord]:
        query = select(*_COLUMNS).order_by(t.c.id.desc()).limit(limit)
        if status is not None:
            query = query.where(t.c.status == status)
        if kind is not None:
            query = query.where(t.c.kind == kind)
        if before_id is not None:
            query = query.where(t.c.id < before_id)
        return [_record(row) for row in await self._conn.execute(query)]

    async def ids_with_status(
        self, status: JobStatus, *, kind: JobKind | None, limit: int
    ) -> list[int]:
        query = select(t.c.id).where(t.c.status == status).order_by(t.c.id).limit(limit)
        if kind is not None:
            query = query.where(t.c.kind == kind)
        return [job_id for (job_id,) in await self._conn.execute(query)]

    async def requeue(self, ids: list[int], now: datetime) -> None:
        """Replay: a fresh set of attempts, due now."""
        await self._conn.execute(
            update(t)
            .where(t.c.id.in_(ids))
            .values(
                status=JobStatus.PENDING,
                attempts=0,
                next_attempt_at=now,
                lease_owner=None,
                lease_expires_at=None,
                first_failed_at=None,
                updated_at=now,
            )
        )
