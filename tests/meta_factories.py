"""Cloud API webhook bodies built from the vendor fixtures (tests/fixtures/vendor/meta), signed as
Meta signs them, and posted to the service."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import httpx

from seleto_agent.integrations.meta.signature import sign
from tests.conftest import Service

FIXTURES = Path(__file__).parent / "fixtures" / "vendor" / "meta"
# pywa's revoked app secret and the number of its signed body (fixtures/vendor/meta/SOURCES.md).
APP_SECRET = "1222e786b144d0e85b9f365372d93676"
SIGNED_SIGNATURE = "sha256=54edfa1d7259e0eb13c677cc7d73d1b5c86cfa12433d19156e058ab9251bc441"
PHONE_NUMBER_ID = "277321005464405"
VERIFY_TOKEN = "meta-verify-token-for-tests"
LEAD = "5547988776655"
BSUID = "BR.1502576394655843"


def meta_settings(**overrides: Any) -> dict[str, Any]:
    """`service_factory` overrides for a service that takes Cloud API webhooks."""
    return {
        "meta_app_secret": APP_SECRET,
        "meta_phone_number_id": PHONE_NUMBER_ID,
        "meta_verify_token": VERIFY_TOKEN,
        **overrides,
    }


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def signed_body() -> bytes:
    return (FIXTURES / "signed_text_message.json").read_bytes()


def item(group: str, key: str, **overrides: Any) -> dict[str, Any]:
    """One `messages[i]` (group "message") or `statuses[i]` (group "status") fixture, with a
    fresh wamid unless given (pywa's ids repeat across variants)."""
    found: dict[str, Any] = copy.deepcopy(fixture(f"{group}_items.json")[key])
    found["id"] = f"wamid.{uuid.uuid4().hex}"
    found.update(overrides)
    return found


def text_message(
    text: str = "Olá, quero uma formadora", *, phone: str | None = LEAD, **overrides: Any
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "id": f"wamid.{uuid.uuid4().hex}",
        "timestamp": "1749416383",
        "type": "text",
        "text": {"body": text},
    }
    if phone is not None:
        message["from"] = phone
    message.update(overrides)
    return message


def contact(
    phone: str | None = LEAD, *, bsuid: str | None = None, **profile: str
) -> dict[str, Any]:
    found: dict[str, Any] = {"profile": {"name": "Marcos", **profile}}
    if phone is not None:
        found["wa_id"] = phone
    if bsuid is not None:
        found["user_id"] = bsuid
    return found


def change(
    *,
    messages: list[dict[str, Any]] | None = None,
    statuses: list[dict[str, Any]] | None = None,
    errors: list[dict[str, Any]] | None = None,
    contacts: list[dict[str, Any]] | None = None,
    phone_number_id: str = PHONE_NUMBER_ID,
    field: str = "messages",
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
    }
    if messages is not None:
        value["contacts"] = contacts if contacts is not None else [contact()]
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    if errors is not None:
        value["errors"] = errors
    return {"value": value, "field": field}


def envelope(*changes: dict[str, Any], entries: int = 1) -> dict[str, Any]:
    """`entries` entries, each holding all of `changes`."""
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": f"10229012934039{e}", "changes": list(changes)} for e in range(entries)],
    }


async def post_meta(
    service: Service,
    body: dict[str, Any] | bytes,
    *,
    signature: str | None = None,
    signed: bool = True,
) -> httpx.Response:
    """Post as Meta does: the raw bytes, signed with APP_SECRET unless `signature` is given or
    `signed` is False."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    elif signed:
        headers["X-Hub-Signature-256"] = sign(APP_SECRET.encode(), raw)
    return await service.client.post("/webhooks/meta", content=raw, headers=headers)
