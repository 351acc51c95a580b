"""The outbox worker: runs vendor jobs (CRM sync, Chatwoot mirror) with retries, dead and replay.

Safe with several workers on one database: a job runs only under its lease (a conditional
UPDATE, times on the database's clock), jobs that share an ordering key never run at once and
start in id order among those committed, and a worker killed mid-job lets another take the job
over once the lease expires. Handlers are idempotent, so a
job that ran partly (or fully) before a crash is simply run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from seleto_agent.db.repositories.jobs import JobRecord, JobRepository
from seleto_agent.domain.jobs import JobKind
from seleto_agent.domain.turns import backoff_delay
from seleto_agent.integrations.errors import VendorRejected, VendorUnavailable
from seleto_agent.observability.errors import describe_error
from seleto_agent.observability.logging import get_logger
from seleto_agent.observability.metrics import OUTBOX_JOBS

log = get_logger(__name__)


class JobNotReady(Exception):
    """The job waits on something else (a transcript, an earlier record): look again later.

    Not a failure: it does not use up an attempt, only the give-up window.
    """

    def __init__(self, reason: str, *, retry_in: float) -> None:
        super().__init__(reason)
        self.retry_in = retry_in


class JobAbandoned(Exception):
    """Retrying cannot settle the job safely (a send that may have reached the lead twice
    already): parked as dead at once, with the reason, for ops."""


class JobHandler(Protocol):
    async def handle(self, job: JobRecord) -> str | None:
        """Do the job (idempotently); the returned note is kept on the done row."""


@dataclass(frozen=True, slots=True)
class OutboxConfig:
    concurrency: int
    poll_seconds: float
    lease_seconds: float
    max_attempts: int
    retry_base_seconds: float
    retry_max_seconds: float
    give_up_after: timedelta


class OutboxWorker:
    def __init__(
        self, engine: AsyncEngine, handlers: dict[JobKind, JobHandler], config: OutboxConfig
    ) -> None:
        self._engine = engine
        self._handlers = handlers
        self._config = config
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}:outbox"
        self._wake = asyncio.Event()
        self._running: dict[int, asyncio.Task[None]] = {}
        # Ordering keys with a job running here: another job of theirs waits for it.
        self._busy_keys: dict[int, str] = {}

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        log.info("outbox.started", worker_id=self.worker_id, kinds=sorted(self._handlers))
        while not stop.is_set():
            try:
                await self.poll_once()
            except Exception:
                log.exception("outbox.poll_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._config.poll_seconds)
            self._wake.clear()
        await self._drain()
        log.info("outbox.stopped", worker_id=self.worker_id)

    async def poll_once(self) -> int:
        free = self._config.concurrency - len(self._running)
        if free <= 0:
            return 0
        now = datetime.now(UTC)
        async with self._engine.connect() as conn:
            candidates = await JobRepository(conn).runnable(now=now, limit=free * 2)
        started = 0
        for job_id, ordering_key in candidates:
            busy = ordering_key in self._busy_keys.values()
            if job_id in self._running or busy or started >= free:
                continue
            async with self._engine.begin() as conn:
                job = await JobRepository(conn).try_claim(
                    job_id,
                    ordering_key=ordering_key,
                    owner=self.worker_id,
                    lease_seconds=self._config.lease_seconds,
                    now=now,
                )
            if job is None:
                continue
            task = asyncio.create_task(self._run(job))
            self._running[job_id] = task
            self._busy_keys[job_id] = ordering_key
            task.add_done_callback(functools.partial(self._on_done, job_id))
            started += 1
        return started

    def _on_done(self, job_id: int, _task: asyncio.Task[None]) -> None:
        self._running.pop(job_id, None)
        self._busy_keys.pop(job_id, None)
        # The next job of the same ordering key is runnable now.
        self._wake.set()

    async def _run(self, job: JobRecord) -> None:
        handler = self._handlers.get(job.kind)
        heartbeat = asyncio.create_task(self._heartbeat(job.id))
        try:
            with structlog.contextvars.bound_contextvars(job_id=job.id, job_kind=job.kind.value):
                if handler is None:
                    # A job of a disabled integration waits for it to be configured again.
                    await self._retry(job, "integration_disabled", delay=300.0, count=False)
                    return
                try:
                    note = await handler.handle(job)
                except JobNotReady as exc:
                    await self._retry(job, f"not_ready: {exc}", delay=exc.retry_in, count=False)
                except JobAbandoned as exc:
                    await self._dead(job, exc, detail=None)
                except VendorRejected as exc:
                    await self._dead(job, exc, detail=_detail(exc))
                except VendorUnavailable as exc:
                    await self._unavailable(job, exc)
                except Exception as exc:
                    log.exception("outbox.job_crashed")
                    await self._failed(job, exc)
                else:
                    await self._done(job, note)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _heartbeat(self, job_id: int) -> None:
        while True:
            await asyncio.sleep(self._config.lease_seconds / 3)
            try:
                async with self._engine.begin() as conn:
                    await JobRepository(conn).extend_lease(
                        job_id, owner=self.worker_id, lease_seconds=self._config.lease_seconds
                    )
            except Exception:
                log.exception("outbox.heartbeat_failed")

    async def _done(self, job: JobRecord, note: str | None) -> None:
        async with self._engine.begin() as conn:
            finished = await JobRepository(conn).mark_done(
                job.id, owner=self.worker_id, now=datetime.now(UTC), note=note
            )
        OUTBOX_JOBS.labels(job.kind.value, "done" if finished else "lease_lost").inc()

    async def _unavailable(self, job: JobRecord, exc: VendorUnavailable) -> None:
        """The vendor is down or throttling: keep trying for the give-up window, however many
        attempts that takes (an hour-long outage must not kill the job)."""
        started = job.first_failed_at or datetime.now(UTC)
        if datetime.now(UTC) - started >= self._config.give_up_after:
            await self._dead(job, exc, detail={"gave_up_after_hours": self._give_up_hours()})
            return
        delay = backoff_delay(
            job.attempts,
            base_seconds=self._config.retry_base_seconds,
            max_seconds=self._config.retry_max_seconds,
        ).total_seconds()
        if exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        await self._retry(job, _error(exc), delay=delay, count=True)
        OUTBOX_JOBS.labels(job.kind.value, "unavailable").inc()

    async def _failed(self, job: JobRecord, exc: Exception) -> None:
        if job.attempts >= self._config.max_attempts:
            await self._dead(job, exc, detail=None)
            return
        delay = backoff_delay(
            job.attempts,
            base_seconds=self._config.retry_base_seconds,
            max_seconds=self._config.retry_max_seconds,
        ).total_seconds()
        await self._retry(job, _error(exc), delay=delay, count=True)
        OUTBOX_JOBS.labels(job.kind.value, "failed").inc()

    async def _retry(self, job: JobRecord, error: str, *, delay: float, count: bool) -> None:
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            await JobRepository(conn).mark_retry(
                job.id,
                owner=self.worker_id,
                error=error[:500],
                next_attempt_at=now + timedelta(seconds=delay),
                now=now,
                count_attempt=count,
            )
        log.info("outbox.retry", attempts=job.attempts, delay=round(delay, 3), counted=count)

    async def _dead(
        self, job: JobRecord, exc: Exception, *, detail: dict[str, object] | None
    ) -> None:
        async with self._engine.begin() as conn:
            await JobRepository(conn).mark_dead(
                job.id,
                owner=self.worker_id,
                error=_error(exc),
                detail=detail,
                now=datetime.now(UTC),
            )
        OUTBOX_JOBS.labels(job.kind.value, "dead").inc()
        log.error("outbox.job_dead", attempts=job.attempts, error_type=type(exc).__name__)

    def _give_up_hours(self) -> float:
        return round(self._config.give_up_after.total_seconds() / 3600, 3)

    async def _drain(self) -> None:
        tasks = list(self._running.values())
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=self._config.lease_seconds / 2)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


def _error(exc: Exception) -> str:
    return describe_error(exc)


def _detail(exc: VendorRejected) -> dict[str, object]:
    return {"status_code": exc.status_code, "field_errors": exc.field_errors}
