"""The outbox machinery on both databases: order per key, retries, dead, give-up, replay and
takeover of a dead worker's job."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from seleto_agent.db.engine import create_engine
from seleto_agent.db.repositories.jobs import JobRecord, JobRepository
from seleto_agent.domain.jobs import JobKind, JobStatus
from seleto_agent.integrations.errors import VendorRejected, VendorUnavailable
from seleto_agent.services.job_replay import JobReplayService
from seleto_agent.services.outbox import JobHandler, JobNotReady, OutboxConfig, OutboxWorker
from tests.conftest import wait_for


@dataclass
class ScriptedHandler:
    """Fails each job as scripted (by the job's `step` payload), records every run."""

    script: dict[str, list[Exception | None]] = field(default_factory=dict)
    runs: list[tuple[int, str]] = field(default_factory=list)
    active: set[str] = field(default_factory=set)
    overlaps: int = 0
    delay: float = 0.0

    async def handle(self, job: JobRecord) -> str | None:
        name = str(job.payload["name"])
        if job.ordering_key in self.active:
            self.overlaps += 1
        self.active.add(job.ordering_key)
        try:
            self.runs.append((job.id, name))
            if self.delay:
                await asyncio.sleep(self.delay)
            queue = self.script.get(name, [])
            outcome = queue.pop(0) if queue else None
            if outcome is not None:
                raise outcome
            return f"ran {name}"
        finally:
            self.active.discard(job.ordering_key)


def config(**overrides: Any) -> OutboxConfig:
    values: dict[str, Any] = {
        "concurrency": 4,
        "poll_seconds": 0.02,
        "lease_seconds": 1.0,
        "max_attempts": 3,
        "retry_base_seconds": 0.01,
        "retry_max_seconds": 0.05,
        "give_up_after": timedelta(hours=1),
    }
    values.update(overrides)
    return OutboxConfig(**values)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(database_url)
    yield eng
    await eng.dispose()


async def enqueue(engine: AsyncEngine, name: str, key: str = "k:1") -> int:
    async with engine.begin() as conn:
        job_id = await JobRepository(conn).enqueue(
            kind=JobKind.CRM_SYNC,
            ordering_key=key,
            dedupe_key=f"test:{name}",
            payload={"name": name},
            now=datetime.now(UTC),
        )
    assert job_id is not None
    return job_id


async def job(engine: AsyncEngine, job_id: int) -> JobRecord:
    async with engine.connect() as conn:
        record = await JobRepository(conn).get(job_id)
    assert record is not None
    return record


class Running:
    def __init__(self, worker: OutboxWorker) -> None:
        self.worker = worker
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> OutboxWorker:
        self.task = asyncio.create_task(self.worker.run(self.stop))
        return self.worker

    async def __aexit__(self, *_exc: object) -> None:
        self.stop.set()
        assert self.task is not None
        await self.task


def running(engine: AsyncEngine, handler: JobHandler, **overrides: Any) -> Running:
    return Running(OutboxWorker(engine, {JobKind.CRM_SYNC: handler}, config(**overrides)))


async def status_is(engine: AsyncEngine, job_id: int, status: JobStatus) -> bool:
    return (await job(engine, job_id)).status is status


async def test_enqueue_is_deduplicated(engine: AsyncEngine) -> None:
    await enqueue(engine, "a")
    async with engine.begin() as conn:
        again = await JobRepository(conn).enqueue(
            kind=JobKind.CRM_SYNC,
            ordering_key="k:1",
            dedupe_key="test:a",
            payload={"name": "a"},
            now=datetime.now(UTC),
        )
    assert again is None


async def test_jobs_of_one_key_run_in_order_and_never_together(engine: AsyncEngine) -> None:
    handler = ScriptedHandler(delay=0.02)
    ids = [await enqueue(engine, f"j{i}", key=f"k:{i % 2}") for i in range(8)]
    async with running(engine, handler):
        await wait_for(lambda: len(handler.runs) == 8)
    for key in (0, 1):
        ran = [job_id for job_id, name in handler.runs if int(name[1:]) % 2 == key]
        assert ran == sorted(ran)
    assert handler.overlaps == 0
    for job_id in ids:
        record = await job(engine, job_id)
        assert record.status is JobStatus.DONE
        assert record.attempts == 1


async def test_unavailable_vendor_retries_past_max_attempts_then_succeeds(
    engine: AsyncEngine,
) -> None:
    # Five outages in a row exceed max_attempts (3): an outage must not kill the job.
    handler = ScriptedHandler(script={"a": [VendorUnavailable("down", status_code=503)] * 5})
    job_id = await enqueue(engine, "a")
    async with running(engine, handler):
        await wait_for(lambda: status_is(engine, job_id, JobStatus.DONE))
    record = await job(engine, job_id)
    assert record.attempts == 6
    assert record.last_error == "ran a"


async def test_retry_after_from_the_vendor_is_honoured(engine: AsyncEngine) -> None:
    handler = ScriptedHandler(script={"a": [VendorUnavailable("429", retry_after=0.4)]})
    job_id = await enqueue(engine, "a")
    async with running(engine, handler):
        await wait_for(lambda: len(handler.runs) == 1)
        first_failed = await job(engine, job_id)
        assert first_failed.status is JobStatus.FAILED
        assert first_failed.next_attempt_at - first_failed.updated_at >= timedelta(seconds=0.39)
        await wait_for(lambda: status_is(engine, job_id, JobStatus.DONE))


async def test_an_outage_longer_than_the_give_up_window_parks_the_job(
    engine: AsyncEngine,
) -> None:
    handler = ScriptedHandler(script={"a": [VendorUnavailable("down")] * 100})
    job_id = await enqueue(engine, "a")
    async with running(engine, handler, give_up_after=timedelta(seconds=0.3)):
        await wait_for(lambda: status_is(engine, job_id, JobStatus.DEAD))
    record = await job(engine, job_id)
    assert record.error_detail == {"gave_up_after_hours": 0.0}
    assert "VendorUnavailable" in (record.last_error or "")


async def test_a_rejected_request_is_dead_at_once_with_field_errors(engine: AsyncEngine) -> None:
    rejected = VendorRejected(
        "422", status_code=422, field_errors={"name": ["O campo name é obrigatório."]}
    )
    handler = ScriptedHandler(script={"a": [rejected]})
    job_id = await enqueue(engine, "a")
    async with running(engine, handler):
        await wait_for(lambda: status_is(engine, job_id, JobStatus.DEAD))
    record = await job(engine, job_id)
    assert record.attempts == 1
    assert record.error_detail == {
        "status_code": 422,
        "field_errors": {"name": ["O campo name é obrigatório."]},
    }


async def test_a_bug_uses_up_the_attempts_then_replay_runs_it_again(engine: AsyncEngine) -> None:
    handler = ScriptedHandler(script={"a": [RuntimeError("bug")] * 3})
    job_id = await enqueue(engine, "a")
    async with running(engine, handler):
        await wait_for(lambda: status_is(engine, job_id, JobStatus.DEAD))
        assert (await job(engine, job_id)).attempts == 3
        replay = JobReplayService(engine, on_queued=lambda: None)
        dry = await replay.replay(ids=[job_id], dry_run=True, actor="test")
        assert dry.queued == [job_id]
        assert await status_is(engine, job_id, JobStatus.DEAD)
        result = await replay.replay(status=JobStatus.DEAD, kind=JobKind.CRM_SYNC, actor="test")
        assert result.queued == [job_id]
        await wait_for(lambda: status_is(engine, job_id, JobStatus.DONE))
    assert len(handler.runs) == 4


async def test_a_dead_job_does_not_block_the_next_job_of_its_key(engine: AsyncEngine) -> None:
    handler = ScriptedHandler(script={"a": [VendorRejected("no", status_code=400)]})
    first = await enqueue(engine, "a")
    second = await enqueue(engine, "b")
    async with running(engine, handler):
        await wait_for(lambda: status_is(engine, second, JobStatus.DONE))
    assert await status_is(engine, first, JobStatus.DEAD)
    assert [job_id for job_id, _ in handler.runs] == [first, second]


async def test_a_failing_job_holds_back_later_jobs_of_its_key(engine: AsyncEngine) -> None:
    handler = ScriptedHandler(script={"a": [VendorUnavailable("down")] * 3})
    first = await enqueue(engine, "a")
    second = await enqueue(engine, "b")
    other = await enqueue(engine, "c", key="k:other")
    async with running(engine, handler):
        await wait_for(lambda: status_is(engine, second, JobStatus.DONE))
    names = [name for _, name in handler.runs if name != "c"]
    assert names == ["a", "a", "a", "a", "b"]
    assert await status_is(engine, first, JobStatus.DONE)
    assert await status_is(engine, other, JobStatus.DONE)


async def test_not_ready_waits_without_using_attempts(engine: AsyncEngine) -> None:
    handler = ScriptedHandler(script={"a": [JobNotReady("transcript", retry_in=0.01)] * 5})
    job_id = await enqueue(engine, "a")
    async with running(engine, handler):
        await wait_for(lambda: status_is(engine, job_id, JobStatus.DONE))
    assert len(handler.runs) == 6
    assert (await job(engine, job_id)).attempts == 1


async def test_a_job_of_a_dead_worker_is_taken_over_after_its_lease(engine: AsyncEngine) -> None:
    job_id = await enqueue(engine, "a")
    async with engine.begin() as conn:
        claimed = await JobRepository(conn).try_claim(
            job_id,
            ordering_key="k:1",
            owner="dead-worker",
            lease_seconds=0.3,
            now=datetime.now(UTC),
        )
    assert claimed is not None
    handler = ScriptedHandler()
    async with running(engine, handler):
        await wait_for(lambda: status_is(engine, job_id, JobStatus.DONE))
    record = await job(engine, job_id)
    assert record.attempts == 2
    assert handler.runs == [(job_id, "a")]


async def test_two_workers_never_run_one_job_twice(engine: AsyncEngine) -> None:
    handler = ScriptedHandler(delay=0.01)
    ids = [await enqueue(engine, f"j{i}", key=f"k:{i}") for i in range(20)]
    async with running(engine, handler), running(engine, handler):
        await wait_for(lambda: len(handler.runs) >= 20)
        await asyncio.sleep(0.1)
    assert sorted(job_id for job_id, _ in handler.runs) == ids
