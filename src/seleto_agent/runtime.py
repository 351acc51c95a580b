"""Wires settings into engines, clients, the agent and the services (one place, no globals)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
from agno.agent import Agent
from sqlalchemy.ext.asyncio import AsyncEngine

from seleto_agent.agents.factory import build_agent, build_agent_db, build_model
from seleto_agent.agents.guard import ReplyGuard
from seleto_agent.agents.model_calls import record_request, record_response
from seleto_agent.agents.prompts import load_fixed_replies, load_prompt
from seleto_agent.agents.runner import AgnoAgentRunner
from seleto_agent.agents.tools import SdrTools, ToolBudget
from seleto_agent.db.engine import create_engine, is_sqlite
from seleto_agent.db.repositories.ingest_lane import IngestLane
from seleto_agent.domain.business_hours import load_business_hours
from seleto_agent.domain.catalog_file import load_catalog
from seleto_agent.domain.crm import DealTarget
from seleto_agent.domain.flags import (
    BOT_ENABLED,
    BOT_ENABLED_ADS,
    BOT_ENABLED_META,
    BOT_ENABLED_ZAPI,
)
from seleto_agent.domain.jobs import JobKind
from seleto_agent.integrations.chatwoot.client import ChatwootClient
from seleto_agent.integrations.media.download import MediaDownloader, build_media_http_client
from seleto_agent.integrations.media.policy import MediaPolicy
from seleto_agent.integrations.meta.client import MetaClient
from seleto_agent.integrations.meta.versions import expiring_soon, graph_version_expiry
from seleto_agent.integrations.openai_audio.client import OpenAIAudioClient
from seleto_agent.integrations.piperun import build_piperun_client
from seleto_agent.integrations.piperun.client import PipeRunClient
from seleto_agent.integrations.tls import tls_context
from seleto_agent.integrations.zapi.client import ZApiClient
from seleto_agent.observability.logging import get_logger
from seleto_agent.services.audio_sources import AudioSource, MetaAudio, ZApiAudio
from seleto_agent.services.backlog import watch_backlog
from seleto_agent.services.chatwoot_events import ChatwootEventHandler
from seleto_agent.services.chatwoot_ingest import ChatwootIngest
from seleto_agent.services.chatwoot_mirror import ChatwootMirrorHandler
from seleto_agent.services.crm_sync import CrmSyncHandler
from seleto_agent.services.flags import FlagService
from seleto_agent.services.identity import IdentityService
from seleto_agent.services.ingest import IngestService
from seleto_agent.services.job_replay import JobReplayService
from seleto_agent.services.leads import LeadService
from seleto_agent.services.lgpd_vendors import ChatwootEraseHandler, PipeRunEraseHandler
from seleto_agent.services.outbound import OutboundService
from seleto_agent.services.outbox import JobHandler, OutboxConfig, OutboxWorker
from seleto_agent.services.ownership import OwnershipService
from seleto_agent.services.phone_takeover import PhoneReplyHandler
from seleto_agent.services.piperun_cities import CityResolver
from seleto_agent.services.readiness import Readiness
from seleto_agent.services.replay import ReplayService
from seleto_agent.services.retention import RetentionHandler, RetentionPolicy, RetentionScheduler
from seleto_agent.services.send_failures import SendFailureHandler
from seleto_agent.services.send_rules import SendRules
from seleto_agent.services.turn import RetryPolicy, TurnProcessor
from seleto_agent.services.turn_budget import TurnBudget
from seleto_agent.services.voice import VoiceConfig, VoiceService
from seleto_agent.services.worker import Worker, WorkerConfig
from seleto_agent.settings import PROJECT_ROOT, AppEnv, Settings, WhatsAppProviderName, secret

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


# Alerts look at minutes; a count every 15 s costs two indexed queries per process.
BACKLOG_READ_SECONDS = 15.0


@dataclass(slots=True)
class Runtime:
    settings: Settings
    engine: AsyncEngine
    http: httpx.AsyncClient
    agent: Agent
    worker: Worker
    ingest: IngestService
    replay: ReplayService
    outbox: OutboxWorker
    job_replay: JobReplayService
    ownership: OwnershipService
    flags: FlagService
    chatwoot_ingest: ChatwootIngest
    readiness: Readiness
    outbound: OutboundService
    # Media downloads use their own client (no env proxies, no redirects, no shared cookies).
    media_http: httpx.AsyncClient | None = None
    model_http: httpx.AsyncClient | None = None
    retention: RetentionScheduler | None = None

    def background(self, stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        """The loops a worker process runs until `stop`: turns, the outbox (with the daily
        retention job) unless off, and the backlog gauges."""
        loops = [self.worker.run(stop)]
        if self.settings.outbox_enabled:
            loops.append(self.outbox.run(stop))
            if self.retention is not None:
                loops.append(self.retention.run(stop))
        loops.append(watch_backlog(self.engine, stop, every=BACKLOG_READ_SECONDS))
        return loops


def build_media_downloader(settings: Settings, media_http: httpx.AsyncClient) -> MediaDownloader:
    """SSRF-safe media downloads, for every provider's voice notes."""
    return MediaDownloader(
        http=media_http,
        policy=MediaPolicy.from_setting(
            settings.media_allowed_hosts, allow_http=settings.app_env is not AppEnv.PROD
        ),
        max_bytes=settings.audio_max_bytes,
        timeout_seconds=settings.media_timeout_seconds,
    )


