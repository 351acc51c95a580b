"""The Cloud API's rules as the outbound service applies them at send time, against the Cloud
API simulator (which enforces the same rules, so a breach shows as Meta's own error): the 24 h
window, a template in place of an SDR's refused text, and pacing per lead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from seleto_agent.db.repositories.conversations import ConversationRepository
from seleto_agent.db.repositories.outbound import OutboundRecord, OutboundRepository
from seleto_agent.db.tables import outbound_messages, outbox_jobs
from seleto_agent.integrations.whatsapp import WhatsAppOutsideWindow
from seleto_agent.services.chatwoot_events import HUMAN_REPLY_KIND
from seleto_agent.services.outbound import TEMPLATE_KIND_PREFIX
from seleto_agent.services.send_rules import OutsideServiceWindow
from tests.conftest import Sandbox, Service

LEAD = "5544999887766"
KEY = "wa:+5544999887766"


def meta_settings(sandbox: Sandbox, **overrides: Any) -> dict[str, Any]:
    return {
        "whatsapp_provider": "meta",
        "meta_graph_base_url": sandbox.url,
        "meta_access_token": "sandbox-meta-access-token",
        "meta_phone_number_id": "106540352242922",
        "meta_app_secret": "5a4d0b0f6e1c4a7e9b3d2c1f0e9d8c7b",
        "meta_verify_token": "sandbox-meta-verify-token",
        **overrides,
    }


def meta_calls(sandbox: Sandbox) -> list[dict[str, Any]]:
    """Accepted sends."""
    calls: list[dict[str, Any]] = sandbox.state()["meta"]["calls"]
    return [c for c in calls if c.get("kind") not in (None, "read")]


def meta_calls_all(sandbox: Sandbox) -> list[dict[str, Any]]:
    """Every call to /messages, refused ones included."""
    calls: list[dict[str, Any]] = sandbox.state()["meta"]["calls"]
    return [c for c in calls if c.get("endpoint") == "messages"]


async def lead_wrote(service: Service, sandbox: Sandbox, hours_ago: float) -> None:
    """The lead's last message, as our database and the simulated Meta both saw it."""
    at = datetime.now(UTC) - timedelta(hours=hours_ago)
    async with service.runtime.engine.begin() as conn:
        await ConversationRepository(conn).create(
            key=KEY, phone_e164="+5544999887766", reply_to=LEAD, session_id="s1", now=at
        )
    sandbox.client.post(
        "/_sandbox/meta/window", json={"user": LEAD, "hours_ago": hours_ago}
    ).raise_for_status()


async def row(service: Service, key: str, body: str, kind: str = "agent") -> OutboundRecord:
    async with service.runtime.engine.begin() as conn:
        return await OutboundRepository(conn).create_if_absent(
            key=key,
            provider="meta",
            conversation_key=KEY,
            recipient=LEAD,
            body=body,
            turn_id=None,
            now=datetime.now(UTC),
            reply_kind=kind,
        )


async def status_of(service: Service, record: OutboundRecord) -> tuple[str, str | None]:
    async with service.runtime.engine.begin() as conn:
        current, _now = await OutboundRepository(conn).current(record.id)
        error = await conn.scalar(
            select(outbound_messages.c.last_error).where(outbound_messages.c.id == record.id)
        )
    return current.status.value, error


