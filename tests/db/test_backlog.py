"""The gauges the alerts read come from the database: what waits in each queue, and the time of
the latest lead message (right after a restart too, when no webhook reached this process)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY

from seleto_agent.db.repositories.events import EventRepository, NewEvent
from seleto_agent.db.repositories.jobs import JobRepository
from seleto_agent.domain.events import EventStatus
from seleto_agent.domain.jobs import JobKind
from seleto_agent.services.backlog import read_backlog
from tests.concurrency.helpers import engine_for


def gauge(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_backlog_and_last_inbound_are_read_from_the_tables(database_url: str) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    async with engine_for(database_url) as engine:
        async with engine.begin() as conn:
            events = EventRepository(conn)
            for n, (status, kind, age) in enumerate(
                [
                    (EventStatus.DEAD, "text", 30),
                    (EventStatus.RECEIVED, "text", 10),
                    (EventStatus.IGNORED, None, 1),  # a status callback: not a lead message
                ]
            ):
                await events.insert_unique(
                    NewEvent(
                        provider="zapi",
                        instance_id="i",
                        message_id=f"m{n}",
                        event_type="ReceivedCallback",
                        payload=b"{}",
                        status=status,
                        received_at=now - timedelta(minutes=age),
                        conversation_key="wa:+5544999990001",
                        content_kind=kind,
                    )
                )
            jobs = JobRepository(conn)
            for n in range(3):
                await jobs.enqueue(
                    kind=JobKind.CRM_SYNC,
                    ordering_key="crm:lead:1",
                    dedupe_key=f"crm.sync:1:{n}",
                    payload={"lead_id": 1},
                    now=now,
                )
        await read_backlog(engine)
    assert gauge("seleto_backlog", queue="events", state="dead") == 1
    assert gauge("seleto_backlog", queue="events", state="received") == 1
    assert gauge("seleto_backlog", queue="outbox", state="pending") == 3
    assert gauge("seleto_backlog", queue="outbox", state="dead") == 0
    latest = (now - timedelta(minutes=10)).timestamp()
    assert gauge("seleto_last_inbound_timestamp_seconds") == latest
