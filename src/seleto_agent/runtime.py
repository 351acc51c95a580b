"""Wires settings into engines, clients, the agent and the services (one place, no globals)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from agno.agent import Agent
from sqlalchemy.ext.asyncio import AsyncEngine

from seleto_agent.agents.factory import build_agent, build_agent_db, build_model
from seleto_agent.agents.prompts import load_prompt
from seleto_agent.agents.runner import AgnoAgentRunner
from seleto_agent.db.engine import create_engine
from seleto_agent.integrations.whatsapp import WhatsAppSender
from seleto_agent.integrations.zapi.client import ZApiClient
from seleto_agent.observability.logging import get_logger
from seleto_agent.services.ingest import IngestService
from seleto_agent.services.outbound import OutboundService
from seleto_agent.services.replay import ReplayService
from seleto_agent.services.turn import RetryPolicy, TurnProcessor
from seleto_agent.services.worker import Worker, WorkerConfig
from seleto_agent.settings import Settings, WhatsAppProviderName, secret

log = get_logger(__name__)


class ConfigurationError(RuntimeError):
    """The settings ask for something this build cannot do."""


@dataclass(slots=True)
class Runtime:
    settings: Settings
    engine: AsyncEngine
    http: httpx.AsyncClient
    agent: Agent
    worker: Worker
    ingest: IngestService
    replay: ReplayService


def build_sender(settings: Settings, http: httpx.AsyncClient) -> WhatsAppSender:
    if settings.whatsapp_provider is WhatsAppProviderName.META:
        raise ConfigurationError(
            "WHATSAPP_PROVIDER=meta is not supported by this release; use zapi"
        )
    return ZApiClient(
        http=http,
        base_url=settings.zapi_base_url,
        instance_id=settings.zapi_instance_id or "unset",
        instance_token=secret(settings.zapi_instance_token) or "unset",
        client_token=secret(settings.zapi_client_token),
    )


def build_runtime(settings: Settings, *, engine: AsyncEngine | None = None) -> Runtime:
    engine = engine or create_engine(settings.database_url)
    http = httpx.AsyncClient(
        timeout=httpx.Timeout(settings.zapi_timeout_seconds, connect=5.0),
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
    )
    prompt = load_prompt(settings.prompt_file)
    agent = build_agent(
        settings, db=build_agent_db(engine), prompt=prompt, model=build_model(settings)
    )
    if settings.openai_api_key is None:
        log.warning("agent.no_api_key", hint="set OPENAI_API_KEY; every turn will fail until then")
    outbound = OutboundService(engine, build_sender(settings, http))
    processor = TurnProcessor(
        engine,
        agent=AgnoAgentRunner(agent, prompt_version=prompt.label),
        outbound=outbound,
        retry=RetryPolicy(
            max_attempts=settings.inbound_max_attempts,
            base_seconds=settings.retry_base_seconds,
            max_seconds=settings.retry_max_seconds,
        ),
    )
    worker = Worker(
        engine,
        processor,
        WorkerConfig(
            concurrency=settings.worker_concurrency,
            poll_seconds=settings.worker_poll_seconds,
            lease_seconds=settings.worker_lease_seconds,
            debounce_seconds=settings.debounce_seconds,
            debounce_max_seconds=settings.debounce_max_seconds,
        ),
    )
    # Without an embedded worker, ingestion has nobody in-process to wake.
    wake = worker.wake if settings.worker_embedded else _noop
    return Runtime(
        settings=settings,
        engine=engine,
        http=http,
        agent=agent,
        worker=worker,
        ingest=IngestService(engine, on_accepted=wake),
        replay=ReplayService(engine, on_queued=wake),
    )


def _noop() -> None:
    return None


@asynccontextmanager
async def closing(runtime: Runtime) -> AsyncIterator[Runtime]:
    try:
        yield runtime
    finally:
        await runtime.http.aclose()
        await runtime.engine.dispose()
