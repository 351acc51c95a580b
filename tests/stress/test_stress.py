"""Stress: 200 leads at once on Postgres, each burst answered through real worker processes
that are SIGKILLed at random, with every webhook delivered twice and the model returning its
tool calls in parallel. Per lead it must end with exactly one reply, at most one handoff, one
PipeRun company, person and deal, and one Chatwoot contact and conversation.

Bounded in time (a few minutes at most on 2 cores); the figures it prints go in the issue's
closing note, not in an assertion.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from stdnum.br import cnpj as cnpj_digits

from seleto_agent.app import create_app
from seleto_agent.db.tables import handoffs, inbound_events, outbound_messages, outbox_jobs
from seleto_agent.runtime import build_runtime
from seleto_agent.sandbox.config import SandboxConfig
from tests.concurrency.helpers import engine_for
from tests.conftest import (
    INSTANCE_ID,
    WEBHOOK_TOKEN,
    Sandbox,
    Service,
    _truncate_postgres,
    listening,
    make_settings,
)
from tests.factories import received_text
from tests.pipeline.test_crm_sync import crm_settings
from tests.stress.workers import WorkerPool

LEADS = 200
WORKERS, OUTBOX_WORKERS = 3, 2
# Kills happen while the leads are being answered, then the pool is left alone to finish.
KILL_EVERY = (1.5, 3.0)
KILL_FOR_SECONDS = 30.0
SETTLE_TIMEOUT = 360.0
CW_TOKEN = "stress-chatwoot-token"
SEED = 20261202


def lead(index: int) -> dict[str, str]:
    base = f"{11222333 + index:08d}0001"
    return {
        "phone": f"5541988{index:06d}",
        "marker": f"(pedido {index:03d})",
        "name": f"Cliente {index:03d}",
        "company": f"Empresa {index:03d}",
        "cnpj": base + cnpj_digits.calc_check_digits(base),
    }


def script_for(index: int, data: dict[str, str]) -> list[dict[str, Any]]:
    """One response with all the turn's tool calls (Agno runs them concurrently), then text."""
    calls: list[dict[str, Any]] = [
        {
            "name": "update_lead",
            "arguments": {
                "name": data["name"],
                "company_name": data["company"],
                "city": "Londrina",
                "uf": "PR",
                "product_interest": "FB300",
                "production_volume": "2000 por dia",
            },
        },
        {"name": "update_lead", "arguments": {"urgency": "este mês"}},
        {
            "name": "register_company",
            "arguments": {"cnpj": data["cnpj"], "legal_name": f"{data['company']} Ltda"},
        },
        {"name": "create_quote_request", "arguments": {"product": "FB300"}},
    ]
    if index % 3 == 0:
        calls.append(
            {"name": "request_human_handoff", "arguments": {"reason": "quer falar com vendedor"}}
        )
    return [
        {"tool_calls": calls},
        {"content": "Obrigado! Um especialista da Seleto continua o seu atendimento por aqui."},
    ]


async def post_burst(client: httpx.AsyncClient, data: dict[str, str]) -> int:
    """Two messages, each delivered twice at once (Z-API may repeat a webhook)."""
    bodies = [
        received_text(
            phone=data["phone"],
            text=f"Oi, aqui é {data['name']}, da {data['company']} {data['marker']}",
        ),
        received_text(
            phone=data["phone"],
            text=f"Quero orçamento da FB300 para este mês, fazemos 2000 por dia {data['marker']}",
        ),
    ]
    posts = [deliver(client, body) for body in bodies for _ in (1, 2)]
    answers = await asyncio.gather(*posts)
    assert all(answer.status_code == 200 for answer in answers), [a.text for a in answers]
    return len(answers)


# Deliveries that got no answer (the connection closed under them) and were sent again.
RESENT_AFTER_TRANSPORT_ERROR = [0]


