"""The debounce rule as the worker runs it (SQL in `EventRepository.find_ripe_conversations`):
a burst is ready once the lead has been quiet for the window, or its first message has waited
the most allowed, and never while a retry's backoff is running."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from seleto_agent.db.repositories.events import EventRepository, NewEvent
from seleto_agent.domain.events import EventStatus
from tests.concurrency.helpers import engine_for

QUIET, MAX_WAIT = timedelta(seconds=1.5), timedelta(seconds=5)


async def test_bursts_wait_for_quiet_but_not_past_the_max(database_url: str) -> None:
    now = datetime.now(UTC)
    bursts = {
        # key: seconds ago of each message
        "wa:+1-still-typing": (1.0, 0.2),
        "wa:+2-quiet": (2.0, 1.6),
        "wa:+3-waited-enough": (5.0, 0.1),
    }
    async with engine_for(database_url) as engine:
        async with engine.begin() as conn:
            repo = EventRepository(conn)
            for key, ages in bursts.items():
                for n, age in enumerate(ages):
                    await repo.insert_unique(
                        NewEvent(
                            provider="zapi",
                            instance_id="i",
                            message_id=f"{key}-{n}",
                            event_type="ReceivedCallback",
                            payload=b"{}",
                            status=EventStatus.RECEIVED,
                            received_at=now - timedelta(seconds=age),
                            conversation_key=key,
                        )
                    )
        async with engine.connect() as conn:
            ripe = await EventRepository(conn).find_ripe_conversations(
                now=now, quiet_before=now - QUIET, waited_before=now - MAX_WAIT, limit=10
            )
    assert sorted(ripe) == ["wa:+2-quiet", "wa:+3-waited-enough"]
