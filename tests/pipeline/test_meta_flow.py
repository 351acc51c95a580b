"""The Z-API bars, again with WHATSAPP_PROVIDER=meta: the Cloud API simulator posts signed
webhooks to the service on a real port (batched, repeated, late), the service answers through
the real Graph client, and the simulator's statuses come back the same way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import select

from seleto_agent.db.tables import conversations, inbound_events, outbound_messages
from tests.conftest import Sandbox, Service, listening, wait_for
from tests.pipeline.test_crm_sync import crm_settings, crm_settled, summary_notes
from tests.pipeline.test_meta_send_rules import meta_calls, meta_settings

VERIFY = "sandbox-meta-verify-token"
LEAD = "5544999887766"


@asynccontextmanager
async def meta_service(
    service_factory: Any, sandbox: Sandbox, **overrides: Any
) -> AsyncIterator[Service]:
    service: Service = await service_factory(
        **meta_settings(sandbox, meta_pair_gap_seconds=0.2, **overrides)
    )
    sandbox.client.post("/_sandbox/meta/faults", json={"pair_gap_seconds": 0}).raise_for_status()
    async with listening(service) as url:
        sandbox.client.post(
            "/_sandbox/meta/webhook", json={"url": f"{url}/webhooks/meta", "verify_token": VERIFY}
        ).raise_for_status()
        if overrides.get("chatwoot_webhook_token"):
            sandbox.chatwoot_set_inbox_webhook(
                f"{url}/webhooks/chatwoot/{overrides['chatwoot_webhook_token']}"
            )
        try:
            yield service
        finally:
            sandbox.chatwoot_set_inbox_webhook(None)


async def control(sandbox: Sandbox, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """A call to the simulator that makes it post to the service, which answers from this
    test's event loop: the blocking client runs in a thread so the loop stays free."""
    response = await asyncio.to_thread(sandbox.client.post, f"/_sandbox/meta/{path}", json=body)
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


async def inbound(sandbox: Sandbox, **request: Any) -> dict[str, Any]:
    return await control(sandbox, "inbound", {"wa_id": LEAD, **request})


def texts_sent(sandbox: Sandbox) -> list[str]:
    return [str(c["body"]["text"]["body"]) for c in meta_calls(sandbox) if c["kind"] == "text"]


async def lead_events(service: Service) -> list[Any]:
    async with service.runtime.engine.connect() as conn:
        rows = await conn.execute(
            select(inbound_events)
            .where(inbound_events.c.conversation_key.is_not(None))
            .order_by(inbound_events.c.id)
        )
        return [r for r in rows if r.status != "ignored"]


async def settled(service: Service, count: int) -> bool:
    rows = await lead_events(service)
    return len(rows) == count and all(r.status == "done" for r in rows)


async def test_the_verification_handshake_echoes_the_challenge(
    service_factory: Any, sandbox: Sandbox
) -> None:
    async with meta_service(service_factory, sandbox):
        verified = await control(sandbox, "verify", {})
        refused = await control(sandbox, "verify", {"verify_token": "x"})
    assert verified["status_code"] == 200
    assert verified["body"] == "1158201444"
    assert refused["status_code"] == 403


async def test_a_message_delivered_five_times_gets_one_reply_to_its_wa_id(
    service_factory: Any, sandbox: Sandbox
) -> None:
    sandbox.script({"content": "Olá! Sou o assistente da Seleto. Com quem eu falo?"})
    async with meta_service(service_factory, sandbox) as service:
        await inbound(sandbox, text="oi, quero uma formadora", copies=5)
        await wait_for(lambda: settled(service, 1))
        await wait_for(lambda: len(texts_sent(sandbox)) == 1)
        [call] = meta_calls(sandbox)
    assert call["body"]["to"] == LEAD
    assert call["body"]["biz_opaque_callback_data"].startswith("reply:")
    assert texts_sent(sandbox) == ["Olá! Sou o assistente da Seleto. Com quem eu falo?"]


async def test_a_burst_is_answered_once_and_statuses_reach_the_reply_row(
    service_factory: Any, sandbox: Sandbox
) -> None:
    sandbox.script({"content": "Entendi tudo, obrigado!"})
    async with meta_service(service_factory, sandbox, debounce_seconds=0.5) as service:
        for text in ("oi", "sou da Casa de Carnes Silva", "queremos uma FB300"):
            await inbound(sandbox, text=text)
        await wait_for(lambda: settled(service, 3))
        await wait_for(lambda: len(texts_sent(sandbox)) == 1)

        async def read() -> bool:
            async with service.runtime.engine.connect() as conn:
                status = await conn.scalar(select(outbound_messages.c.delivery_status))
            return status is not None and status.lower() == "read"

        await wait_for(read)
    prompt = sandbox.state()["model"]["requests"][-1]["messages"][-1]["content"]
    assert "Casa de Carnes Silva" in prompt
    assert "FB300" in prompt


