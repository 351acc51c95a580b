"""Shared set-up for the concurrency tests: a real engine, conversations and the lead service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from seleto_agent.db.engine import create_engine
from seleto_agent.db.repositories.conversations import ConversationRepository
from seleto_agent.db.tables import handoffs
from seleto_agent.domain.catalog import Catalog
from seleto_agent.domain.catalog_file import load_catalog
from seleto_agent.runtime import build_ownership
from seleto_agent.services.leads import LeadService
from seleto_agent.settings import PROJECT_ROOT, Settings

ALWAYS_OPEN = PROJECT_ROOT / "tests" / "fixtures" / "business_hours_always_open.yaml"

_CATALOG: Catalog | None = None


def catalog() -> Catalog:
    global _CATALOG
    if _CATALOG is None:
        _CATALOG = load_catalog(Settings(_env_file=None).knowledge_file)  # type: ignore[call-arg]
    return _CATALOG


@asynccontextmanager
async def engine_for(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


def key_for(index: int) -> str:
    return f"wa:+55419900{index:05d}"


async def add_conversations(engine: AsyncEngine, count: int) -> list[str]:
    keys = [key_for(i) for i in range(count)]
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        repo = ConversationRepository(conn)
        for key in keys:
            phone = key.removeprefix("wa:")
            await repo.create(
                key=key, phone_e164=phone, reply_to=phone.lstrip("+"), session_id=key, now=now
            )
    return keys


def lead_service(engine: AsyncEngine, *, crm: bool = False, mirror: bool = False) -> LeadService:
    settings = Settings(_env_file=None, business_hours_file=ALWAYS_OPEN)  # type: ignore[call-arg]
    return LeadService(
        engine,
        catalog(),
        ownership=build_ownership(settings, engine),
        crm_enabled=crm,
        mirror_enabled=mirror,
    )


async def handoffs_by_key(engine: AsyncEngine) -> dict[str, int]:
    query = select(handoffs.c.conversation_key, func.count()).group_by(handoffs.c.conversation_key)
    async with engine.connect() as conn:
        return {key: int(n) for key, n in await conn.execute(query)}
