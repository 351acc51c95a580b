"""Readiness, metrics and the access rules of each route family."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from seleto_agent.app import create_app
from seleto_agent.observability.logging import configure_logging
from seleto_agent.runtime import build_runtime
from seleto_agent.settings import Settings
from tests.conftest import Sandbox, Service, make_settings


async def readyz_without_lifespan(settings: Settings) -> httpx.Response:
    runtime = build_runtime(settings)
    transport = httpx.ASGITransport(app=create_app(runtime))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get("/readyz")
    finally:
        await runtime.engine.dispose()
        await runtime.http.aclose()


async def test_healthz_readyz_and_metrics_answer(service: Service) -> None:
    assert (await service.client.get("/healthz")).json() == {"status": "ok"}
    assert (await service.client.get("/readyz")).json() == {
        "status": "ready",
        "details": {"whatsapp_provider": "zapi"},
    }
    metrics = await service.client.get("/metrics")
    assert "seleto_webhooks_total" in metrics.text


async def test_readyz_is_503_when_the_database_is_down(sandbox: Sandbox) -> None:
    settings = make_settings(
        "postgresql://postgres@127.0.0.1:1/nowhere", sandbox.url, worker_embedded=False
    )
    response = await readyz_without_lifespan(settings)
    assert response.status_code == 503
    assert "database unavailable" in response.json()["reason"]


async def test_readyz_is_503_before_migrations(sandbox: Sandbox, tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'fresh.db'}", sandbox.url)
    response = await readyz_without_lifespan(settings)
    assert response.status_code == 503
    assert "migrations not applied" in response.json()["reason"]


async def test_admin_requires_the_bearer_token(service: Service) -> None:
    assert (await service.client.get("/admin/events")).status_code == 401
    wrong = await service.client.get("/admin/events", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "Unauthorized"
    ok = await service.client.get("/admin/events", headers=service.admin_headers())
    assert ok.json() == {"items": [], "next_cursor": None}


async def test_admin_is_503_when_no_admin_token_is_set(service_factory: Any) -> None:
    service: Service = await service_factory(admin_token=None)
    response = await service.client.get("/admin/events", headers={"Authorization": "Bearer x"})
    assert response.status_code == 503
    assert response.json()["error"] == "NotConfigured"


async def test_agentos_routes_need_the_os_key_while_ours_stay_public(service_factory: Any) -> None:
    service: Service = await service_factory(os_security_key="os-key")
    assert (await service.client.get("/agents")).status_code == 401
    listed = await service.client.get("/agents", headers={"Authorization": "Bearer os-key"})
    assert listed.status_code == 200
    assert [a["id"] for a in listed.json()] == ["seleto-sdr"]
    assert (await service.client.get("/healthz")).status_code == 200
    assert (await service.client.get("/readyz")).status_code == 200
    assert (await service.client.post("/webhooks/zapi/wrong", json={})).status_code == 401


async def test_admin_event_pages_with_a_cursor(service: Service) -> None:
    from tests.factories import received_text

    for _ in range(5):
        await service.post_zapi(received_text(fromMe=True))
    headers = service.admin_headers()
    first = (await service.client.get("/admin/events?limit=2", headers=headers)).json()
    assert [i["id"] for i in first["items"]] == [5, 4]
    second = (
        await service.client.get(
            f"/admin/events?limit=2&cursor={first['next_cursor']}", headers=headers
        )
    ).json()
    assert [i["id"] for i in second["items"]] == [3, 2]
    assert first["items"][0]["phone"] == "wa:+55 44 9****-9999"
    bad = await service.client.get("/admin/events?cursor=zzz", headers=headers)
    assert bad.status_code == 400


async def test_unknown_event_replay_is_404(service: Service) -> None:
    response = await service.client.post(
        "/admin/events/999/replay", headers=service.admin_headers()
    )
    assert response.status_code == 404


async def test_lid_conversation_can_be_paused_and_read(service: Service) -> None:
    from tests.factories import received_text

    await service.post_zapi(received_text(phone="65998849469@lid"))
    headers = service.admin_headers()
    paused = await service.client.post(
        "/admin/conversations/lid:65998849469/pause", headers=headers
    )
    assert paused.json()["owner"] == "human"
    state = await service.client.get("/admin/conversations/lid:65998849469", headers=headers)
    assert state.json()["phone"] == "wa:lid:65998849469"


async def test_openapi_is_hidden_in_prod(service_factory: Any) -> None:
    service: Service = await service_factory(app_env="prod", os_security_key="k")
    # With the key, AgentOS's middleware lets the request reach routing: not there at all.
    key = {"Authorization": "Bearer k"}
    assert (await service.client.get("/openapi.json", headers=key)).status_code == 404
    assert (await service.client.get("/docs", headers=key)).status_code == 404


# --- what is public in prod (C29) ----------------------------------------------------------


async def test_metrics_need_the_admin_bearer_when_not_public(service_factory: Any) -> None:
    service: Service = await service_factory(metrics_public=False)
    anonymous = await service.client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "Unauthorized"
    wrong = await service.client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    scraped = await service.client.get("/metrics", headers=service.admin_headers())
    assert scraped.status_code == 200
    assert "seleto_webhooks_total" in scraped.text


async def test_metrics_are_private_by_default_in_prod(service_factory: Any) -> None:
    service: Service = await service_factory(app_env="prod", os_security_key="k")
    assert (await service.client.get("/metrics")).status_code == 401
    assert (
        await service.client.get("/metrics", headers=service.admin_headers())
    ).status_code == 200


@pytest.mark.parametrize("path", ["/", "/health", "/info"])
async def test_agentos_landing_routes_need_the_os_key_in_prod(
    service_factory: Any, path: str
) -> None:
    service: Service = await service_factory(app_env="prod", os_security_key="k")
    anonymous = await service.client.get(path)
    assert anonymous.status_code == 401
    assert set(anonymous.json()) == {"error", "detail"}
    assert "agno_version" not in anonymous.text
    keyed = await service.client.get(path, headers={"Authorization": "Bearer k"})
    assert keyed.status_code == 200


@pytest.mark.parametrize("path", ["/", "/health", "/info"])
async def test_agentos_landing_routes_stay_open_in_dev(service: Service, path: str) -> None:
    assert (await service.client.get(path)).status_code == 200


async def test_healthz_stays_public_in_prod(service_factory: Any) -> None:
    service: Service = await service_factory(app_env="prod", os_security_key="k")
    assert (await service.client.get("/healthz")).json() == {"status": "ok"}
    assert (await service.client.get("/readyz")).json() == {
        "status": "ready",
        "details": {"whatsapp_provider": "zapi"},
    }


async def test_readyz_in_prod_names_no_migration_publicly(
    sandbox: Sandbox, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    configure_logging(level="INFO", fmt="json", pii_key=b"test-key")
    try:
        settings = make_settings(f"sqlite:///{tmp_path / 'fresh.db'}", sandbox.url, app_env="prod")
        response = await readyz_without_lifespan(settings)
        output = capfd.readouterr().out
    finally:
        logging.getLogger().handlers = []
    assert response.status_code == 503
    assert response.json() == {"status": "not_ready", "reason": "not ready; see the logs"}
    # The operator still learns why, from the log line.
    assert "migrations not applied" in output


async def test_readyz_in_prod_names_no_database_error_publicly(sandbox: Sandbox) -> None:
    settings = make_settings(
        "postgresql://postgres@127.0.0.1:1/nowhere",
        sandbox.url,
        worker_embedded=False,
        app_env="prod",
    )
    response = await readyz_without_lifespan(settings)
    assert response.status_code == 503
    assert "OperationalError" not in response.text
    assert response.json()["reason"] == "not ready; see the logs"
