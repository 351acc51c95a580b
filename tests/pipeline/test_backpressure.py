"""Back-pressure on the webhooks: past INGEST_MAX_INFLIGHT in flight, and while the database
cannot be reached, a 503 with Retry-After (the providers re-send); never a dropped connection,
never a 500, and every webhook that got its 200 is stored."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import psycopg
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from seleto_agent.app import create_app
from seleto_agent.db.tables import inbound_events
from seleto_agent.runtime import build_runtime
from tests.conftest import WEBHOOK_TOKEN, Sandbox, Service, listening, make_settings
from tests.factories import received_text


@contextmanager
def writes_blocked(database_url: str) -> Iterator[None]:
    """Another session holds what an insert of an event needs, as a long transaction would."""
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("begin immediate")
        try:
            yield
        finally:
            conn.execute("rollback")
            conn.close()
        return
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(dsn) as pg:
        pg.execute("lock table inbound_events in exclusive mode")
        try:
            yield
        finally:
            pg.rollback()


def shed_count() -> float:
    return REGISTRY.get_sample_value("seleto_webhooks_shed_total") or 0.0


async def stored(service: Service) -> int:
    async with service.runtime.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(inbound_events)) or 0)


async def test_webhooks_past_the_limit_are_shed_and_none_that_got_a_200_is_lost(
    service_factory: Any, database_url: str
) -> None:
    service: Service = await service_factory(ingest_max_inflight=1, worker_embedded=False)
    shed_before = shed_count()
    first = received_text(phone="5511987650001", text="oi", message_id="shed-1")
    second = received_text(phone="5511987650002", text="olá", message_id="shed-2")
    with writes_blocked(database_url):
        slow = asyncio.create_task(service.post_zapi(first))
        await asyncio.sleep(0.5)  # the first webhook now waits for the database
        shed = await service.post_zapi(second)
        assert shed.status_code == 503
        assert shed.headers["retry-after"] == "1"
        assert shed.json()["error"] == "Overloaded"
    assert (await slow).json() == {"status": "accepted"}
    # The provider re-sends the shed one; it is stored then, once.
    assert (await service.post_zapi(second)).json() == {"status": "accepted"}
    assert await stored(service) == 2
    assert shed_count() == shed_before + 1


async def test_a_database_that_cannot_be_reached_is_a_503_with_retry_after(
    sandbox: Sandbox,
) -> None:
    settings = make_settings(
        "postgresql://postgres@127.0.0.1:1/nowhere", sandbox.url, worker_embedded=False
    )
    runtime = build_runtime(settings)
    transport = httpx.ASGITransport(app=create_app(runtime))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post(
                f"/webhooks/zapi/{WEBHOOK_TOKEN}", json=received_text(phone="5511987650003")
            )
    finally:
        await runtime.engine.dispose()
        await runtime.http.aclose()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.json()["error"] == "DatabaseUnavailable"


async def test_a_shed_webhook_with_a_large_body_gets_its_503_on_a_real_socket(
    service_factory: Any, database_url: str
) -> None:
    service: Service = await service_factory(ingest_max_inflight=1, worker_embedded=False)
    first = received_text(phone="5511987650004", text="oi", message_id="shed-big-1")
    # Near the body limit: still being sent when the shed answer is ready.
    big = received_text(phone="5511987650005", text="x" * 900_000, message_id="shed-big-2")
    async with listening(service) as base, httpx.AsyncClient(base_url=base, timeout=10) as http:
        with writes_blocked(database_url):
            slow = asyncio.create_task(http.post(f"/webhooks/zapi/{WEBHOOK_TOKEN}", json=first))
            await asyncio.sleep(0.5)
            shed = await http.post(f"/webhooks/zapi/{WEBHOOK_TOKEN}", json=big)
        assert shed.status_code == 503
        assert (await slow).status_code == 200
        # The same connection pool goes on working.
        again = await http.post(f"/webhooks/zapi/{WEBHOOK_TOKEN}", json=big)
    assert again.json() == {"status": "accepted"}
