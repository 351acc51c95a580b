"""Every change of who answers a conversation goes through the ownership state machine, under
the conversation's row lock (audit A1, redteam M7/M8): a handoff never overrides an admin
pause, HUMAN_IDLE_RESUME_HOURS works after a bot handoff, an LGPD pause never ends by itself,
and an SDR takeover is never lost to a racing lead message."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from seleto_agent.db.tables import audit_log, conversations, handoffs
from seleto_agent.domain.ownership import OwnershipState, Transition, on_lead_message
from seleto_agent.runtime import build_ownership
from seleto_agent.settings import PROJECT_ROOT, Settings
from tests.concurrency.helpers import add_conversations, engine_for
from tests.conftest import Sandbox, Service, wait_for
from tests.factories import received_text

PHONE = "5541988776655"
ALWAYS_CLOSED = PROJECT_ROOT / "tests" / "fixtures" / "business_hours_always_closed.yaml"


def tool(name: str, **arguments: Any) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "arguments": arguments}]}


async def admin_view(service: Service) -> dict[str, Any]:
    response = await service.client.get(
        f"/admin/conversations/{PHONE}", headers=service.admin_headers()
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


async def settled(service: Service) -> bool:
    view = await service.client.get("/admin/events", headers=service.admin_headers())
    items = view.json()["items"]
    return bool(items) and all(i["status"] in ("done", "ignored", "dead") for i in items)


async def test_an_admin_pause_during_the_model_run_outlives_a_handoff(
    service: Service, sandbox: Sandbox
) -> None:
    sandbox.model_faults(delay_seconds=1.0, delay_next=1)
    sandbox.script(
        tool("request_human_handoff", reason="quer falar com um vendedor"),
        {"content": "Um especialista vai falar com você por aqui."},
    )
    await service.post_zapi(received_text(phone=PHONE, text="quero falar com um vendedor"))
    await wait_for(lambda: sandbox.model_requests())
    until = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    paused = await service.client.post(
        f"/admin/conversations/{PHONE}/pause",
        json={"until": until.isoformat()},
        headers=service.admin_headers(),
    )
    assert paused.status_code == 200
    await wait_for(lambda: settled(service))
    await asyncio.sleep(0.3)
    assert sandbox.sent_texts() == []
    view = await admin_view(service)
    assert view["owner"] == "human"
    assert view["owner_reason"] == "admin_pause"
    assert datetime.fromisoformat(view["paused_until"]) == until
    # The SDR team still gets the request, with its brief.
    assert view["handoff"]["kind"] == "requested"


async def test_the_idle_resume_works_after_a_bot_handoff(
    service_factory: Any, sandbox: Sandbox
) -> None:
    idle_seconds = 1.0
    service: Service = await service_factory(human_idle_resume_hours=idle_seconds / 3600)
    sandbox.script(
        tool("request_human_handoff", reason="quer falar com um vendedor"),
        {"content": "Um especialista vai falar com você por aqui."},
    )
    await service.post_zapi(received_text(phone=PHONE, text="quero falar com um vendedor"))
    await wait_for(lambda: len(sandbox.sent_texts()) == 1)
    assert (await admin_view(service))["owner"] == "human"
    await asyncio.sleep(idle_seconds + 0.2)
    sandbox.script({"content": "Oi de novo! Em que posso ajudar?"})
    await service.post_zapi(received_text(phone=PHONE, text="alguém aí?"))
    await wait_for(lambda: len(sandbox.sent_texts()) == 2)
    assert (await admin_view(service))["owner"] == "bot"


async def test_an_lgpd_pause_never_ends_by_itself(service_factory: Any, sandbox: Sandbox) -> None:
    # Outside business hours every other takeover ends when the lead writes again.
    service: Service = await service_factory(business_hours_file=ALWAYS_CLOSED)
    await service.post_zapi(received_text(phone=PHONE, text="quero que apaguem meus dados"))
    await wait_for(lambda: len(sandbox.sent_texts()) == 1)
    assert (await admin_view(service))["owner_reason"] == "handoff:lgpd"
    await service.post_zapi(received_text(phone=PHONE, text="oi? vocês estão aí?"))
    await wait_for(lambda: settled(service))
    await asyncio.sleep(0.5)
    assert len(sandbox.sent_texts()) == 1
    view = await admin_view(service)
    assert (view["owner"], view["owner_reason"]) == ("human", "handoff:lgpd")
    assert sandbox.model_requests() == []


async def test_a_data_request_while_a_person_has_the_conversation_is_recorded(
    service: Service, sandbox: Sandbox
) -> None:
    sandbox.script({"content": "Olá! Posso ajudar."})
    await service.post_zapi(received_text(phone=PHONE, text="oi"))
    await wait_for(lambda: len(sandbox.sent_texts()) == 1)
    paused = await service.client.post(
        f"/admin/conversations/{PHONE}/pause", json={}, headers=service.admin_headers()
    )
    assert paused.status_code == 200
    await service.post_zapi(received_text(phone=PHONE, text="não quero mais receber mensagens"))
    await wait_for(lambda: settled(service))
    view = await admin_view(service)
    assert view["lgpd_requests"] == ["opt_out"]
    # The operator's pause stays as it was; nobody answers automatically.
    assert view["owner_reason"] == "admin_pause"
    assert len(sandbox.sent_texts()) == 1


async def test_an_sdr_takeover_is_not_lost_to_a_racing_lead_message(database_url: str) -> None:
    settings = Settings(_env_file=None, business_hours_file=ALWAYS_CLOSED)  # type: ignore[call-arg]
    async with engine_for(database_url) as engine:
        (key,) = await add_conversations(engine, 1)
        async with engine.begin() as conn:
            await conn.execute(
                update(conversations).values(owner="human", owner_reason="handoff:hot_lead")
            )
        ownership = build_ownership(settings, engine)
        raced = threading.Event()

        def sdr_replies() -> None:
            async def reply() -> None:
                async with engine_for(database_url) as other:
                    await build_ownership(settings, other).human_replied(
                        key, source="chatwoot", occurred_at=datetime.now(UTC)
                    )

            asyncio.run(reply())
            raced.set()

        def lead_wrote(state: OwnershipState) -> Transition:
            # The SDR replies between this event's read and its write.
            thread = threading.Thread(target=sdr_replies)
            thread.start()
            # With the row locked the reply waits for this transaction: give it a moment to
            # (wrongly) get through, then go on.
            thread.join(timeout=1.0)
            return on_lead_message(
                state, now=datetime.now(UTC), hours=ownership.hours, idle_resume_after=None
            )

        # Outside business hours a lead message gives a handoff back to the bot...
        await ownership.apply(
            key, lead_wrote, name="lead_message", actor="worker", occurred_at=datetime.now(UTC)
        )
        await asyncio.to_thread(raced.wait, 30)
        # ...but the SDR's reply came after it and must win.
        async with engine.connect() as conn:
            row = (
                await conn.execute(select(conversations.c.owner, conversations.c.owner_reason))
            ).one()
            actions = list(
                (await conn.execute(select(audit_log.c.action).order_by(audit_log.c.id))).scalars()
            )
        assert (row.owner, row.owner_reason) == ("human", "human_reply")
        assert actions == [
            "ownership.auto_resumed_outside_hours",
            "ownership.human_took_over",
        ]


async def test_a_handoff_by_rule_and_by_request_at_once_pauses_once(database_url: str) -> None:
    from tests.concurrency.helpers import handoffs_by_key, lead_service

    async with engine_for(database_url) as engine:
        (key,) = await add_conversations(engine, 1)
        leads = lead_service(engine)
        await leads.update_lead(key, {"product_interest": "FB300"}, turn_id=None)
        await asyncio.gather(
            leads.update_lead(key, {"urgency": "este mês"}, turn_id="t1"),
            leads.create_quote_request(key, product="FB300", details=None, turn_id="t1"),
            leads.request_handoff(key, reason="quer um vendedor", kind="requested", turn_id="t1"),
            leads.request_handoff(key, reason="quer um vendedor", kind="requested", turn_id="t1"),
        )
        assert (await handoffs_by_key(engine)) == {key: 1}
        async with engine.connect() as conn:
            takeovers = (
                await conn.execute(
                    select(audit_log.c.action).where(
                        audit_log.c.action == "ownership.human_took_over"
                    )
                )
            ).all()
            pending = (
                await conn.execute(select(handoffs.c.status).where(handoffs.c.status == "pending"))
            ).all()
        assert len(takeovers) == 1
        assert len(pending) == 1
