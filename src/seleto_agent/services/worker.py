"""The worker: finds phones with a ripe burst, leases each phone, runs its turn.

Safe with several workers (processes or hosts) on one database: a phone is processed only by
the holder of its lease (a conditional UPDATE), the lease is renewed while the turn runs, and an
expired lease (a killed worker) lets another worker take the phone over. Lease times are on the
database's clock, so a host whose clock runs fast cannot take a live lease.
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

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from seleto_agent.db.repositories.conversations import ConversationRepository
from seleto_agent.db.repositories.events import EventRepository
from seleto_agent.observability.logging import get_logger
from seleto_agent.services.turn import ClaimedTurn, TurnProcessor

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    concurrency: int
    poll_seconds: float
    lease_seconds: float
    debounce_seconds: float
    debounce_max_seconds: float


class Worker:
    def __init__(self, engine: AsyncEngine, processor: TurnProcessor, config: WorkerConfig) -> None:
        self._engine = engine
        self._processor = processor
        self._config = config
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._wake = asyncio.Event()
        self._running: dict[str, asyncio.Task[None]] = {}

    def wake(self) -> None:
        """Called by in-process ingestion so a new message does not wait for the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        log.info("worker.started", worker_id=self.worker_id)
        while not stop.is_set():
            try:
                await self.poll_once()
            except Exception:
                # The database may be briefly unreachable; keep polling, never die.
                log.exception("worker.poll_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._next_wait())
            self._wake.clear()
        await self._drain()
        log.info("worker.stopped", worker_id=self.worker_id)

    def _next_wait(self) -> float:
        # While a burst is being debounced, look again soon after its quiet window ends.
        return min(self._config.poll_seconds, max(self._config.debounce_seconds / 2, 0.1))

    async def poll_once(self) -> int:
        """Start turns for ripe phones up to the free capacity; returns how many started."""
        free = self._config.concurrency - len(self._running)
        if free <= 0:
            return 0
        now = datetime.now(UTC)
        async with self._engine.connect() as conn:
            keys = await EventRepository(conn).find_ripe_conversations(
                now=now,
                quiet_before=now - timedelta(seconds=self._config.debounce_seconds),
                waited_before=now - timedelta(seconds=self._config.debounce_max_seconds),
                limit=free * 2,
            )
        started = 0
        for key in keys:
            if key in self._running or started >= free:
                continue
            async with self._engine.begin() as conn:
                acquired = await ConversationRepository(conn).try_acquire_lease(
                    key, owner=self.worker_id, seconds=self._config.lease_seconds
                )
            if not acquired:
                continue
            task = asyncio.create_task(self._run_turn(key))
            self._running[key] = task
            task.add_done_callback(functools.partial(self._on_done, key))
            started += 1
        return started

    def _on_done(self, key: str, _task: asyncio.Task[None]) -> None:
        self._running.pop(key, None)
        # Messages may have arrived during the turn; look at once.
        self._wake.set()

    async def _run_turn(self, key: str) -> None:
        claimed: ClaimedTurn | None = None
        heartbeat: asyncio.Task[None] | None = None
        try:
            claimed = await self._processor.claim(
                key, lease_owner=self.worker_id, lease_seconds=self._config.lease_seconds
            )
            if claimed is None:
                return
            with structlog.contextvars.bound_contextvars(
                conversation_id=claimed.conversation.id, event_ids=claimed.event_ids
            ):
                heartbeat = asyncio.create_task(self._heartbeat(key, claimed.event_ids))
                await self._processor.process(claimed)
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat
            await self._release(key)

    async def _heartbeat(self, key: str, event_ids: list[int]) -> None:
        seconds = self._config.lease_seconds
        while True:
            await asyncio.sleep(seconds / 3)
            try:
                async with self._engine.begin() as conn:
                    held = await ConversationRepository(conn).extend_lease(
                        key, owner=self.worker_id, seconds=seconds
                    )
                    # The events belong to whoever holds the phone: once another worker took
                    # it over, their leases are its to renew, not ours.
                    if held:
                        await EventRepository(conn).extend_lease(event_ids, lease_seconds=seconds)
            except Exception:
                log.exception("worker.heartbeat_failed")

    async def _release(self, key: str) -> None:
        try:
            async with self._engine.begin() as conn:
                await ConversationRepository(conn).release_lease(key, owner=self.worker_id)
        except Exception:
            # The lease then simply expires; another worker takes over.
            log.exception("worker.release_failed")

    async def _drain(self) -> None:
        """On shutdown let running turns finish; cancelled ones are retaken after lease expiry."""
        tasks = list(self._running.values())
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=self._config.lease_seconds / 2)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
