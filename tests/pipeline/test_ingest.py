"""Webhook ingestion: auth, limits, malformed bodies, dedupe and every ignored callback type."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from seleto_agent.db.tables import inbound_events
from tests.conftest import Service, wait_for
from tests.factories import message_status, received_audio, received_text


async def count_events(service: Service, **where: Any) -> int:
    query = select(func.count()).select_from(inbound_events)
    for column, value in where.items():
        query = query.where(inbound_events.c[column] == value)
    async with service.runtime.engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def test_text_message_is_accepted_and_stored_raw(service: Service) -> None:
    body = received_text(text="Olá, quero uma formadora")
    response = await service.post_zapi(body)
    assert response.status_code == 200
    assert response.json() == {"status": "accepted"}
    async with service.runtime.engine.connect() as conn:
        row = (await conn.execute(select(inbound_events))).one()
    assert json.loads(row.payload) == body
    assert row.conversation_key == "wa:+5544999999999"
    assert row.reply_to == "5544999999999"
    assert row.body_text == "Olá, quero uma formadora"


async def test_bad_token_is_401_and_nothing_is_stored(service: Service) -> None:
    response = await service.post_zapi(received_text(), token="wrong")
    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"
    assert await count_events(service) == 0


async def test_oversize_body_is_413(service: Service) -> None:
    huge = received_text(text="x" * (1024 * 1024 + 10))
    response = await service.post_zapi(json.dumps(huge).encode())
    assert response.status_code == 413
    assert response.json()["error"] == "PayloadTooLarge"


async def test_malformed_json_is_400_and_still_recorded(service: Service) -> None:
    response = await service.post_zapi(b'{"type": "ReceivedCallback", "phone": ')
    assert response.status_code == 400
    assert response.json()["error"] == "MalformedJson"
    async with service.runtime.engine.connect() as conn:
        row = (await conn.execute(select(inbound_events))).one()
    assert row.status == "ignored"
    assert row.last_error == "malformed_json"
    assert row.payload == b'{"type": "ReceivedCallback", "phone": '


async def test_non_utf8_body_is_400_and_recorded_as_bytes(service: Service) -> None:
    response = await service.post_zapi(b"\xff\xfe\x00garbage")
    assert response.status_code == 400
    listing = await service.client.get(
        "/admin/events/1?include_payload=true", headers=service.admin_headers()
    )
    assert listing.json()["payload_encoding"] == "base64"


async def test_json_that_is_not_an_object_is_400(service: Service) -> None:
    response = await service.post_zapi(b"[1, 2, 3]")
    assert response.status_code == 400
    assert response.json()["error"] == "InvalidPayload"
    assert await count_events(service, status="ignored") == 1


async def test_ten_concurrent_duplicates_store_one_event(service: Service) -> None:
    body = received_text(message_id="DUP-1")
    responses = await asyncio.gather(*(service.post_zapi(body) for _ in range(10)))
    statuses = sorted(r.json()["status"] for r in responses)
    assert statuses == ["accepted"] + ["duplicate"] * 9
    assert await count_events(service, message_id="DUP-1") == 1


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"fromMe": True, "fromApi": True}, "from_me"),
        ({"fromMe": True}, "from_me_phone"),
        ({"isGroup": True, "phone": "120363019502650977-group"}, "group"),
        ({"isNewsletter": True, "phone": "120363166555745933@newsletter"}, "newsletter"),
        ({"waitingMessage": True}, "waiting_message"),
        ({"broadcast": True}, "broadcast"),
        ({"isEdit": True}, "edit"),
        ({"instanceId": "SOME-OTHER-INSTANCE"}, "unknown_instance"),
        ({"instanceId": None}, "missing_instance"),
        ({"fromMe": True, "connectedPhone": None}, "from_me_unverified"),
        ({"fromMe": True, "fromApi": True, "connectedPhone": None}, "from_me_unverified"),
        ({"phone": "not a phone"}, "invalid_sender"),
        ({"messageId": None}, "missing_message_id_or_phone"),
    ],
)
async def test_received_callbacks_that_start_no_turn_are_ignored(
    service: Service, overrides: dict[str, Any], reason: str
) -> None:
    response = await service.post_zapi(received_text(**overrides))
    assert response.json() == {"status": "ignored"}
    assert await count_events(service, status="ignored", last_error=reason) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"type": "PresenceChatCallback", "phone": "5544999999999", "status": "AVAILABLE",
         "lastSeen": None, "instanceId": "SANDBOX-INSTANCE"},
        {"type": "DisconnectedCallback", "momment": 1580163342,
         "error": "Device has been disconnected", "disconnected": True,
         "instanceId": "SANDBOX-INSTANCE"},
        {"type": "ConnectedCallback", "connected": True, "momment": 26151515154,
         "instanceId": "SANDBOX-INSTANCE", "phone": "554499999999"},
        {"type": "SomethingNewCallback", "instanceId": "SANDBOX-INSTANCE"},
        {"no_type": True},
    ],
)  # fmt: skip
async def test_other_callbacks_are_recorded_and_ignored(
    service: Service, body: dict[str, Any]
) -> None:
    response = await service.post_zapi(body)
    assert response.json() == {"status": "ignored"}
    assert await count_events(service, status="ignored") == 1


async def test_lid_sender_is_accepted_with_a_lid_conversation(service: Service) -> None:
    response = await service.post_zapi(received_text(phone="65998849469@lid"))
    assert response.json() == {"status": "accepted"}
    assert await count_events(service, conversation_key="wa:lid:65998849469") == 1


async def test_twelve_digit_jid_gets_the_ninth_digit_in_e164(service: Service) -> None:
    await service.post_zapi(received_text(phone="554499998888"))
    async with service.runtime.engine.connect() as conn:
        row = (await conn.execute(select(inbound_events))).one()
    assert row.phone_e164 == "+5544999998888"
    assert row.reply_to == "554499998888"


async def test_status_callback_updates_the_outbound_row(service: Service, sandbox: Any) -> None:
    await service.post_zapi(received_text(text="bom dia"))
    sent = await wait_for(sandbox.sent_texts)
    # The sandbox records the send before our client has stored Z-API's message id.
    await wait_for(lambda: count_events(service, status="done"))
    response = await service.post_zapi(message_status(ids=[sent[0]["messageId"]], status="READ"))
    assert response.json() == {"status": "ignored"}
    from seleto_agent.db.tables import outbound_messages

    async with service.runtime.engine.connect() as conn:
        row = (await conn.execute(select(outbound_messages))).one()
    assert row.delivery_status == "READ"


async def test_voice_note_is_accepted_with_its_kind(service: Service) -> None:
    response = await service.post_zapi(received_audio())
    assert response.json() == {"status": "accepted"}
    assert await count_events(service, content_kind="audio") == 1


async def test_receipt_that_beats_the_stored_message_id_is_applied_later(
    service: Service, sandbox: Any
) -> None:
    from seleto_agent.db.tables import delivery_receipts, outbound_messages

    # Z-API accepts the send at once but answers slowly: its READ receipt arrives while our
    # client is still waiting, before the message id is stored.
    sandbox.zapi_faults(send_text=[{"respond_after": 0.6}])
    await service.post_zapi(received_text(text="bom dia"))
    sent = await wait_for(sandbox.sent_texts)
    response = await service.post_zapi(message_status(ids=[sent[0]["messageId"]], status="READ"))
    assert response.json() == {"status": "ignored"}
    async with service.runtime.engine.connect() as conn:
        early = (await conn.execute(select(outbound_messages.c.delivery_status))).scalar_one()
    assert early is None
    await wait_for(lambda: count_events(service, status="done"))

    async def applied() -> bool:
        async with service.runtime.engine.connect() as conn:
            row = (await conn.execute(select(outbound_messages))).one()
        return row.delivery_status == "READ"

    await wait_for(applied)
    async with service.runtime.engine.connect() as conn:
        receipts = (await conn.execute(select(delivery_receipts.c.status))).scalars().all()
    assert receipts == ["READ"]


async def test_late_receipt_never_moves_a_message_back(service: Service, sandbox: Any) -> None:
    from seleto_agent.db.tables import outbound_messages

    await service.post_zapi(received_text(text="bom dia"))
    sent = await wait_for(sandbox.sent_texts)
    await wait_for(lambda: count_events(service, status="done"))
    message_id = sent[0]["messageId"]
    await service.post_zapi(message_status(ids=[message_id], status="READ"))
    await service.post_zapi(message_status(ids=[message_id], status="RECEIVED"))
    async with service.runtime.engine.connect() as conn:
        status = (await conn.execute(select(outbound_messages.c.delivery_status))).scalar_one()
    assert status == "READ"


@pytest.mark.parametrize(
    "phone",
    [
        "5544999999999\n@c.us",
        "".join(chr(0x0660 + int(d)) for d in "5544999999999"),  # Arabic-Indic digits
        "5544999999999\n@lid",
    ],
)
async def test_odd_shaped_sender_ids_never_reach_the_real_leads_conversation(
    service: Service, phone: str
) -> None:
    from seleto_agent.db.tables import conversations

    await service.post_zapi(received_text(phone="5544999999999", text="oi"))
    response = await service.post_zapi(received_text(phone=phone, text="sou outra pessoa"))
    assert response.json() == {"status": "ignored"}
    assert await count_events(service, status="ignored", last_error="invalid_sender") == 1
    async with service.runtime.engine.connect() as conn:
        rows = (await conn.execute(select(conversations.c.reply_to))).scalars().all()
        keys = (
            (
                await conn.execute(
                    select(inbound_events.c.conversation_key).where(
                        inbound_events.c.status == "ignored"
                    )
                )
            )
            .scalars()
            .all()
        )
    assert rows == ["5544999999999"]
    assert keys == [None]


async def test_a_padded_sender_id_is_the_same_lead_with_an_ascii_reply_address(
    service: Service,
) -> None:
    from seleto_agent.db.tables import conversations

    await service.post_zapi(received_text(phone="5544999999999", text="oi"))
    response = await service.post_zapi(received_text(phone=" 5544999999999\n", text="tudo bem?"))
    assert response.json() == {"status": "accepted"}
    async with service.runtime.engine.connect() as conn:
        rows = (await conn.execute(select(conversations.c.reply_to))).scalars().all()
        events = (await conn.execute(select(inbound_events.c.reply_to))).scalars().all()
    assert rows == ["5544999999999"]
    assert events == ["5544999999999", "5544999999999"]


async def test_a_waiting_placeholder_does_not_swallow_the_real_message(
    service: Service, sandbox: Any
) -> None:
    """WhatsApp re-sends an undecryptable DM under the same message id (vendors.md #2)."""
    sandbox.script({"content": "Olá! Como posso ajudar?"})
    placeholder = received_text(message_id="WAIT-1", waitingMessage=True)
    del placeholder["text"]
    assert (await service.post_zapi(placeholder)).json() == {"status": "ignored"}
    real = received_text(message_id="WAIT-1", text="quero uma formadora")
    assert (await service.post_zapi(real)).json() == {"status": "accepted"}
    await wait_for(lambda: count_events(service, status="done"))
    # A second delivery of the real message is still a duplicate.
    assert (await service.post_zapi(real)).json() == {"status": "duplicate"}
    async with service.runtime.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    inbound_events.c.status,
                    inbound_events.c.last_error,
                    inbound_events.c.body_text,
                    inbound_events.c.payload,
                )
                .where(inbound_events.c.event_type == "ReceivedCallback")
                .order_by(inbound_events.c.id)
            )
        ).all()
    placeholder_row, real_row = rows
    assert (placeholder_row.status, placeholder_row.last_error) == ("ignored", "waiting_message")
    assert json.loads(placeholder_row.payload) == placeholder
    assert (real_row.status, real_row.body_text) == ("done", "quero uma formadora")
    assert [s["phone"] for s in sandbox.sent_texts()] == ["5544999999999"]


