"""Plays one scenario through the real service and records what it did.

Per turn: queue the turn's scripted replies on the sandbox model (scripted mode only, keyed by
the lead's text so they answer only this turn's requests), post the lead's message as a Z-API
webhook, wait until the conversation's events are settled (the reply, if any, has then been
sent), and note the replies written and the model calls made. After the last turn: the
conversation as the admin API shows it, its handoffs, the tools the agent ran, the lead's
companies, the audit trail and every text the simulated WhatsApp accepted for the phone.

`parallel_tools` merges every turn's consecutive tool-call replies into one model response,
so any scenario also runs the way a real model asks for parallel calls (Agno runs them
concurrently).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from seleto_agent.evals.harness import SandboxClient
from seleto_agent.evals.scenarios import Scenario, Turn
from seleto_agent.evals.service import EvalError, EvalService, EventOutcome, Reply
from seleto_agent.sandbox.model_replies import ScriptedReply
from seleto_agent.settings import Settings


@dataclass(frozen=True, slots=True)
class TurnResult:
    replies: tuple[Reply, ...]
    # The events this turn added to the conversation, settled.
    events: tuple[EventOutcome, ...]
    # Requests the sandbox model received during the turn (None against a real model).
    model_calls: int | None


@dataclass(frozen=True, slots=True)
class ScenarioRun:
    scenario_id: str
    phone: str
    turns: tuple[TurnResult, ...]
    sent_texts: tuple[str, ...]
    conversation: dict[str, Any] | None
    companies: tuple[str, ...]
    audit_actions: tuple[str, ...]
    model_calls: int | None
    # Why the scenario stopped early, when it did.
    error: str | None
    # Every handoff recorded for the conversation (kinds, oldest first).
    handoffs: tuple[str, ...] = ()
    tools_called: tuple[str, ...] = ()
    # The turns' tool calls were merged into one response each (scripted model only).
    parallel_tools: bool = False


@dataclass
class _Progress:
    key: str | None = None
    events_seen: int = 0


async def run_scenario(
    scenario: Scenario,
    *,
    settings: Settings,
    sandbox: SandboxClient,
    phone: str,
    scripted: bool,
    turn_timeout: float,
    parallel_tools: bool = False,
) -> ScenarioRun:
    """Run `scenario` on a service built from `settings`; the sandbox is reset first."""
    if parallel_tools and not scripted:
        raise ValueError("parallel_tools scripts the sandbox model; a real model chooses itself")
    await sandbox.reset()
    started = datetime.now(UTC)
    turns: list[TurnResult] = []
    error: str | None = None
    progress = _Progress()
    async with EvalService.start(settings) as service:
        for number, turn in enumerate(scenario.turns, start=1):
            replies = turn.replies(parallel=parallel_tools) if scripted else ()
            try:
                result = await _play(
                    service, sandbox, turn, replies, phone, progress, scripted, turn_timeout
                )
            except EvalError as exc:
                error = f"turn {number}: {exc}"
                break
            turns.append(result)
            if scripted and result.model_calls != len(replies):
                # Left-over or missing scripted replies mean the turn did not go as written.
                error = (
                    f"turn {number}: the model was called {result.model_calls} times for "
                    f"{len(replies)} scripted replies; later turns not played"
                )
                break
        key = progress.key
        conversation = await service.conversation(phone) if key else None
        companies = await service.companies(conversation["phone"]) if conversation else []
        audit = await service.audit_actions(key, since=started) if key else []
        handoffs = await service.handoff_kinds(key) if key else []
        tools = await service.tools_called(key, since=started) if key else []
    return ScenarioRun(
        scenario_id=scenario.id,
        phone=phone,
        turns=tuple(turns),
        sent_texts=tuple(await sandbox.sent_texts(phone)),
        conversation=conversation,
        companies=tuple(companies),
        audit_actions=tuple(audit),
        model_calls=len(await sandbox.model_requests()) if scripted else None,
        error=error,
        handoffs=tuple(handoffs),
        tools_called=tuple(tools),
        parallel_tools=parallel_tools,
    )


async def _play(
    service: EvalService,
    sandbox: SandboxClient,
    turn: Turn,
    replies: tuple[ScriptedReply, ...],
    phone: str,
    progress: _Progress,
    scripted: bool,
    turn_timeout: float,
) -> TurnResult:
    calls_before = len(await sandbox.model_requests()) if scripted else 0
    if replies:
        await sandbox.script(replies, match=turn.lead)
    outbound_before = await service.last_outbound_id()
    message_id = await service.post_text(phone, turn.lead)
    key, events = await service.settle(message_id, wait_seconds=turn_timeout)
    new_events = tuple(events[progress.events_seen :])
    progress.key, progress.events_seen = key, len(events)
    return TurnResult(
        replies=tuple(await service.replies_after(key, outbound_before)),
        events=new_events,
        model_calls=len(await sandbox.model_requests()) - calls_before if scripted else None,
    )
