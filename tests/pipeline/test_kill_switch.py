"""The kill switch and the per-channel flags: set at runtime through the admin API, shared by every
process through the database, and stopping bot replies only (ingestion, the Chatwoot mirror and
SDR replies go on)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import select

from seleto_agent.db.tables import audit_log, inbound_events
from tests.conftest import Sandbox, Service, wait_for
from tests.factories import received_text
from tests.pipeline.test_chatwoot_mirror import (
    conversation_id,
    jobs_settled,
    owner,
    start,
    texts,
    turn,
    visible,
    wired,
)
from tests.pipeline.test_meta_flow import inbound, meta_service, texts_sent
from tests.pipeline.test_phone_takeover import phone_jobs_done

PHONE = "5548999112233"


async def put_flag(service: Service, name: str, body: Any) -> Any:
    return await service.client.put(
        f"/admin/flags/{name}", json=body, headers=service.admin_headers()
    )


async def notes_of_events(service: Service) -> list[tuple[str, str | None]]:
    async with service.runtime.engine.connect() as conn:
        rows = await conn.execute(
            select(inbound_events.c.status, inbound_events.c.last_error)
            .where(inbound_events.c.conversation_key.is_not(None))
            .order_by(inbound_events.c.id)
        )
        return [(status, note) for status, note in rows]


async def test_bot_off_stops_replies_while_mirror_and_sdr_replies_go_on(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await start(service_factory, sandbox)
    async with wired(service, sandbox):
        await turn(service, sandbox, "oi", "Olá! Posso ajudar.")
        cid = await conversation_id(sandbox)
        models_before = len(sandbox.model_requests())

        response = await put_flag(service, "bot_enabled", {"enabled": False})
        assert response.status_code == 200, response.text
        assert response.json()["enabled"] is False

        sandbox.script({"content": "O BOT NÃO DEVIA RESPONDER"})
        await service.post_zapi(received_text(phone=PHONE, text="qual o preço da FB300?"))
        # Ingested and mirrored to Chatwoot as usual...
        await wait_for(lambda: ("incoming", "qual o preço da FB300?") in visible(sandbox, cid))
        await wait_for(lambda: _last_note_is(service, "bot_disabled"))
        await asyncio.sleep(0.5)
        # ... but no model run and no bot send.
        assert len(sandbox.model_requests()) == models_before
        assert texts(sandbox) == ["Olá! Posso ajudar."]
        # The conversation is not handed off by the switch: it stays the bot's for later.
        assert (await owner(service))["owner"] == "bot"

        # An SDR answers from Chatwoot: delivered to WhatsApp as always.
        await asyncio.to_thread(sandbox.chatwoot_agent_reply, cid, "Oi, aqui é a Ana.")
        await wait_for(lambda: "Oi, aqui é a Ana." in texts(sandbox))
        await wait_for(lambda: jobs_settled(service, "chatwoot.event"))
        assert texts(sandbox) == ["Olá! Posso ajudar.", "Oi, aqui é a Ana."]

    async with service.runtime.engine.connect() as conn:
        audits = (
            await conn.execute(
                select(audit_log.c.actor, audit_log.c.action, audit_log.c.details).where(
                    audit_log.c.subject_type == "flag", audit_log.c.subject_id == "bot_enabled"
                )
            )
        ).all()
    assert [(a.actor, a.action, a.details) for a in audits] == [
        ("admin_api", "flag.changed", {"from": True, "to": False})
    ]


async def _last_note_is(service: Service, note: str) -> bool:
    rows = await notes_of_events(service)
    return bool(rows) and rows[-1] == ("done", note)


async def test_bot_back_on_answers_the_next_message(service: Service, sandbox: Sandbox) -> None:
    await put_flag(service, "BOT_ENABLED", {"enabled": False})
    await service.post_zapi(received_text(phone=PHONE, text="oi"))
    await wait_for(lambda: _last_note_is(service, "bot_disabled"))
    assert sandbox.model_requests() == []

    await put_flag(service, "bot_enabled", {"enabled": True})
    sandbox.script({"content": "Olá! Voltei."})
    await service.post_zapi(received_text(phone=PHONE, text="tem alguém aí?"))
    await wait_for(lambda: [s["message"] for s in sandbox.sent_texts()] == ["Olá! Voltei."])
    # One model run, for the message written after the switch came back on.
    [request] = sandbox.model_requests()
    assert [m["content"] for m in request["messages"] if m["role"] == "user"][-1] == (
        "tem alguém aí?"
    )


async def test_a_change_reaches_a_second_process_within_the_cache_time(
    service_factory: Any, sandbox: Sandbox
) -> None:
    ttl = 0.8
    admin: Service = await service_factory(worker_embedded=False, flags_cache_seconds=ttl)
    worker: Service = await service_factory(flags_cache_seconds=ttl)
    assert (await worker.runtime.flags.current()).enabled("bot_enabled") is True

    changed_at = time.monotonic()
    response = await put_flag(admin, "bot_enabled", {"enabled": False})
    assert response.status_code == 200
    # Within its cache time the other process still reads its cached value...
    assert (await worker.runtime.flags.current()).enabled("bot_enabled") is True
    # ... and the new one as soon as that time is over.
    await wait_for(lambda: _flag_off(worker), timeout=ttl + 0.5, interval=0.02)
    assert time.monotonic() - changed_at <= ttl + 0.5

    await worker.post_zapi(received_text(phone=PHONE, text="oi"))
    await wait_for(lambda: _last_note_is(worker, "bot_disabled"))
    assert sandbox.sent_texts() == []
    assert sandbox.model_requests() == []


async def _flag_off(service: Service) -> bool:
    return not (await service.runtime.flags.current()).enabled("bot_enabled")


async def test_a_provider_flag_stops_only_its_channel(service: Service, sandbox: Sandbox) -> None:
    await put_flag(service, "bot_enabled_meta", {"enabled": False})
    await service.post_zapi(received_text(phone=PHONE, text="oi"))
    await wait_for(lambda: len(sandbox.sent_texts()) == 1)

    await put_flag(service, "bot_enabled_zapi", {"enabled": False})
    await service.post_zapi(received_text(phone="5548999000111", text="oi"))
    await wait_for(lambda: _last_note_is(service, "bot_disabled"))
    assert len(sandbox.sent_texts()) == 1


async def test_the_ads_flag_stops_replies_to_leads_from_an_ad_only(
    service_factory: Any, sandbox: Sandbox
) -> None:
    async with meta_service(service_factory, sandbox, bot_enabled_ads=False) as service:
        await inbound(sandbox, kind="referral", text="vi o anúncio, quero a FB300")
        await wait_for(lambda: _last_note_is(service, "bot_disabled"))
        assert texts_sent(sandbox) == []
        assert sandbox.model_requests() == []

        sandbox.script({"content": "Olá! Sou o assistente da Seleto."})
        await inbound(sandbox, wa_id="5544999001122", text="oi, quero uma seladora")
        await wait_for(lambda: texts_sent(sandbox) == ["Olá! Sou o assistente da Seleto."])


async def test_flags_api_lists_sets_and_refuses(service_factory: Any) -> None:
    service: Service = await service_factory(bot_enabled_zapi=False, worker_embedded=False)
    unauthenticated = await service.client.get("/admin/flags")
    assert unauthenticated.status_code == 401

    listed = await service.client.get("/admin/flags", headers=service.admin_headers())
    assert listed.status_code == 200
    items = {i["name"]: i for i in listed.json()["items"]}
    assert set(items) == {"bot_enabled", "bot_enabled_zapi", "bot_enabled_meta", "bot_enabled_ads"}
    assert items["bot_enabled_zapi"]["enabled"] is False
    assert items["bot_enabled_zapi"]["source"] == "environment"
    assert items["bot_enabled"]["enabled"] is True

    # The database's value wins over the environment's once set.
    response = await put_flag(service, "bot_enabled_zapi", {"enabled": True})
    assert response.status_code == 200
    body = response.json()
    assert (body["enabled"], body["source"], body["default"], body["updated_by"]) == (
        True,
        "database",
        False,
        "admin_api",
    )
    listed = await service.client.get("/admin/flags", headers=service.admin_headers())
    items = {i["name"]: i for i in listed.json()["items"]}
    assert (items["bot_enabled_zapi"]["enabled"], items["bot_enabled_zapi"]["source"]) == (
        True,
        "database",
    )

    unknown = await put_flag(service, "bot_enabled_telegram", {"enabled": False})
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "NotFound"
    for bad in ({}, {"enabled": "false"}, {"enabled": 0}, {"enabled": True, "extra": 1}):
        refused = await put_flag(service, "bot_enabled", bad)
        assert refused.status_code == 422, bad
        assert refused.json()["error"] == "ValidationError"
    no_token = await service.client.put("/admin/flags/bot_enabled", json={"enabled": False})
    assert no_token.status_code == 401
    # Nothing refused changed anything.
    assert (await service.runtime.flags.current()).enabled("bot_enabled") is True


async def test_a_takeover_on_the_company_phone_still_works_with_the_bot_off(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service: Service = await service_factory(phone_echo_grace_seconds=0.2)
    await put_flag(service, "bot_enabled", {"enabled": False})
    await service.post_zapi(received_text(phone=PHONE, text="oi"))
    await wait_for(lambda: _last_note_is(service, "bot_disabled"))
    typed = received_text(phone=PHONE, text="Oi, aqui é o Pedro da Seleto.", fromMe=True)
    assert (await service.post_zapi(typed)).json() == {"status": "ignored"}
    await wait_for(lambda: phone_jobs_done(service, 1))
    state = await service.client.get(
        f"/admin/conversations/{PHONE}", headers=service.admin_headers()
    )
    assert (state.json()["owner"], state.json()["owner_reason"]) == ("human", "phone_reply")
    assert sandbox.sent_texts() == []


async def test_a_draft_written_while_the_switch_went_off_is_dropped(
    service: Service, sandbox: Sandbox
) -> None:
    sandbox.model_faults(delay_seconds=1.5, delay_next=1)
    sandbox.script({"content": "RASCUNHO DO BOT"})
    await service.post_zapi(received_text(phone=PHONE, text="oi, preciso de ajuda"))
    await wait_for(lambda: sandbox.model_requests())
    await put_flag(service, "bot_enabled", {"enabled": False})
    await wait_for(lambda: _last_note_is(service, "bot_disabled"), timeout=10)
    await asyncio.sleep(0.3)
    assert sandbox.sent_texts() == []