def build_voice(
    settings: Settings,
    engine: AsyncEngine,
    http: httpx.AsyncClient,
    *,
    downloader: MediaDownloader,
    meta: MetaClient | None,
) -> VoiceService:
    """Voice notes: fetched where the provider keeps them, then OpenAI transcription
    (OPENAI_BASE_URL honoured)."""
    sources: dict[str, AudioSource] = {"zapi": ZApiAudio(downloader)}
    if meta is not None:
        sources["meta"] = MetaAudio(meta)
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
    return VoiceService(engine, sources=sources, transcriber=transcriber, config=config)


def build_piperun(settings: Settings, http: httpx.AsyncClient) -> PipeRunClient | None:
    """The PipeRun client, or None when PIPERUN_TOKEN is unset (CRM sync off)."""
    if secret(settings.piperun_token) and not (
        settings.piperun_pipeline_id and settings.piperun_stage_id
    ):
        raise ConfigurationError(
            "PIPERUN_TOKEN is set but PIPERUN_PIPELINE_ID or PIPERUN_STAGE_ID is not; "
            "`seleto-agent piperun discover` lists them"
        )
    return build_piperun_client(settings, http)


def build_chatwoot(settings: Settings, http: httpx.AsyncClient) -> ChatwootClient | None:
    """The Chatwoot client, or None when CHATWOOT_BASE_URL is unset (mirror off)."""
    if not settings.chatwoot_base_url:
        return None
    token = secret(settings.chatwoot_api_token)
    if not (token and settings.chatwoot_account_id and settings.chatwoot_inbox_id):
        raise ConfigurationError(
            "CHATWOOT_BASE_URL is set: CHATWOOT_ACCOUNT_ID, CHATWOOT_INBOX_ID and "
            "CHATWOOT_API_TOKEN are needed too"
        )
    return ChatwootClient(
        http=http,
        base_url=settings.chatwoot_base_url,
        account_id=settings.chatwoot_account_id,
        api_token=token,
        timeout_seconds=settings.chatwoot_timeout_seconds,
    )


def build_ownership(settings: Settings, engine: AsyncEngine) -> OwnershipService:
    path = settings.business_hours_file
    hours = load_business_hours(path if path.is_absolute() else PROJECT_ROOT / path)
    idle = settings.human_idle_resume_hours
    return OwnershipService(
        engine,
        hours=hours,
        idle_resume_after=timedelta(hours=idle) if idle > 0 else None,
        on_resolved_action="nothing"
        if settings.chatwoot_on_resolved == "nothing"
        else "resume_bot",
    )


def build_meta(
    settings: Settings, http: httpx.AsyncClient, downloader: MediaDownloader
) -> MetaClient | None:
    """The Cloud API client when it sends our messages (WHATSAPP_PROVIDER=meta)."""
    if settings.whatsapp_provider is not WhatsAppProviderName.META:
        return None
    token = secret(settings.meta_access_token)
    if not (token and settings.meta_phone_number_id):
        raise ConfigurationError(
            "WHATSAPP_PROVIDER=meta needs META_ACCESS_TOKEN and META_PHONE_NUMBER_ID"
        )
    expiry = graph_version_expiry(settings.meta_graph_version)
    expires = expiry.isoformat() if expiry else None
    log.info("meta.graph_version", version=settings.meta_graph_version, usable_until=expires)
    if expiring_soon(settings.meta_graph_version, today=date.today()):
        log.warning(
            "meta.graph_version_expiring",
            version=settings.meta_graph_version,
            usable_until=expires,
            hint="move META_GRAPH_VERSION to a newer version after a sandbox run",
        )
    return MetaClient(
        http=http,
        base_url=settings.meta_graph_base_url,
        graph_version=settings.meta_graph_version,
        phone_number_id=settings.meta_phone_number_id,
        access_token=token,
        media_downloader=downloader,
    )


