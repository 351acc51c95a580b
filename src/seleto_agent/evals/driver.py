"""Plays one scenario through the real service and records what it did.

Per turn: queue the turn's scripted replies on the sandbox model (scripted mode only), post the
lead's message as a Z-API webhook, wait until the conversation's events are settled (the reply,
if any, has then been sent), and note the replies written and the model calls made. After the
last turn: the conversation as the admin API shows it, the lead's companies, the audit trail
and every text the simulated WhatsApp accepted for the phone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from seleto_agent.evals.harness import SandboxClient
from seleto_agent.evals.scenarios import Scenario, Turn
from seleto_agent.evals.service import EvalError, EvalService, EventOutcome, Reply
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
) -> ScenarioRun:
    """Run `scenario` on a service built from `settings`; the sandbox is reset first."""
    await sandbox.reset()
    started = datetime.now(UTC)
    turns: list[TurnResult] = []
    error: str | None = None
    progress = _Progress()
    async with EvalService.start(settings) as service:
        for number, turn in enumerate(scenario.turns, start=1):
            try:
                result = await _play(
                    service, sandbox, turn, phone, progress, scripted, turn_timeout
                )
            except EvalError as exc:
                error = f"turn {number}: {exc}"
                break
            turns.append(result)
            if scripted and result.model_calls != len(turn.scripted):
                # Left-over or missing scripted replies would shift every later turn's script.
                error = (
                    f"turn {number}: the model was called {result.model_calls} times for "
                    f"{len(turn.scripted)} scripted replies; later turns not played"
                )
                break
        conversation = await service.conversation(phone) if progress.key else None
        companies = await service.companies(conversation["phone"]) if conversation else []
        audit = await service.audit_actions(progress.key, since=started) if progress.key else []
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
    )


async def _play(
    service: EvalService,
    sandbox: SandboxClient,
    turn: Turn,
    phone: str,
    progress: _Progress,
    scripted: bool,
    turn_timeout: float,
) -> TurnResult:
    calls_before = len(await sandbox.model_requests()) if scripted else 0
    if scripted and turn.scripted:
        await sandbox.script(turn.scripted)
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