async def test_a_repeated_waiting_placeholder_is_a_duplicate(service: Service) -> None:
    placeholder = received_text(message_id="WAIT-2", waitingMessage=True)
    del placeholder["text"]
    assert (await service.post_zapi(placeholder)).json() == {"status": "ignored"}
    assert (await service.post_zapi(placeholder)).json() == {"status": "duplicate"}


async def test_a_waiting_placeholder_from_the_company_phone_is_no_takeover(
    service: Service,
) -> None:
    """The docs' "aguardando mensagem" example is `fromMe: true` with no content."""
    placeholder = received_text(message_id="WAIT-3", waitingMessage=True, fromMe=True)
    del placeholder["text"]
    assert (await service.post_zapi(placeholder)).json() == {"status": "ignored"}
    assert await count_events(service, status="ignored", last_error="waiting_message") == 1


async def test_a_callback_without_instance_id_starts_nothing(
    service: Service, sandbox: Any
) -> None:
    body = received_text(text="oi")
    del body["instanceId"]
    assert (await service.post_zapi(body)).json() == {"status": "ignored"}
    receipt = message_status(ids=["ANY-ID"], status="READ")
    del receipt["instanceId"]
    assert (await service.post_zapi(receipt)).json() == {"status": "ignored"}
    await asyncio.sleep(0.3)
    assert sandbox.sent_texts() == []
    assert await count_events(service, status="ignored", last_error="missing_instance") == 2
    from seleto_agent.db.tables import conversations, delivery_receipts

    async with service.runtime.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(conversations))).scalar() == 0
        receipts = (
            await conn.execute(select(func.count()).select_from(delivery_receipts))
        ).scalar()
    assert receipts == 0


