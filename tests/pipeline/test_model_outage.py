"""A model brownout (OpenAI 429s, 5xx, timeouts for minutes) never turns lead messages `dead`:
the turn keeps retrying without using up INBOUND_MAX_ATTEMPTS, honours Retry-After, sends one
holding message once the lead has waited MODEL_OUTAGE_HOLD_SECONDS, and hands the conversation
to a person after MODEL_OUTAGE_HANDOFF_SECONDS. A request the model refuses (401, 400) still
ends `dead` for ops, as before."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from seleto_agent.agents.prompts import load_fixed_replies
from seleto_agent.db.tables import conversations, inbound_events
from seleto_agent.settings import PROJECT_ROOT
from tests.conftest import Sandbox, Service, wait_for
from tests.factories import received_text

REPLIES = load_fixed_replies(PROJECT_ROOT / "prompts" / "respostas_fixas_v1.yaml")
HOLDING = REPLIES.get("model_outage_holding")
HANDOFF = REPLIES.get("model_outage_handoff")


async def event_rows(service: Service) -> list[Any]:
    async with service.runtime.engine.connect() as conn:
        return list(await conn.execute(select(inbound_events)))


async def all_done(service: Service) -> bool:
    rows = await event_rows(service)
    return bool(rows) and all(r.status == "done" for r in rows)


def texts(sandbox: Sandbox) -> list[str]:
    return [str(s["message"]) for s in sandbox.sent_texts()]


async def test_an_outage_longer_than_the_attempts_is_waited_out_with_one_reply(
    service_factory: Any, sandbox: Sandbox
) -> None:
    # inbound_max_attempts is 3 in the tests: six failures would have ended it dead.
    service: Service = await service_factory(model_outage_hold_seconds=60)
    sandbox.model_faults(fail_next=6, status=503)
    sandbox.script({"content": "Olá! Temos formadoras, sim."})
    await service.post_zapi(received_text(text="tem formadora?"))
    await wait_for(lambda: all_done(service), timeout=20)
    assert texts(sandbox) == ["Olá! Temos formadoras, sim."]
    [event] = await event_rows(service)
    assert event.attempts <= 1
    assert sandbox.state()["model"]["requests_count"] == 7


async def test_a_longer_outage_sends_one_holding_message_then_the_answer(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service: Service = await service_factory(model_outage_hold_seconds=0.3)
    sandbox.model_faults(fail_always=True, status=500)
    sandbox.script({"content": "Agora sim: temos a FB300."})
    await service.post_zapi(received_text(text="tem formadora?"))
    await wait_for(lambda: texts(sandbox) == [HOLDING])
    await asyncio.sleep(1.0)  # more failed attempts: still one holding message
    assert texts(sandbox) == [HOLDING]
    sandbox.model_faults(fail_always=False)
    await wait_for(lambda: all_done(service), timeout=40)
    assert texts(sandbox) == [HOLDING, "Agora sim: temos a FB300."]


async def test_an_outage_that_lasts_hands_the_lead_to_a_person_never_dead(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service: Service = await service_factory(
        model_outage_hold_seconds=0.2, model_outage_handoff_seconds=1.0
    )
    sandbox.model_faults(fail_always=True, status=429, retry_after=0.1)
    await service.post_zapi(received_text(text="tem formadora?"))
    await wait_for(lambda: all_done(service), timeout=20)
    assert texts(sandbox) == [HOLDING, HANDOFF]
    async with service.runtime.engine.connect() as conn:
        owner, reason = (
            await conn.execute(select(conversations.c.owner, conversations.c.owner_reason))
        ).one()
    assert (owner, reason) == ("human", "handoff:model_outage")


async def test_retry_after_from_the_model_is_honoured(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service: Service = await service_factory()
    sandbox.model_faults(fail_next=1, status=429, retry_after=2)
    sandbox.script({"content": "Olá!"})
    await service.post_zapi(received_text(text="oi"))
    await wait_for(lambda: all_done(service), timeout=20)
    first, second = sandbox.state()["model"]["arrivals"]
    # Backoff in the tests is 0.05 s; the model asked for 2 s.
    assert second - first >= 1.9


async def test_a_request_the_model_refuses_is_not_an_outage(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service: Service = await service_factory(model_outage_hold_seconds=0.1)
    sandbox.model_faults(fail_always=True, status=401)
    await service.post_zapi(received_text(text="oi"))

    async def dead() -> bool:
        return [r.status for r in await event_rows(service)] == ["dead"]

    await wait_for(dead, timeout=20)
    # No holding message for a bad key: ops must fix it (the event is dead, and alerted).
    assert texts(sandbox) == []


async def test_a_model_that_cannot_be_reached_is_an_outage(
    service_factory: Any, sandbox: Sandbox
) -> None:
    # Nothing listens there: every request goes out and gets no answer.
    service: Service = await service_factory(
        openai_base_url="http://127.0.0.1:9/v1",
        model_outage_hold_seconds=0.2,
        model_outage_handoff_seconds=1.5,
    )
    await service.post_zapi(received_text(text="oi"))
    await wait_for(lambda: all_done(service), timeout=20)
    assert texts(sandbox) == [HOLDING, HANDOFF]
