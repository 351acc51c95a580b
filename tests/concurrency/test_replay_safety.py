"""Replaying done jobs never re-applies an ownership change or side effect that later state
superseded (audit A2, redteam L4): each replay decides as of when its event happened, and a
person's later decision wins."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from seleto_agent.db.tables import audit_log
from tests.conftest import Sandbox, Service, wait_for
from tests.factories import received_text
from tests.pipeline.test_chatwoot_mirror import (
    PHONE,
    conversation_id,
    jobs_settled,
    our_notes,
    owner,
    start,
    texts,
    turn,
    wired,
)


async def replay_done_jobs(service: Service) -> dict[str, Any]:
    response = await service.client.post(
        "/admin/jobs/replay", json={"status": "done"}, headers=service.admin_headers()
    )
    assert response.status_code == 202
    body: dict[str, Any] = response.json()
    assert body["queued"]
    await wait_for(lambda: jobs_settled(service))
    return body


async def resume(service: Service) -> None:
    response = await service.client.post(
        f"/admin/conversations/{PHONE}/resume", headers=service.admin_headers()
    )
    assert response.status_code == 200


async def stale_audits(service: Service) -> int:
    async with service.runtime.engine.connect() as conn:
        rows = await conn.execute(
            select(audit_log.c.id).where(audit_log.c.action == "ownership.stale_event_ignored")
        )
        return len(rows.all())


async def test_replaying_an_old_phone_takeover_does_not_silence_the_bot_again(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service: Service = await service_factory(phone_echo_grace_seconds=0.1)
    sandbox.script({"content": "Olá! Sou o assistente virtual da Seleto Industrial."})
    await service.post_zapi(received_text(phone=PHONE, text="oi"))
    await wait_for(lambda: len(sandbox.sent_texts()) == 1)
    typed = received_text(phone=PHONE, text="Aqui é o Pedro, pelo celular.", fromMe=True)
    await service.post_zapi(typed)
    await wait_for(lambda: _owner_is(service, "human"))
    await wait_for(lambda: jobs_settled(service))
    await resume(service)
    await replay_done_jobs(service)
    state = await owner(service)
    assert (state["owner"], state["owner_reason"]) == ("bot", None)
    assert await stale_audits(service) == 1


async def test_replaying_done_chatwoot_jobs_changes_nothing_a_person_decided_since(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await start(service_factory, sandbox, chatwoot_handoff_assignee_id=1)
    async with wired(service, sandbox):
        await turn(service, sandbox, "oi", "Olá! Posso ajudar.")
        cid = await conversation_id(sandbox)
        # An SDR answers (takeover), pauses with a command, gives it back, answers again;
        # then an operator gives the conversation to the bot.
        await asyncio.to_thread(sandbox.chatwoot_agent_reply, cid, "Oi, aqui é a Ana.")
        await wait_for(lambda: "Oi, aqui é a Ana." in texts(sandbox))
        for note in ("/bot off", "/retomar"):
            before = len(our_notes(sandbox, cid))
            await asyncio.to_thread(sandbox.chatwoot_private_note, cid, note)
            await wait_for(lambda n=before: len(our_notes(sandbox, cid)) == n + 1)
        await wait_for(lambda: _owner_is(service, "bot"))
        await asyncio.to_thread(sandbox.chatwoot_agent_reply, cid, "Mais uma coisa: bom dia!")
        await wait_for(lambda: _owner_is(service, "human"))
        await asyncio.to_thread(sandbox.chatwoot_flush)
        await wait_for(lambda: jobs_settled(service))
        await resume(service)
        before_state = await owner(service)
        sent_before = texts(sandbox)
        messages_before = sandbox.chatwoot_messages(cid)

        await replay_done_jobs(service)
        await asyncio.to_thread(sandbox.chatwoot_flush)
        await wait_for(lambda: jobs_settled(service))

        after = await owner(service)
        assert (after["owner"], after["owner_reason"]) == (
            before_state["owner"],
            before_state["owner_reason"],
        )
        assert after["owner"] == "bot"
        assert texts(sandbox) == sent_before
        assert sandbox.chatwoot_messages(cid) == messages_before
        # Both takeovers, the pause and the resume were replayed and recognised as superseded.
        assert await stale_audits(service) == 4
        await turn(service, sandbox, "voltei", "Que bom! Em que posso ajudar?")


async def test_replaying_a_closed_handoff_does_not_reopen_or_reassign(
    service_factory: Any, sandbox: Sandbox
) -> None:
    from tests.pipeline.test_crm_sync import QUALIFYING_CALLS

    service = await start(service_factory, sandbox, chatwoot_handoff_assignee_id=1)
    async with wired(service, sandbox):
        sandbox.script(QUALIFYING_CALLS, {"content": "Obrigado! Um especialista continua daqui."})
        await service.post_zapi(
            received_text(phone=PHONE, text="Quero orçamento da FB300, 2000 por dia, este mês")
        )
        await wait_for(lambda: len(sandbox.sent_texts()) == 1)
        cid = await conversation_id(sandbox)
        await wait_for(lambda: jobs_settled(service, "chatwoot.mirror"))
        assert (await owner(service))["owner"] == "human"
        before = len(our_notes(sandbox, cid))
        await asyncio.to_thread(sandbox.chatwoot_private_note, cid, "/retomar")
        await wait_for(lambda: len(our_notes(sandbox, cid)) == before + 1)
        await asyncio.to_thread(sandbox.chatwoot_resolve, cid)
        await asyncio.to_thread(sandbox.chatwoot_flush)
        await wait_for(lambda: jobs_settled(service))
        writes_before = _conversation_writes(sandbox)

        await replay_done_jobs(service)
        await asyncio.to_thread(sandbox.chatwoot_flush)
        await wait_for(lambda: jobs_settled(service))

        assert _conversation_writes(sandbox) == writes_before
        conversation = sandbox.chatwoot_state()["conversations"][0]
        assert conversation["status"] == "resolved"
        assert (await owner(service))["owner"] == "bot"


def _conversation_writes(sandbox: Sandbox) -> list[str]:
    """Assignment, label and status calls the service made on Chatwoot conversations."""
    return [
        f"{r['method']} {r['path']}"
        for r in sandbox.chatwoot_state()["requests"]
        if r["method"] == "POST"
        and any(part in r["path"] for part in ("/assignments", "/labels", "/toggle_status"))
    ]


async def _owner_is(service: Service, expected: str) -> bool:
    return (await owner(service))["owner"] == expected
