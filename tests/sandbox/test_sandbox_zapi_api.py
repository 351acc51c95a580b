"""Z-API outbound API simulator: auth, validation, faults, disconnected mode, records."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
import pytest

from tests.sandbox.sandbox_helpers import ZAPI_BASE, ZAPI_HEADERS


async def _state(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/_sandbox/state")
    assert response.status_code == 200
    state: dict[str, Any] = response.json()
    return state


async def test_send_text_success_returns_fresh_ids_and_is_recorded(
    client: httpx.AsyncClient,
) -> None:
    first = await client.post(
        f"{ZAPI_BASE}/send-text",
        json={"phone": "5544999999999", "message": "Olá!", "delayTyping": 2},
        headers=ZAPI_HEADERS,
    )
    second = await client.post(
        f"{ZAPI_BASE}/send-text",
        json={"phone": "5544999999999", "message": "Tudo bem?"},
        headers=ZAPI_HEADERS,
    )
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"zaapId", "messageId", "id"}
    assert re.fullmatch(r"[0-9A-F]{32}", body["zaapId"])
    assert body["id"] == body["messageId"]
    assert second.json()["messageId"] != body["messageId"]

    sent = (await _state(client))["zapi"]["sent"]
    assert [entry["message"] for entry in sent] == ["Olá!", "Tudo bem?"]
    assert sent[0]["endpoint"] == "send-text"
    assert sent[0]["phone"] == "5544999999999"
    assert sent[0]["messageId"] == body["messageId"]
    assert sent[0]["zaapId"] == body["zaapId"]
    assert sent[0]["status_code"] == 200
    assert sent[0]["at"]


async def test_send_audio_accepts_lid_and_group_phones(client: httpx.AsyncClient) -> None:
    for phone in ("81896604192873@lid", "120363019502650977-group"):
        response = await client.post(
            f"{ZAPI_BASE}/send-audio",
            json={"phone": phone, "audio": "https://example.com/a.ogg"},
            headers=ZAPI_HEADERS,
        )
        assert response.status_code == 200, response.text
        assert response.json()["id"] == response.json()["messageId"]


async def test_missing_client_token_is_rejected_with_zapi_error_body(
    client: httpx.AsyncClient,
) -> None:
    payload = {"phone": "5544999999999", "message": "oi"}
    missing = await client.post(f"{ZAPI_BASE}/send-text", json=payload)
    wrong = await client.post(
        f"{ZAPI_BASE}/send-text", json=payload, headers={"Client-Token": "nope"}
    )
    assert missing.status_code == 401
    assert missing.json() == {"error": "null not allowed"}
    assert wrong.status_code == 401

    sent = (await _state(client))["zapi"]["sent"]
    assert [entry["status_code"] for entry in sent] == [401, 401]


async def test_client_token_status_and_enforcement_are_configurable(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/_sandbox/zapi/faults", json={"client_token_error_status": 400})
    rejected = await client.get(f"{ZAPI_BASE}/status")
    assert rejected.status_code == 400
    assert rejected.json() == {"error": "null not allowed"}

    await client.post("/_sandbox/zapi/faults", json={"client_token_required": False})
    accepted = await client.get(f"{ZAPI_BASE}/status")
    assert accepted.status_code == 200


@pytest.mark.parametrize("phone", ["+5544999999999", "55 44 9999", "abc", "", "123@s.whatsapp.net"])
async def test_invalid_phone_is_rejected(client: httpx.AsyncClient, phone: str) -> None:
    response = await client.post(
        f"{ZAPI_BASE}/send-text", json={"phone": phone, "message": "oi"}, headers=ZAPI_HEADERS
    )
    assert response.status_code == 400
    assert response.json() == {"error": "Invalid phone"}


async def test_missing_message_is_rejected(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"{ZAPI_BASE}/send-text", json={"phone": "5544999999999"}, headers=ZAPI_HEADERS
    )
    assert response.status_code == 400
    assert response.json() == {"error": "message is required"}


async def test_non_json_content_type_gets_415(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"{ZAPI_BASE}/send-text",
        content="phone=5544999999999&message=oi",
        headers={**ZAPI_HEADERS, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415


async def test_wrong_method_gets_405(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{ZAPI_BASE}/send-text", headers=ZAPI_HEADERS)
    assert response.status_code == 405


@pytest.mark.parametrize(
    "path",
    [
        "/instances/OTHER/token/sandbox-instance-token/send-text",
        "/instances/SANDBOX-INSTANCE/token/wrong-token/send-text",
    ],
)
async def test_wrong_instance_or_token_is_rejected(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(
        path, json={"phone": "5544999999999", "message": "oi"}, headers=ZAPI_HEADERS
    )
    assert response.status_code == 400
    assert response.json() == {"error": "Instance not found"}


async def test_fault_queue_fails_then_succeeds_and_records_attempts(
    client: httpx.AsyncClient,
) -> None:
    faults = await client.post(
        "/_sandbox/zapi/faults",
        json={"send_text": [{"status": 500}, {"status": 429, "retry_after": 1}]},
    )
    assert faults.status_code == 200
    assert len(faults.json()["queues"]["send_text"]) == 2

    payload = {"phone": "5544999999999", "message": "oi"}
    url = f"{ZAPI_BASE}/send-text"
    server_error = await client.post(url, json=payload, headers=ZAPI_HEADERS)
    rate_limited = await client.post(url, json=payload, headers=ZAPI_HEADERS)
    success = await client.post(url, json=payload, headers=ZAPI_HEADERS)

    assert server_error.status_code == 500
    assert server_error.json() == {"error": "Internal server error"}
    assert rate_limited.status_code == 429
    assert rate_limited.headers["Retry-After"] == "1"
    assert success.status_code == 200

    sent = (await _state(client))["zapi"]["sent"]
    assert [entry["status_code"] for entry in sent] == [500, 429, 200]
    assert sum(1 for entry in sent if entry["status_code"] == 200) == 1


async def test_fault_delay_slows_the_call_then_succeeds(client: httpx.AsyncClient) -> None:
    await client.post("/_sandbox/zapi/faults", json={"read_message": [{"delay": 0.3}]})
    started = time.monotonic()
    response = await client.post(
        f"{ZAPI_BASE}/read-message",
        json={"phone": "5544999999999", "messageId": "ABC"},
        headers=ZAPI_HEADERS,
    )
    assert response.status_code == 204
    assert time.monotonic() - started >= 0.3


async def test_timeout_fault_outlives_the_client_but_the_message_is_sent(
    live_sandbox: str,
) -> None:
    async with httpx.AsyncClient(base_url=live_sandbox) as http:
        await http.post("/_sandbox/zapi/faults", json={"send_text": [{"timeout": 0.6}]})
        with pytest.raises(httpx.ReadTimeout):
            await http.post(
                f"{ZAPI_BASE}/send-text",
                json={"phone": "5544999999999", "message": "oi"},
                headers=ZAPI_HEADERS,
                timeout=0.2,
            )
        await asyncio.sleep(0.6)  # let the server finish the slow call
        sent = (await http.get("/_sandbox/state")).json()["zapi"]["sent"]
    assert [entry["status_code"] for entry in sent] == [200]


async def test_disconnected_mode_fails_sends_and_reports_status(client: httpx.AsyncClient) -> None:
    connected = await client.get(f"{ZAPI_BASE}/status", headers=ZAPI_HEADERS)
    assert connected.json() == {"connected": True, "error": None, "smartphoneConnected": True}

    await client.post("/_sandbox/zapi/faults", json={"disconnected": True})
    status = await client.get(f"{ZAPI_BASE}/status", headers=ZAPI_HEADERS)
    send = await client.post(
        f"{ZAPI_BASE}/send-text",
        json={"phone": "5544999999999", "message": "oi"},
        headers=ZAPI_HEADERS,
    )
    assert status.json() == {
        "connected": False,
        "error": "You are not connected.",
        "smartphoneConnected": False,
    }
    assert send.status_code == 400
    assert send.json() == {"error": "You are not connected."}


async def test_read_message_returns_204_and_is_recorded(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"{ZAPI_BASE}/read-message",
        json={"phone": "5544999999999", "messageId": "3999984263738042930CD6ECDE9VDWSA"},
        headers=ZAPI_HEADERS,
    )
    assert response.status_code == 204
    assert response.content == b""
    sent = (await _state(client))["zapi"]["sent"]
    assert sent[0]["endpoint"] == "read-message"
    assert sent[0]["messageId"] == "3999984263738042930CD6ECDE9VDWSA"


async def test_reset_clears_records_and_faults_but_keeps_webhooks(
    client: httpx.AsyncClient,
) -> None:
    await client.put(
        f"{ZAPI_BASE}/update-webhook-received",
        json={"value": "http://127.0.0.1:9/hook"},
        headers=ZAPI_HEADERS,
    )
    await client.post("/_sandbox/zapi/faults", json={"disconnected": True, "send_text": [{}]})
    await client.post(
        f"{ZAPI_BASE}/read-message",
        json={"phone": "5544999999999", "messageId": "X"},
        headers=ZAPI_HEADERS,
    )
    assert (await client.post("/_sandbox/reset")).status_code == 200
    zapi = (await _state(client))["zapi"]
    assert zapi["sent"] == []
    assert zapi["faults"]["disconnected"] is False
    assert zapi["faults"]["queues"] == {}
    assert zapi["webhooks"] == {"received": "http://127.0.0.1:9/hook"}

    await client.post("/_sandbox/reset", json={"webhooks": True})
    assert (await _state(client))["zapi"]["webhooks"] == {}


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/_sandbox/healthz")
    assert response.json() == {"status": "ok"}
