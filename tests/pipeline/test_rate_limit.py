"""The per-address limit on public routes: 429 with Retry-After in the error shape past it, while
webhooks and /healthz are never limited."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Service
from tests.factories import received_text


async def test_past_the_limit_a_client_gets_429_with_retry_after(service_factory: Any) -> None:
    service: Service = await service_factory(rate_limit_per_ip_per_minute=3, worker_embedded=False)
    for _ in range(3):
        assert (await service.client.get("/readyz")).status_code == 200
    refused = await service.client.get("/readyz")
    assert refused.status_code == 429
    assert refused.json()["error"] == "RateLimited"
    assert "3 requests a minute" in refused.json()["detail"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # One budget per address for every limited route, the admin API included.
    admin = await service.client.get("/admin/flags", headers=service.admin_headers())
    assert admin.status_code == 429
    assert "retry-after" in admin.headers
    # Another address has a budget of its own.
    other = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=service.app, client=("203.0.113.9", 40000)),
        base_url="http://service",
    )
    async with other:
        assert (await other.get("/readyz")).status_code == 200


async def test_webhooks_and_liveness_are_never_limited(service_factory: Any) -> None:
    service: Service = await service_factory(rate_limit_per_ip_per_minute=2, worker_embedded=False)
    for _ in range(2):
        await service.client.get("/metrics")
    assert (await service.client.get("/metrics")).status_code == 429
    # A provider's burst from one address: every callback is taken.
    for number in range(10):
        response = await service.post_zapi(received_text(text=f"mensagem {number}"))
        assert response.status_code == 200
        assert response.json()["status"] == "accepted"
    for _ in range(5):
        assert (await service.client.get("/healthz")).status_code == 200


async def test_zero_turns_the_limit_off(service_factory: Any) -> None:
    service: Service = await service_factory(rate_limit_per_ip_per_minute=0, worker_embedded=False)
    for _ in range(50):
        assert (await service.client.get("/readyz")).status_code == 200
