"""Several workers on one database: per-phone order, one turn per phone at a time, takeover
after a worker is killed mid-turn (a real SIGKILL of a real process)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import select

from seleto_agent.agents.runner import AgentReply, AgentRunner, TurnRequest
from seleto_agent.db.tables import inbound_events
from tests.conftest import Sandbox, Service, make_settings, wait_for
from tests.factories import received_text


class ConcurrencyProbe:
    """Wraps the real runner and records how many turns of one phone overlap."""

    def __init__(self, inner: AgentRunner, shared: dict[str, Any]) -> None:
        self._inner = inner
        self._shared = shared

    async def reply(self, request: TurnRequest) -> AgentReply:
        user_id = request.user_id
        active: dict[str, int] = self._shared.setdefault("active", {})
        active[user_id] = active.get(user_id, 0) + 1
        self._shared["max_overlap"] = max(self._shared.get("max_overlap", 0), active[user_id])
        try:
            await asyncio.sleep(0.02)
            return await self._inner.reply(request)
        finally:
            active[user_id] -= 1


async def all_done(service: Service) -> bool:
    async with service.runtime.engine.connect() as conn:
        statuses = [s for (s,) in await conn.execute(select(inbound_events.c.status))]
    return bool(statuses) and all(s == "done" for s in statuses)


async def test_two_workers_keep_per_phone_order_and_never_overlap_a_phone(
    service_factory: Any, sandbox: Sandbox
) -> None:
    first: Service = await service_factory(debounce_seconds=0.05, worker_concurrency=4)
    second: Service = await service_factory(debounce_seconds=0.05, worker_concurrency=4)
    shared: dict[str, Any] = {}
    for svc in (first, second):
        processor = svc.runtime.worker._processor
        processor._agent = ConcurrencyProbe(processor._agent, shared)

    phones = [f"55119{n:08d}" for n in range(8)]
    for round_number in range(3):
        for phone in phones:
            await first.post_zapi(received_text(phone=phone, text=f"{phone}-{round_number}"))
        await asyncio.sleep(0.12)
    await wait_for(lambda: all_done(first), timeout=30)

    assert shared["max_overlap"] == 1
    sent = sandbox.sent_texts()
    assert {s["phone"] for s in sent} == set(phones)
    requests = sandbox.state()["model"]["requests"]
    for phone in phones:
        seen: list[str] = []
        for request in requests:
            user_texts = [m["content"] for m in request["messages"] if m["role"] == "user"]
            if user_texts and user_texts[-1].startswith(phone):
                seen = "\n".join(user_texts).split("\n")
        assert seen == [f"{phone}-{n}" for n in range(3)], phone


def _worker_env(settings_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZAPI_", "OPENAI_"))}
    env.update(settings_env)
    return env


@pytest.mark.slow
async def test_worker_killed_mid_turn_is_taken_over_with_one_reply(
    service_factory: Any, sandbox: Sandbox, database_url: str
) -> None:
    service: Service = await service_factory(worker_embedded=False)
    settings = make_settings(database_url, sandbox.url, worker_lease_seconds=2.0)
    env = _worker_env(
        {
            "APP_ENV": "test",
            "DATABASE_URL": settings.database_url,
            "ZAPI_BASE_URL": settings.zapi_base_url,
            "ZAPI_INSTANCE_ID": settings.zapi_instance_id or "",
            "ZAPI_INSTANCE_TOKEN": "sandbox-instance-token",
            "ZAPI_CLIENT_TOKEN": "sandbox-client-token",
            "OPENAI_BASE_URL": settings.openai_base_url or "",
            "OPENAI_API_KEY": "sk-sandbox-not-a-real-key",
            "OPENAI_MODEL": "sandbox-scripted",
            "DEBOUNCE_SECONDS": "0.05",
            "WORKER_POLL_SECONDS": "0.1",
            "WORKER_LEASE_SECONDS": "2",
            "LOG_LEVEL": "WARNING",
        }
    )
    # The first model call hangs, so the first worker is surely mid-turn when it is killed.
    sandbox.model_faults(delay_next=1, delay_seconds=60)
    await service.post_zapi(received_text(text="quero uma FB300"))

    command = [sys.executable, "-m", "seleto_agent.cli", "worker"]
    victim = subprocess.Popen(command, env=env)
    try:
        await wait_for(lambda: len(sandbox.state()["model"]["requests"]) == 1, timeout=30)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
    finally:
        if victim.poll() is None:
            victim.kill()
    assert sandbox.sent_texts() == []

    survivor = subprocess.Popen(command, env=env)
    try:
        await wait_for(lambda: all_done(service), timeout=30)
        await asyncio.sleep(0.5)
    finally:
        survivor.send_signal(signal.SIGTERM)
        survivor.wait(timeout=20)
    assert len(sandbox.sent_texts()) == 1
    async with service.runtime.engine.connect() as conn:
        row = (await conn.execute(select(inbound_events))).one()
    assert row.status == "done"
    assert row.attempts == 2


async def test_a_worker_that_lost_its_lease_writes_and_sends_nothing(
    service_factory: Any, sandbox: Sandbox
) -> None:
    from sqlalchemy import update

    from seleto_agent.db.repositories.conversations import ConversationRepository
    from seleto_agent.db.tables import conversations, outbound_messages

    service: Service = await service_factory(worker_embedded=False)
    await service.post_zapi(received_text(text="oi"))
    engine = service.runtime.engine
    processor = service.runtime.worker._processor
    key = "wa:+5544999999999"
    async with engine.begin() as conn:
        assert await ConversationRepository(conn).try_acquire_lease(
            key, owner="worker-a", seconds=30
        )
    claimed = await processor.claim(key, lease_owner="worker-a", lease_seconds=30)
    assert claimed is not None
    async with engine.begin() as conn:  # worker-a stalled; its lease went to worker-b
        await conn.execute(update(conversations).values(lease_owner="worker-b"))
    await processor.process(claimed)
    assert sandbox.sent_texts() == []
    async with engine.connect() as conn:
        assert (await conn.execute(select(outbound_messages))).first() is None
        assert (await conn.execute(select(inbound_events.c.status))).scalar_one() == "processing"