def build_sender(settings: Settings, http: httpx.AsyncClient) -> ZApiClient:
    return ZApiClient(
        http=http,
        base_url=settings.zapi_base_url,
        instance_id=settings.zapi_instance_id or "unset",
        instance_token=secret(settings.zapi_instance_token) or "unset",
        client_token=secret(settings.zapi_client_token),
    )


def build_outbound(
    settings: Settings, engine: AsyncEngine, http: httpx.AsyncClient, meta: MetaClient | None
) -> OutboundService:
    grace = timedelta(seconds=settings.outbound_unknown_grace_seconds)
    if meta is None:
        return OutboundService(engine, build_sender(settings, http), unknown_grace=grace)
    rules = SendRules(
        window_safety=timedelta(seconds=settings.meta_window_safety_seconds),
        pair_gap=timedelta(seconds=settings.meta_pair_gap_seconds),
        min_interval=timedelta(seconds=1 / settings.meta_max_mps),
        reengage_template=settings.meta_reengage_template,
        notify_chatwoot=bool(settings.chatwoot_base_url),
    )
    return OutboundService(engine, meta, unknown_grace=grace, rules=rules, templates=meta)


def build_flags(settings: Settings, engine: AsyncEngine) -> FlagService:
    return FlagService(
        engine,
        defaults={
            BOT_ENABLED: settings.bot_enabled,
            BOT_ENABLED_ZAPI: settings.bot_enabled_zapi,
            BOT_ENABLED_META: settings.bot_enabled_meta,
            BOT_ENABLED_ADS: settings.bot_enabled_ads,
        },
        ttl_seconds=settings.flags_cache_seconds,
    )


