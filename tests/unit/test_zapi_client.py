"""The real Z-API client against the sandbox simulator over HTTP."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from seleto_agent.integrations.zapi.client import (
    ZApiBadToken,
    ZApiClient,
    ZApiNotConnected,
    ZApiRejected,
    ZApiUnavailable,
)
from tests.conftest import Sandbox


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


def client(http: httpx.AsyncClient, sandbox: Sandbox, **overrides: str | None) -> ZApiClient:
    values: dict[str, str | None] = {
        "instance_id": "SANDBOX-INSTANCE",
        "instance_token": "sandbox-instance-token",
        "client_token": "sandbox-client-token",
    }
    values.update(overrides)
    return ZApiClient(
        http=http,
        base_url=sandbox.url,
        instance_id=str(values["instance_id"]),
        instance_token=str(values["instance_token"]),
        client_token=values["client_token"],
        retry_wait_max_seconds=0.05,
    )


async def test_send_text_returns_zapi_ids(http: httpx.AsyncClient, sandbox: Sandbox) -> None:
    sent = await client(http, sandbox).send_text(to="5511987654321", text="Olá!")
    recorded = sandbox.sent_texts()[0]
    assert sent.provider_message_id == recorded["messageId"]
    assert sent.provider_zaap_id == recorded["zaapId"]
    assert recorded["body"]["message"] == "Olá!"


async def test_429_with_retry_after_is_retried(http: httpx.AsyncClient, sandbox: Sandbox) -> None:
    sandbox.zapi_faults(send_text=[{"status": 429, "retry_after": 1}])
    started = time.monotonic()
    await client(http, sandbox).send_text(to="5511987654321", text="oi")
    assert time.monotonic() - started >= 1.0
    codes = [s["status_code"] for s in sandbox.state()["zapi"]["sent"]]
    assert codes == [429, 200]


async def test_persistent_5xx_raises_unavailable(http: httpx.AsyncClient, sandbox: Sandbox) -> None:
    sandbox.zapi_faults(send_text=[{"status": 502}] * 3)
    with pytest.raises(ZApiUnavailable):
        await client(http, sandbox).send_text(to="5511987654321", text="oi")


async def test_missing_client_token_is_a_bad_token_error(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    with pytest.raises(ZApiBadToken) as caught:
        await client(http, sandbox, client_token=None).send_text(to="5511987654321", text="oi")
    assert not caught.value.retryable


async def test_disconnected_instance(http: httpx.AsyncClient, sandbox: Sandbox) -> None:
    sandbox.zapi_faults(disconnected=True)
    with pytest.raises(ZApiNotConnected):
        await client(http, sandbox).send_text(to="5511987654321", text="oi")


async def test_invalid_phone_is_rejected(http: httpx.AsyncClient, sandbox: Sandbox) -> None:
    with pytest.raises(ZApiRejected):
        await client(http, sandbox).send_text(to="+55 11", text="oi")


async def test_read_message_accepts_204(http: httpx.AsyncClient, sandbox: Sandbox) -> None:
    await client(http, sandbox).mark_read(to="5511987654321", message_id="ABC")
    reads = [s for s in sandbox.state()["zapi"]["sent"] if s["endpoint"] == "read-message"]
    assert reads[0]["status_code"] == 204
