"""Builds the HTTP app: our routes on a FastAPI base app, served by AgentOS.

Our routes (health, webhooks, admin) stay outside the AgentOS security key; the AgentOS routes
(`/agents`, `/sessions`, ...) need `Authorization: Bearer OS_SECURITY_KEY` (AGNO_NOTES §4, §11.12).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from agno.os import AgentOS
from agno.os.config import AuthorizationConfig
from agno.os.settings import AgnoAPISettings
from fastapi import FastAPI

from seleto_agent.api import admin, admin_flags, admin_jobs, admin_lgpd, health
from seleto_agent.api.body_limit import BodyLimitMiddleware
from seleto_agent.api.errors import install_error_handlers
from seleto_agent.api.middleware import RequestContextMiddleware
from seleto_agent.api.private_routes import AgentOSLandingGuard
from seleto_agent.api.rate_limit import RateLimitMiddleware
from seleto_agent.api.shedding import LoadShedMiddleware
from seleto_agent.api.webhook_app import (
    WebhookDispatch,
    build_webhook_app,
    include_webhook_routes,
)
from seleto_agent.observability.logging import get_logger
from seleto_agent.runtime import Runtime, closing
from seleto_agent.settings import AppEnv, secret

log = get_logger(__name__)

PUBLIC_PATHS = ["/healthz", "/readyz", "/metrics", "/webhooks/*", "/admin/*"]


def create_app(runtime: Runtime) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        worker_task: asyncio.Future[list[None]] | None = None
        if runtime.settings.worker_embedded:
            worker_task = asyncio.gather(*runtime.background(stop))
        # Start-up leaves ~300k long-lived objects (Agno, SQLAlchemy, pydantic); moving them out of
        # the collector's reach turns 130-280 ms full collections into ~0 (bench/README.md).
        gc.freeze()
        async with closing(runtime):
            try:
                yield
            finally:
                stop.set()
                if worker_task is not None:
                    with contextlib.suppress(asyncio.CancelledError):
                        await worker_task

    # The OpenAPI document lists every route (AgentOS's too): not published in production.
    docs = runtime.settings.app_env is not AppEnv.PROD
    base = FastAPI(
        title="seleto-agent",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    base.state.runtime = runtime
    install_error_handlers(base)
    base.include_router(health.router)
    # Listed in the OpenAPI document here; WebhookDispatch serves them from the webhook app.
    include_webhook_routes(base)
    base.include_router(admin.router)
    base.include_router(admin_jobs.router)
    base.include_router(admin_lgpd.router)
    base.include_router(admin_flags.router)

    if runtime.settings.os_security_key is None:
        log.warning(
            "agentos.open", hint="set OS_SECURITY_KEY: /agents and /sessions are unauthenticated"
        )
    agent_os = AgentOS(
        id="seleto-os",
        agents=[runtime.agent],
        base_app=base,
        telemetry=False,
        # Agno creates its own tables lazily on first write; ours come from migrations.
        auto_provision_dbs=False,
        on_route_conflict="preserve_base_app",
        settings=AgnoAPISettings(
            os_security_key=secret(runtime.settings.os_security_key), docs_enabled=False
        ),
        authorization_config=AuthorizationConfig(excluded_route_paths=PUBLIC_PATHS),
    )
    app = agent_os.get_app()
    # Added first = innermost of ours, outside every AgentOS middleware.
    app.add_middleware(WebhookDispatch, webhooks=build_webhook_app(runtime))
    if runtime.settings.app_env is AppEnv.PROD:
        app.add_middleware(AgentOSLandingGuard, key=secret(runtime.settings.os_security_key))
    # Added last = outermost: the access log sees (and times) a 413 as well.
    app.add_middleware(BodyLimitMiddleware, limit=runtime.settings.max_body_bytes)
    if runtime.settings.rate_limit_per_ip_per_minute > 0:
        # Before the body is read: a refused request costs a dictionary lookup.
        app.add_middleware(
            RateLimitMiddleware, per_minute=runtime.settings.rate_limit_per_ip_per_minute
        )
    app.add_middleware(RequestContextMiddleware)
    # Added last, so it runs first: a shed request is refused before anything else runs.
    app.add_middleware(LoadShedMiddleware, limit=runtime.settings.ingest_max_inflight)
    return app
