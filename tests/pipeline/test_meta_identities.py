"""One person, one conversation on the Cloud API too: BSUIDs, a number learned later, a lead who
moves from Z-API, WhatsApp's number and user-id changes, company-phone echoes (Coexistence) and
messages WhatsApp could not hand over (contracts/whatsapp_cloud_2026.md §2.6, 2.15, 2.16)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from seleto_agent.db.tables import (
    audit_log,
    conversations,
    inbound_events,
    outbound_messages,
    outbox_jobs,
    whatsapp_identities,
)
from tests.conftest import Sandbox, Service, wait_for
from tests.factories import received_text
from tests.meta_factories import (
    BSUID,
    LEAD,
    change,
    contact,
    envelope,
    fixture,
    item,
    meta_settings,
    post_meta,
    text_message,
)

NEW_NUMBER = "5547911223344"
NEW_BSUID = "BR.9988776655443322"


@pytest.fixture
async def meta(service_factory: Any) -> Service:
    service: Service = await service_factory(worker_embedded=False, **meta_settings())
    return service


async def table(service: Service, name: Any, *columns: Any) -> list[Any]:
    async with service.runtime.engine.connect() as conn:
        query = select(*(columns or [name])).select_from(name)
        return list((await conn.execute(query)).all())


async def count(service: Service, name: Any) -> int:
    async with service.runtime.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(name))).scalar_one())


def by_bsuid(text: str, bsuid: str = BSUID) -> dict[str, Any]:
    """A username user: no `from`, no `wa_id` (Botpress's BSUID-only fixture)."""
    message = text_message(text, phone=None, from_user_id=bsuid)
    return envelope(change(messages=[message], contacts=[contact(None, bsuid=bsuid)]))


def by_number_and_bsuid(text: str, phone: str = LEAD) -> dict[str, Any]:
    return envelope(change(messages=[text_message(text, phone=phone)], contacts=[
        contact(phone, bsuid=BSUID)
    ]))  # fmt: skip


async def test_the_bsuid_only_fixture_opens_a_bsuid_conversation(
    service_factory: Any,
) -> None:
    service: Service = await service_factory(
        worker_embedded=False, **meta_settings(meta_phone_number_id="business-phone-id")
    )
    body = fixture("bsuid_only_message.json")
    assert (await post_meta(service, body)).json() == {"status": "accepted"}
    (event,) = await table(service, inbound_events)
    assert event.conversation_key == "wa:bsuid:CO.1047385771169864"
    assert event.reply_to == "CO.1047385771169864"
    assert event.phone_e164 is None
    (conversation,) = await table(service, conversations)
    assert conversation.reply_to == "CO.1047385771169864"
    assert await table(service, whatsapp_identities, whatsapp_identities.c.kind) == [("bsuid",)]


async def test_bsuid_first_then_number_is_one_conversation_answered_on_the_number(
    meta: Service,
) -> None:
    assert (await post_meta(meta, by_bsuid("vi o anúncio"))).json() == {"status": "accepted"}
    assert (await post_meta(meta, by_number_and_bsuid("meu número é este"))).json() == {
        "status": "accepted"
    }
    (conversation,) = await table(meta, conversations)
    assert conversation.conversation_key == f"wa:bsuid:{BSUID}"
    assert (conversation.phone_e164, conversation.reply_to) == (f"+{LEAD}", LEAD)
    keys = {r.conversation_key for r in await table(meta, inbound_events)}
    assert keys == {f"wa:bsuid:{BSUID}"}
    # A later BSUID-only message does not give the number up.
    await post_meta(meta, by_bsuid("mais uma coisa"))
    (conversation,) = await table(meta, conversations)
    assert conversation.reply_to == LEAD


async def test_a_message_naming_two_known_conversations_merges_them_audited(
    meta: Service,
) -> None:
    await post_meta(meta, envelope(change(messages=[text_message("oi")])))
    await post_meta(meta, by_bsuid("oi de novo"))
    assert await count(meta, conversations) == 2
    await post_meta(meta, by_number_and_bsuid("sou a mesma pessoa"))
    (conversation,) = await table(meta, conversations)
    assert conversation.conversation_key == f"wa:+{LEAD}"
    keys = {r.conversation_key for r in await table(meta, inbound_events)}
    assert keys == {f"wa:+{LEAD}"}
    (audit,) = await table(meta, audit_log)
    assert audit.action == "identity.merged"
    assert BSUID not in json.dumps(audit.details)
    assert "***" in audit.details["merged_key"]


async def test_a_lead_moving_from_zapi_keeps_its_conversation(service_factory: Any) -> None:
    service: Service = await service_factory(worker_embedded=False, **meta_settings())
    assert (await service.post_zapi(received_text(phone=LEAD, text="oi"))).json() == {
        "status": "accepted"
    }
    # Meta may give an old Brazilian mobile as 12 digits: the 9th digit makes it the same key.
    old_form = LEAD[:4] + LEAD[5:]
    body = envelope(change(messages=[text_message("voltei", phone=old_form)], contacts=[
        contact(old_form)
    ]))  # fmt: skip
    assert (await post_meta(service, body)).json() == {"status": "accepted"}
    (conversation,) = await table(service, conversations)
    assert conversation.conversation_key == f"wa:+{LEAD}"
    events = await table(service, inbound_events)
    assert [(e.provider, e.conversation_key) for e in events] == [
        ("zapi", f"wa:+{LEAD}"),
        ("meta", f"wa:+{LEAD}"),
    ]
    assert events[1].reply_to == old_form


async def test_a_number_change_links_the_new_number_to_the_same_lead(meta: Service) -> None:
    await post_meta(meta, envelope(change(messages=[text_message("oi")])))
    notice = item(
        "message",
        "user_changed_number",
        **{"from": LEAD},
        system={"body": "User A changed", "wa_id": NEW_NUMBER, "type": "user_changed_number"},
    )
    # System notices come without contacts (Meta's system reference).
    body = envelope(change(messages=[notice], contacts=[]))
    assert (await post_meta(meta, body)).json() == {"status": "ignored"}
    assert (await post_meta(meta, body)).json() == {"status": "duplicate"}
    (conversation,) = await table(meta, conversations)
    assert conversation.reply_to == NEW_NUMBER
    values = {r.value for r in await table(meta, whatsapp_identities, whatsapp_identities.c.value)}
    assert values == {f"+{LEAD}", f"+{NEW_NUMBER}"}
    (audit,) = await table(meta, audit_log)
    assert (audit.action, audit.details["change"]) == ("identity.changed", "user_changed_number")
    assert NEW_NUMBER not in json.dumps(audit.details)
    # The new number writes: the same conversation, no new lead.
    await post_meta(meta, envelope(change(messages=[text_message("oi", phone=NEW_NUMBER)])))
    assert await count(meta, conversations) == 1
    event = (await table(meta, inbound_events))[-1]
    assert event.conversation_key == f"wa:+{LEAD}"


async def test_a_user_id_change_links_the_new_bsuid(meta: Service) -> None:
    await post_meta(meta, by_bsuid("oi"))
    notice = {
        "from_user_id": BSUID,
        "id": "wamid.system-user-id",
        "timestamp": "1784232500",
        "type": "system",
        "system": {"body": "User changed", "type": "user_changed_user_id", "user_id": NEW_BSUID},
    }
    assert (await post_meta(meta, envelope(change(messages=[notice], contacts=[])))).json() == {
        "status": "ignored"
    }
    (conversation,) = await table(meta, conversations)
    assert conversation.reply_to == NEW_BSUID
    await post_meta(meta, by_bsuid("meu id novo", bsuid=NEW_BSUID))
    assert await count(meta, conversations) == 1


async def test_a_change_notice_for_an_unknown_lead_links_nothing(meta: Service) -> None:
    notice = item("message", "user_changed_number", **{"from": LEAD})
    assert (await post_meta(meta, envelope(change(messages=[notice], contacts=[])))).json() == {
        "status": "ignored"
    }
    (event,) = await table(meta, inbound_events)
    assert (event.last_error, event.conversation_key) == ("identity:user_changed_number", None)
    assert await count(meta, conversations) == 0
    assert await count(meta, whatsapp_identities) == 0


async def test_a_message_typed_in_the_business_app_queues_the_takeover_check(
    meta: Service,
) -> None:
    await post_meta(meta, envelope(change(messages=[text_message("oi")])))
    echo_change = fixture("echo_text.json")
    echo = echo_change["value"]["message_echoes"][0]
    echo.update({"to": LEAD, "to_user_id": BSUID, "id": "wamid.echo-1"})
    echo_change["value"]["metadata"]["phone_number_id"] = meta_settings()["meta_phone_number_id"]
    assert (await post_meta(meta, envelope(echo_change))).json() == {"status": "ignored"}
    event = (await table(meta, inbound_events))[-1]
    assert (event.last_error, event.body_text, event.conversation_key) == (
        "from_me_phone",
        "Test message",
        f"wa:+{LEAD}",
    )
    (job,) = await table(meta, outbox_jobs)
    assert (job.kind, job.payload) == ("ownership.phone_reply", {"event_id": event.id})
    # An echo links nothing: the BSUID it names is not the lead's until the lead sends it.
    assert await count(meta, whatsapp_identities) == 1


async def test_an_unsupported_message_gets_the_fixed_reply_without_the_model(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service: Service = await service_factory(**meta_settings())
    unsupported = item("message", "unsupported_with_type", **{"from": LEAD})
    assert (await post_meta(service, envelope(change(messages=[unsupported])))).json() == {
        "status": "accepted"
    }
    sent = await wait_for(sandbox.sent_texts)
    assert "não consegui abrir a sua mensagem" in sent[0]["message"]
    assert sent[0]["phone"] == LEAD
    assert sandbox.model_requests() == []
    async with service.runtime.engine.connect() as conn:
        kind = (await conn.execute(select(outbound_messages.c.reply_kind))).scalar_one()
    assert kind == "fixed:unsupported_message"


async def test_ops_find_a_bsuid_conversation_by_its_bsuid(meta: Service) -> None:
    await post_meta(meta, by_bsuid("oi"))
    found = await meta.client.get(
        f"/admin/conversations/bsuid:{BSUID}", headers=meta.admin_headers()
    )
    assert found.status_code == 200
    assert found.json()["owner"] == "bot"
    for unknown in ("bsuid:BR.000000", "bsuid:br.1502576394655843", "bsuid:"):
        response = await meta.client.get(
            f"/admin/conversations/{unknown}", headers=meta.admin_headers()
        )
        assert response.status_code == 404
