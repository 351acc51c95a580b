"""The real Z-API client against the sandbox simulator over HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from seleto_agent.integrations.whatsapp import WhatsAppOutcomeUnknown
from seleto_agent.integrations.zapi.client import (
    ZApiBadToken,
    ZApiClient,
    ZApiNotConnected,
    ZApiOutcomeUnknown,
    ZApiRejected,
    ZApiUnavailable,
)
from tests.conftest import Sandbox, free_port


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


def client(
    http: httpx.AsyncClient, sandbox: Sandbox, base_url: str | None = None, **overrides: str | None
) -> ZApiClient:
    values: dict[str, str | None] = {
        "instance_id": "SANDBOX-INSTANCE",
        "instance_token": "sandbox-instance-token",
        "client_token": "sandbox-client-token",
    }
    values.update(overrides)
    return ZApiClient(
        http=http,
        base_url=base_url or sandbox.url,
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


def sends(sandbox: Sandbox) -> list[dict[str, object]]:
    return [s for s in sandbox.state()["zapi"]["sent"] if s["endpoint"] == "send-text"]


async def test_5xx_is_an_unknown_outcome_and_not_retried(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    sandbox.zapi_faults(send_text=[{"status": 502}] * 3)
    with pytest.raises(ZApiOutcomeUnknown) as caught:
        await client(http, sandbox).send_text(to="5511987654321", text="oi")
    assert isinstance(caught.value, WhatsAppOutcomeUnknown)
    assert caught.value.status_code == 502
    assert [s["status_code"] for s in sends(sandbox)] == [502]


async def test_answer_after_the_timeout_is_unknown_and_sent_once(sandbox: Sandbox) -> None:
    sandbox.zapi_faults(send_text=[{"respond_after": 1.0}] * 3)
    async with httpx.AsyncClient(timeout=0.3) as short:
        with pytest.raises(ZApiOutcomeUnknown, match="ReadTimeout"):
            await client(short, sandbox).send_text(to="5511987654321", text="oi")
    assert len(sandbox.sent_texts()) == 1


async def test_5xx_after_the_message_was_accepted_is_unknown_and_sent_once(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    sandbox.zapi_faults(send_text=[{"respond_status": 500}] * 3)
    with pytest.raises(ZApiOutcomeUnknown):
        await client(http, sandbox).send_text(to="5511987654321", text="oi")
    assert len(sandbox.sent_texts()) == 1


async def test_success_without_a_message_id_is_not_a_send(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    sandbox.zapi_faults(send_text=[{"respond_status": 200}])
    with pytest.raises(ZApiOutcomeUnknown, match="without a message id"):
        await client(http, sandbox).send_text(to="5511987654321", text="oi")
    assert len(sandbox.sent_texts()) == 1


async def test_connect_error_is_retried_in_call_and_never_unknown(sandbox: Sandbox) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    async with httpx.AsyncClient(timeout=1) as http:
        with pytest.raises(ZApiUnavailable, match="ConnectError") as caught:
            await client(http, sandbox, base_url=closed).send_text(to="5511987654321", text="oi")
    assert caught.value.retryable
    assert not isinstance(caught.value, WhatsAppOutcomeUnknown)
    assert sandbox.sent_texts() == []


async def test_no_free_connection_is_retried_in_call_and_sent_once(sandbox: Sandbox) -> None:
    """A pool timeout happens before any byte leaves: the retry sends the only copy."""
    sandbox.zapi_faults(read_message=[{"delay": 0.4}])
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(timeout=httpx.Timeout(2.0, pool=0.25), limits=limits) as http:
        zapi = client(http, sandbox)
        busy = asyncio.create_task(zapi.mark_read(to="5511987654321", message_id="ABC"))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        sent = await zapi.send_text(to="5511987654321", text="oi")
        waited = time.monotonic() - started
        await busy
    # At least one pool timeout (0.25 s) passed before the slot was free.
    assert waited >= 0.25
    [copy] = sandbox.sent_texts()
    assert sent.provider_message_id == copy["messageId"]


async def test_read_message_is_idempotent_and_retried_after_a_5xx(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    sandbox.zapi_faults(read_message=[{"status": 500}])
    await client(http, sandbox).mark_read(to="5511987654321", message_id="ABC")
    reads = [s for s in sandbox.state()["zapi"]["sent"] if s["endpoint"] == "read-message"]
    assert [r["status_code"] for r in reads] == [500, 204]


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
