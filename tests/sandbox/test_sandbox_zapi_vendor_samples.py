"""The Z-API simulator against Z-API's own sample requests and answers
(tests/fixtures/vendor/zapi, copied from the vendor's docs): what the docs send is accepted, and
what the simulator answers has the documented shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.sandbox.sandbox_helpers import ZAPI_BASE, ZAPI_HEADERS

VENDOR = Path(__file__).resolve().parents[1] / "fixtures" / "vendor" / "zapi"


def vendor(name: str) -> Any:
    return json.loads((VENDOR / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("endpoint", "request_file", "answer_file"),
    [
        ("send-text", "send_text_request.json", "send_text_response_200.json"),
        ("send-audio", "send_audio_request_url.json", "send_audio_response_200.json"),
        ("send-audio", "send_audio_request_base64.json", "send_audio_response_200.json"),
    ],
)
async def test_documented_send_requests_get_the_documented_answer(
    client: httpx.AsyncClient, endpoint: str, request_file: str, answer_file: str
) -> None:
    response = await client.post(
        f"{ZAPI_BASE}/{endpoint}", json=vendor(request_file), headers=ZAPI_HEADERS
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == set(vendor(answer_file))
    assert body["id"] == body["messageId"]


async def test_documented_read_message_request_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"{ZAPI_BASE}/read-message", json=vendor("read_message_request.json"), headers=ZAPI_HEADERS
    )
    assert response.status_code == 204


async def test_documented_webhook_registration_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.put(
        f"{ZAPI_BASE}/update-webhook-received",
        json=vendor("update_webhook_received_request.json"),
        headers=ZAPI_HEADERS,
    )
    assert response.json() == {"value": True}


async def test_a_missing_client_token_gets_the_documented_error(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(f"{ZAPI_BASE}/send-text", json=vendor("send_text_request.json"))
    assert response.json() == vendor("error_client_token_missing.json")
