"""Builds the `seleto-sdr` Agno agent and its session storage."""

from __future__ import annotations

import httpx
from agno.agent import Agent
from agno.db.base import AsyncBaseDb
from agno.db.postgres import AsyncPostgresDb
from agno.db.sqlite import AsyncSqliteDb
from agno.models.openai import OpenAIChat
from agno.run import RunContext
from sqlalchemy.ext.asyncio import AsyncEngine

from seleto_agent.agents.guard import ReplyGuard
from seleto_agent.agents.prompts import Prompt
from seleto_agent.agents.tools import SdrTools, ToolBudget
from seleto_agent.settings import Settings, secret

AGENT_ID = "seleto-sdr"
# Postgres schema for Agno's own tables, kept apart from ours (see the initial migration).
AGNO_SCHEMA = "agno"
# Runs of history replayed into each turn: enough for a qualification conversation.
HISTORY_RUNS = 12


class _SharedPostgresDb(AsyncPostgresDb):
    """Agno's store on the runtime's engine. AgentOS closes its databases when its lifespan
    ends, which disposes the engine while our workers may still be finishing a query: that
    connection then returns to the discarded pool and stays open on the server for good (a
    leak per restart). The engine is the runtime's to dispose, after the workers stopped."""

    async def close(self) -> None:
        return None


class _SharedSqliteDb(AsyncSqliteDb):
    """As `_SharedPostgresDb`, for SQLite."""

    async def close(self) -> None:
        return None


def build_agent_db(engine: AsyncEngine) -> AsyncBaseDb:
    """Agno's session store on our engine, so sessions live in the same database."""
    if engine.dialect.name == "postgresql":
        return _SharedPostgresDb(id="seleto", db_engine=engine, db_schema=AGNO_SCHEMA)
    return _SharedSqliteDb(id="seleto", db_engine=engine)


def build_model(settings: Settings, http: httpx.AsyncClient | None = None) -> OpenAIChat:
    return OpenAIChat(
        id=settings.openai_model,
        api_key=secret(settings.openai_api_key),
        base_url=settings.openai_base_url,
        timeout=settings.openai_timeout_seconds,
        # Retries belong to the worker's backoff, so a failing model is not hammered twice over.
        max_retries=0,
        http_client=http,
    )


def build_agent(
    settings: Settings,
    *,
    db: AsyncBaseDb,
    prompt: Prompt,
    model: OpenAIChat,
    catalog_text: str,
    tools: SdrTools,
    guard: ReplyGuard,
    budget: ToolBudget,
) -> Agent:
    sections = list(prompt.sections)

    def instructions(run_context: RunContext) -> list[str]:
        # The lead's known slots are rebuilt for every run, so a new session window starts
        # with them and the model never re-asks a filled slot.
        lead_context = (run_context.dependencies or {}).get("lead_context") if run_context else None
        return [*sections, lead_context] if lead_context else sections

    return Agent(
        id=AGENT_ID,
        name="Seleto SDR",
        model=model,
        db=db,
        instructions=instructions,
        # AGNO_NOTES §8: a catalog of a few hundred tokens is cheapest in the system prompt.
        additional_context=catalog_text,
        tools=[tools],
        tool_hooks=[budget.hook],
        post_hooks=[guard.check],
        add_history_to_context=True,
        num_history_runs=HISTORY_RUNS,
        markdown=False,
        telemetry=False,
    )


async def provision_agent_tables(engine: AsyncEngine) -> None:
    """Create Agno's tables up front: lazy creation on first write races between workers."""
    db = build_agent_db(engine)
    # The same call AgentOS makes in its lifespan; idempotent.
    await db._create_all_tables()