async def test_a_reply_typed_in_the_business_app_silences_the_bot(
    service_factory: Any, sandbox: Sandbox
) -> None:
    sandbox.script({"content": "Olá!"}, {"content": "Olá de novo!"})
    async with meta_service(service_factory, sandbox, phone_echo_grace_seconds=0.2) as service:
        await inbound(sandbox, text="oi")
        await wait_for(lambda: len(texts_sent(sandbox)) == 1)
        await inbound(sandbox, kind="echo", text="Oi, aqui é a Ana, do comercial")

        async def human_owns() -> bool:
            async with service.runtime.engine.connect() as conn:
                owner = await conn.scalar(select(conversations.c.owner))
            return owner == "human"

        await wait_for(human_owns)
        await inbound(sandbox, text="oi Ana, tudo bem?")
        await wait_for(lambda: settled(service, 2))
    assert len(texts_sent(sandbox)) == 1


async def test_a_voice_note_is_fetched_in_two_steps_transcribed_and_answered(
    service_factory: Any, sandbox: Sandbox
) -> None:
    sandbox.script_transcripts("quero orçamento de uma formadora FB300")
    sandbox.script({"content": "Anotado: FB300."})
    async with meta_service(service_factory, sandbox, media_allowed_hosts="127.0.0.1") as service:
        await inbound(sandbox, kind="voice")
        await wait_for(lambda: settled(service, 1))
        await wait_for(lambda: len(texts_sent(sandbox)) == 1)
        [event] = await lead_events(service)
    assert event.body_is_transcript
    assert "FB300" in event.body_text
    requests = sandbox.state()["meta"]["media_requests"]
    # The media id first (Bearer), then the 5-minute URL, with the same Bearer.
    assert [(r["endpoint"], r["status_code"]) for r in requests] == [
        ("media", 200),
        ("media_download", 200),
    ]
    assert requests[1]["bearer"] is True


async def test_a_message_delivered_a_day_late_gets_no_free_text(
    service_factory: Any, sandbox: Sandbox
) -> None:
    sandbox.script({"content": "Resposta que não pode sair"})
    async with meta_service(service_factory, sandbox) as service:
        await inbound(sandbox, text="oi", age_seconds=25 * 3600)
        await wait_for(lambda: settled(service, 1))
        [event] = await lead_events(service)
    assert texts_sent(sandbox) == []
    assert event.last_error == "outside_window"
    # Decided before the model ran: nobody could have read its answer.
    assert sandbox.state()["model"]["requests"] == []


async def test_a_lead_known_only_by_bsuid_is_answered_through_recipient(
    service_factory: Any, sandbox: Sandbox
) -> None:
    sandbox.script({"content": "Olá! Pode me passar seu telefone?"})
    async with meta_service(service_factory, sandbox) as service:
        await inbound(
            sandbox, wa_id=None, user_id="BR.1502576394655843", username="julia", text="oi"
        )
        await wait_for(lambda: settled(service, 1))
        await wait_for(lambda: len(texts_sent(sandbox)) == 1)
        [call] = meta_calls(sandbox)
    assert call["body"]["recipient"] == "BR.1502576394655843"
    assert "to" not in call["body"]


async def reply_row(service: Service) -> Any:
    async with service.runtime.engine.connect() as conn:
        return (await conn.execute(select(outbound_messages))).one()


async def test_a_send_whose_answer_was_lost_is_confirmed_by_the_key_in_its_statuses(
    service_factory: Any, sandbox: Sandbox
) -> None:
    sandbox.script({"content": "Olá! Com quem eu falo?"})
    # Meta accepts the message, then the answer is a 500: the send may or may not be out.
    await control(sandbox, "faults", {"messages": [{"respond_status": 500}]})
    async with meta_service(service_factory, sandbox, outbound_unknown_grace_seconds=30) as service:
        await inbound(sandbox, text="oi")

        async def sent() -> bool:
            async with service.runtime.engine.connect() as conn:
                status = await conn.scalar(select(outbound_messages.c.status))
            return status == "sent"

        await wait_for(sent)
        row = await reply_row(service)
        await wait_for(lambda: settled(service, 1))
    [call] = meta_calls(sandbox)
    # Settled by the `sent` status carrying our key, well before the 30 s grace: no resend.
    assert row.provider_message_id == call["wamid"]
    assert len(texts_sent(sandbox)) == 1


async def test_an_undeliverable_send_hands_the_lead_over_and_is_never_resent(
    service_factory: Any, sandbox: Sandbox
) -> None:
    sandbox.script({"content": "Olá!"})
    async with meta_service(service_factory, sandbox, **chatwoot(sandbox)) as service:
        await inbound(sandbox, text="oi")
        await wait_for(lambda: settled(service, 1))
        await wait_for(lambda: len(texts_sent(sandbox)) == 1)
        await control(sandbox, "statuses", {"statuses": ["failed"], "error_code": 131026})

        async def handed_off() -> bool:
            async with service.runtime.engine.connect() as conn:
                owner = await conn.scalar(select(conversations.c.owner))
            return owner == "human"

        await wait_for(handed_off)
        cid = await chatwoot_conversation(sandbox)

        def failure_notes() -> list[str]:
            return [
                str(m["content"])
                for m in sandbox.chatwoot_messages(cid)
                if m["private"] and "código 131026" in str(m["content"])
            ]

        await wait_for(failure_notes)
        row = await reply_row(service)
    assert (row.status, row.last_error) == ("failed", "final:131026")
    assert len(texts_sent(sandbox)) == 1
    [note] = failure_notes()
    assert "tente contato por telefone ou e-mail" in note


