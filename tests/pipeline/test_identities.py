"""One person, one conversation, whatever form Z-API names them in (vendors.md #1, red-team M9).

Z-API's `phone` is the number or the `@lid`, and may switch between the two; `chatLid` and
`senderLid` name the `@lid` next to the number. Against the Chatwoot and PipeRun simulators: a
lead who writes by number and then by `@lid` stays one conversation, lead, Agno session,
Chatwoot contact and PipeRun person; two conversations that turn out to be one person are
merged into the older one, audited, and what was queued for the other still lands.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from sqlalchemy import func, select

from seleto_agent.db.tables import (
    audit_log,
    conversations,
    inbound_events,
    leads,
    outbox_jobs,
)
from seleto_agent.sandbox.zapi_payloads import lid_for
from tests.conftest import Sandbox, Service, listening, wait_for
from tests.factories import received_text
from tests.pipeline.test_ambiguous_sends import wire_webhooks
from tests.pipeline.test_crm_sync import crm_settings, tools

PHONE = "5547988776655"
LID = lid_for(PHONE)
LID_DIGITS = LID.removesuffix("@lid")
WARM = tools(
    (
        "update_lead",
        {
            "name": "Marcos",
            "product_interest": "formadora de hambúrguer",
            "production_volume": "2000 por dia",
            "urgency": "talvez no ano que vem",
        },
    )
)


def by_number(text: str) -> dict[str, Any]:
    """The number in `phone`, the contact's `@lid` in `senderLid`/`chatLid` (docs examples)."""
    return received_text(phone=PHONE, text=text)


def by_lid(text: str) -> dict[str, Any]:
    """`phone` is the `@lid` itself (tips/lid.md "Retorno apenas com o @lid")."""
    return received_text(phone=LID, text=text)


def number_only(text: str) -> dict[str, Any]:
    """The number without any `@lid` field: nothing links it to the `@lid` yet."""
    return received_text(phone=PHONE, text=text, senderLid=None, chatLid=None)


async def count(service: Service, table: Any) -> int:
    async with service.runtime.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def settled(service: Service) -> bool:
    async with service.runtime.engine.connect() as conn:
        events = set((await conn.execute(select(inbound_events.c.status))).scalars())
        jobs = set((await conn.execute(select(outbox_jobs.c.status))).scalars())
    return events <= {"done", "ignored"} and jobs <= {"done"}


async def answered(service: Service, sandbox: Sandbox, body: dict[str, Any], n: int) -> None:
    assert (await service.post_zapi(body)).json() == {"status": "accepted"}
    await wait_for(lambda: len(sandbox.sent_texts()) == n)
    await wait_for(lambda: settled(service))


def user_texts(request: dict[str, Any]) -> str:
    return json.dumps([m for m in request["messages"] if m["role"] == "user"], ensure_ascii=False)