def build_runtime(settings: Settings, *, engine: AsyncEngine | None = None) -> Runtime:
    engine = engine or create_engine(settings.database_url, pool_size=settings.database_pool_size)
    http = httpx.AsyncClient(
        verify=tls_context(),
        timeout=httpx.Timeout(settings.zapi_timeout_seconds, connect=5.0),
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
    )
    # The model's own client: its response hook tells an outage from a bad request (C35).
    model_http = httpx.AsyncClient(
        verify=tls_context(),
        timeout=httpx.Timeout(settings.openai_timeout_seconds, connect=5.0),
        event_hooks={"request": [record_request], "response": [record_response]},
    )
    prompt = load_prompt(settings.prompt_file, required_templates=REQUIRED_TEMPLATES)
    replies = load_fixed_replies(settings.fixed_replies_file)
    catalog = load_catalog(settings.knowledge_file)
    piperun = build_piperun(settings, http)
    chatwoot = build_chatwoot(settings, http)
    ownership = build_ownership(settings, engine)
    leads = LeadService(
        engine,
        catalog,
        ownership=ownership,
        crm_enabled=piperun is not None,
        mirror_enabled=chatwoot is not None,
    )
    guard, budget = ReplyGuard(), ToolBudget()
    agent = build_agent(
        settings,
        db=build_agent_db(engine),
        prompt=prompt,
        model=build_model(settings, model_http),
        catalog_text=catalog.render_for_prompt(),
        tools=SdrTools(leads),
        guard=guard,
        budget=budget,
    )
    if settings.openai_api_key is None:
        log.warning("agent.no_api_key", hint="set OPENAI_API_KEY; every turn will fail until then")
    media_http = build_media_http_client()
    downloader = build_media_downloader(settings, media_http)
    meta = build_meta(settings, http, downloader)
    outbound = build_outbound(settings, engine, http, meta)
    voice = build_voice(settings, engine, http, downloader=downloader, meta=meta)
    flags = build_flags(settings, engine)
    processor = TurnProcessor(
        engine,
        agent=AgnoAgentRunner(agent, prompt=prompt, replies=replies, guard=guard, budget=budget),
        outbound=outbound,
        retry=RetryPolicy(
            max_attempts=settings.inbound_max_attempts,
            base_seconds=settings.retry_base_seconds,
            max_seconds=settings.retry_max_seconds,
            outage_hold=timedelta(seconds=settings.model_outage_hold_seconds),
            outage_handoff=timedelta(seconds=settings.model_outage_handoff_seconds),
        ),
        leads=leads,
        prompt=prompt,
        replies=replies,
        session_window=timedelta(hours=settings.session_window_hours),
        voice=voice,
        ownership=ownership,
        flags=flags,
        budget=TurnBudget(
            engine,
            leads=leads,
            per_hour=settings.turn_budget_per_hour,
            per_day=settings.turn_budget_per_day,
        ),
        max_input_chars=settings.max_turn_input_chars,
        mirror=chatwoot is not None,
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
    handlers: dict[JobKind, JobHandler] = {}
    if piperun is not None:
        handlers[JobKind.CRM_SYNC] = CrmSyncHandler(
            engine,
            piperun,
            target=DealTarget(
                pipeline_id=settings.piperun_pipeline_id or 0,
                stage_id=settings.piperun_stage_id or 0,
                origin_id=settings.piperun_origin_id,
                owner_id=settings.piperun_owner_id,
            ),
            cities=CityResolver(engine, piperun),
        )
        handlers[JobKind.LGPD_PIPERUN] = PipeRunEraseHandler(piperun)
    retention = RetentionPolicy(
        payload_days=settings.retention_days_payloads,
        transcript_days=settings.retention_days_transcripts,
        audit_days=settings.retention_days_audit,
        batch_size=settings.retention_batch_size,
    )
    handlers[JobKind.RETENTION] = RetentionHandler(engine, retention)
    handlers[JobKind.SEND_FAILED] = SendFailureHandler(
        engine, outbound=outbound, ownership=ownership, mirror=chatwoot is not None
    )
    handlers[JobKind.PHONE_REPLY] = PhoneReplyHandler(
        engine, ownership=ownership, mirror=chatwoot is not None
    )
    if chatwoot is not None:
        handlers[JobKind.CHATWOOT_MIRROR] = ChatwootMirrorHandler(
            engine,
            chatwoot,
            inbox_id=settings.chatwoot_inbox_id or 0,
            handoff_assignee_id=settings.chatwoot_handoff_assignee_id,
            handoff_team_id=settings.chatwoot_handoff_team_id,
            handoff_labels=[
                label.strip()
                for label in settings.chatwoot_handoff_labels.split(",")
                if label.strip()
            ],
        )
        handlers[JobKind.CHATWOOT_EVENT] = ChatwootEventHandler(
            engine, ownership=ownership, outbound=outbound
        )
        handlers[JobKind.LGPD_CHATWOOT] = ChatwootEraseHandler(chatwoot)
    outbox = OutboxWorker(
        engine,
        handlers,
        OutboxConfig(
            concurrency=settings.worker_concurrency,
            poll_seconds=settings.worker_poll_seconds,
            lease_seconds=max(settings.worker_lease_seconds, 3 * settings.piperun_timeout_seconds),
            max_attempts=settings.inbound_max_attempts,
            retry_base_seconds=settings.retry_base_seconds,
            retry_max_seconds=settings.retry_max_seconds,
            give_up_after=timedelta(hours=settings.outbox_give_up_hours),
        ),
    )
    # Without an embedded worker, ingestion has nobody in-process to wake.
    wake = worker.wake if settings.worker_embedded else _noop
    wake_outbox = outbox.wake if settings.worker_embedded and settings.outbox_enabled else _noop
    return Runtime(
        settings=settings,
        engine=engine,
        http=http,
        agent=agent,
        worker=worker,
        ingest=IngestService(
            engine,
            identity=IdentityService(ownership),
            on_accepted=wake,
            mirror=chatwoot is not None,
            phone_echo_grace=timedelta(seconds=settings.phone_echo_grace_seconds),
            lane=None if is_sqlite(engine) else IngestLane(engine.url),
        ),
        chatwoot_ingest=ChatwootIngest(
            engine,
            on_queued=wake_outbox,
            account_id=settings.chatwoot_account_id,
            inbox_id=settings.chatwoot_inbox_id,
        ),
        replay=ReplayService(engine, on_queued=wake),
        outbound=outbound,
        outbox=outbox,
        job_replay=JobReplayService(engine, on_queued=wake_outbox),
        ownership=ownership,
        flags=flags,
        readiness=Readiness(engine, settings.migrations_dir),
        media_http=media_http,
        model_http=model_http,
        retention=RetentionScheduler(engine, on_queued=outbox.wake) if retention.enabled else None,
    )


def _noop() -> None:
    return None


@asynccontextmanager
async def closing(runtime: Runtime) -> AsyncIterator[Runtime]:
    try:
        yield runtime
    finally:
        await runtime.http.aclose()
        for client in (runtime.media_http, runtime.model_http):
            if client is not None:
                await client.aclose()
        await runtime.ingest.close()
        await runtime.engine.dispose()
