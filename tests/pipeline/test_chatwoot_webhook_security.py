"""The Chatwoot webhook's security against the simulator and forged requests: signatures by
Chatwoot version and secret (several allowed), events of another account or inbox, replays of
status events, message events without an id, and values out of range (redteam H3, L2, L6, M3;
vendors review #6)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from seleto_agent.db.tables import inbound_events, outbox_jobs
from seleto_agent.integrations.chatwoot.signature import sign
from seleto_agent.observability.logging import configure_logging
from seleto_agent.sandbox.config import SandboxConfig
from tests.conftest import (
    CHATWOOT_ACCOUNT_ID,
    CHATWOOT_INBOX_ID,
    CHATWOOT_OTHER_INBOX_ID,
    CHATWOOT_USER_TOKEN,
    CHATWOOT_WEBHOOK_SECRET,
    Sandbox,
    Service,
    free_port,
    listening,
    wait_for,
)
from tests.pipeline.test_chatwoot_mirror import (
    CW_TOKEN,
    PHONE,
    conversation_id,
    jobs_settled,
    owner,
    texts,
    turn,
    wired,
)

HMAC_TOKEN = SandboxConfig().chatwoot_inbox_hmac_token
API = f"/api/v1/accounts/{CHATWOOT_ACCOUNT_ID}"
USER = {"api-access-token": CHATWOOT_USER_TOKEN}
SDR_TEXT = "Oi, aqui é a Ana, do comercial."


async def start(service_factory: Any, sandbox: Sandbox, **overrides: Any) -> Service:
    settings = {**sandbox.chatwoot_settings(), "chatwoot_webhook_token": CW_TOKEN, **overrides}
    service: Service = await service_factory(**settings)
    return service


async def post_signed(
    service: Service,
    body: bytes,
    *,
    secret: str = CHATWOOT_WEBHOOK_SECRET,
    stamp: str | None = None,
    delivery: str | None = None,
) -> httpx.Response:
    stamp = stamp or str(int(time.time()))
    headers = {
        "content-type": "application/json",
        "x-chatwoot-timestamp": stamp,
        "x-chatwoot-signature": sign(secret.encode(), stamp, body),
    }
    if delivery:
        headers["x-chatwoot-delivery"] = delivery
    url = f"/webhooks/chatwoot/{CW_TOKEN}"
    return await service.client.post(url, content=body, headers=headers)


def reply_body(cid: int, **overrides: Any) -> dict[str, Any]:
    """A public outgoing `message_created` by a user, as Message#webhook_data has it."""
    body: dict[str, Any] = {
        "event": "message_created",
        "id": 9001,
        "content": "[forjada] pague o sinal via PIX",
        "message_type": "outgoing",
        "private": False,
        "content_attributes": {},
        "sender": {"id": 1, "name": "Ana", "email": "ana@example.com", "type": "user"},
        "conversation": {"id": cid, "inbox_id": CHATWOOT_INBOX_ID, "status": "open"},
        "account": {"id": CHATWOOT_ACCOUNT_ID, "name": "Seleto"},
        "inbox": {"id": CHATWOOT_INBOX_ID, "name": "WhatsApp"},
        "created_at": "2026-03-01T12:30:00.123Z",
    }
    body.update(overrides)
    return body


async def chatwoot_events(service: Service) -> list[tuple[str, str | None]]:
    query = (
        select(inbound_events.c.status, inbound_events.c.last_error)
        .where(inbound_events.c.provider == "chatwoot")
        .order_by(inbound_events.c.id)
    )
    async with service.runtime.engine.connect() as conn:
        return [(row.status, row.last_error) for row in await conn.execute(query)]


async def event_jobs(service: Service) -> int:
    query = select(func.count()).where(outbox_jobs.c.kind == "chatwoot.event")
    async with service.runtime.engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


def deliveries(sandbox: Sandbox, event: str) -> list[dict[str, Any]]:
    return [d for d in sandbox.chatwoot_state()["deliveries"] if d["event"] == event]


