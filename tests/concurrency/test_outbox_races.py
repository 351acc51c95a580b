"""Jobs of one ordering key never run at once, whatever order their transactions commit in
(redteam H2: Postgres identity values become visible at commit, not in id order), and several
outbox workers syncing leads changed by parallel tool calls create each PipeRun record once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from seleto_agent.db.repositories.jobs import JobRepository
from seleto_agent.domain.jobs import JobKind
from tests.concurrency.helpers import add_conversations, engine_for, lead_service
from tests.conftest import Sandbox, Service, _truncate_postgres, wait_for
from tests.pipeline.test_crm_sync import crm_settings, crm_settled

KEY = "crm:lead:7"


async def _enqueue(conn: AsyncConnection, name: str) -> int:
    job_id = await JobRepository(conn).enqueue(
        kind=JobKind.CRM_SYNC,
        ordering_key=KEY,
        dedupe_key=f"test:{name}",
        payload={"lead_id": 7},
        now=datetime.now(UTC),
    )
    assert job_id is not None
    return job_id


async def _runnable(engine: Any) -> list[int]:
    async with engine.connect() as conn:
        return [job_id for job_id, _ in await JobRepository(conn).runnable(now=_now(), limit=10)]


async def _claim(engine: Any, job_id: int, owner: str) -> bool:
    async with engine.begin() as conn:
        claimed = await JobRepository(conn).try_claim(
            job_id, ordering_key=KEY, owner=owner, lease_seconds=30, now=_now()
        )
    return claimed is not None


def _now() -> datetime:
    return datetime.now(UTC)


async def test_a_job_committed_late_waits_for_the_later_job_already_running(
    postgres_url: str,
) -> None:
    _truncate_postgres(postgres_url)
    async with engine_for(postgres_url) as engine:
        # T1 takes the lower id but commits last.
        slow = await engine.connect()
        slow_tx = await slow.begin()
        first = await _enqueue(slow, "first")
        async with engine.begin() as conn:
            second = await _enqueue(conn, "second")
        assert first < second
        assert await _runnable(engine) == [second]
        assert await _claim(engine, second, "worker-a")
        await slow_tx.commit()
        await slow.close()
        # The earlier job is committed now, but a job of its key is running.
        assert await _runnable(engine) == []
        assert not await _claim(engine, first, "worker-b")
        async with engine.begin() as conn:
            assert await JobRepository(conn).mark_done(
                second, owner="worker-a", now=_now(), note=None
            )
        assert await _runnable(engine) == [first]
        assert await _claim(engine, first, "worker-b")


async def test_two_claims_of_one_key_in_flight_take_turns(postgres_url: str) -> None:
    _truncate_postgres(postgres_url)
    async with engine_for(postgres_url) as engine:
        slow = await engine.connect()
        slow_tx = await slow.begin()
        first = await _enqueue(slow, "first")
        async with engine.begin() as conn:
            second = await _enqueue(conn, "second")
        # Worker A claims the job it can see, and has not committed yet...
        claimer = await engine.connect()
        claim_tx = await claimer.begin()
        claimed = await JobRepository(claimer).try_claim(
            second, ordering_key=KEY, owner="worker-a", lease_seconds=30, now=_now()
        )
        assert claimed is not None
        # ...when the earlier job commits and worker B tries it.
        await slow_tx.commit()
        await slow.close()
        other = asyncio.create_task(_claim(engine, first, "worker-b"))
        await asyncio.sleep(0.3)
        await claim_tx.commit()
        await claimer.close()
        assert await asyncio.wait_for(other, 10) is False


async def test_concurrent_syncs_from_parallel_tools_file_each_record_once(
    service_factory: Any, sandbox: Sandbox, database_url: str
) -> None:
    # Many leads at once would hit PipeRun's 100 requests/minute; not what this test is about.
    sandbox.piperun_faults(rate_limit_per_minute=10_000)
    # Two services on one database: two outbox workers competing for the jobs.
    first: Service = await service_factory(**crm_settings(sandbox))
    await service_factory(**crm_settings(sandbox))
    engine = first.runtime.engine
    keys = await add_conversations(engine, 12)
    leads = lead_service(engine, crm=True)

    async def turn(index: int, key: str) -> None:
        turn_id = f"t-{index}"
        await asyncio.gather(
            leads.update_lead(
                key,
                {
                    "name": f"Lead {index}",
                    "company_name": f"Empresa {index}",
                    "city": "Chapecó",
                    "uf": "SC",
                    "product_interest": "FB300",
                    "production_volume": "2000 por dia",
                },
                turn_id=turn_id,
            ),
            leads.update_lead(key, {"urgency": "este mês"}, turn_id=turn_id),
            leads.register_company(
                key, cnpj=_cnpj(index), legal_name=f"Empresa {index} Ltda", city=None, uf=None
            ),
            leads.create_quote_request(key, product="FB300", details=None, turn_id=turn_id),
        )

    await asyncio.gather(*(turn(i, key) for i, key in enumerate(keys)))
    await wait_for(lambda: crm_settled(first), timeout=30)
    state = sandbox.piperun_state()
    for resource in ("companies", "persons", "deals"):
        counts = Counter(
            record["name"] if resource != "deals" else record["reference"]
            for record in state[resource]
        )
        assert len(counts) == len(keys), resource
        assert set(counts.values()) == {1}, f"duplicate {resource}: {counts}"


def _cnpj(index: int) -> str:
    from stdnum.br import cnpj

    base = f"{11222333 + index:08d}0001"
    return base + cnpj.calc_check_digits(base)
