"""Wires settings into engines, clients, the agent and the services (one place, no globals)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import httpx
from agno.agent import Agent
from sqlalchemy.ext.asyncio import AsyncEngine

from seleto_agent.agents.factory import build_agent, build_agent_db, build_model
from seleto_agent.agents.guard import ReplyGuard
from seleto_agent.agents.prompts import load_fixed_replies, load_prompt
from seleto_agent.agents.runner import AgnoAgentRunner
from seleto_agent.agents.tools import SdrTools, ToolBudget
from seleto_agent.db.engine import create_engine
from seleto_agent.domain.catalog_file import load_catalog
from seleto_agent.integrations.media.download import MediaDownloader, build_media_http_client
from seleto_agent.integrations.media.policy import MediaPolicy
from seleto_agent.integrations.openai_audio.client import OpenAIAudioClient
from seleto_agent.integrations.whatsapp import WhatsAppSender
from seleto_agent.integrations.zapi.client import ZApiClient
from seleto_agent.observability.logging import get_logger
from seleto_agent.services.ingest import IngestService
from seleto_agent.services.leads import LeadService
from seleto_agent.services.outbound import OutboundService
from seleto_agent.services.replay import ReplayService
from seleto_agent.services.turn import RetryPolicy, TurnProcessor
from seleto_agent.services.voice import VoiceConfig, VoiceService
from seleto_agent.services.worker import Worker, WorkerConfig
from seleto_agent.settings import AppEnv, Settings, WhatsAppProviderName, secret

log = get_logger(__name__)


# Templates the code fills in; a prompt file without them fails at start-up, not mid-turn.
REQUIRED_TEMPLATES = frozenset(
    {
        "contexto_lead",
        "retomada",
        "nota_correcao",
        "nota_injecao",
        "motivos.price",
        "motivos.discount",
        "motivos.lead_time",
        "motivos.too_many_questions",
    }
)


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
    # Media downloads use their own client (no env proxies, no redirects, no shared cookies).
    media_http: httpx.AsyncClient | None = None


def build_voice(
    settings: Settings, engine: AsyncEngine, http: httpx.AsyncClient
) -> tuple[VoiceService, httpx.AsyncClient]:
    """Voice notes: SSRF-safe download, then OpenAI transcription (OPENAI_BASE_URL honoured)."""
    media_http = build_media_http_client()
    downloader = MediaDownloader(
        http=media_http,
        policy=MediaPolicy.from_setting(
            settings.media_allowed_hosts, allow_http=settings.app_env is not AppEnv.PROD
        ),
        max_bytes=settings.audio_max_bytes,
        timeout_seconds=settings.media_timeout_seconds,
    )
    transcriber = OpenAIAudioClient(
        http=http,
        api_key=secret(settings.openai_api_key),
        base_url=settings.openai_base_url,
        timeout_seconds=settings.openai_timeout_seconds,
        retry_wait_initial_seconds=settings.openai_transcribe_retry_wait_seconds,
    )
    config = VoiceConfig(
        transcribe_model=settings.openai_transcribe_model,
        fallback_model=settings.openai_transcribe_fallback_model,
        max_seconds=settings.audio_max_seconds,
        max_attempts=settings.inbound_max_attempts,
    )
    voice = VoiceService(engine, downloader=downloader, transcriber=transcriber, config=config)
    return voice, media_http


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
    prompt = load_prompt(settings.prompt_file, required_templates=REQUIRED_TEMPLATES)
    replies = load_fixed_replies(settings.fixed_replies_file)
    catalog = load_catalog(settings.knowledge_file)
    leads = LeadService(engine, catalog)
    guard, budget = ReplyGuard(), ToolBudget()
    agent = build_agent(
        settings,
        db=build_agent_db(engine),
        prompt=prompt,
        model=build_model(settings),
        catalog_text=catalog.render_for_prompt(),
        tools=SdrTools(leads),
        guard=guard,
        budget=budget,
    )
    if settings.openai_api_key is None:
        log.warning("agent.no_api_key", hint="set OPENAI_API_KEY; every turn will fail until then")
    outbound = OutboundService(engine, build_sender(settings, http))
    voice, media_http = build_voice(settings, engine, http)
    processor = TurnProcessor(
        engine,
        agent=AgnoAgentRunner(agent, prompt=prompt, replies=replies, guard=guard, budget=budget),
        outbound=outbound,
        retry=RetryPolicy(
            max_attempts=settings.inbound_max_attempts,
            base_seconds=settings.retry_base_seconds,
            max_seconds=settings.retry_max_seconds,
        ),
        leads=leads,
        prompt=prompt,
        replies=replies,
        session_window=timedelta(hours=settings.session_window_hours),
        voice=voice,
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
        media_http=media_http,
    )


def _noop() -> None:
    return None


@asynccontextmanager
async def closing(runtime: Runtime) -> AsyncIterator[Runtime]:
    try:
        yield runtime
    finally:
        await runtime.http.aclose()
        if runtime.media_http is not None:
            await runtime.media_http.aclose()
        await runtime.engine.dispose()