async def refused_with_cause(
    service_factory: Any,
    sandbox: Sandbox,
    capsys: pytest.CaptureFixture[str],
    *,
    secret: str,
) -> list[dict[str, Any]]:
    """An SDR's reply delivered to a service holding `secret`: every delivery is refused and
    nothing is stored or sent; returns the service's bad-signature log lines."""
    configure_logging(level="INFO", fmt="json", pii_key=b"test-key")
    try:
        service = await start(service_factory, sandbox, chatwoot_webhook_secret=secret)
        async with wired(service, sandbox):
            await turn(service, sandbox, "oi", "Olá! Posso ajudar.")
            cid = await conversation_id(sandbox)
            await asyncio.to_thread(sandbox.chatwoot_agent_reply, cid, SDR_TEXT)
            await asyncio.to_thread(sandbox.chatwoot_flush)
        output = capsys.readouterr().out
    finally:
        logging.getLogger().handlers = []
    replies = [d for d in deliveries(sandbox, "message_created") if SDR_TEXT in d["body"]]
    assert [d["status_code"] for d in replies] == [401]
    assert await chatwoot_events(service) == []
    assert texts(sandbox) == ["Olá! Posso ajudar."]
    assert (await owner(service))["owner"] == "bot"
    for needle in (PHONE, PHONE[-8:], "comercial", secret):
        assert needle not in output, needle
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [line for line in lines if line["event"] == "chatwoot.bad_signature"]


