"""Per-lead turn budgets and the input cap: the turn past a budget gets one fixed note and a
hand-off instead of a model run; a burst longer than MAX_TURN_INPUT_CHARS reaches the model cut."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from seleto_agent.agents.prompts import load_fixed_replies
from seleto_agent.db.tables import handoffs, inbound_events, outbound_messages
from seleto_agent.domain.turns import INPUT_CUT_NOTE
from seleto_agent.settings import PROJECT_ROOT, Settings
from tests.conftest import Sandbox, Service, wait_for
from tests.factories import received_text

PHONE = "5548999112233"
ALWAYS_CLOSED = PROJECT_ROOT / "tests" / "fixtures" / "business_hours_always_closed.yaml"
BUDGET_TEXT = load_fixed_replies(
    Settings(_env_file=None).fixed_replies_file  # type: ignore[call-arg]
).get("turn_budget_exceeded")


def sent(sandbox: Sandbox) -> list[str]:
    return [str(s["message"]) for s in sandbox.sent_texts()]


async def settled(service: Service) -> bool:
    async with service.runtime.engine.connect() as conn:
        statuses = list(
            (
                await conn.execute(
                    select(inbound_events.c.status).where(
                        inbound_events.c.conversation_key.is_not(None)
                    )
                )
            ).scalars()
        )
    return bool(statuses) and all(s == "done" for s in statuses)


async def answered(service: Service, sandbox: Sandbox, text: str, reply: str) -> None:
    before = len(sandbox.sent_texts())
    # Matched to this message: a model request from elsewhere cannot take this reply.
    sandbox.script({"content": reply}, match=text[-40:])
    await service.post_zapi(received_text(phone=PHONE, text=text))
    await wait_for(lambda: len(sandbox.sent_texts()) == before + 1)
    await wait_for(lambda: settled(service))


async def last_note(service: Service) -> str | None:
    async with service.runtime.engine.connect() as conn:
        note: str | None = await conn.scalar(
            select(inbound_events.c.last_error).order_by(inbound_events.c.id.desc()).limit(1)
        )
    return note


async def reply_kinds(service: Service) -> list[str | None]:
    async with service.runtime.engine.connect() as conn:
        return list(
            (
                await conn.execute(
                    select(outbound_messages.c.reply_kind).order_by(outbound_messages.c.id)
                )
            ).scalars()
        )


async def conversation(service: Service) -> dict[str, Any]:
    response = await service.client.get(
        f"/admin/conversations/{PHONE}", headers=service.admin_headers()
    )
    body: dict[str, Any] = response.json()
    return body


async def test_the_turn_past_the_hourly_budget_gets_one_note_and_a_handoff(
    service_factory: Any, sandbox: Sandbox
) -> None:
    first: Service = await service_factory(turn_budget_per_hour=2)
    await answered(first, sandbox, "oi", "Olá! Posso ajudar.")
    # Counted in the database: another process (a restart, a second worker) sees the same count.
    second: Service = await service_factory(turn_budget_per_hour=2)
    await answered(second, sandbox, "quero a FB300", "Anotado.")
    assert len(sandbox.model_requests()) == 2

    sandbox.script({"content": "O MODELO NÃO DEVIA RODAR"})
    await second.post_zapi(received_text(phone=PHONE, text="e o preço?"))
    await wait_for(lambda: len(sandbox.sent_texts()) == 3)
    await wait_for(lambda: settled(second))
    assert sent(sandbox) == ["Olá! Posso ajudar.", "Anotado.", BUDGET_TEXT]
    assert len(sandbox.model_requests()) == 2
    assert await reply_kinds(second) == ["agent", "agent", "fixed:turn_budget_exceeded"]
    state = await conversation(second)
    assert (state["owner"], state["owner_reason"]) == ("human", "handoff:budget")
    assert state["handoff"]["kind"] == "budget"
    assert "2 respostas do bot por hora" in state["handoff"]["reason"]

    # The SDR team has it now (business hours): nothing more from the bot, no second note.
    await second.post_zapi(received_text(phone=PHONE, text="alô?"))
    await wait_for(lambda: settled(second))
    await asyncio.sleep(0.3)
    assert await last_note(second) == "bot_paused"
    assert len(sent(sandbox)) == 3
    assert len(sandbox.model_requests()) == 2


async def test_a_window_gets_one_note_even_when_the_bot_takes_the_lead_back(
    service_factory: Any, sandbox: Sandbox
) -> None:
    # Outside business hours the lead's next message ends a handoff by itself (the client's
    # rule); the budget still holds, and this window's note already went out.
    service: Service = await service_factory(
        turn_budget_per_hour=0, turn_budget_per_day=1, business_hours_file=ALWAYS_CLOSED
    )
    await answered(service, sandbox, "oi", "Olá! Posso ajudar.")
    await service.post_zapi(received_text(phone=PHONE, text="e o preço?"))
    await wait_for(lambda: sent(sandbox) == ["Olá! Posso ajudar.", BUDGET_TEXT])
    await wait_for(lambda: settled(service))
    assert "1 respostas do bot por dia" in (await conversation(service))["handoff"]["reason"]

    await service.post_zapi(received_text(phone=PHONE, text="oi de novo"))
    await wait_for(lambda: settled(service))
    await asyncio.sleep(0.3)
    assert await last_note(service) == "budget_exceeded"
    assert sent(sandbox) == ["Olá! Posso ajudar.", BUDGET_TEXT]
    assert len(sandbox.model_requests()) == 1
    async with service.runtime.engine.connect() as conn:
        kinds = list((await conn.execute(select(handoffs.c.kind))).scalars())
    assert kinds == ["budget"]


async def test_zero_turns_off_the_budget(service_factory: Any, sandbox: Sandbox) -> None:
    service: Service = await service_factory(turn_budget_per_hour=0, turn_budget_per_day=0)
    for number in range(3):
        await answered(service, sandbox, f"mensagem {number}", f"resposta {number}")
    assert sent(sandbox) == ["resposta 0", "resposta 1", "resposta 2"]


async def test_a_long_burst_reaches_the_model_cut_and_the_event_keeps_it_whole(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service: Service = await service_factory(max_turn_input_chars=1000)
    long_text = "INICIO-DO-TEXTO " + "palavra " * 1500 + "FIM: quero a FB300"
    await answered(service, sandbox, long_text, "Certo!")
    [request] = sandbox.model_requests()
    model_input = [m["content"] for m in request["messages"] if m["role"] == "user"][-1]
    assert len(model_input) <= 1000
    assert model_input.startswith(INPUT_CUT_NOTE)
    assert model_input.endswith("FIM: quero a FB300")
    assert "INICIO-DO-TEXTO" not in model_input
    async with service.runtime.engine.connect() as conn:
        stored = await conn.scalar(select(inbound_events.c.body_text))
    assert stored == long_text
