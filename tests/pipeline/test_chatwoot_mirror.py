"""Chatwoot mirror and SDR takeover end to end, against the Chatwoot simulator: every message
mirrored once and in order, our echoes ignored, a human reply delivered once and the bot quiet,
private-note commands, signed webhooks, outages caught up, and the hot-lead handoff brief."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from seleto_agent.db.tables import audit_log, inbound_events, outbox_jobs
from seleto_agent.integrations.chatwoot.signature import sign
from tests.conftest import (
    CHATWOOT_ACCOUNT_ID,
    CHATWOOT_BOT_TOKEN,
    CHATWOOT_INBOX_ID,
    CHATWOOT_OTHER_INBOX_ID,
    CHATWOOT_USER_TOKEN,
    CHATWOOT_WEBHOOK_SECRET,
    Sandbox,
    Service,
    listening,
    wait_for,
)
from tests.factories import received_text
from tests.pipeline.test_crm_sync import QUALIFYING_CALLS

PHONE = "5548999112233"
CW_TOKEN = "test-chatwoot-token"


async def start(service_factory: Any, sandbox: Sandbox, **overrides: Any) -> Service:
    service: Service = await service_factory(
        **sandbox.chatwoot_settings(), chatwoot_webhook_token=CW_TOKEN, **overrides
    )
    return service


@asynccontextmanager
async def wired(service: Service, sandbox: Sandbox) -> AsyncIterator[str]:
    """The service on a real port, set as the Chatwoot inbox's (signed) webhook."""
    async with listening(service) as base:
        sandbox.chatwoot_set_inbox_webhook(f"{base}/webhooks/chatwoot/{CW_TOKEN}")
        try:
            yield base
        finally:
            sandbox.chatwoot_set_inbox_webhook(None)


def visible(sandbox: Sandbox, conversation_id: int) -> list[tuple[str, str]]:
    """(message_type, content) of the public messages, oldest first."""
    return [
        (m["message_type"], m["content"])
        for m in sandbox.chatwoot_messages(conversation_id)
        if m["message_type"] in ("incoming", "outgoing") and not m["private"]
    ]


def notes(sandbox: Sandbox, conversation_id: int) -> list[dict[str, Any]]:
    return [m for m in sandbox.chatwoot_messages(conversation_id) if m["private"]]


def our_notes(sandbox: Sandbox, conversation_id: int) -> list[str]:
    return [
        m["content"]
        for m in notes(sandbox, conversation_id)
        if "seleto_mirror_key" in m["content_attributes"]
    ]


async def conversation_id(sandbox: Sandbox) -> int:
    await wait_for(lambda: sandbox.chatwoot_state()["conversations"])
    conversations = sandbox.chatwoot_state()["conversations"]
    assert len(conversations) == 1
    return int(conversations[0]["display_id"])


async def jobs_settled(service: Service, kind: str | None = None) -> bool:
    query = select(outbox_jobs.c.status)
    if kind:
        query = query.where(outbox_jobs.c.kind == kind)
    async with service.runtime.engine.connect() as conn:
        statuses = list((await conn.execute(query)).scalars())
    return bool(statuses) and all(s in ("done", "dead") for s in statuses)


