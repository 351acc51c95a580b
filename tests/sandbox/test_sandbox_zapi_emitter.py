"""Z-API webhook emission over real HTTP: inbound messages, follow-up callbacks, knobs."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.sandbox.sandbox_helpers import (
    CONFIG,
    ZAPI_BASE,
    ZAPI_HEADERS,
    Receiver,
    register_all_webhooks,
)

TEXT_FIXTURE_KEYS = {
    "isStatusReply", "senderLid", "connectedPhone", "waitingMessage", "isEdit", "isGroup",
    "isNewsletter", "instanceId", "messageId", "phone", "fromMe", "momment", "status",
    "chatName", "senderPhoto", "senderName", "participantPhone", "participantLid", "photo",
    "broadcast", "type", "text",
}  # fmt: skip


async def _send_text(client: httpx.AsyncClient, message: str = "Olá!") -> dict[str, Any]:
    response = await client.post(
        f"{ZAPI_BASE}/send-text",
        json={"phone": "5544988887777", "message": message},
        headers=ZAPI_HEADERS,
    )
    assert response.status_code == 200
    await client.post("/_sandbox/zapi/flush")
    sent: dict[str, Any] = response.json()
    return sent


async def test_inbound_without_registered_webhook_is_a_conflict(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/_sandbox/zapi/inbound", json={"text": "oi"})
    assert response.status_code == 409
    assert response.json() == {"error": "no webhook registered"}


async def test_inbound_text_posts_a_faithful_received_callback(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await register_all_webhooks(client, receiver)
    response = await client.post(
        "/_sandbox/zapi/inbound",
        json={"phone": "5544999999999", "text": "Quero um orçamento", "sender_name": "Ana"},
    )
    assert response.status_code == 200
    result = response.json()
    assert result["responses"] == [
        {"status_code": 200, "body": {"received": True, "name": "received"}, "error": None}
    ]
    [body] = receiver.bodies("received")
    assert body == result["payload"]
    assert set(body) >= TEXT_FIXTURE_KEYS
    assert body["type"] == "ReceivedCallback"
    assert body["phone"] == "5544999999999"
    assert body["text"] == {"message": "Quero um orçamento"}
    assert body["messageId"] == result["message_id"]
    assert re.fullmatch(r"[0-9A-F]{32}", body["messageId"])
    assert body["instanceId"] == CONFIG.zapi_instance_id
    assert body["connectedPhone"] == CONFIG.zapi_connected_phone
    assert body["senderName"] == body["chatName"] == "Ana"
    assert re.fullmatch(r"\d{14}@lid", body["senderLid"])
    assert body["fromMe"] is False
    assert body["momment"] > 1_600_000_000_000  # milliseconds

    emitted = (await client.get("/_sandbox/state")).json()["zapi"]["emitted"]
    assert [(e["type"], e["status_code"]) for e in emitted] == [("ReceivedCallback", 200)]


async def test_concurrent_copies_repeat_the_same_message_id(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await register_all_webhooks(client, receiver)
    response = await client.post(
        "/_sandbox/zapi/inbound",
        json={"text": "oi", "message_id": "DUPLICATED-ID", "copies": 3, "concurrent": True},
    )
    assert [r["status_code"] for r in response.json()["responses"]] == [200, 200, 200]
    bodies = receiver.bodies("received")
    assert len(bodies) == 3
    assert {body["messageId"] for body in bodies} == {"DUPLICATED-ID"}
    assert bodies[0] == bodies[1] == bodies[2]


async def test_lid_only_message_has_lid_as_phone(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await register_all_webhooks(client, receiver)
    await client.post("/_sandbox/zapi/inbound", json={"phone": "5544999999999", "form": "lid"})
    [body] = receiver.bodies("received")
    # tips/lid.md "Retorno apenas com o @lid": `phone` and `chatLid` are the same @lid.
    assert re.fullmatch(r"\d{14}@lid", body["phone"])
    assert body["phone"] == body["senderLid"] == body["chatLid"]


async def test_a_contact_switches_from_number_to_lid_and_keeps_its_lid(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await register_all_webhooks(client, receiver)
    await client.post("/_sandbox/zapi/inbound", json={"phone": "5544977776666"})
    switched = await client.post("/_sandbox/zapi/contacts/5544977776666", json={"form": "lid"})
    await client.post("/_sandbox/zapi/inbound", json={"phone": "5544977776666"})
    await client.post(
        "/_sandbox/zapi/inbound", json={"phone": "5544977776666", "form": "number_without_lid"}
    )
    by_number, by_lid, bare = receiver.bodies("received")
    lid = switched.json()["lid"]
    assert (by_number["phone"], by_number["senderLid"], by_number["chatLid"]) == (
        "5544977776666",
        lid,
        lid,
    )
    assert (by_lid["phone"], by_lid["chatLid"]) == (lid, lid)
    assert (bare["phone"], bare["senderLid"], bare["chatLid"]) == ("5544977776666", None, None)
    state = (await client.get("/_sandbox/state")).json()["zapi"]
    assert state["contact_forms"] == {"5544977776666": "lid"}


async def test_a_placeholder_then_the_real_message_under_the_same_id(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await register_all_webhooks(client, receiver)
    result = (
        await client.post(
            "/_sandbox/zapi/inbound",
            json={"text": "quero uma formadora", "placeholder_first": True},
        )
    ).json()
    placeholder, real = receiver.bodies("received")
    assert placeholder == result["placeholder"]["payload"]
    # The docs' "aguardando mensagem" example: no content, no @lid or connectedPhone fields.
    assert placeholder["waitingMessage"] is True
    assert not {"text", "senderLid", "chatLid", "connectedPhone"} & set(placeholder)
    assert real["messageId"] == placeholder["messageId"] == result["message_id"]
    assert (real["waitingMessage"], real["text"]) == (False, {"message": "quero uma formadora"})


async def test_a_message_of_the_company_line_names_the_line_as_sender(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await register_all_webhooks(client, receiver)
    await client.post("/_sandbox/zapi/inbound", json={"phone": "5544977776666", "from_me": True})
    [body] = receiver.bodies("received")
    contact = await client.post("/_sandbox/zapi/contacts/5544977776666", json={"form": "number"})
    assert body["chatLid"] == contact.json()["lid"]
    assert body["senderLid"] != body["chatLid"]


async def test_group_message_sets_group_phone_and_participant(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await register_all_webhooks(client, receiver)
    await client.post(
        "/_sandbox/zapi/inbound",
        json={"phone": "5544999999999", "is_group": True, "group_name": "Compras"},
    )
    [body] = receiver.bodies("received")
    assert body["isGroup"] is True
    assert re.fullmatch(r"\d+-group", body["phone"])
    assert body["participantPhone"] == "5544999999999"
    assert body["chatName"] == "Compras"


async def test_audio_and_waiting_messages(client: httpx.AsyncClient, receiver: Receiver) -> None:
    await register_all_webhooks(client, receiver)
    await client.post("/_sandbox/zapi/inbound", json={"kind": "audio"})
    await client.post("/_sandbox/zapi/inbound", json={"waiting_message": True})
    audio, waiting = receiver.bodies("received")
    assert audio["audio"]["mimeType"] == "audio/ogg; codecs=opus"
    assert audio["audio"]["audioUrl"].startswith(CONFIG.public_base_url)
    assert "text" not in audio
    assert waiting["waitingMessage"] is True
    assert "text" not in waiting
    assert "audio" not in waiting


async def test_update_every_webhooks_registers_all_kinds(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    response = await client.put(
        f"{ZAPI_BASE}/update-every-webhooks",
        json={"value": receiver.url("all"), "notifySentByMe": True},
        headers=ZAPI_HEADERS,
    )
    assert response.json() == {"value": True}
    zapi = (await client.get("/_sandbox/state")).json()["zapi"]
    assert set(zapi["webhooks"]) == {
        "received", "received_delivery", "delivery", "message_status", "disconnected", "connected",
    }  # fmt: skip
    assert set(zapi["webhooks"].values()) == {receiver.url("all")}
    assert zapi["notify_sent_by_me"] is True


async def test_send_emits_delivery_then_statuses(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await register_all_webhooks(client, receiver)
    sent = await _send_text(client)
    [delivery] = receiver.bodies("delivery")
    assert delivery == {
        "phone": "5544988887777",
        "zaapId": sent["zaapId"],
        "messageId": sent["messageId"],
        "type": "DeliveryCallback",
        "instanceId": CONFIG.zapi_instance_id,
    }
    statuses = receiver.bodies("status")
    assert [s["status"] for s in statuses] == ["SENT", "RECEIVED", "READ"]
    assert all(s["ids"] == [sent["messageId"]] for s in statuses)
    assert all(s["type"] == "MessageStatusCallback" and s["isGroup"] is False for s in statuses)
    assert receiver.bodies("received") == []  # no echo unless asked


async def test_audio_send_also_reports_played(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await register_all_webhooks(client, receiver)
    await client.post(
        f"{ZAPI_BASE}/send-audio",
        json={"phone": "5544988887777", "audio": "data:audio/mpeg;base64,SUQz"},
        headers=ZAPI_HEADERS,
    )
    await client.post("/_sandbox/zapi/flush")
    assert [s["status"] for s in receiver.bodies("status")] == [
        "SENT",
        "RECEIVED",
        "READ",
        "PLAYED",
    ]


async def test_echo_from_me_and_statuses_off(client: httpx.AsyncClient, receiver: Receiver) -> None:
    await register_all_webhooks(client, receiver)
    await client.post("/_sandbox/zapi/faults", json={"echo_from_me": True, "emit_statuses": False})
    sent = await _send_text(client, "Bom dia")
    [echo] = receiver.bodies("received")
    assert echo["fromMe"] is True
    assert echo["fromApi"] is True
    assert echo["messageId"] == sent["messageId"]
    assert echo["text"] == {"message": "Bom dia"}
    # Sent by the line: the chat is the recipient's @lid, the sender the line's own.
    assert echo["chatLid"] != echo["senderLid"]
    assert re.fullmatch(r"\d{14}@lid", echo["chatLid"])
    assert receiver.bodies("status") == []
    assert len(receiver.bodies("delivery")) == 1


async def test_emission_failures_are_recorded(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await client.put(
        f"{ZAPI_BASE}/update-webhook-delivery",
        json={"value": receiver.url("failing")},
        headers=ZAPI_HEADERS,
    )
    await client.put(
        f"{ZAPI_BASE}/update-webhook-message-status",
        json={"value": "http://127.0.0.1:9/unreachable"},
        headers=ZAPI_HEADERS,
    )
    await _send_text(client)
    emitted = (await client.get("/_sandbox/state")).json()["zapi"]["emitted"]
    assert emitted[0]["type"] == "DeliveryCallback"
    assert emitted[0]["status_code"] == 500
    assert [e["status_code"] for e in emitted[1:]] == [None, None, None]
    assert all(e["error"] for e in emitted[1:])


async def test_webhook_headers_are_sent_with_every_post(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await register_all_webhooks(client, receiver)
    await client.post("/_sandbox/zapi/faults", json={"webhook_headers": {"z-api-token": "s3"}})
    await client.post("/_sandbox/zapi/inbound", json={"text": "oi"})
    assert receiver.posts[0]["headers"]["z-api-token"] == "s3"


async def test_disconnected_callback_flips_status(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await register_all_webhooks(client, receiver)
    response = await client.post("/_sandbox/zapi/callback", json={"type": "DisconnectedCallback"})
    assert response.status_code == 200
    [body] = receiver.bodies("disconnected")
    assert body["type"] == "DisconnectedCallback"
    assert body["disconnected"] is True
    assert body["momment"] < 10_000_000_000  # seconds, unlike other callbacks
    status = await client.get(f"{ZAPI_BASE}/status", headers=ZAPI_HEADERS)
    assert status.json()["connected"] is False

    await client.post("/_sandbox/zapi/callback", json={"type": "ConnectedCallback"})
    assert receiver.bodies("connected")[0]["connected"] is True
    status = await client.get(f"{ZAPI_BASE}/status", headers=ZAPI_HEADERS)
    assert status.json()["connected"] is True


async def test_callback_overrides_and_fallback_to_received(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await register_all_webhooks(client, receiver)
    await client.post(
        "/_sandbox/zapi/callback",
        json={"type": "MessageStatusCallback", "status": "READ_BY_ME", "ids": ["X1"]},
    )
    await client.post("/_sandbox/zapi/callback", json={"type": "PresenceChatCallback"})
    [status] = receiver.bodies("status")
    assert status["status"] == "READ_BY_ME"
    assert status["ids"] == ["X1"]
    [presence] = receiver.bodies("received")
    assert presence["type"] == "PresenceChatCallback"
    unknown = await client.post("/_sandbox/zapi/callback", json={"type": "Nope"})
    assert unknown.status_code == 422
