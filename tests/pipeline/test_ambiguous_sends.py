"""A send whose outcome is unknown (Z-API may have the message) is never repeated blindly:
it is settled by Z-API's own callbacks, or sent once more after the grace, and a second
ambiguous outcome is left to ops."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from seleto_agent.db.engine import create_engine
from seleto_agent.db.repositories.outbound import OutboundRecord, OutboundRepository
from seleto_agent.db.tables import inbound_events, outbound_messages, outbox_jobs, send_proofs
from seleto_agent.domain.send_proofs import body_digest
from seleto_agent.integrations.zapi.client import ZApiClient
from seleto_agent.services.outbound import OutboundService, SendAbandoned, SendUnsettled
from tests.conftest import WEBHOOK_TOKEN, Sandbox, Service, listening, wait_for
from tests.factories import INSTANCE_ID, received_text
from tests.pipeline import test_chatwoot_mirror as cw

PHONE = "5511987654321"
ZAPI_ROOT = "/instances/SANDBOX-INSTANCE/token/sandbox-instance-token"


def wire_webhooks(sandbox: Sandbox, base: str, endpoint: str = "update-every-webhooks") -> None:
    """Point the simulator's Z-API webhooks (all, or one kind) at the service."""
    sandbox.client.put(
        f"{ZAPI_ROOT}/{endpoint}",
        json={"value": f"{base}/webhooks/zapi/{WEBHOOK_TOKEN}"},
        headers={"Client-Token": "sandbox-client-token"},
    ).raise_for_status()


async def start(service_factory: Any, grace: float = 2.0, **overrides: Any) -> Service:
    service: Service = await service_factory(
        zapi_timeout_seconds=0.5, outbound_unknown_grace_seconds=grace, **overrides
    )
    return service


async def outbound_rows(service: Service) -> list[Any]:
    async with service.runtime.engine.connect() as conn:
        return list((await conn.execute(select(outbound_messages))).all())


async def lead_events(service: Service) -> list[Any]:
    """The lead's messages (not the callbacks, which are stored `ignored`)."""
    async with service.runtime.engine.connect() as conn:
        rows = await conn.execute(
            select(inbound_events)
            .where(inbound_events.c.status != "ignored")
            .order_by(inbound_events.c.id)
        )
        return list(rows.all())


async def turn_settled(service: Service, status: str = "done") -> bool:
    return [e.status for e in await lead_events(service)] == [status]


def ambiguous_count(outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "seleto_outbound_ambiguous_total", {"provider": "zapi", "outcome": outcome}
    )
    return value or 0.0


async def reply_once(service: Service, sandbox: Sandbox, *, settle: float = 1.0) -> None:
    await service.post_zapi(received_text(phone=PHONE, text="oi"))
    await wait_for(lambda: turn_settled(service), timeout=20)
    await asyncio.sleep(settle)  # anything still to come (a resend, late callbacks) comes now


async def assert_sent_once_and_confirmed(service: Service, sandbox: Sandbox) -> None:
    [copy] = sandbox.sent_texts()
    [row] = await outbound_rows(service)
    assert row.status == "sent"
    assert row.provider_message_id == copy["messageId"]
    assert row.attempts == 1
    # Receipts that came before the id was known are applied with it.
    await wait_for(lambda: _delivery_status(service, "READ"))


async def _delivery_status(service: Service, expected: str) -> bool:
    [row] = await outbound_rows(service)
    return bool(row.delivery_status == expected)