async def test_without_a_configured_instance_every_callback_is_ignored(
    service_factory: Any,
) -> None:
    service: Service = await service_factory(zapi_instance_id=None)
    assert (await service.post_zapi(received_text())).json() == {"status": "ignored"}
    assert await count_events(service, last_error="instance_not_configured") == 1


async def test_the_connected_phone_must_be_the_configured_line(service_factory: Any) -> None:
    # Configured as typed by ops; Z-API writes the line as a 12-digit JID (docs examples).
    service: Service = await service_factory(zapi_connected_phone="+55 44 99999-9999")
    ours = received_text(text="oi", connectedPhone="554499999999")
    other = received_text(text="oi", connectedPhone="5511988887777")
    assert (await service.post_zapi(ours)).json() == {"status": "accepted"}
    assert (await service.post_zapi(other)).json() == {"status": "ignored"}
    assert await count_events(service, last_error="unknown_connected_phone") == 1


async def test_a_status_callback_applies_at_most_the_capped_number_of_ids(
    service: Service,
) -> None:
    from seleto_agent.db.tables import delivery_receipts
    from seleto_agent.integrations.zapi.adapter import MAX_STATUS_IDS

    ids = [f"FORGED-{i}" for i in range(MAX_STATUS_IDS + 25)]
    assert (await service.post_zapi(message_status(ids=ids))).json() == {"status": "ignored"}
    async with service.runtime.engine.connect() as conn:
        stored = (await conn.execute(select(delivery_receipts.c.provider_message_id))).scalars()
        kept = set(stored.all())
    assert kept == set(ids[:MAX_STATUS_IDS])