async def test_a_transient_failure_reported_later_sends_the_reply_once_more(
    service_factory: Any, sandbox: Sandbox
) -> None:
    sandbox.script({"content": "Olá!"})
    async with meta_service(service_factory, sandbox) as service:
        await inbound(sandbox, text="oi")
        await wait_for(lambda: len(texts_sent(sandbox)) == 1)
        # Delivered twice by Meta (a duplicate storm): handled once.
        for _copy in range(2):
            await control(sandbox, "statuses", {"statuses": ["failed"], "error_code": 131000})
        await wait_for(lambda: len(texts_sent(sandbox)) == 2)

        async def resent() -> bool:
            return bool((await reply_row(service)).status == "sent")

        await wait_for(resent)
    first, second = meta_calls(sandbox)
    assert first["wamid"] != second["wamid"]
    assert (await reply_row(service)).provider_message_id == second["wamid"]


async def test_the_ad_a_lead_came_from_is_in_the_piperun_deal_note(
    service_factory: Any, sandbox: Sandbox
) -> None:
    sandbox.script(
        {"tool_calls": [{"name": "create_quote_request", "arguments": {"product": "FB300"}}]},
        {"content": "Registrei o seu pedido de orçamento da FB300."},
    )
    async with meta_service(service_factory, sandbox, **crm_settings(sandbox)) as service:
        await inbound(sandbox, kind="referral", text="vi o anúncio, quero orçamento da FB300")
        await wait_for(lambda: len(texts_sent(sandbox)) == 1)
        await wait_for(lambda: crm_settled(service), timeout=15)
    [note] = summary_notes(sandbox)
    assert "Chegou por um anúncio de Clique para o WhatsApp “Seladoras Seleto”" in note["text"]
    assert "id 120200000000000001" in note["text"]


CHATWOOT_TOKEN = "test-chatwoot-token"


def chatwoot(sandbox: Sandbox) -> dict[str, Any]:
    return {**sandbox.chatwoot_settings(), "chatwoot_webhook_token": CHATWOOT_TOKEN}


async def chatwoot_conversation(sandbox: Sandbox) -> int:
    await wait_for(lambda: sandbox.chatwoot_state()["conversations"])
    [conversation] = sandbox.chatwoot_state()["conversations"]
    return int(conversation["display_id"])


async def test_an_sdr_reply_in_chatwoot_goes_out_through_the_cloud_api(
    service_factory: Any, sandbox: Sandbox
) -> None:
    sandbox.script({"content": "Olá! Com quem eu falo?"})
    async with meta_service(service_factory, sandbox, **chatwoot(sandbox)) as service:
        await inbound(sandbox, text="oi")
        await wait_for(lambda: len(texts_sent(sandbox)) == 1)
        cid = await chatwoot_conversation(sandbox)
        await asyncio.to_thread(
            sandbox.chatwoot_agent_reply, cid, "Oi, aqui é a Ana, do comercial."
        )
        await wait_for(lambda: len(texts_sent(sandbox)) == 2)
        await wait_for(lambda: settled(service, 1))
    assert texts_sent(sandbox)[1] == "Oi, aqui é a Ana, do comercial."


async def test_an_sdr_reply_after_the_window_closed_sends_the_template_and_says_so(
    service_factory: Any, sandbox: Sandbox
) -> None:
    settings = {**chatwoot(sandbox), "meta_reengage_template": "retomada_conversa"}
    async with meta_service(service_factory, sandbox, **settings) as service:
        # The lead wrote 30 h ago (delivered only now): the bot stays quiet, the SDR answers.
        await inbound(sandbox, text="oi, ainda tem a FB300?", age_seconds=30 * 3600)
        await wait_for(lambda: settled(service, 1))
        cid = await chatwoot_conversation(sandbox)
        await asyncio.to_thread(sandbox.chatwoot_agent_reply, cid, "Temos sim! Posso ligar?")

        def templates() -> list[dict[str, Any]]:
            return [c for c in meta_calls(sandbox) if c["kind"] == "template"]

        await wait_for(templates)

        def window_notes() -> list[str]:
            return [
                str(m["content"])
                for m in sandbox.chatwoot_messages(cid)
                if m["private"] and "janela de 24 h" in str(m["content"])
            ]

        await wait_for(lambda: len(window_notes()) == 2)
    [template] = templates()
    assert template["body"]["template"]["name"] == "retomada_conversa"
    assert texts_sent(sandbox) == []
    bot_note, sdr_note = window_notes()
    assert bot_note.startswith("⚠️ O bot não respondeu")
    assert "retomada_conversa" in sdr_note
