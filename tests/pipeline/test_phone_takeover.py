"""An SDR who types on the company phone takes the conversation over; our own sends, echoed
back by Z-API (with or without `fromApi`), never do."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from seleto_agent.db.tables import outbound_messages, outbox_jobs
from tests.conftest import Sandbox, Service, wait_for
from tests.factories import received_text

PHONE = "5547999112233"


async def owner(service: Service) -> dict[str, Any]:
    response = await service.client.get(
        f"/admin/conversations/{PHONE}", headers=service.admin_headers()
    )
    body: dict[str, Any] = response.json()
    return body


async def phone_jobs_done(service: Service, count: int) -> bool:
    async with service.runtime.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(outbox_jobs.c.status, outbox_jobs.c.last_error).where(
                    outbox_jobs.c.kind == "ownership.phone_reply"
                )
            )
        ).all()
    return len(rows) == count and all(status == "done" for status, _ in rows)


async def start_conversation(service: Service, sandbox: Sandbox) -> None:
    sandbox.script({"content": "Olá! Sou o assistente virtual da Seleto Industrial."})
    await service.post_zapi(received_text(phone=PHONE, text="oi"))
    await wait_for(lambda: len(sandbox.sent_texts()) == 1)


async def test_a_message_typed_on_the_company_phone_takes_the_conversation_over(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service: Service = await service_factory(phone_echo_grace_seconds=0.2)
    await start_conversation(service, sandbox)
    typed = received_text(phone=PHONE, text="Oi, aqui é o Pedro da Seleto.", fromMe=True)
    assert (await service.post_zapi(typed)).json() == {"status": "ignored"}
    await wait_for(lambda: phone_jobs_done(service, 1))
    state = await owner(service)
    assert (state["owner"], state["owner_reason"]) == ("human", "phone_reply")
    # The bot now stays quiet for this lead.
    await service.post_zapi(received_text(phone=PHONE, text="Oi Pedro, tudo bem?"))
    await wait_for(lambda: _events_settled(service))
    assert len(sandbox.sent_texts()) == 1


async def test_our_own_sends_echoed_back_change_nothing(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service: Service = await service_factory(phone_echo_grace_seconds=0.2)
    await start_conversation(service, sandbox)
    async with service.runtime.engine.connect() as conn:
        sent = (
            await conn.execute(
                select(outbound_messages.c.provider_message_id, outbound_messages.c.body)
            )
        ).one()
    # Echo flagged as sent through the API: ignored at once.
    flagged = received_text(
        phone=PHONE,
        text=sent.body,
        message_id=sent.provider_message_id,
        fromMe=True,
        fromApi=True,
    )
    assert (await service.post_zapi(flagged)).json() == {"status": "ignored"}
    # Echo without the flag (another id, same text): checked against our sends, still ours.
    unflagged = received_text(phone=PHONE, text=sent.body, fromMe=True)
    assert (await service.post_zapi(unflagged)).json() == {"status": "ignored"}
    await wait_for(lambda: phone_jobs_done(service, 1))
    state = await owner(service)
    assert state["owner"] == "bot"
    sandbox.script({"content": "Posso ajudar com mais alguma coisa?"})
    await service.post_zapi(received_text(phone=PHONE, text="obrigado"))
    await wait_for(lambda: len(sandbox.sent_texts()) == 2)


async def _events_settled(service: Service) -> bool:
    from seleto_agent.db.tables import inbound_events

    async with service.runtime.engine.connect() as conn:
        statuses = (await conn.execute(select(inbound_events.c.status))).scalars().all()
    return all(status in ("done", "ignored") for status in statuses)


async def test_a_forged_company_phone_message_does_not_silence_the_bot(
    service_factory: Any, sandbox: Sandbox
) -> None:
    """A holder of the webhook URL alone: no connectedPhone, another line's, or no instance."""
    service: Service = await service_factory(
        phone_echo_grace_seconds=0.05, zapi_connected_phone="554499999999"
    )
    await start_conversation(service, sandbox)
    forged = [
        received_text(phone=PHONE, text="forjada", fromMe=True, connectedPhone=None),
        received_text(phone=PHONE, text="forjada", fromMe=True, connectedPhone="5511900000001"),
        received_text(phone=PHONE, text="forjada", fromMe=True, instanceId=None),
    ]
    for body in forged:
        assert (await service.post_zapi(body)).json() == {"status": "ignored"}
    await asyncio.sleep(0.3)
    async with service.runtime.engine.connect() as conn:
        jobs = (
            await conn.execute(
                select(outbox_jobs.c.id).where(outbox_jobs.c.kind == "ownership.phone_reply")
            )
        ).all()
    assert jobs == []
    assert (await owner(service))["owner"] == "bot"