async def test_inside_the_window_the_text_goes_out_with_our_key_as_reference(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await service_factory(**meta_settings(sandbox))
    await lead_wrote(service, sandbox, hours_ago=23)
    record = await row(service, "reply:t1", "Olá! Como posso ajudar?")
    await service.runtime.outbound.deliver(record)

    [call] = meta_calls(sandbox)
    assert call["status_code"] == 200
    assert call["body"]["text"]["body"] == "Olá! Como posso ajudar?"
    assert call["body"]["biz_opaque_callback_data"] == "reply:t1"
    assert (await status_of(service, record))[0] == "sent"


async def test_outside_the_window_the_bot_sends_nothing_and_the_row_says_why(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await service_factory(**meta_settings(sandbox))
    await lead_wrote(service, sandbox, hours_ago=25)
    record = await row(service, "reply:t2", "Resposta atrasada")
    with pytest.raises(OutsideServiceWindow):
        await service.runtime.outbound.deliver(record)

    # Decided by us before calling Meta: no 131047 round trip, nothing sent.
    assert meta_calls(sandbox) == []
    assert await status_of(service, record) == ("failed", "outside_window")


async def test_the_safety_margin_refuses_a_window_about_to_close(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await service_factory(**meta_settings(sandbox, meta_window_safety_seconds=120))
    # One minute left: free text could arrive after the window closed.
    await lead_wrote(service, sandbox, hours_ago=24 - 1 / 60)
    record = await row(service, "reply:t3", "Quase fora")
    with pytest.raises(OutsideServiceWindow):
        await service.runtime.outbound.deliver(record)
    assert meta_calls(sandbox) == []


async def test_an_sdr_reply_outside_the_window_becomes_the_reengage_template(
    service_factory: Any, sandbox: Sandbox
) -> None:
    # Approved with one variable, {{1}}: the lead's first name.
    name = "retomada_conversa"
    service = await service_factory(**meta_settings(sandbox, meta_reengage_template=name))
    await lead_wrote(service, sandbox, hours_ago=30)
    human = await row(service, "human:chatwoot:77", "Oi, sou a Ana da Seleto", HUMAN_REPLY_KIND)
    with pytest.raises(OutsideServiceWindow):
        await service.runtime.outbound.deliver(human)
    assert service.runtime.outbound.reengage_template(human) == name

    # The template is a send of its own (its own key): a retry never sends it twice.
    replacement = await row(service, "human:chatwoot:77:reengage", name, f"{TEMPLATE_KIND_PREFIX}x")
    await service.runtime.outbound.deliver(replacement)
    await service.runtime.outbound.deliver(replacement)

    [call] = meta_calls(sandbox)
    assert call["status_code"] == 200
    assert call["body"]["type"] == "template"
    assert call["body"]["template"]["name"] == name
    assert call["body"]["template"]["language"]["code"] == "pt_BR"
    [body] = call["body"]["template"]["components"]
    assert body["parameters"] == [{"type": "text", "text": "cliente"}]
    assert await status_of(service, human) == ("failed", "outside_window")


async def test_a_bot_reply_refused_outside_the_window_leaves_a_note_for_the_sdrs(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await service_factory(
        **meta_settings(sandbox),
        chatwoot_base_url=sandbox.url,
        chatwoot_account_id=1,
        chatwoot_inbox_id=1,
        chatwoot_api_token="sandbox-chatwoot-user-token",
    )
    await lead_wrote(service, sandbox, hours_ago=48)
    record = await row(service, "reply:t5", "Resposta atrasada")
    with pytest.raises(OutsideServiceWindow):
        await service.runtime.outbound.deliver(record)
    async with service.runtime.engine.begin() as conn:
        payloads = (
            (
                await conn.execute(
                    select(outbox_jobs.c.payload).where(outbox_jobs.c.dedupe_key.like("cw:note:%"))
                )
            )
            .scalars()
            .all()
        )
    [payload] = payloads
    assert "janela de 24 h" in payload["text"]


async def test_two_messages_to_one_lead_are_paced_and_meta_never_answers_131056(
    service_factory: Any, sandbox: Sandbox
) -> None:
    # Meta's gap, and ours with the margin for the trip to Meta (6 s and 6.5 s in production).
    gap = 1.0
    sandbox.client.post("/_sandbox/meta/faults", json={"pair_gap_seconds": gap}).raise_for_status()
    service = await service_factory(**meta_settings(sandbox, meta_pair_gap_seconds=gap + 0.25))
    await lead_wrote(service, sandbox, hours_ago=1)
    first = await row(service, "reply:p1", "Primeira parte")
    second = await row(service, "reply:p2", "Segunda parte")
    await service.runtime.outbound.deliver(first)
    await service.runtime.outbound.deliver(second)

    calls = meta_calls(sandbox)
    assert [c["status_code"] for c in calls] == [200, 200]
    assert calls[1]["at"] - calls[0]["at"] >= gap - 0.05


async def test_metas_own_131047_inside_the_window_is_final_and_never_resent_as_text(
    service_factory: Any, sandbox: Sandbox
) -> None:
    # Meta's "known issue": a lead who just wrote, and still 131047.
    sandbox.client.post(
        "/_sandbox/meta/faults", json={"window_known_issue_probability": 1.0}
    ).raise_for_status()
    service = await service_factory(**meta_settings(sandbox))
    await lead_wrote(service, sandbox, hours_ago=1)
    record = await row(service, "reply:k1", "Olá!")
    with pytest.raises(WhatsAppOutsideWindow):
        await service.runtime.outbound.deliver(record)
    sandbox.client.post(
        "/_sandbox/meta/faults", json={"window_known_issue_probability": 0.0}
    ).raise_for_status()
    with pytest.raises(WhatsAppOutsideWindow):
        await service.runtime.outbound.deliver(record)

    assert [c.get("error_code") for c in meta_calls_all(sandbox)] == [131047]
    assert await status_of(service, record) == ("failed", "outside_window")


async def test_readyz_names_the_provider_and_the_pinned_graph_version(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await service_factory(**meta_settings(sandbox))
    ready = (await service.client.get("/readyz")).json()
    assert ready == {
        "status": "ready",
        "details": {"whatsapp_provider": "meta", "meta_graph_version": "v25.0"},
    }