async def owner(service: Service) -> dict[str, Any]:
    response = await service.client.get(
        f"/admin/conversations/{PHONE}", headers=service.admin_headers()
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def texts(sandbox: Sandbox) -> list[str]:
    return [str(s["message"]) for s in sandbox.sent_texts()]


async def lead_says(service: Service, text: str) -> None:
    response = await service.post_zapi(received_text(phone=PHONE, text=text))
    assert response.status_code == 200


async def turn(service: Service, sandbox: Sandbox, text: str, reply: str) -> None:
    """One lead message answered by the bot."""
    before = len(sandbox.sent_texts())
    sandbox.script({"content": reply})
    await lead_says(service, text)
    await wait_for(lambda: len(sandbox.sent_texts()) == before + 1)


async def no_reply_to(service: Service, sandbox: Sandbox, text: str) -> None:
    """A lead message is mirrored but not answered."""
    before = len(sandbox.sent_texts())
    await lead_says(service, text)
    cid = await conversation_id(sandbox)
    await wait_for(lambda: ("incoming", text) in visible(sandbox, cid))
    await asyncio.sleep(0.8)  # debounce + a turn, had there been one
    assert len(sandbox.sent_texts()) == before


EXPECTED = [
    ("incoming", "oi, quero saber da formadora"),
    ("outgoing", "Olá! Posso ajudar."),
    ("incoming", "produzo 2000 por dia"),
    ("outgoing", "Ótimo, anotado."),
]


async def two_turns(service: Service, sandbox: Sandbox) -> None:
    await turn(service, sandbox, EXPECTED[0][1], EXPECTED[1][1])
    await turn(service, sandbox, EXPECTED[2][1], EXPECTED[3][1])


async def test_mirror_is_ordered_and_exactly_once_even_after_replay(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await start(service_factory, sandbox)
    await two_turns(service, sandbox)
    cid = await conversation_id(sandbox)
    await wait_for(lambda: len(visible(sandbox, cid)) == 4)
    assert visible(sandbox, cid) == EXPECTED
    assert len(sandbox.chatwoot_state()["contacts"]) == 1
    await wait_for(lambda: jobs_settled(service, "chatwoot.mirror"))

    response = await service.client.post(
        "/admin/jobs/replay",
        json={"status": "done", "kind": "chatwoot.mirror"},
        headers=service.admin_headers(),
    )
    assert response.status_code == 202, response.text
    await asyncio.sleep(0.3)
    await wait_for(lambda: jobs_settled(service, "chatwoot.mirror"))
    state = sandbox.chatwoot_state()
    assert len(state["contacts"]) == 1
    assert len(state["conversations"]) == 1
    assert visible(sandbox, cid) == EXPECTED
    assert len(sandbox.sent_texts()) == 2


async def test_echo_of_our_message_does_not_pause_the_bot(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await start(service_factory, sandbox)
    async with wired(service, sandbox):
        await turn(service, sandbox, "oi", "Olá! Posso ajudar.")
        cid = await conversation_id(sandbox)
        await wait_for(lambda: len(visible(sandbox, cid)) == 2)
        bot_message = [
            m for m in sandbox.chatwoot_messages(cid) if m["content"] == "Olá! Posso ajudar."
        ]
        assert bot_message[0]["sender_type"] == "user"  # posted with the user token
        await asyncio.to_thread(sandbox.chatwoot_flush)
        await wait_for(lambda: jobs_settled(service, "chatwoot.event"))
        assert (await owner(service))["owner"] == "bot"
        assert texts(sandbox) == ["Olá! Posso ajudar."]
        await turn(service, sandbox, "e o preço?", "Depende do modelo.")


async def test_human_reply_is_delivered_once_and_silences_the_bot(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await start(service_factory, sandbox)
    async with wired(service, sandbox):
        await turn(service, sandbox, "oi", "Olá! Posso ajudar.")
        cid = await conversation_id(sandbox)
        sandbox.chatwoot_faults(duplicate_delivery=True)
        await asyncio.to_thread(
            sandbox.chatwoot_agent_reply, cid, "Oi, aqui é a Ana, do comercial."
        )
        await wait_for(lambda: "Oi, aqui é a Ana, do comercial." in texts(sandbox))
        await asyncio.to_thread(sandbox.chatwoot_flush)
        await wait_for(lambda: jobs_settled(service, "chatwoot.event"))
        await wait_for(lambda: jobs_settled(service, "chatwoot.mirror"))
        assert texts(sandbox).count("Oi, aqui é a Ana, do comercial.") == 1
        assert (await owner(service))["owner"] == "human"
        # The SDR's reply is not mirrored back a second time.
        assert [c for t, c in visible(sandbox, cid) if "Ana" in c] == [
            "Oi, aqui é a Ana, do comercial."
        ]
        await no_reply_to(service, sandbox, "ok, obrigado")


async def test_human_reply_while_the_model_thinks_drops_the_draft(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await start(service_factory, sandbox)
    async with wired(service, sandbox):
        sandbox.model_faults(delay_seconds=2.0, delay_next=1)
        sandbox.script({"content": "RASCUNHO DO BOT"})
        await lead_says(service, "oi, preciso de ajuda")
        cid = await conversation_id(sandbox)
        await wait_for(lambda: sandbox.model_requests())
        await asyncio.to_thread(sandbox.chatwoot_agent_reply, cid, "Oi! Sou a Ana, já te ajudo.")
        await wait_for(lambda: "Oi! Sou a Ana, já te ajudo." in texts(sandbox))
        await asyncio.sleep(2.5)  # the model answers; its draft must be dropped
        assert texts(sandbox) == ["Oi! Sou a Ana, já te ajudo."]
        assert (await owner(service))["owner"] == "human"


async def test_private_note_commands(service_factory: Any, sandbox: Sandbox) -> None:
    service = await start(service_factory, sandbox)
    async with wired(service, sandbox):
        await turn(service, sandbox, "oi", "Olá! Posso ajudar.")
        cid = await conversation_id(sandbox)
        commands = 0

        async def command(text: str) -> dict[str, Any]:
            nonlocal commands
            commands += 1
            await asyncio.to_thread(sandbox.chatwoot_private_note, cid, text)
            await wait_for(lambda: len(our_notes(sandbox, cid)) == commands)
            return await owner(service)

        answered = 1
        for resume in ("/retomar", "/continuar", "/bot on"):
            assert (await command("/bot off"))["owner"] == "human"
            await no_reply_to(service, sandbox, f"alguém aí? {resume}")
            assert (await command(resume))["owner"] == "bot"
            answered += 1
            await turn(service, sandbox, f"voltei {resume}", f"Resposta {answered}")

        state = await command("/bot off 2h")
        assert state["paused_until"] is not None
        until = datetime.fromisoformat(state["paused_until"])
        expected = datetime.now(UTC) + timedelta(hours=2)
        assert abs((until - expected).total_seconds()) < 60
        await command("/bot status")
        assert our_notes(sandbox, cid)[-1].startswith("Status")
        assert all(
            m["private"] for m in sandbox.chatwoot_messages(cid) if m["content"] == "/bot status"
        )
        # Commands and their confirmations never reach the lead.
        assert not [t for t in texts(sandbox) if t.startswith("/") or "Bot " in t]
        assert len(texts(sandbox)) == answered
        # Every command is audited, the status query included.
        async with service.runtime.engine.connect() as conn:
            actions = (
                (
                    await conn.execute(
                        select(audit_log.c.action).where(audit_log.c.action.like("sdr.command.%"))
                    )
                )
                .scalars()
                .all()
            )
        assert sorted(actions) == sorted(
            ["sdr.command.pause"] * 3
            + ["sdr.command.resume"] * 3
            + ["sdr.command.pause_for", "sdr.command.status"]
        )


async def test_bad_signature_is_rejected_and_nothing_stored(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await start(service_factory, sandbox)
    body = json.dumps(
        {
            "event": "message_created",
            "id": 99,
            "content": "/retomar",
            "message_type": "outgoing",
            "private": True,
            "conversation": {"id": 1},
            "account": {"id": 1},
        }
    ).encode()
    stamp = str(int(time.time()))
    for signature in (sign(b"wrong-secret", stamp, body), None):
        headers = {"content-type": "application/json", "x-chatwoot-timestamp": stamp}
        if signature:
            headers["x-chatwoot-signature"] = signature
        response = await service.client.post(
            f"/webhooks/chatwoot/{CW_TOKEN}", content=body, headers=headers
        )
        assert response.status_code == 401
    good = {
        "content-type": "application/json",
        "x-chatwoot-timestamp": stamp,
        "x-chatwoot-signature": sign(CHATWOOT_WEBHOOK_SECRET.encode(), stamp, body),
    }
    response = await service.client.post(
        f"/webhooks/chatwoot/{CW_TOKEN}x", content=body, headers=good
    )
    assert response.status_code == 401
    async with service.runtime.engine.connect() as conn:
        events = (await conn.execute(select(func.count()).select_from(inbound_events))).scalar()
        jobs = (await conn.execute(select(func.count()).select_from(outbox_jobs))).scalar()
    assert (events, jobs) == (0, 0)


async def test_chatwoot_down_delays_only_the_mirror(service_factory: Any, sandbox: Sandbox) -> None:
    service = await start(service_factory, sandbox)
    sandbox.chatwoot_down(True)
    started = time.monotonic()
    await two_turns(service, sandbox)
    assert time.monotonic() - started < 5
    assert texts(sandbox) == [EXPECTED[1][1], EXPECTED[3][1]]
    assert not sandbox.chatwoot_state()["conversations"]
    sandbox.chatwoot_down(False)
    cid = await conversation_id(sandbox)
    await wait_for(lambda: len(visible(sandbox, cid)) == 4)
    assert visible(sandbox, cid) == EXPECTED


# The SDR the handoff is for: not the integration user behind CHATWOOT_API_TOKEN.
SDR_ID = 7
SDR_TEAM_ID = 4


async def hot_lead(service: Service, sandbox: Sandbox) -> int:
    """A lead turn that qualifies the lead; waits for the handoff's mirror jobs."""
    before = len(sandbox.sent_texts())
    sandbox.script(QUALIFYING_CALLS, {"content": "Obrigado, Marcos! Vou registrar seu pedido."})
    await lead_says(service, "Quero orçamento da FB300, 2000 por dia, para este mês")
    await wait_for(lambda: len(sandbox.sent_texts()) == before + 1)
    cid = await conversation_id(sandbox)
    await wait_for(
        lambda: any(
            n.startswith("Novo Lead Quente — via WhatsApp") for n in our_notes(sandbox, cid)
        )
    )
    await wait_for(lambda: jobs_settled(service, "chatwoot.mirror"))
    return cid


async def test_hot_lead_handoff_brief_labels_and_assignee(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await start(service_factory, sandbox, chatwoot_handoff_assignee_id=SDR_ID)
    cid = await hot_lead(service, sandbox)
    conversation = sandbox.chatwoot_state()["conversations"][0]
    assert conversation["labels"] == ["lead-quente", "atendimento-humano"]
    assert conversation["assignee_id"] == SDR_ID
    assert conversation["status"] == "open"
    briefs = [n for n in our_notes(sandbox, cid) if n.startswith("Novo Lead Quente")]
    assert len(briefs) == 1
    assert (await owner(service))["owner"] == "human"


def toggle_with_bot_token(sandbox: Sandbox, cid: int, status: str) -> None:
    """A status change by an agent bot (what a bot does to keep a conversation pending)."""
    sandbox.client.post(
        f"/api/v1/accounts/{CHATWOOT_ACCOUNT_ID}/conversations/{cid}/toggle_status",
        json={"status": status},
        headers={"api-access-token": CHATWOOT_BOT_TOKEN},
    ).raise_for_status()


async def test_handoff_of_a_pending_conversation_ends_with_the_sdr(
    service_factory: Any, sandbox: Sandbox
) -> None:
    """Chatwoot gives a conversation an agent-role token opens to that token's user (PR 3925):
    the handoff opens first and assigns after, so the SDR is who it ends with."""
    service = await start(service_factory, sandbox, chatwoot_handoff_assignee_id=SDR_ID)
    await turn(service, sandbox, "oi", "Olá! Posso ajudar.")
    cid = await conversation_id(sandbox)
    await wait_for(lambda: jobs_settled(service, "chatwoot.mirror"))
    toggle_with_bot_token(sandbox, cid, "pending")
    await hot_lead(service, sandbox)
    [conversation] = sandbox.chatwoot_state()["conversations"]
    assert (conversation["status"], conversation["assignee_id"]) == ("open", SDR_ID)
    assert conversation["labels"] == ["lead-quente", "atendimento-humano"]


async def test_team_handoff_does_not_leave_the_integration_user_assigned(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await start(service_factory, sandbox, chatwoot_handoff_team_id=SDR_TEAM_ID)
    await turn(service, sandbox, "oi", "Olá! Posso ajudar.")
    cid = await conversation_id(sandbox)
    await wait_for(lambda: jobs_settled(service, "chatwoot.mirror"))
    toggle_with_bot_token(sandbox, cid, "pending")
    await hot_lead(service, sandbox)
    [conversation] = sandbox.chatwoot_state()["conversations"]
    assert (conversation["status"], conversation["team_id"]) == ("open", SDR_TEAM_ID)
    assert conversation["assignee_id"] is None


async def test_existing_contact_outside_the_inbox_is_linked_and_mirrored(
    service_factory: Any, sandbox: Sandbox
) -> None:
    """A customer already in Chatwoot from another inbox: linked to the API inbox, not a dead
    job (vendors review #4)."""
    sandbox.client.post(
        f"/api/v1/accounts/{CHATWOOT_ACCOUNT_ID}/contacts",
        json={
            "inbox_id": CHATWOOT_OTHER_INBOX_ID,
            "name": "Marcos (site)",
            "phone_number": f"+{PHONE}",
        },
        headers={"api-access-token": CHATWOOT_USER_TOKEN},
    ).raise_for_status()
    service = await start(service_factory, sandbox)
    await two_turns(service, sandbox)
    cid = await conversation_id(sandbox)
    await wait_for(lambda: len(visible(sandbox, cid)) == 4)
    assert visible(sandbox, cid) == EXPECTED
    await wait_for(lambda: jobs_settled(service, "chatwoot.mirror"))
    state = sandbox.chatwoot_state()
    [contact] = state["contacts"]
    assert [link["inbox_id"] for link in contact["contact_inboxes"]] == [
        CHATWOOT_OTHER_INBOX_ID,
        CHATWOOT_INBOX_ID,
    ]
    [conversation] = state["conversations"]
    assert conversation["inbox_id"] == CHATWOOT_INBOX_ID
    assert conversation["source_id"] == contact["contact_inboxes"][1]["source_id"]
    async with service.runtime.engine.connect() as conn:
        statuses = set((await conn.execute(select(outbox_jobs.c.status))).scalars())
    assert statuses == {"done"}


async def test_automation_and_bot_messages_are_not_an_sdr_reply(
    service_factory: Any, sandbox: Sandbox
) -> None:
    """An automation rule's message, an agent bot's and Captain's are stored as ignored: not
    sent to the lead, and the bot keeps the conversation (vendors review #12)."""
    service = await start(service_factory, sandbox)
    async with wired(service, sandbox):
        await turn(service, sandbox, "oi", "Olá! Posso ajudar.")
        cid = await conversation_id(sandbox)
        for by in ("automation", "agent_bot", "captain_assistant"):
            # In a thread: the simulator answers once its webhooks, served here, are answered.
            await asyncio.to_thread(
                sandbox.chatwoot_automated_message, cid, f"mensagem de {by}", by
            )
        await asyncio.to_thread(sandbox.chatwoot_flush)
        async with service.runtime.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(inbound_events.c.status, inbound_events.c.last_error).where(
                        inbound_events.c.provider == "chatwoot",
                        inbound_events.c.event_type == "message_created",
                    )
                )
            ).all()
        ignored = sorted(r.last_error for r in rows if r.status == "ignored")
        assert ignored.count("automation_message") == 1
        assert ignored.count("not_from_a_person") == 2
        await wait_for(lambda: jobs_settled(service, "chatwoot.event"))
        assert texts(sandbox) == ["Olá! Posso ajudar."]
        assert (await owner(service))["owner"] == "bot"
        await turn(service, sandbox, "e o preço?", "Depende do modelo.")


async def test_resolving_in_chatwoot_gives_the_lead_back_to_the_bot(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await start(service_factory, sandbox)
    async with wired(service, sandbox):
        await turn(service, sandbox, "oi", "Olá! Posso ajudar.")
        cid = await conversation_id(sandbox)
        await asyncio.to_thread(sandbox.chatwoot_agent_reply, cid, "Oi, aqui é a Ana.")
        await wait_for(lambda: _owner_is(service, "human"))
        await asyncio.to_thread(sandbox.chatwoot_resolve, cid)
        await wait_for(lambda: _owner_is(service, "bot"))
        await turn(service, sandbox, "voltei", "Que bom! Em que posso ajudar?")


async def test_a_reply_typed_on_the_company_phone_is_shown_in_chatwoot(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await start(service_factory, sandbox, phone_echo_grace_seconds=0.2)
    async with wired(service, sandbox):
        await turn(service, sandbox, "oi", "Olá! Posso ajudar.")
        cid = await conversation_id(sandbox)
        typed = received_text(phone=PHONE, text="Aqui é o Pedro, pelo celular.", fromMe=True)
        await service.post_zapi(typed)
        await wait_for(lambda: _owner_is(service, "human"))
        await wait_for(lambda: jobs_settled(service, "chatwoot.mirror"))
        shown = [c for t, c in visible(sandbox, cid) if t == "outgoing" and "Pedro" in c]
        assert shown == ["📱 [enviado pelo celular da empresa] Aqui é o Pedro, pelo celular."]
        # Its echo from Chatwoot is ours: not sent to the lead again.
        await asyncio.to_thread(sandbox.chatwoot_flush)
        await wait_for(lambda: jobs_settled(service, "chatwoot.event"))
        assert all("Pedro" not in text for text in texts(sandbox))


async def _owner_is(service: Service, expected: str) -> bool:
    return (await owner(service))["owner"] == expected
