"""Runs one turn of the Agno agent and decides whether its output may reach a lead."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from agno.agent import Agent
from agno.run import RunStatus

from seleto_agent.observability.logging import get_logger
from seleto_agent.observability.metrics import AGENT_SECONDS

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class AgentReply:
    text: str
    run_id: str | None


class AgentRunFailed(Exception):
    """The run did not complete; its content (possibly a rejected draft) must not be sent."""


class AgentRunner(Protocol):
    async def reply(self, *, session_id: str, user_id: str, text: str) -> AgentReply: ...


class AgnoAgentRunner:
    def __init__(self, agent: Agent, *, prompt_version: str) -> None:
        self._agent = agent
        self._prompt_version = prompt_version

    async def reply(self, *, session_id: str, user_id: str, text: str) -> AgentReply:
        started = time.perf_counter()
        run = await self._agent.arun(
            text,
            session_id=session_id,
            user_id=user_id,
            metadata={"prompt_version": self._prompt_version},
        )
        AGENT_SECONDS.observe(time.perf_counter() - started)
        # AGNO_NOTES §11.2: errors do not raise and an ERROR run's content may hold a rejected
        # draft or a provider message, so only a COMPLETED run may be sent.
        if run.status != RunStatus.completed:
            log.warning("agent.run_not_completed", status=str(run.status), run_id=run.run_id)
            raise AgentRunFailed(f"agent run ended with status {run.status}")
        content = (run.get_content_as_string() or "").strip()
        if not content:
            raise AgentRunFailed("agent run completed with an empty reply")
        return AgentReply(text=content, run_id=run.run_id)