async def test_number_then_lid_only_is_one_lead_everywhere(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service: Service = await service_factory(**sandbox.chatwoot_settings(), **crm_settings(sandbox))
    sandbox.script(WARM, {"content": "Obrigado, Marcos!"})
    await answered(service, sandbox, by_number("Quero uma formadora"), 1)
    sandbox.script(tools(("update_lead", {"city": "Joinville", "uf": "SC"})), {"content": "Ok!"})
    await answered(service, sandbox, by_lid("sou de Joinville, SC"), 2)

    assert await count(service, conversations) == 1
    assert await count(service, leads) == 1
    # One Agno session: the second run still has the first message in its history.
    assert "Quero uma formadora" in user_texts(sandbox.model_requests()[-1])
    # Replies go to the number, the form that surely reaches the person.
    assert [s["phone"] for s in sandbox.sent_texts()] == [PHONE, PHONE]
    chatwoot = sandbox.chatwoot_state()
    assert len(chatwoot["contacts"]) == 1
    assert len(chatwoot["conversations"]) == 1
    persons = sandbox.piperun_state()["persons"]
    assert len(persons) == 1
    async with service.runtime.engine.connect() as conn:
        lead = (await conn.execute(select(leads.c.phone, leads.c.city))).one()
    assert tuple(lead) == ("+5547988776655", "Joinville")


async def test_lid_only_first_then_the_number_is_one_conversation(
    service: Service, sandbox: Sandbox
) -> None:
    sandbox.script({"content": "Olá!"})
    await answered(service, sandbox, by_lid("oi"), 1)
    sandbox.script({"content": "Certo."})
    await answered(service, sandbox, by_number("quero um orçamento"), 2)
    assert await count(service, conversations) == 1
    from seleto_agent.db.tables import whatsapp_identities

    async with service.runtime.engine.connect() as conn:
        row = (await conn.execute(select(conversations))).one()
        kinds = sorted((await conn.execute(select(whatsapp_identities.c.kind))).scalars())
    # The key first given out stays; the number is learnt and preferred for replies.
    assert row.conversation_key == f"wa:lid:{LID_DIGITS}"
    assert (row.phone_e164, row.reply_to) == ("+5547988776655", PHONE)
    assert kinds == ["e164", "lid"]
    assert [s["phone"] for s in sandbox.sent_texts()] == [LID, PHONE]


async def test_two_conversations_of_one_person_are_merged_and_audited(
    service: Service, sandbox: Sandbox
) -> None:
    sandbox.script(tools(("update_lead", {"name": "Ana"})), {"content": "Olá, Ana!"})
    await answered(service, sandbox, by_lid("oi, sou a Ana"), 1)
    sandbox.script(
        tools(("update_lead", {"name": "Ana Paula", "city": "Joinville", "uf": "SC"})),
        {"content": "Certo."},
    )
    await answered(service, sandbox, number_only("sou de Joinville"), 2)
    assert await count(service, conversations) == 2

    sandbox.script({"content": "Anotado."})
    await answered(service, sandbox, by_number("e o prazo?"), 3)

    assert await count(service, conversations) == 1
    assert await count(service, leads) == 1
    async with service.runtime.engine.connect() as conn:
        keys = set((await conn.execute(select(inbound_events.c.conversation_key))).scalars())
        lead = (await conn.execute(select(leads.c.name, leads.c.city, leads.c.phone))).one()
        audit = (
            await conn.execute(select(audit_log).where(audit_log.c.action == "identity.merged"))
        ).one()
    assert keys == {f"wa:lid:{LID_DIGITS}"}
    # The survivor's slots win; its blanks are filled from the other.
    assert tuple(lead) == ("Ana", "Joinville", "+5547988776655")
    details = audit.details
    assert details["merged_key"] == "wa:+55 47 9****-6655"
    assert (details["moved"]["events"], details["moved"]["outbound"]) == (1, 1)
    assert PHONE[-8:] not in json.dumps(details)
    assert LID_DIGITS[:-4] not in json.dumps(details) + audit.subject_id
    assert sandbox.sent_texts()[-1]["phone"] == PHONE

    # Ops find the merged conversation by the number, and see every id it is known by.
    response = await service.client.get(
        f"/admin/conversations/{PHONE}", headers=service.admin_headers()
    )
    body = response.json()
    assert body["conversation_key"] == f"wa:lid:{LID_DIGITS}"
    assert sorted((i["kind"], i["value"]) for i in body["identities"]) == [
        ("e164", "+5547988776655"),
        ("key", "wa:+5547988776655"),
        ("lid", LID_DIGITS),
    ]


async def test_what_was_queued_for_the_merged_conversation_still_lands_in_its_chatwoot(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service: Service = await service_factory(**sandbox.chatwoot_settings())
    sandbox.script({"content": "Olá!"})
    await answered(service, sandbox, by_lid("oi"), 1)
    # Chatwoot is down while the number writes on its own: its mirror jobs wait.
    sandbox.chatwoot_down()
    sandbox.script({"content": "Certo."})
    await service.post_zapi(number_only("sou eu de novo"))
    await wait_for(lambda: len(sandbox.sent_texts()) == 2)
    sandbox.script({"content": "Anotado."})
    await service.post_zapi(by_number("pelo número"))
    await wait_for(lambda: len(sandbox.sent_texts()) == 3)
    assert await count(service, conversations) == 1
    sandbox.chatwoot_down(False)
    await wait_for(lambda: settled(service), timeout=20)
    chatwoot = sandbox.chatwoot_state()
    # The merged key's jobs resolve to the survivor: no second contact or conversation.
    assert len(chatwoot["contacts"]) == 1
    [conversation] = chatwoot["conversations"]
    contents = [m["content"] for m in conversation["messages"] if not m["private"]]
    for text in ("oi", "sou eu de novo", "pelo número", "Certo.", "Anotado."):
        assert text in contents


async def test_both_forms_arriving_at_once_make_one_conversation(service: Service) -> None:
    sends = [service.post_zapi(by_number("oi")), service.post_zapi(by_lid("olá"))]
    responses = await asyncio.gather(*sends)
    assert [r.json() for r in responses] == [{"status": "accepted"}] * 2
    assert await count(service, conversations) == 1
    async with service.runtime.engine.connect() as conn:
        keys = set((await conn.execute(select(inbound_events.c.conversation_key))).scalars())
    assert len(keys) == 1


async def test_a_first_contact_is_answered_and_counted(service: Service, sandbox: Sandbox) -> None:
    from seleto_agent.observability.metrics import FIRST_CONTACTS

    before = FIRST_CONTACTS._value.get()
    sandbox.script({"content": "Olá!"}, {"content": "Certo."})
    await answered(service, sandbox, by_number("oi"), 1)
    await answered(service, sandbox, by_lid("tudo bem?"), 2)
    assert FIRST_CONTACTS._value.get() == before + 1


async def test_the_simulator_switching_a_contact_to_lid_and_a_placeholder_first(
    service: Service, sandbox: Sandbox
) -> None:
    """Driven by the Z-API simulator's own knobs, posting to the service over HTTP: the
    contact writes by number, WhatsApp switches it to `@lid` only, and a message arrives as a
    placeholder first; one conversation, every message answered once, to the number."""
    async with listening(service) as base, httpx.AsyncClient(base_url=sandbox.url) as control:
        # The simulator posts to the service in this event loop: drive it without blocking.
        wire_webhooks(sandbox, base, "update-webhook-received")
        sandbox.script({"content": "Olá!"}, {"content": "Certo."}, {"content": "Anotado."})
        emit = {"phone": PHONE}
        await control.post("/_sandbox/zapi/inbound", json=emit | {"text": "oi"})
        await wait_for(lambda: len(sandbox.sent_texts()) == 1)
        await control.post(f"/_sandbox/zapi/contacts/{PHONE}", json={"form": "lid"})
        await control.post("/_sandbox/zapi/inbound", json=emit | {"text": "tudo bem?"})
        await wait_for(lambda: len(sandbox.sent_texts()) == 2)
        response = await control.post(
            "/_sandbox/zapi/inbound",
            json=emit | {"text": "quero a FB300", "placeholder_first": True},
        )
        emitted = response.json()
        await wait_for(lambda: len(sandbox.sent_texts()) == 3)
        await wait_for(lambda: settled(service))
    assert emitted["placeholder"]["responses"][0]["body"] == {"status": "ignored"}
    assert emitted["responses"][0]["body"] == {"status": "accepted"}
    assert emitted["payload"]["phone"] == LID
    assert await count(service, conversations) == 1
    assert [s["phone"] for s in sandbox.sent_texts()] == [PHONE] * 3
