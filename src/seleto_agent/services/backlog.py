"""Work waiting in the database and the latest lead message, as gauges for the alerts
(deploy/prometheus/alerts.yml).

Every worker process reads the same tables, so every one reports the same numbers: the alert
rules take max() across instances. Both counts use the (status, next_attempt_at) indexes.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from seleto_agent.db.tables import inbound_events, outbox_jobs
from seleto_agent.observability.logging import get_logger
from seleto_agent.observability.metrics import BACKLOG, LAST_INBOUND

log = get_logger(__name__)

# Ignored and done rows are history, not backlog.
_EVENT_STATES = ("received", "processing", "failed", "dead")
_JOB_STATES = ("pending", "processing", "failed", "dead")


async def read_backlog(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        for queue, table, states in (
            ("events", inbound_events, _EVENT_STATES),
            ("outbox", outbox_jobs, _JOB_STATES),
        ):
            rows = await conn.execute(
                select(table.c.status, func.count())
                .where(table.c.status.in_(states))
                .group_by(table.c.status)
            )
            counts: dict[str, int] = {str(status): int(n) for status, n in rows.all()}
            for state in states:
                BACKLOG.labels(queue, state).set(counts.get(state, 0))
        # From the table, not from this process's own webhooks: right after a restart, and on
        # a worker that takes no webhooks at all.
        latest = await conn.scalar(
            select(func.max(inbound_events.c.received_at)).where(
                inbound_events.c.content_kind.is_not(None)
            )
        )
        if isinstance(latest, datetime):
            LAST_INBOUND.set(latest.timestamp())


async def watch_backlog(engine: AsyncEngine, stop: asyncio.Event, *, every: float) -> None:
    """Refresh the gauges until `stop`; a failed read keeps the last values (and is logged)."""
    while not stop.is_set():
        try:
            await read_backlog(engine)
        except Exception as exc:
            log.warning("backlog.read_failed", error=type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