async def test_accepted_but_answered_after_the_timeout_is_sent_once_and_confirmed(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await start(service_factory)
    before = ambiguous_count("confirmed_by_callback")
    async with listening(service) as base:
        wire_webhooks(sandbox, base)
        sandbox.zapi_faults(send_text=[{"respond_after": 1.0}] * 5)
        await reply_once(service, sandbox)
        await assert_sent_once_and_confirmed(service, sandbox)
    assert ambiguous_count("confirmed_by_callback") == before + 1
    [event] = await lead_events(service)
    assert event.attempts == 1


async def test_5xx_after_the_message_was_accepted_is_sent_once(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await start(service_factory)
    async with listening(service) as base:
        wire_webhooks(sandbox, base)
        sandbox.zapi_faults(send_text=[{"respond_status": 500}] * 3)
        await reply_once(service, sandbox)
        await assert_sent_once_and_confirmed(service, sandbox)


async def test_success_without_a_message_id_is_not_sent_until_a_callback_says_so(
    service_factory: Any, sandbox: Sandbox
) -> None:
    # The callbacks come after the answer, so the row is `unknown` when they arrive.
    service = await start(service_factory, grace=5.0)
    async with listening(service) as base:
        wire_webhooks(sandbox, base)
        sandbox.zapi_faults(send_text=[{"respond_status": 200, "callbacks_after": 1.0}])
        await service.post_zapi(received_text(phone=PHONE, text="oi"))
        await wait_for(lambda: _row_status(service, "unknown"))
        [copy] = sandbox.sent_texts()
        await wait_for(lambda: _row_status(service, "sent"))
        await wait_for(lambda: turn_settled(service), timeout=10)
        await assert_sent_once_and_confirmed(service, sandbox)
        assert copy["messageId"] == (await outbound_rows(service))[0].provider_message_id


async def _row_status(service: Service, expected: str) -> bool:
    rows = await outbound_rows(service)
    return len(rows) == 1 and rows[0].status == expected


async def test_the_echo_of_our_send_settles_it_by_its_text(
    service_factory: Any, sandbox: Sandbox
) -> None:
    """No delivery webhook registered: the fromMe/fromApi echo alone proves the send."""
    service = await start(service_factory)
    async with listening(service) as base:
        wire_webhooks(sandbox, base, "update-webhook-received")
        sandbox.zapi_faults(echo_from_me=True, send_text=[{"respond_after": 1.0}])
        await reply_once(service, sandbox)
    [copy] = sandbox.sent_texts()
    [row] = await outbound_rows(service)
    assert (row.status, row.provider_message_id) == ("sent", copy["messageId"])


async def test_no_callback_at_all_means_exactly_one_resend_after_the_grace(
    service_factory: Any, sandbox: Sandbox
) -> None:
    grace = 1.5
    service = await start(service_factory, grace=grace)
    async with listening(service) as base:
        wire_webhooks(sandbox, base)
        sandbox.zapi_faults(send_text=[{"respond_after": 1.0, "drop_callbacks": True}])
        await reply_once(service, sandbox, settle=grace + 0.5)
    # The documented window: accepted, answer lost, no callback within the grace.
    first, second = sandbox.sent_texts()
    gap = datetime.fromisoformat(second["at"]) - datetime.fromisoformat(first["at"])
    assert gap >= timedelta(seconds=grace)
    [row] = await outbound_rows(service)
    assert (row.status, row.provider_message_id) == ("sent", second["messageId"])
    assert (row.attempts, row.ambiguous_sends) == (2, 1)
    # The wait for the grace used none of INBOUND_MAX_ATTEMPTS.
    [event] = await lead_events(service)
    assert event.attempts == 1


async def test_a_callback_later_than_the_timeout_but_within_the_grace_settles_the_send(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await start(service_factory, grace=4.0)
    async with listening(service) as base:
        wire_webhooks(sandbox, base)
        sandbox.zapi_faults(send_text=[{"respond_after": 1.0, "callbacks_after": 2.0}])
        await reply_once(service, sandbox, settle=0.5)
        await assert_sent_once_and_confirmed(service, sandbox)


async def test_ambiguous_twice_is_dead_with_a_reason_and_replay_sends_it_once_more(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await start(service_factory, grace=0.5)
    abandoned = ambiguous_count("abandoned")
    lost = {"respond_after": 1.0, "drop_callbacks": True}
    async with listening(service) as base:
        wire_webhooks(sandbox, base)
        sandbox.zapi_faults(send_text=[lost, lost])
        await service.post_zapi(received_text(phone=PHONE, text="oi"))
        await wait_for(lambda: turn_settled(service, "dead"), timeout=15)
        await asyncio.sleep(1.5)  # no third copy comes
        assert len(sandbox.sent_texts()) == 2
        [event] = await lead_events(service)
        shown = await service.client.get(
            f"/admin/events/{event.id}", headers=service.admin_headers()
        )
        assert shown.json()["status"] == "dead"
        assert "outbound_ambiguous" in shown.json()["last_error"]
        assert "replay" in shown.json()["last_error"]
        [row] = await outbound_rows(service)
        assert (row.status, row.ambiguous_sends) == ("unknown", 2)
        assert ambiguous_count("abandoned") == abandoned + 1

        # Ops checked the chat and replay: that is the decision to send it once more.
        replay = await service.client.post(
            f"/admin/events/{event.id}/replay", headers=service.admin_headers()
        )
        assert replay.json()["queued"] == [event.id]
        await wait_for(lambda: turn_settled(service), timeout=10)
    assert len(sandbox.sent_texts()) == 3
    assert (await outbound_rows(service))[0].status == "sent"
    assert len(sandbox.model_requests()) == 1


async def test_human_reply_with_an_unknown_outcome_waits_without_using_attempts(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await cw.start(
        service_factory, sandbox, zapi_timeout_seconds=0.5, outbound_unknown_grace_seconds=3.0
    )
    reply = "Oi, aqui é a Ana, do comercial."
    async with cw.wired(service, sandbox) as base:
        await cw.turn(service, sandbox, "oi", "Olá! Posso ajudar.")
        cid = await cw.conversation_id(sandbox)
        wire_webhooks(sandbox, base)
        # Answer lost; the delivery callback comes after the send was marked unknown.
        sandbox.zapi_faults(send_text=[{"respond_after": 1.0, "callbacks_after": 1.5}])
        await asyncio.to_thread(sandbox.chatwoot_agent_reply, cid, reply)
        await wait_for(lambda: _job_note(service, "not_ready"), timeout=10)
        await wait_for(lambda: cw.jobs_settled(service, "chatwoot.event"), timeout=15)
        async with service.runtime.engine.connect() as conn:
            [job] = (
                await conn.execute(
                    select(outbox_jobs).where(outbox_jobs.c.last_error == "human_reply_delivered")
                )
            ).all()
            row = (
                await conn.execute(
                    select(outbound_messages).where(outbound_messages.c.body == reply)
                )
            ).one()
    assert cw.texts(sandbox).count(reply) == 1
    assert (row.status, row.attempts) == ("sent", 1)
    assert (job.status, job.attempts) == ("done", 1)


async def _job_note(service: Service, prefix: str) -> bool:
    async with service.runtime.engine.connect() as conn:
        errors = (
            await conn.execute(
                select(outbox_jobs.c.last_error).where(outbox_jobs.c.kind == "chatwoot.event")
            )
        ).scalars()
        return any((e or "").startswith(prefix) for e in errors)


async def test_only_callbacks_for_ids_we_do_not_hold_are_kept_as_proofs_without_text(
    service: Service, sandbox: Sandbox
) -> None:
    await reply_once(service, sandbox, settle=0.2)
    [row] = await outbound_rows(service)
    ours = {"type": "DeliveryCallback", "phone": PHONE, "messageId": row.provider_message_id}
    stranger = {"type": "DeliveryCallback", "phone": PHONE, "messageId": "NOT-OURS"}
    echo = received_text(
        phone=PHONE, text="texto de outro sistema", message_id="ECHO-1", fromMe=True, fromApi=True
    )
    for body in (ours, stranger, echo):
        assert (await service.post_zapi(body | {"instanceId": INSTANCE_ID})).status_code == 200
    async with service.runtime.engine.connect() as conn:
        proofs = (await conn.execute(select(send_proofs).order_by(send_proofs.c.id))).all()
    assert [(p.provider_message_id, p.kind) for p in proofs] == [
        ("NOT-OURS", "delivery"),
        ("ECHO-1", "echo"),
    ]
    assert proofs[0].body_digest is None
    assert proofs[1].body_digest == body_digest("texto de outro sistema")
    # Nothing settled a send that was not in doubt.
    assert (await outbound_rows(service))[0].provider_message_id == row.provider_message_id


# --- OutboundService on its own, against the simulator -----------------------------------


@asynccontextmanager
async def outbound_service(
    database_url: str, sandbox: Sandbox, *, timeout: float = 5.0, grace: float = 60.0
) -> AsyncIterator[tuple[OutboundService, AsyncEngine]]:
    engine = create_engine(database_url)
    async with httpx.AsyncClient(timeout=timeout) as http:
        sender = ZApiClient(
            http=http,
            base_url=sandbox.url,
            instance_id="SANDBOX-INSTANCE",
            instance_token="sandbox-instance-token",
            client_token="sandbox-client-token",
            retry_wait_max_seconds=0.05,
        )
        try:
            yield OutboundService(engine, sender, unknown_grace=timedelta(seconds=grace)), engine
        finally:
            await engine.dispose()


async def new_row(engine: AsyncEngine, key: str = "reply:t1") -> OutboundRecord:
    async with engine.begin() as conn:
        return await OutboundRepository(conn).create_if_absent(
            key=key,
            provider="zapi",
            conversation_key=f"wa:+{PHONE}",
            recipient=PHONE,
            body="Olá! Posso ajudar.",
            turn_id=key.removeprefix("reply:"),
            now=datetime.now(UTC),
        )


async def stored(engine: AsyncEngine, outbound_id: int) -> OutboundRecord:
    async with engine.connect() as conn:
        record, _now = await OutboundRepository(conn).current(outbound_id)
        return record


async def test_two_concurrent_deliveries_of_one_row_make_one_provider_call(
    database_url: str, sandbox: Sandbox
) -> None:
    sandbox.zapi_faults(send_text=[{"respond_after": 0.5}])
    async with outbound_service(database_url, sandbox) as (outbound, engine):
        record = await new_row(engine)
        results = await asyncio.gather(
            outbound.deliver(record), outbound.deliver(record), return_exceptions=True
        )
        assert sorted(type(r).__name__ for r in results) == ["NoneType", "SendUnsettled"]
        assert len(sandbox.sent_texts()) == 1
        assert (await stored(engine, record.id)).status == "sent"


async def test_cancelled_during_the_send_still_records_it_and_never_resends(
    database_url: str, sandbox: Sandbox
) -> None:
    sandbox.zapi_faults(send_text=[{"respond_after": 1.0}])
    async with outbound_service(database_url, sandbox) as (outbound, engine):
        record = await new_row(engine)
        task = asyncio.create_task(outbound.deliver(record))
        await wait_for(sandbox.sent_texts)
        task.cancel()  # a shutdown while Z-API is still answering
        started = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The cancellation waited for the answer and its write.
        assert time.monotonic() - started >= 0.5
        after = await stored(engine, record.id)
        assert after.status == "sent"
        await outbound.deliver(after)
        await outbound.deliver(record)  # a stale copy of the row changes nothing either
    assert len(sandbox.sent_texts()) == 1


async def test_a_sending_row_whose_sender_died_is_treated_as_unknown(
    database_url: str, sandbox: Sandbox
) -> None:
    async with outbound_service(database_url, sandbox, grace=1.0) as (outbound, engine):
        record = await new_row(engine)
        started = datetime.now(UTC) - timedelta(seconds=0.5)
        async with engine.begin() as conn:
            await conn.execute(
                update(outbound_messages)
                .where(outbound_messages.c.id == record.id)
                .values(status="sending", attempts=1, send_started_at=started)
            )
        # Within the grace its sender may still be calling: nothing is sent.
        with pytest.raises(SendUnsettled, match="in_flight"):
            await outbound.deliver(record)
        assert sandbox.sent_texts() == []
        await asyncio.sleep(0.6)
        await outbound.deliver(record)
        assert len(sandbox.sent_texts()) == 1
        after = await stored(engine, record.id)
        assert (after.status, after.attempts, after.ambiguous_sends) == ("sent", 2, 1)


async def test_a_dead_sender_after_a_resend_is_not_sent_a_third_time(
    database_url: str, sandbox: Sandbox
) -> None:
    async with outbound_service(database_url, sandbox, grace=0.2) as (outbound, engine):
        record = await new_row(engine)
        async with engine.begin() as conn:
            await conn.execute(
                update(outbound_messages)
                .where(outbound_messages.c.id == record.id)
                .values(
                    status="sending",
                    attempts=2,
                    ambiguous_sends=1,
                    send_started_at=datetime.now(UTC) - timedelta(seconds=1),
                )
            )
        with pytest.raises(SendAbandoned):
            await outbound.deliver(record)
        after = await stored(engine, record.id)
        assert (after.status, after.ambiguous_sends) == ("unknown", 2)
    assert sandbox.sent_texts() == []
