"""Runs one turn of the Agno agent and decides what, if anything, may reach the lead.

A reply passes the deterministic output checks or it is not sent: the first blocked run gets
one corrective regeneration in the same session; if that is blocked too, the lead gets the
fixed safe reply. A run that fails for any other reason raises, and the worker retries it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Protocol

from agno.agent import Agent
from agno.run import RunStatus
from agno.run.agent import RunOutput

from seleto_agent.agents.guard import ReplyGuard
from seleto_agent.agents.model_calls import ModelCalls, current_calls
from seleto_agent.agents.prompts import FixedReplies, Prompt
from seleto_agent.agents.tools import ToolBudget
from seleto_agent.domain.guardrails import Violation
from seleto_agent.observability.logging import get_logger
from seleto_agent.observability.metrics import AGENT_SECONDS, FIXED_REPLIES

log = get_logger(__name__)

GUARDRAIL_FALLBACK = "guardrail_fallback"


@dataclass(frozen=True, slots=True)
class TurnRequest:
    session_id: str
    # The conversation key: stable across session windows, read by the tools.
    user_id: str
    text: str
    turn_id: str
    lead_context: str


@dataclass(frozen=True, slots=True)
class AgentReply:
    text: str
    run_id: str | None
    # "agent", "agent:regenerated" or "fixed:<key>".
    kind: str
    prompt_version: str


class AgentRunFailed(Exception):
    """The run did not complete; its content (possibly a rejected draft) must not be sent.
    `outage`: the model was unreachable, rate-limited or failing on its side (worth waiting
    out); `retry_after`: what it asked for, in seconds."""

    def __init__(
        self, message: str, *, outage: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.outage = outage
        self.retry_after = retry_after


class AgentRunner(Protocol):
    async def reply(self, request: TurnRequest) -> AgentReply: ...


class AgnoAgentRunner:
    def __init__(
        self,
        agent: Agent,
        *,
        prompt: Prompt,
        replies: FixedReplies,
        guard: ReplyGuard,
        budget: ToolBudget,
    ) -> None:
        self._agent = agent
        self._prompt = prompt
        self._replies = replies
        self._guard = guard
        self._budget = budget

    async def reply(self, request: TurnRequest) -> AgentReply:
        run, violations, calls = await self._run(request, request.text)
        kind = "agent"
        if violations:
            log.warning("agent.reply_blocked", kinds=_kinds(violations), attempt=1)
            note = self._prompt.template("nota_correcao").format(motivos=self._reasons(violations))
            run, violations, calls = await self._run(request, f"{request.text}\n\n{note}")
            kind = "agent:regenerated"
            if violations:
                log.warning("agent.reply_blocked", kinds=_kinds(violations), attempt=2)
                FIXED_REPLIES.labels(GUARDRAIL_FALLBACK).inc()
                return AgentReply(
                    text=self._replies.get(GUARDRAIL_FALLBACK),
                    run_id=run.run_id,
                    kind=f"fixed:{GUARDRAIL_FALLBACK}",
                    prompt_version=self._versions(),
                )
        # AGNO_NOTES §11.2: errors do not raise and an ERROR run's content may hold a rejected
        # draft or a provider message, so only a COMPLETED run may be sent.
        if run.status != RunStatus.completed:
            log.warning(
                "agent.run_not_completed",
                status=str(run.status),
                run_id=run.run_id,
                model_statuses=calls.statuses[-3:],
            )
            raise AgentRunFailed(
                f"agent run ended with status {run.status}",
                outage=calls.outage,
                retry_after=calls.retry_after,
            )
        content = (run.get_content_as_string() or "").strip()
        if not content:
            raise AgentRunFailed("agent run completed with an empty reply")
        return AgentReply(
            text=content, run_id=run.run_id, kind=kind, prompt_version=self._prompt.label
        )

    async def _run(
        self, request: TurnRequest, text: str
    ) -> tuple[RunOutput, tuple[Violation, ...], ModelCalls]:
        run_id = uuid.uuid4().hex
        started = time.perf_counter()
        calls = ModelCalls()
        token = current_calls.set(calls)
        try:
            run = await self._agent.arun(
                text,
                session_id=request.session_id,
                user_id=request.user_id,
                run_id=run_id,
                dependencies={"turn_id": request.turn_id, "lead_context": request.lead_context},
                metadata={"prompt_version": self._prompt.label, "turn_id": request.turn_id},
            )
        finally:
            current_calls.reset(token)
            self._budget.release(run_id)
            AGENT_SECONDS.observe(time.perf_counter() - started)
        return run, self._guard.take(run_id), calls

    def _reasons(self, violations: tuple[Violation, ...]) -> str:
        return "; ".join(self._prompt.template(f"motivos.{kind}") for kind in _kinds(violations))

    def _versions(self) -> str:
        return f"{self._prompt.label}+{self._replies.label}"


def _kinds(violations: tuple[Violation, ...]) -> list[str]:
    return sorted({violation.kind.value for violation in violations})
