"""Parallel tool calls (a real model returns several in one response and Agno runs them at
once) must leave a lead exactly as running them one by one would: same temperature, and at most
one pending handoff per conversation (redteam H1)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from seleto_agent.db.repositories.leads import LeadRepository
from seleto_agent.db.tables import handoffs, outbox_jobs
from seleto_agent.services.leads import LeadService
from tests.concurrency.helpers import (
    add_conversations,
    engine_for,
    handoffs_by_key,
    lead_service,
)

LEADS = 50
# Fit (an available model) is known before the turn; the turn brings urgency and the quote,
# which together make the lead hot, and neither alone does.
PRODUCT = {"product_interest": "FB300", "name": "Marina", "city": "Londrina", "uf": "PR"}


async def _prepare(leads: LeadService, keys: list[str]) -> None:
    for key in keys:
        await leads.update_lead(key, dict(PRODUCT), turn_id=None)


async def _turn(leads: LeadService, key: str, *, with_handoff: bool, parallel: bool) -> None:
    calls: list[Any] = [
        lambda: leads.update_lead(key, {"urgency": "este mês"}, turn_id=f"t-{key}"),
        lambda: leads.create_quote_request(key, product="FB300", details=None, turn_id=f"t-{key}"),
    ]
    if with_handoff:
        calls.append(
            lambda: leads.request_handoff(
                key, reason="quer falar com um vendedor", kind="requested", turn_id=f"t-{key}"
            )
        )
    if parallel:
        await asyncio.gather(*(call() for call in calls))
    else:
        for call in calls:
            await call()


async def _states(leads: LeadService, keys: list[str]) -> list[tuple[Any, ...]]:
    states = []
    for key in keys:
        state = await leads.state(key)
        assert state is not None
        lead = state.lead
        states.append((lead.temperature, lead.temperature_reason, lead.suggested_model))
    return states


@pytest.mark.parametrize("with_handoff", [False, True], ids=["tools", "tools+handoff"])
async def test_parallel_tools_give_the_sequential_result_every_time(
    database_url: str, with_handoff: bool
) -> None:
    async with engine_for(database_url) as engine:
        keys = await add_conversations(engine, LEADS + 1)
        leads = lead_service(engine, crm=True, mirror=True)
        await _prepare(leads, keys)
        # The reference: the same calls one by one.
        await _turn(leads, keys[-1], with_handoff=with_handoff, parallel=False)
        # Every lead's calls at once, and all leads at once (as several workers would).
        await asyncio.gather(
            *(_turn(leads, key, with_handoff=with_handoff, parallel=True) for key in keys[:-1])
        )
        states = await _states(leads, keys)
        reference = states[-1]
        assert reference[0] == "quente"
        wrong = [key for key, state in zip(keys, states, strict=True) if state != reference]
        assert wrong == [], f"{len(wrong)}/{LEADS} leads differ from the sequential result"
        counts = await handoffs_by_key(engine)
        assert {key: counts.get(key, 0) for key in keys} == dict.fromkeys(keys, 1)
        async with engine.connect() as conn:
            mirrored = (
                await conn.execute(
                    select(func.count())
                    .select_from(outbox_jobs)
                    .where(outbox_jobs.c.dedupe_key.like("cw:handoff:%"))
                )
            ).scalar_one()
        assert mirrored == len(keys)


async def test_the_database_refuses_a_second_pending_handoff(database_url: str) -> None:
    async with engine_for(database_url) as engine:
        (key,) = await add_conversations(engine, 1)
        now_row: dict[str, Any] = {
            "conversation_key": key,
            "kind": "requested",
            "reason": "x",
            "summary": {},
            "status": "pending",
        }
        async with engine.begin() as conn:
            lead = await LeadRepository(conn).ensure(
                phone=key.removeprefix("wa:"), conversation_id=1, now=_now()
            )
            await conn.execute(
                insert(handoffs).values(
                    **now_row, lead_id=lead.id, created_at=_now(), updated_at=_now()
                )
            )
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(
                    insert(handoffs).values(
                        **now_row, lead_id=lead.id, created_at=_now(), updated_at=_now()
                    )
                )
        # A closed handoff does not count: a later request opens a new one.
        async with engine.begin() as conn:
            await conn.execute(handoffs.update().values(status="closed"))
            await conn.execute(
                insert(handoffs).values(
                    **now_row, lead_id=lead.id, created_at=_now(), updated_at=_now()
                )
            )
        assert (await handoffs_by_key(engine))[key] == 2


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
