"""Bad input never costs a message: every odd body gets a clear 4xx or is stored, never a 500.

Each case is sent as raw bytes, the way a broken client or an attacker would send it.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from seleto_agent.db.tables import delivery_receipts, inbound_events
from seleto_agent.domain.events import DeliveryUpdate
from tests.conftest import Sandbox, Service, wait_for
from tests.factories import message_status, received_text

MIB = 1024 * 1024
ADMIN_BODY_ROUTES = [
    "/admin/events/replay",
    "/admin/jobs/replay",
    "/admin/conversations/5511987654321/pause",
]


def raw_text_message(text_json: str, **overrides: Any) -> bytes:
    """A received text whose `text.message` is the given JSON string literal, unparsed."""
    body = received_text(text="PLACEHOLDER", **overrides)
    encoded = json.dumps(body)
    assert '"PLACEHOLDER"' in encoded
    return encoded.replace('"PLACEHOLDER"', text_json).encode()


async def stored_events(service: Service) -> list[Any]:
    async with service.runtime.engine.connect() as conn:
        rows = await conn.execute(select(inbound_events).order_by(inbound_events.c.id))
        return list(rows.all())


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error", "detail"}
    assert response.json()["error"] == code


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"[" * 200_000, id="array-nesting"),
        pytest.param(b'{"a":' * 100_000, id="object-nesting"),
        pytest.param(b'{"a":' * 100 + b"1" + b"}" * 100, id="valid-but-too-deep"),
        pytest.param(b'{"type": "ReceivedCallback", "n": ' + b"9" * 5000 + b"}", id="long-int"),
        pytest.param(b'{"type": "ReceivedCallback", "momment": NaN}', id="nan"),
        pytest.param(b'{"type": "ReceivedCallback", "momment": -Infinity}', id="infinity"),
    ],
)
async def test_unreadable_webhook_bodies_are_400_and_recorded(service: Service, raw: bytes) -> None:
    assert len(raw) < MIB
    response = await service.post_zapi(raw)
    assert_error(response, 400, "MalformedJson")
    [row] = await stored_events(service)
    assert (row.status, row.last_error) == ("ignored", "malformed_json")
    assert row.payload == raw


async def test_overflowing_float_is_stored_not_refused(service: Service) -> None:
    raw = raw_text_message('"bom dia"').replace(b'"momment": ', b'"momment": 1e999, "x": ')
    response = await service.post_zapi(raw)
    assert response.json() == {"status": "accepted"}


@pytest.mark.parametrize(
    ("text_json", "stored"),
    [
        pytest.param('"oi \\ud83d quebrado"', "oi \ufffd quebrado", id="lone-surrogate"),
        pytest.param('"oi \\udc00\\ud83d"', "oi \ufffd\ufffd", id="reversed-pair"),
        pytest.param('"oi\\u0000 tudo bem"', "oi tudo bem", id="nul"),
        pytest.param('"bom dia \\ud83d\\ude00"', "bom dia \U0001f600", id="valid-pair-kept"),
    ],
)
async def test_a_lead_message_with_broken_text_is_kept_and_answered(
    service: Service, sandbox: Sandbox, text_json: str, stored: str
) -> None:
    raw = raw_text_message(text_json, senderName="Jo\\u0000ão")
    response = await service.post_zapi(raw)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "accepted"}
    [row] = await stored_events(service)
    assert row.body_text == stored
    assert row.payload == raw
    await wait_for(lambda: len(sandbox.sent_texts()) == 1)
    assert stored in json.dumps(sandbox.model_requests()[-1], ensure_ascii=False)


async def test_nul_and_surrogates_in_ids_never_reach_the_database_raw(service: Service) -> None:
    raw = raw_text_message('"oi"').replace(b'"messageId": "', b'"messageId": "\\u0000\\udfff')
    response = await service.post_zapi(raw)
    assert response.json() == {"status": "accepted"}
    [row] = await stored_events(service)
    assert "\x00" not in row.message_id
    assert row.message_id.startswith("\ufffd")


async def count_receipts(service: Service) -> int:
    async with service.runtime.engine.connect() as conn:
        query = select(func.count()).select_from(delivery_receipts)
        return int((await conn.execute(query)).scalar_one())


async def test_a_huge_ids_callback_never_holds_a_lead_message(service: Service) -> None:
    ids = [f"3EB0{n:016X}" for n in range(40_000)]
    huge = json.dumps(message_status(ids=ids)).encode()
    assert len(huge) < MIB
    big_task = asyncio.create_task(service.post_zapi(huge))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    lead = await service.post_zapi(received_text(text="quero uma formadora"))
    lead_seconds = time.monotonic() - started
    big = await big_task
    assert lead.json() == {"status": "accepted"}
    assert big.json() == {"status": "ignored"}
    assert lead_seconds < 2, f"the lead waited {lead_seconds:.1f} s"


async def test_receipts_for_thousands_of_ids_let_a_lead_message_in_between(
    service: Service,
) -> None:
    """The database side, for however many ids reach it (the adapter may cap them first)."""
    ids = tuple(f"3EB0{n:016X}" for n in range(40_000))
    update = DeliveryUpdate(
        provider="zapi", event_type="MessageStatusCallback", provider_message_ids=ids, status="READ"
    )
    big_task = asyncio.create_task(service.runtime.ingest.ingest(raw=b"{}", classified=update))
    await wait_for(lambda: count_receipts(service), interval=0.005)
    lead = await service.post_zapi(received_text(text="quero uma formadora"))
    assert lead.json() == {"status": "accepted"}
    # Accepted while the receipts were still being written, not after all of them.
    assert not big_task.done()
    await big_task
    assert await count_receipts(service) == len(ids)


async def test_a_status_callback_with_66k_ids_is_not_a_500(service: Service) -> None:
    # Past psycopg's 65,535 bind parameters if sent as one IN list.
    ids = [f"{n:012d}" for n in range(66_000)]
    raw = json.dumps(message_status(ids=ids), separators=(",", ":")).encode()
    assert len(raw) < MIB
    response = await service.post_zapi(raw)
    assert response.json() == {"status": "ignored"}


# --- admin routes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/admin/events/99999999999999999999",
        "/admin/events/-99999999999999999999",
        "/admin/jobs/99999999999999999999",
        "/admin/events/9223372036854775808",
    ],
)
async def test_huge_path_ids_are_a_4xx(service: Service, path: str) -> None:
    response = await service.client.get(path, headers=service.admin_headers())
    assert response.status_code in (404, 422), response.text
    assert set(response.json()) == {"error", "detail"}
    replay = await service.client.post(f"{path}/replay", headers=service.admin_headers())
    assert replay.status_code in (404, 422), replay.text


async def test_largest_int64_id_is_simply_not_found(service: Service) -> None:
    response = await service.client.get(
        "/admin/events/9223372036854775807", headers=service.admin_headers()
    )
    assert_error(response, 404, "NotFound")


@pytest.mark.parametrize("route", ["/admin/events", "/admin/jobs"])
async def test_a_cursor_past_int64_is_400(service: Service, route: str) -> None:
    from seleto_agent.api.cursors import encode_cursor

    cursor = encode_cursor(99999999999999999999)
    response = await service.client.get(f"{route}?cursor={cursor}", headers=service.admin_headers())
    assert_error(response, 400, "InvalidPayload")


@pytest.mark.parametrize("route", ["/admin/events/replay", "/admin/jobs/replay"])
async def test_replay_ids_past_int64_or_too_many_are_422(service: Service, route: str) -> None:
    headers = service.admin_headers()
    huge = await service.client.post(route, json={"ids": [10**20]}, headers=headers)
    assert_error(huge, 422, "ValidationError")
    many = await service.client.post(route, json={"ids": list(range(1, 5002))}, headers=headers)
    assert_error(many, 422, "ValidationError")


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"ids": [1,', id="truncated"),
        pytest.param(b"[" * 200_000, id="array-nesting"),
        pytest.param(b'{"a":' * 100_000, id="object-nesting"),
        pytest.param(b"\xff\xfe{}", id="not-utf8"),
        pytest.param(b'{"ids": [1], "status": NaN}', id="nan"),
    ],
)
@pytest.mark.parametrize("route", ADMIN_BODY_ROUTES)
async def test_malformed_admin_json_is_400(service: Service, route: str, raw: bytes) -> None:
    headers = {**service.admin_headers(), "content-type": "application/json"}
    response = await service.client.post(route, content=raw, headers=headers)
    assert_error(response, 400, "MalformedJson")


@pytest.mark.parametrize("route", ADMIN_BODY_ROUTES)
async def test_admin_bodies_over_1_mib_are_413(service: Service, route: str) -> None:
    raw = json.dumps({"ids": [1], "pad": "x" * MIB}).encode()
    headers = {**service.admin_headers(), "content-type": "application/json"}
    response = await service.client.post(route, content=raw, headers=headers)
    assert_error(response, 413, "PayloadTooLarge")


async def test_a_chunked_body_over_1_mib_is_413_without_content_length(service: Service) -> None:
    async def chunks() -> Any:
        for _ in range(3):
            yield b"x" * (MIB // 2)

    headers = {**service.admin_headers(), "content-type": "application/json"}
    response = await service.client.post("/admin/events/replay", content=chunks(), headers=headers)
    assert_error(response, 413, "PayloadTooLarge")
    webhook = await service.client.post("/webhooks/zapi/test-webhook-token", content=chunks())
    assert_error(webhook, 413, "PayloadTooLarge")


async def test_admin_body_with_a_lone_surrogate_is_a_4xx(service: Service) -> None:
    headers = {**service.admin_headers(), "content-type": "application/json"}
    raw = b'{"ids": [1], "status": "\\ud83d"}'
    response = await service.client.post("/admin/events/replay", content=raw, headers=headers)
    assert_error(response, 422, "ValidationError")


# --- the Chatwoot webhook reads its body by the same rules ---------------------------------

CHATWOOT_TOKEN = "bad-input-chatwoot-token"


async def post_chatwoot(service: Service, raw: bytes) -> Any:
    return await service.client.post(
        f"/webhooks/chatwoot/{CHATWOOT_TOKEN}",
        content=raw,
        headers={"content-type": "application/json"},
    )


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"[" * 200_000, id="array-nesting"),
        pytest.param(b'{"a":' * 100_000, id="object-nesting"),
        pytest.param(b'{"event": "message_created", "id": NaN}', id="nan"),
    ],
)
async def test_unreadable_chatwoot_bodies_are_400_and_recorded(
    service_factory: Any, raw: bytes
) -> None:
    service: Service = await service_factory(chatwoot_webhook_token=CHATWOOT_TOKEN)
    response = await post_chatwoot(service, raw)
    assert_error(response, 400, "MalformedJson")
    [row] = await stored_events(service)
    assert (row.provider, row.last_error, row.payload) == ("chatwoot", "malformed_json", raw)


async def test_a_chatwoot_event_name_with_nul_and_a_lone_surrogate_is_stored(
    service_factory: Any,
) -> None:
    service: Service = await service_factory(chatwoot_webhook_token=CHATWOOT_TOKEN)
    raw = b'{"event": "conversation_updated\\u0000\\ud83d", "id": 7}'
    response = await post_chatwoot(service, raw)
    assert response.json() == {"status": "ignored"}
    [row] = await stored_events(service)
    assert row.event_type == "conversation_updated\ufffd"
    assert row.payload == raw


async def test_a_lid_lookup_with_unicode_digits_is_404(service: Service) -> None:
    # "٥٥" are digits to str.isdigit(), but no WhatsApp id is made of them (found by the fuzz test).
    response = await service.client.get(
        "/admin/conversations/lid:٥٥١١٩٨٧", headers=service.admin_headers()
    )
    assert response.status_code == 404
    assert response.json()["error"] == "NotFound"