async def deliver(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    """As a provider does: a 503 (the service shedding load) is sent again after Retry-After,
    and so is a delivery that got no answer at all (the dedupe key makes a copy harmless).
    A pooled keep-alive connection that the server closes as it is reused is the usual cause."""
    while True:
        try:
            answer = await client.post(f"/webhooks/zapi/{WEBHOOK_TOKEN}", json=body)
        except httpx.TransportError:
            RESENT_AFTER_TRANSPORT_ERROR[0] += 1
            await asyncio.sleep(0.5)
            continue
        if answer.status_code != 503:
            return answer
        await asyncio.sleep(float(answer.headers.get("retry-after", "1")))


async def settled(engine: Any) -> bool:
    async with engine.connect() as conn:
        open_events = (
            await conn.execute(
                select(func.count())
                .select_from(inbound_events)
                .where(inbound_events.c.status.in_(["received", "processing", "failed"]))
            )
        ).scalar_one()
        open_jobs = (
            await conn.execute(
                select(func.count())
                .select_from(outbox_jobs)
                .where(outbox_jobs.c.status.in_(["pending", "processing", "failed"]))
            )
        ).scalar_one()
        done_events = (
            await conn.execute(
                select(func.count())
                .select_from(inbound_events)
                .where(inbound_events.c.status == "done")
            )
        ).scalar_one()
    return open_events == 0 and open_jobs == 0 and done_events >= 2 * LEADS


@pytest.mark.slow
async def test_200_leads_with_parallel_tools_kills_and_duplicates(
    postgres_url: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    _truncate_postgres(postgres_url)
    # Not what this test is about: PipeRun's 100 requests/minute would stretch it to minutes.
    sandbox.piperun_faults(rate_limit_per_minute=1_000_000)
    settings = make_settings(
        postgres_url,
        sandbox.url,
        **sandbox.chatwoot_settings(),
        **crm_settings(sandbox),
        chatwoot_webhook_token=CW_TOKEN,
        worker_embedded=False,
        debounce_seconds=0.4,
        debounce_max_seconds=3.0,
        worker_poll_seconds=0.2,
        worker_lease_seconds=2.0,
        worker_concurrency=8,
        inbound_max_attempts=30,
        retry_base_seconds=0.2,
        retry_max_seconds=2.0,
        outbound_unknown_grace_seconds=8.0,
        log_level="WARNING",
        # Four processes on one server whose default limit is 100 connections.
        database_pool_size=8,
        # Every webhook goes in at the first try: a shed one, sent again a second later, would
        # split its lead's burst in two turns (two replies, rightly). Shedding: test_backpressure.
        ingest_max_inflight=10_000,
    )
    leads = [lead(i) for i in range(LEADS)]
    for index, data in enumerate(leads):
        sandbox.script(*script_for(index, data), match=data["marker"], repeat=True)

    runtime = build_runtime(settings)
    app = create_app(runtime)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    service = Service(runtime=runtime, client=httpx.AsyncClient(), app=app)
    pool = WorkerPool(settings, count=WORKERS, outbox=OUTBOX_WORKERS, log_dir=tmp_path)
    figures: dict[str, Any] = {"leads": LEADS, "workers": WORKERS, "outbox_workers": 2}
    kills: asyncio.Task[None] | None = None
    try:
        async with listening(service) as base:
            _register_webhooks(sandbox, base)
            pool.start()
            started = time.monotonic()
            rng = random.Random(SEED)
            finished = asyncio.Event()

            async def killer() -> None:
                while not finished.is_set() and time.monotonic() - started < KILL_FOR_SECONDS:
                    await asyncio.sleep(rng.uniform(*KILL_EVERY))
                    pool.kill_one(rng)

            kills = asyncio.create_task(killer())
            limits = httpx.Limits(max_connections=40)
            async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
                gate = asyncio.Semaphore(20)

                async def one(data: dict[str, str]) -> int:
                    async with gate:
                        return await post_burst(client, data)

                posted = await asyncio.gather(*(one(data) for data in leads))
            figures["webhooks_posted"] = sum(posted)
            figures["resent_after_transport_error"] = RESENT_AFTER_TRANSPORT_ERROR[0]
            figures["ingest_seconds"] = round(time.monotonic() - started, 1)
            deadline = time.monotonic() + SETTLE_TIMEOUT
            while not await settled(runtime.engine):
                assert time.monotonic() < deadline, "the pipeline did not settle"
                await asyncio.sleep(1.0)
            finished.set()
            await kills
            figures["settled_seconds"] = round(time.monotonic() - started, 1)
            figures["kills"] = pool.kills
            await asyncio.to_thread(sandbox.chatwoot_flush)
    finally:
        # A failure mid-run must not leave the killer restarting workers after the stop
        # (they would outlive the test, orphaned, on a database that is gone).
        if kills is not None and not kills.done():
            kills.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await kills
        pool.stop()
        await service.client.aclose()
        await lifespan.__aexit__(None, None, None)

    await _check_each_lead(postgres_url, sandbox, leads, figures)
    print("stress figures:", json.dumps(figures, sort_keys=True))


async def _check_each_lead(
    postgres_url: str, sandbox: Sandbox, leads: list[dict[str, str]], figures: dict[str, Any]
) -> None:
    phones = {data["phone"] for data in leads}
    sent = Counter(text["phone"] for text in sandbox.sent_texts())
    figures["replies"] = sum(sent.values())
    assert {phone: sent.get(phone, 0) for phone in phones} == dict.fromkeys(phones, 1)

    async with engine_for(postgres_url) as engine, engine.connect() as conn:
        per_conversation = Counter(
            key for (key,) in await conn.execute(select(handoffs.c.conversation_key))
        )
        dead_events = (
            await conn.execute(
                select(func.count())
                .select_from(inbound_events)
                .where(inbound_events.c.status == "dead")
            )
        ).scalar_one()
        dead_jobs = (
            await conn.execute(
                select(func.count()).select_from(outbox_jobs).where(outbox_jobs.c.status == "dead")
            )
        ).scalar_one()
        unsettled = (
            await conn.execute(
                select(func.count())
                .select_from(outbound_messages)
                .where(outbound_messages.c.status != "sent")
            )
        ).scalar_one()
        attempts = (await conn.execute(select(func.max(inbound_events.c.attempts)))).scalar_one()
    figures["handoffs"] = sum(per_conversation.values())
    figures["max_event_attempts"] = attempts
    assert max(per_conversation.values()) == 1
    # Every lead is hot: each has its one handoff.
    assert len(per_conversation) == len(leads)
    assert (dead_events, dead_jobs, unsettled) == (0, 0, 0)

    piperun = sandbox.piperun_state()
    companies = Counter(c["name"] for c in piperun["companies"])
    persons = Counter(p["name"] for p in piperun["persons"])
    deals = Counter(d["reference"] for d in piperun["deals"])
    figures["piperun"] = {k: len(piperun[k]) for k in ("companies", "persons", "deals", "notes")}
    assert set(companies) == {f"{data['company']} Ltda" for data in leads}
    assert set(persons) == {data["name"] for data in leads}
    assert len(deals) == len(leads)
    for counts in (companies, persons, deals):
        assert set(counts.values()) == {1}

    chatwoot = sandbox.chatwoot_state()
    contacts = Counter(c["phone_number"] for c in chatwoot["contacts"])
    conversations = Counter(c["contact_id"] for c in chatwoot["conversations"])
    figures["chatwoot"] = {"contacts": len(contacts), "conversations": len(conversations)}
    assert set(contacts) == {f"+{phone}" for phone in phones}
    assert set(contacts.values()) == {1}
    assert len(conversations) == len(leads)
    assert set(conversations.values()) == {1}


def _register_webhooks(sandbox: Sandbox, base: str) -> None:
    """As ops do in the Z-API panel (RUNBOOK §5), plus the Chatwoot inbox webhook."""
    config = SandboxConfig()
    root = f"/instances/{INSTANCE_ID}/token/{config.zapi_instance_token}"
    url = f"{base}/webhooks/zapi/{WEBHOOK_TOKEN}"
    for kind in ("received", "delivery", "message-status"):
        answer = sandbox.client.put(
            f"{root}/update-webhook-{kind}",
            json={"value": url},
            headers={"Client-Token": config.zapi_client_token},
        )
        answer.raise_for_status()
    sandbox.chatwoot_set_inbox_webhook(f"{base}/webhooks/chatwoot/{CW_TOKEN}")
