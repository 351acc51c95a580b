"""The Cloud API simulator's webhooks over real HTTP: signatures over the exact bytes,
statuses after sends (in and out of order), inbound variants, batching, storms, retries and
the verification handshake."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import httpx

from tests.sandbox.sandbox_helpers import CONFIG, Receiver

VERSION = "v25.0"
MESSAGES = f"/{VERSION}/{CONFIG.meta_phone_number_id}/messages"
AUTH = {"Authorization": f"Bearer {CONFIG.meta_access_token}"}
PHONE = "5511987654321"
BSUID = "BR.1502576394655843"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vendor" / "meta"


async def control(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> Any:
    response = await client.post(f"/_sandbox/meta/{path}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def subscribe(client: httpx.AsyncClient, receiver: Receiver, name: str = "meta") -> None:
    await control(
        client, "webhook", {"url": receiver.url(name), "verify_token": "right-verify-token"}
    )


async def send(client: httpx.AsyncClient, body: dict[str, Any]) -> str:
    response = await client.post(
        MESSAGES, json={"messaging_product": "whatsapp", **body}, headers=AUTH
    )
    assert response.status_code == 200, response.text
    wamid: str = response.json()["messages"][0]["id"]
    await client.post("/_sandbox/meta/flush")
    return wamid


def text(to: str = PHONE, **extra: Any) -> dict[str, Any]:
    return {"to": to, "type": "text", "text": {"body": "Olá, ação!"}, **extra}


def statuses_of(receiver: Receiver) -> list[dict[str, Any]]:
    return [
        status
        for body in receiver.bodies("meta")
        for entry in body["entry"]
        for change in entry["changes"]
        for status in change["value"].get("statuses", [])
    ]


def verifies(post: dict[str, Any], secret: str = CONFIG.meta_app_secret) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), post["raw"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(post["headers"].get("x-hub-signature-256", ""), expected)


async def test_statuses_follow_a_send_signed_over_the_exact_bytes(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await subscribe(client, receiver)
    await control(client, "window", {"user": PHONE})
    wamid = await send(client, text(biz_opaque_callback_data="reply:42"))
    assert [s["status"] for s in statuses_of(receiver)] == ["sent", "delivered", "read"]
    for status in statuses_of(receiver):
        assert status["id"] == wamid
        assert status["recipient_id"] == PHONE
        assert status["biz_opaque_callback_data"] == "reply:42"
    for post in receiver.posts:
        assert verifies(post)
        # Hashing a re-serialised body would not match: the bytes are what is signed.
        assert json.dumps(post["body"]).encode() != post["raw"]


async def test_a_voice_note_send_is_also_played(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await subscribe(client, receiver)
    await control(client, "window", {"user": PHONE})
    await send(client, {"to": PHONE, "type": "audio", "audio": {"id": "1", "voice": True}})
    assert [s["status"] for s in statuses_of(receiver)] == ["sent", "delivered", "read", "played"]


async def test_a_bsuid_recipient_gets_statuses_by_user_id_and_one_in_to_gets_none(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await subscribe(client, receiver)
    await control(client, "window", {"user": BSUID})
    await send(client, {"recipient": BSUID, "type": "text", "text": {"body": "oi"}})
    sent = statuses_of(receiver)
    assert {s["recipient_user_id"] for s in sent} == {BSUID}
    assert all("recipient_id" not in s for s in sent)
    receiver.posts.clear()
    await send(client, text(to=BSUID))
    assert receiver.posts == []


async def test_out_of_order_and_failed_status_modes(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await subscribe(client, receiver)
    await control(client, "window", {"user": PHONE})
    plans = {
        "read_before_delivered": ["sent", "read", "delivered"],
        "read_without_delivered": ["sent", "read"],
        "delivered_after_failed": ["sent", "failed", "delivered"],
        "failed": ["sent", "failed"],
    }
    await control(client, "faults", {"pair_gap_seconds": 0, "failure_code": 131047})
    for mode, expected in plans.items():
        receiver.posts.clear()
        await control(client, "faults", {"status_mode": mode})
        await send(client, text())
        got = statuses_of(receiver)
        assert [s["status"] for s in got] == expected, mode
        for failed in (s for s in got if s["status"] == "failed"):
            assert failed["errors"][0]["code"] == 131047


async def test_a_late_failed_status_with_a_chosen_code(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await subscribe(client, receiver)
    await control(client, "window", {"user": PHONE})
    wamid = await send(client, text(biz_opaque_callback_data="reply:7"))
    receiver.posts.clear()
    await control(client, "statuses", {"statuses": ["failed"], "error_code": 131026})
    [failed] = statuses_of(receiver)
    assert (failed["id"], failed["status"]) == (wamid, "failed")
    assert failed["errors"][0]["code"] == 131026
    assert failed["biz_opaque_callback_data"] == "reply:7"


async def test_a_duplicate_storm_repeats_identical_bodies(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await subscribe(client, receiver)
    result = await control(client, "inbound", {"kind": "text", "copies": 5})
    raws = [p["raw"] for p in receiver.posts]
    assert len(raws) == 5
    assert len(set(raws)) == 1
    assert all(d["delivered"] for d in result["deliveries"])
    receiver.posts.clear()
    await control(client, "window", {"user": PHONE})
    await control(client, "faults", {"status_copies": 3})
    await send(client, text())
    bodies = [p["raw"] for p in receiver.posts]
    assert len(bodies) == 9
    assert len(set(bodies)) == 3


async def test_a_failing_receiver_is_retried_until_200_with_a_delivery_log(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await subscribe(client, receiver, "flaky")
    await control(client, "faults", {"redeliver_base_seconds": 0.01})
    result = await control(client, "inbound", {"kind": "text"})
    [delivery] = result["deliveries"]
    assert [a["status_code"] for a in delivery["attempts"]] == [503, 200]
    assert delivery["delivered"] is True
    await subscribe(client, receiver, "failing")
    await control(client, "faults", {"redeliver_attempts": 3})
    result = await control(client, "inbound", {"kind": "text"})
    assert [a["status_code"] for a in result["deliveries"][0]["attempts"]] == [500, 500, 500]
    log = (await client.get("/_sandbox/state")).json()["meta"]["deliveries"]
    assert [d["delivered"] for d in log] == [True, False]


async def test_bad_and_missing_signature_modes(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await subscribe(client, receiver)
    await control(client, "inbound", {"signature": "wrong"})
    await control(client, "inbound", {"signature": "missing"})
    wrong, missing = receiver.posts
    assert wrong["headers"]["x-hub-signature-256"].startswith("sha256=")
    assert not verifies(wrong)
    assert "x-hub-signature-256" not in missing["headers"]


async def test_a_text_inbound_has_the_documented_shape_and_opens_the_window(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await subscribe(client, receiver)
    await control(client, "inbound", {"kind": "text", "wa_id": PHONE, "text": "Quero orçamento"})
    [body] = receiver.bodies("meta")
    documented = json.loads((FIXTURES / "webhook_text_message.json").read_text())
    value, model = (
        body["entry"][0]["changes"][0]["value"],
        documented["entry"][0]["changes"][0]["value"],
    )
    assert set(body) == set(documented)
    assert set(value) == set(model)
    assert set(value["messages"][0]) == set(model["messages"][0])
    assert value["messages"][0]["text"] == {"body": "Quero orçamento"}
    assert value["metadata"]["phone_number_id"] == CONFIG.meta_phone_number_id
    # The user wrote, so a free-form reply may go now.
    await send(client, text())


async def test_a_voice_note_inbound_registers_its_media_with_a_matching_sha256(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await subscribe(client, receiver)
    await control(client, "inbound", {"kind": "voice"})
    [body] = receiver.bodies("meta")
    audio = body["entry"][0]["changes"][0]["value"]["messages"][0]["audio"]
    assert audio["voice"] is True
    assert audio["mime_type"] == "audio/ogg; codecs=opus"
    metadata = (await client.get(f"/{VERSION}/{audio['id']}", headers=AUTH)).json()
    assert metadata["sha256"] == audio["sha256"]
    download = await client.get(metadata["url"].removeprefix(CONFIG.public_base_url), headers=AUTH)
    assert download.content.startswith(b"OggS")
    assert base64.b64encode(hashlib.sha256(download.content).digest()).decode() == audio["sha256"]
    # The webhook's own `url` needs the token too, and lives 5 minutes.
    in_webhook = audio["url"].removeprefix(CONFIG.public_base_url)
    assert (await client.get(in_webhook)).status_code == 401
    assert (await client.get(in_webhook, headers=AUTH)).content == download.content
    await control(client, "clock", {"advance_seconds": 301})
    assert (await client.get(in_webhook, headers=AUTH)).status_code == 404


async def test_a_username_user_arrives_with_a_bsuid_and_no_phone(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await subscribe(client, receiver)
    await control(
        client, "inbound", {"kind": "text", "wa_id": None, "user_id": BSUID, "username": "julia"}
    )
    value = receiver.bodies("meta")[0]["entry"][0]["changes"][0]["value"]
    [message], [contact] = value["messages"], value["contacts"]
    assert "from" not in message
    assert message["from_user_id"] == BSUID
    assert contact == {"profile": {"name": "Lead", "username": "julia"}, "user_id": BSUID}


async def test_every_inbound_variant_has_its_documented_marks(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await subscribe(client, receiver)
    marks = {
        "button_reply": lambda m: m["interactive"]["type"] == "button_reply",
        "list_reply": lambda m: "description" in m["interactive"]["list_reply"],
        "quick_reply": lambda m: m["type"] == "button" and "payload" in m["button"],
        "reaction": lambda m: m["reaction"]["emoji"] == "👍",
        "unsupported": lambda m: m["errors"][0]["code"] == 131051,
        "referral": lambda m: m["referral"]["source_type"] == "ad" and "ctwa_clid" in m["referral"],
        "system_number_changed": lambda m: m["system"]["type"] == "user_changed_number",
        "system_user_id_changed": lambda m: m["system"]["type"] == "user_changed_user_id",
    }
    for kind, check in marks.items():
        receiver.posts.clear()
        await control(client, "inbound", {"kind": kind, "context_id": "wamid.ours"})
        value = receiver.bodies("meta")[0]["entry"][0]["changes"][0]["value"]
        assert check(value["messages"][0]), kind
        # Meta: "system messages webhooks don't include a contacts array".
        assert ("contacts" in value) is not kind.startswith("system_"), kind


async def test_echoes_and_value_level_errors(client: httpx.AsyncClient, receiver: Receiver) -> None:
    await subscribe(client, receiver)
    await control(client, "inbound", {"kind": "echo", "text": "respondi pelo celular"})
    await control(client, "inbound", {"kind": "errors", "error_code": 130429})
    echo, error = (b["entry"][0]["changes"][0] for b in receiver.bodies("meta"))
    assert echo["field"] == "smb_message_echoes"
    assert echo["value"]["message_echoes"][0]["to"] == "5544999999999"
    assert error["value"]["errors"][0]["code"] == 130429
    assert "messages" not in error["value"]


async def test_batching_puts_several_items_in_one_body(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await subscribe(client, receiver)
    await control(client, "window", {"user": PHONE})
    await control(client, "faults", {"emit_statuses": False})
    wamid = await send(client, text())
    two = [{"kind": "text", "text": "um"}, {"kind": "text", "text": "dois"}]
    for layout in ("items", "changes", "entries"):
        await control(
            client,
            "batch",
            {"messages": two, "statuses": [{"wamid": wamid, "status": "read"}], "layout": layout},
        )
    items, changes, entries = receiver.bodies("meta")
    assert [
        len(c["value"].get("messages", c["value"].get("statuses")))
        for c in items["entry"][0]["changes"]
    ] == [2, 1]
    assert len(changes["entry"]) == 1
    assert len(changes["entry"][0]["changes"]) == 3
    assert [len(e["changes"]) for e in entries["entry"]] == [1, 1, 1]
    assert all(verifies(p) for p in receiver.posts)


async def test_a_raw_body_is_delivered_byte_for_byte_with_the_given_signature(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await subscribe(client, receiver)
    raw = '{"object":"whatsapp_business_account","entry":[]}'
    await control(client, "deliver", {"body": raw, "signature": "sha256=abc"})
    await control(client, "deliver", {"body": raw, "sign": True})
    given, signed = receiver.posts
    assert given["raw"] == raw.encode()
    assert given["headers"]["x-hub-signature-256"] == "sha256=abc"
    assert verifies(signed)


async def test_the_verification_handshake(client: httpx.AsyncClient, receiver: Receiver) -> None:
    await subscribe(client, receiver)
    right = await control(client, "verify", {"challenge": "1158201444"})
    assert right == {"status_code": 200, "body": "1158201444", "echoed": True}
    wrong = await control(client, "verify", {"verify_token": "wrong"})
    assert (wrong["status_code"], wrong["echoed"]) == (403, False)
