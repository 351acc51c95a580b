"""Retention (LGPD Arts. 15-16): personal data is kept only as long as its purpose needs.

One `retention.run` outbox job a day (dedupe key `retention:<UTC date>`, so however many
worker processes run, one pass happens), queued by `RetentionScheduler` in every worker process
that runs the outbox. The job works in bounded batches, each its own transaction, so it never
holds a long lock; the outbox's lease and heartbeat keep it one at a time, and a crash resumes
where it stopped (every step only picks rows not yet cleared).

- `RETENTION_DAYS_PAYLOADS` (30): raw webhook bodies of finished events (names, photo and
  audio URLs) and delivery receipts; Z-API's audio links live 30 days, and the parsed columns
  hold what the service uses.
- `RETENTION_DAYS_TRANSCRIPTS` (90, the client's PRD D6): message texts and transcripts of
  finished events, reply bodies, and idle Agno sessions (the agent's copy of them).
- `RETENTION_DAYS_AUDIT` (90, PRD D6's integration audit logs): audit rows, except `lgpd.*`,
  the record that a data-subject request was answered.

0 keeps that kind of data forever.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from seleto_agent.db.repositories.agno_store import AgnoStore
from seleto_agent.db.repositories.jobs import JobRecord, JobRepository
from seleto_agent.db.repositories.retention import Protected, RetentionRepository
from seleto_agent.domain.jobs import JobKind
from seleto_agent.observability.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    payload_days: int
    transcript_days: int
    audit_days: int
    batch_size: int

    @property
    def enabled(self) -> bool:
        return bool(self.payload_days or self.transcript_days or self.audit_days)


Step = Callable[[AsyncConnection, Protected], Awaitable[int]]


class RetentionHandler:
    def __init__(self, engine: AsyncEngine, policy: RetentionPolicy) -> None:
        self._engine = engine
        self._policy = policy

    async def handle(self, job: JobRecord) -> str | None:
        counts = await self.run(now=datetime.now(UTC))
        log.info("retention.done", **counts)
        return ", ".join(f"{name}={count}" for name, count in counts.items()) or "nothing_due"

    async def run(self, *, now: datetime) -> dict[str, int]:
        p, limit = self._policy, self._policy.batch_size
        steps: dict[str, Step] = {}
        if p.payload_days:
            cut = now - timedelta(days=p.payload_days)
            steps["payloads"] = lambda c, pr: RetentionRepository(c).empty_payloads(
                before=cut, protected=pr, limit=limit
            )
            steps["receipts"] = lambda c, _pr: RetentionRepository(c).delete_receipts(
                before=cut, limit=limit
            )
        if p.transcript_days:
            cut_t = now - timedelta(days=p.transcript_days)
            steps["texts"] = lambda c, pr: RetentionRepository(c).clear_texts(
                before=cut_t, protected=pr, limit=limit
            )
            steps["replies"] = lambda c, pr: RetentionRepository(c).clear_replies(
                before=cut_t, protected=pr, limit=limit
            )
            # Agno keeps epoch seconds; its sessions hold the whole transcript.
            idle = int(cut_t.timestamp())
            steps["agno_sessions"] = lambda c, _pr: AgnoStore(c).delete_idle_sessions(
                idle_before=idle, limit=limit
            )
        if p.audit_days:
            cut_a = now - timedelta(days=p.audit_days)
            steps["audit"] = lambda c, _pr: RetentionRepository(c).delete_audit(
                before=cut_a, limit=limit
            )
        counts: dict[str, int] = {}
        for name, step in steps.items():
            total = await self._drain(step)
            if total:
                counts[name] = total
        return counts

    async def _drain(self, step: Step) -> int:
        total = 0
        while True:
            async with self._engine.begin() as conn:
                # Read in the batch's own transaction: a job queued meanwhile protects its rows.
                protected = await RetentionRepository(conn).protected()
                done = await step(conn, protected)
            total += done
            if done < self._policy.batch_size:
                return total


class RetentionScheduler:
    """Queues the day's retention job, at start and then every `check_seconds`."""

    def __init__(
        self, engine: AsyncEngine, *, on_queued: Callable[[], None], check_seconds: float = 3600
    ) -> None:
        self._engine = engine
        self._on_queued = on_queued
        self._check_seconds = check_seconds

    async def queue_today(self, now: datetime | None = None) -> int | None:
        now = now or datetime.now(UTC)
        async with self._engine.begin() as conn:
            job_id = await JobRepository(conn).enqueue(
                kind=JobKind.RETENTION,
                ordering_key="retention",
                dedupe_key=f"retention:{now.date().isoformat()}",
                payload={},
                now=now,
            )
        if job_id is not None:
            self._on_queued()
        return job_id

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.queue_today()
            except Exception:
                log.exception("retention.schedule_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._check_seconds)
