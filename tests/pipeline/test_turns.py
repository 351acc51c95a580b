"""From an accepted message to exactly one reply: bursts, retries, dead events and replay."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from seleto_agent.db.tables import inbound_events, outbound_messages
from tests.conftest import Sandbox, Service, wait_for
from tests.factories import received_text


async def event_statuses(service: Service) -> list[str]:
    async with service.runtime.engine.connect() as conn:
        rows = await conn.execute(select(inbound_events.c.status).order_by(inbound_events.c.id))
        return [status for (status,) in rows]


def user_messages(request_body: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request_body["messages"] if m["role"] == "user"]


async def test_message_gets_exactly_one_reply(service: Service, sandbox: Sandbox) -> None:
    await service.post_zapi(received_text(phone="5511987654321", text="oi"))
    sent = await wait_for(sandbox.sent_texts)
    await wait_for(lambda: _all_done(service))
    await asyncio.sleep(0.3)
    sent = sandbox.sent_texts()
    assert len(sent) == 1
    assert sent[0]["phone"] == "5511987654321"
    assert "Seleto" in sent[0]["message"]
    read = [s for s in sandbox.state()["zapi"]["sent"] if s["endpoint"] == "read-message"]
    assert len(read) == 1


async def _all_done(service: Service) -> bool:
    statuses = await event_statuses(service)
    return bool(statuses) and all(s == "done" for s in statuses)


async def test_duplicate_delivery_x10_concurrently_gets_one_reply(
    service: Service, sandbox: Sandbox
) -> None:
    body = received_text(message_id="SAME-ID")
    await asyncio.gather(*(service.post_zapi(body) for _ in range(10)))
    await wait_for(lambda: _all_done(service))
    await asyncio.sleep(0.3)
    assert len(sandbox.sent_texts()) == 1
    assert len(sandbox.state()["model"]["requests"]) == 1


async def test_burst_of_three_messages_is_one_turn_that_sees_all_three(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service: Service = await service_factory(debounce_seconds=0.5, debounce_max_seconds=3)
    for text in ("oi", "sou da Casa de Carnes Silva", "queria saber da FB300"):
        await service.post_zapi(received_text(text=text))
        await asyncio.sleep(0.05)
    await wait_for(lambda: _all_done(service))
    requests = sandbox.state()["model"]["requests"]
    assert len(requests) == 1
    assert (
        user_messages(requests[0])[-1] == "oi\nsou da Casa de Carnes Silva\nqueria saber da FB300"
    )
    assert len(sandbox.sent_texts()) == 1


async def test_history_is_carried_between_turns(service: Service, sandbox: Sandbox) -> None:
    await service.post_zapi(received_text(text="primeira"))
    await wait_for(lambda: len(sandbox.sent_texts()) == 1)
    await wait_for(lambda: _all_done(service))
    await service.post_zapi(received_text(text="segunda"))
    await wait_for(lambda: len(sandbox.sent_texts()) == 2)
    second_request = sandbox.state()["model"]["requests"][1]
    assert user_messages(second_request) == ["primeira", "segunda"]


async def test_a_request_the_model_refuses_ends_dead_then_replay_gives_one_reply(
    service: Service, sandbox: Sandbox
) -> None:
    # A 400 fails the same way every time (an outage, 429/5xx, is waited out instead:
    # tests/pipeline/test_model_outage.py).
    sandbox.model_faults(fail_always=True, status=400)
    await service.post_zapi(received_text(text="tem formadora?"))
    await wait_for(lambda: _statuses_are(service, ["dead"]))
    event = (await service.client.get("/admin/events", headers=service.admin_headers())).json()
    item = event["items"][0]
    assert item["status"] == "dead"
    assert item["attempts"] == 3
    assert "AgentRunFailed" in item["last_error"]
    assert sandbox.sent_texts() == []

    sandbox.model_faults(fail_always=False)
    replay = await service.client.post(
        "/admin/events/replay", json={"status": "dead"}, headers=service.admin_headers()
    )
    assert replay.status_code == 202
    assert replay.json()["queued"] == [item["id"]]
    await wait_for(lambda: _statuses_are(service, ["done"]))
    assert len(sandbox.sent_texts()) == 1

    again = await service.client.post(
        f"/admin/events/{item['id']}/replay", headers=service.admin_headers()
    )
    assert again.json()["skipped"] == [{"id": item["id"], "reason": "already_done"}]
    await asyncio.sleep(0.3)
    assert len(sandbox.sent_texts()) == 1


async def _statuses_are(service: Service, expected: list[str]) -> bool:
    return await event_statuses(service) == expected


async def test_zapi_5xx_waits_the_grace_then_sends_once(
    service_factory: Any, sandbox: Sandbox
) -> None:
    # A 5xx may come after Z-API took the message: no in-call retry, one resend after the grace.
    service: Service = await service_factory(outbound_unknown_grace_seconds=0.5)
    sandbox.zapi_faults(send_text=[{"status": 500}])
    await service.post_zapi(received_text(text="oi"))
    await wait_for(lambda: _all_done(service))
    assert len(sandbox.sent_texts()) == 1
    attempts = [s for s in sandbox.state()["zapi"]["sent"] if s["endpoint"] == "send-text"]
    assert [a["status_code"] for a in attempts] == [500, 200]
    async with service.runtime.engine.connect() as conn:
        row = (await conn.execute(select(outbound_messages))).one()
        event = (await conn.execute(select(inbound_events))).one()
    assert (row.status, row.attempts, row.ambiguous_sends) == ("sent", 2, 1)
    # Waiting for the grace used no attempt of the event's own.
    assert event.attempts == 1


async def test_send_failure_retries_the_stored_reply_without_rerunning_the_agent(
    service: Service, sandbox: Sandbox
) -> None:
    # Three 429s exhaust the client's in-call retries; the worker retries the turn later.
    sandbox.zapi_faults(send_text=[{"status": 429}] * 3)
    await service.post_zapi(received_text(text="oi"))
    await wait_for(lambda: _all_done(service))
    assert len(sandbox.sent_texts()) == 1
    assert len(sandbox.state()["model"]["requests"]) == 1
    async with service.runtime.engine.connect() as conn:
        row = (await conn.execute(select(outbound_messages))).one()
    assert row.status == "sent"
    assert row.attempts == 2


async def test_paused_conversation_gets_no_reply(service: Service, sandbox: Sandbox) -> None:
    await service.post_zapi(received_text(phone="5511987654321", text="oi"))
    await wait_for(lambda: _all_done(service))
    pause = await service.client.post(
        "/admin/conversations/5511987654321/pause", headers=service.admin_headers()
    )
    assert pause.json()["owner"] == "human"
    await service.post_zapi(received_text(phone="5511987654321", text="ainda aí?"))
    await wait_for(lambda: _all_done(service))
    assert len(sandbox.sent_texts()) == 1
    state = await service.client.get(
        "/admin/conversations/+5511987654321", headers=service.admin_headers()
    )
    assert state.json()["owner"] == "human"
