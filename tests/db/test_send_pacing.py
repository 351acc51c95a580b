"""Send slots shared through the database (Meta's pair rate and throughput limits): two
"processes" (two engines) reserving at once never get slots closer than a scope's gap."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from seleto_agent.db.repositories.pacing import PacingRepository
from tests.concurrency.helpers import engine_for

PAIR_GAP = timedelta(seconds=6)
MIN_INTERVAL = timedelta(milliseconds=50)


async def _reserve(engine: AsyncEngine, lead: str) -> tuple[float, float]:
    async with engine.begin() as conn:
        slot, now = await PacingRepository(conn).reserve(
            {"global": MIN_INTERVAL, f"to:{lead}": PAIR_GAP}
        )
    return slot.timestamp(), now.timestamp()


async def test_one_lead_gets_its_messages_a_pair_gap_apart_across_processes(
    database_url: str,
) -> None:
    async with engine_for(database_url) as one, engine_for(database_url) as two:
        slots = await asyncio.gather(*(_reserve(e, "wa:+5544999990001") for e in (one, two) * 3))
    times = sorted(slot for slot, _now in slots)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(set(times)) == 6
    assert min(gaps) >= PAIR_GAP.total_seconds() - 1e-6
    # The first one goes out at once: pacing costs nothing to a lead's first message.
    first_slot, first_now = min(slots)
    assert first_slot - first_now < 1.0


async def test_the_number_never_sends_faster_than_its_rate_and_leads_do_not_wait_each_other(
    database_url: str,
) -> None:
    leads = [f"wa:+55449999900{n:02d}" for n in range(20)]
    async with engine_for(database_url) as one, engine_for(database_url) as two:
        slots = await asyncio.gather(
            *(_reserve(one if n % 2 else two, lead) for n, lead in enumerate(leads))
        )
    times = sorted(slot for slot, _now in slots)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= MIN_INTERVAL.total_seconds() - 1e-6
    # Twenty different leads: paced by the number's rate only, not by the 6 s pair gap.
    assert times[-1] - times[0] < 20 * MIN_INTERVAL.total_seconds() + 1.0


async def test_a_slot_left_in_the_past_is_not_a_credit(database_url: str) -> None:
    async with engine_for(database_url) as engine:
        async with engine.begin() as conn:
            await PacingRepository(conn).reserve({"to:wa:+5544999990099": timedelta(0)})
        await asyncio.sleep(0.2)
        async with engine.begin() as conn:
            slot, now = await PacingRepository(conn).reserve({"to:wa:+5544999990099": timedelta(0)})
    assert slot == now