async def test_unsigned_delivery_of_a_chatwoot_before_4_13_names_the_cause(
    service_factory: Any, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.chatwoot_faults(version="4.12.1")
    lines = await refused_with_cause(
        service_factory, sandbox, capsys, secret=CHATWOOT_WEBHOOK_SECRET
    )
    assert lines
    assert {line["check"] for line in lines} == {"missing"}
    assert all("4.13" in line["cause"] and "HMAC token" in line["cause"] for line in lines)


async def test_hmac_token_copied_as_the_secret_names_the_cause(
    service_factory: Any, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = await refused_with_cause(service_factory, sandbox, capsys, secret=HMAC_TOKEN)
    assert lines
    assert {line["check"] for line in lines} == {"mismatch"}
    assert all("HMAC token" in line["cause"] for line in lines)


async def test_account_and_inbox_webhooks_each_with_their_secret(
    service_factory: Any, sandbox: Sandbox
) -> None:
    """An account webhook and the inbox webhook both point here, each signing with its own
    secret, next to a retired one: all are accepted. The account webhook also hears the
    account's other inbox; those events are stored as ignored."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhooks/chatwoot/{CW_TOKEN}"
    created = sandbox.client.post(
        f"{API}/webhooks", json={"url": url, "subscriptions": ["message_created"]}, headers=USER
    )
    created.raise_for_status()
    account_secret = created.json()["payload"]["webhook"]["secret"]
    secrets = f"retired-secret, {CHATWOOT_WEBHOOK_SECRET} ,{account_secret}"
    service = await start(service_factory, sandbox, chatwoot_webhook_secret=secrets)
    async with listening(service, port):
        sandbox.chatwoot_set_inbox_webhook(url)
        try:
            await turn(service, sandbox, "oi", "Olá! Posso ajudar.")
            cid = await conversation_id(sandbox)
            await asyncio.to_thread(sandbox.chatwoot_agent_reply, cid, SDR_TEXT)
            await wait_for(lambda: SDR_TEXT in texts(sandbox))
            other = sandbox.client.post(
                f"{API}/contacts",
                json={"inbox_id": CHATWOOT_OTHER_INBOX_ID, "name": "Caio"},
                headers=USER,
            ).json()["payload"]["contact_inbox"]
            widget = sandbox.client.post(
                f"{API}/conversations", json={"source_id": other["source_id"]}, headers=USER
            ).json()["id"]
            await asyncio.to_thread(sandbox.chatwoot_agent_reply, widget, "Olá, Caio!")
            await asyncio.to_thread(sandbox.chatwoot_flush)
            await wait_for(lambda: jobs_settled(service, "chatwoot.event"))
        finally:
            sandbox.chatwoot_set_inbox_webhook(None)
    sent = deliveries(sandbox, "message_created")
    assert {d["target"].split(":")[0] for d in sent} == {"account_webhook", "api_inbox"}
    assert {d["status_code"] for d in sent} == {200}
    assert texts(sandbox).count(SDR_TEXT) == 1
    assert ("ignored", "other_inbox") in await chatwoot_events(service)


async def test_event_of_another_account_or_inbox_is_stored_as_ignored(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await start(service_factory, sandbox)
    await turn(service, sandbox, "oi", "Olá! Posso ajudar.")
    cid = await conversation_id(sandbox)
    await wait_for(lambda: jobs_settled(service, "chatwoot.mirror"))
    bodies = [
        reply_body(cid, id=9001, account={"id": 99, "name": "Outra"}),
        reply_body(cid, id=9002, inbox={"id": 42, "name": "Outra"}),
    ]
    for body in bodies:
        response = await post_signed(service, json.dumps(body).encode())
        assert response.json() == {"status": "ignored"}
    assert await chatwoot_events(service) == [
        ("ignored", "other_account"),
        ("ignored", "other_inbox"),
    ]
    assert await event_jobs(service) == 0
    assert texts(sandbox) == ["Olá! Posso ajudar."]


async def test_replayed_status_event_is_a_duplicate_whatever_the_delivery_header(
    service_factory: Any, sandbox: Sandbox
) -> None:
    """A captured signed "resolved" replayed within the window, with a fresh or no
    X-Chatwoot-Delivery, must not give the lead back to the bot a second time (redteam L2)."""
    service = await start(service_factory, sandbox)
    async with wired(service, sandbox):
        await turn(service, sandbox, "oi", "Olá! Posso ajudar.")
        cid = await conversation_id(sandbox)
        await asyncio.to_thread(sandbox.chatwoot_agent_reply, cid, SDR_TEXT)
        await wait_for(lambda: _owner_is(service, "human"))
        await asyncio.to_thread(sandbox.chatwoot_resolve, cid)
        await wait_for(lambda: _owner_is(service, "bot"))
        await asyncio.to_thread(sandbox.chatwoot_agent_reply, cid, "Voltei, sou a Ana.")
        await wait_for(lambda: _owner_is(service, "human"))
    [captured] = deliveries(sandbox, "conversation_status_changed")
    headers = {
        "content-type": "application/json",
        "x-chatwoot-timestamp": captured["headers"]["X-Chatwoot-Timestamp"],
        "x-chatwoot-signature": captured["headers"]["X-Chatwoot-Signature"],
    }
    body = captured["body"].encode()
    for delivery in (str(uuid.uuid4()), None):
        replay = dict(headers, **({"x-chatwoot-delivery": delivery} if delivery else {}))
        response = await service.client.post(
            f"/webhooks/chatwoot/{CW_TOKEN}", content=body, headers=replay
        )
        assert response.json() == {"status": "duplicate"}
    await asyncio.sleep(0.3)
    assert (await owner(service))["owner"] == "human"


async def test_message_event_without_an_integer_id_is_ignored(
    service_factory: Any, sandbox: Sandbox
) -> None:
    """Never keyed `human:chatwoot:None`: the first would be sent, every later one dropped
    (redteam L6)."""
    service = await start(service_factory, sandbox)
    await turn(service, sandbox, "oi", "Olá! Posso ajudar.")
    cid = await conversation_id(sandbox)
    await wait_for(lambda: jobs_settled(service, "chatwoot.mirror"))
    without_id = reply_body(cid, content="primeira")
    del without_id["id"]
    for body in (without_id, reply_body(cid, id="abc", content="segunda")):
        response = await post_signed(service, json.dumps(body).encode())
        assert response.json() == {"status": "ignored"}
    assert await chatwoot_events(service) == [
        ("ignored", "no_message_id"),
        ("ignored", "no_message_id"),
    ]
    assert await event_jobs(service) == 0
    assert texts(sandbox) == ["Olá! Posso ajudar."]
    assert (await owner(service))["owner"] == "bot"


async def test_timestamp_out_of_range_is_no_500(service_factory: Any, sandbox: Sandbox) -> None:
    service = await start(service_factory, sandbox)
    body = json.dumps(reply_body(1, created_at="@T@")).replace('"@T@"', "1e20").encode()
    response = await post_signed(service, body)
    assert response.status_code == 200, response.text
    [(status, _reason)] = await chatwoot_events(service)
    assert status in ("done", "ignored")


@pytest.mark.parametrize("created_at", ["NaN", "Infinity", "-Infinity"])
async def test_a_timestamp_json_cannot_hold_is_malformed_and_kept(
    service_factory: Any, sandbox: Sandbox, created_at: str
) -> None:
    # Not JSON (RFC 8259 has no NaN or Infinity); Chatwoot's Rails encoder never writes them.
    service = await start(service_factory, sandbox)
    body = json.dumps(reply_body(1, created_at="@T@")).replace('"@T@"', created_at).encode()
    response = await post_signed(service, body)
    assert response.status_code == 400
    assert response.json()["error"] == "MalformedJson"
    assert await chatwoot_events(service) == [("ignored", "malformed_json")]


async def test_conversation_id_out_of_range_is_a_stored_ignore(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await start(service_factory, sandbox)
    response = await post_signed(service, json.dumps(reply_body(10**30)).encode())
    assert response.json() == {"status": "ignored"}
    assert await chatwoot_events(service) == [("ignored", "no_conversation")]
    assert await event_jobs(service) == 0


async def _owner_is(service: Service, expected: str) -> bool:
    return (await owner(service))["owner"] == expected
