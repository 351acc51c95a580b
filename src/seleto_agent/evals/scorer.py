"""Compares what a scenario run did with what the scenario expects.

Every comparison is a `Check`. Against the scripted model each one is deterministic, so any
failure fails the eval. Against a real model the wording and the tool calls are the model's
own: slots count as filled when they hold anything, temperature and the other expectations
are reported as agreement, and only the guardrail decides (a sent reply that breaks
`check_reply` means a price, discount or lead time reached a lead).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from seleto_agent.agents.runner import GUARDRAIL_FALLBACK
from seleto_agent.domain.guardrails import Violation, check_reply
from seleto_agent.evals.driver import ScenarioRun
from seleto_agent.evals.scenarios import NO_REPLY, Scenario

# Drafts the guardrail blocked before the reply that went out, by `reply_kind`.
BLOCKED_DRAFTS = {"agent:regenerated": 1, f"fixed:{GUARDRAIL_FALLBACK}": 2}
NO_CONVERSATION = "no conversation"


class CheckKind(StrEnum):
    RUN = "run"
    GUARDRAIL = "guardrail"
    SLOT = "slot"
    TEMPERATURE = "temperature"
    EXPECTATION = "expectation"


@dataclass(frozen=True, slots=True)
class Check:
    kind: CheckKind
    name: str
    expected: str
    got: str
    passed: bool


@dataclass(frozen=True, slots=True)
class ScenarioScore:
    scenario_id: str
    replies_sent: int
    replies_compliant: int
    drafts_blocked: int
    checks: tuple[Check, ...]

    def of_kind(self, kind: CheckKind) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if check.kind is kind)

    def deciding_failures(self, *, scripted: bool) -> tuple[Check, ...]:
        """The failures that fail the eval: all of them against the scripted model, only the
        guardrail's against a real one."""
        return tuple(
            check
            for check in self.checks
            if not check.passed and (scripted or check.kind is CheckKind.GUARDRAIL)
        )


def score_scenario(scenario: Scenario, run: ScenarioRun, *, scripted: bool) -> ScenarioScore:
    verdicts = [check_reply(text) for text in run.sent_texts]
    checks = [
        *_run_checks(run),
        _guardrail_check(verdicts),
        *_turn_checks(scenario, run, scripted=scripted),
        *_state_checks(scenario, run, scripted=scripted),
    ]
    return ScenarioScore(
        scenario_id=scenario.id,
        replies_sent=len(run.sent_texts),
        replies_compliant=sum(1 for violations in verdicts if not violations),
        drafts_blocked=sum(
            BLOCKED_DRAFTS.get(reply.kind, 0) for turn in run.turns for reply in turn.replies
        ),
        checks=tuple(checks),
    )


def _run_checks(run: ScenarioRun) -> list[Check]:
    checks = []
    if run.error is not None:
        checks.append(Check(CheckKind.RUN, "run", "every turn played", run.error, False))
    for number, turn in enumerate(run.turns, start=1):
        for event in turn.events:
            if event.status == "dead":
                got = f"dead: {event.last_error or 'no error recorded'}"
                checks.append(Check(CheckKind.RUN, f"turn {number} event", "done", got, False))
    return checks


def _guardrail_check(verdicts: Sequence[tuple[Violation, ...]]) -> Check:
    broken = [
        f"reply {index}: {', '.join(v.rule for v in violations)}"
        for index, violations in enumerate(verdicts, start=1)
        if violations
    ]
    total = len(verdicts)
    got = f"{total - len(broken)}/{total} pass" + (f" ({'; '.join(broken)})" if broken else "")
    return Check(
        CheckKind.GUARDRAIL,
        "sent replies pass check_reply",
        f"{total}/{total} pass",
        got,
        not broken,
    )


def _turn_checks(scenario: Scenario, run: ScenarioRun, *, scripted: bool) -> list[Check]:
    checks = []
    for number, (turn, result) in enumerate(zip(scenario.turns, run.turns, strict=False), 1):
        if scripted:
            checks.append(
                _compare(f"turn {number} model calls", len(turn.scripted), result.model_calls)
            )
        if turn.reply_kind is not None:
            got = ", ".join(reply.kind for reply in result.replies) or NO_REPLY
            checks.append(_compare(f"turn {number} reply_kind", turn.reply_kind, got))
    return checks


def _state_checks(scenario: Scenario, run: ScenarioRun, *, scripted: bool) -> list[Check]:
    expect = scenario.expect
    view = run.conversation
    lead: dict[str, Any] = view["lead"] if view else {}
    checks = [
        _slot_check(slot, value, lead, view, scripted) for slot, value in expect.slots.items()
    ]
    checks.append(
        _compare(
            "temperature",
            expect.temperature.value if expect.temperature else None,
            lead.get("temperature") if view else NO_CONVERSATION,
            kind=CheckKind.TEMPERATURE,
        )
    )
    handoff = (view["handoff"] or {}).get("kind") if view else NO_CONVERSATION
    checks.append(_compare("handoff", expect.handoff, handoff))
    if expect.written("suggested_model"):
        got = lead.get("suggested_model") if view else NO_CONVERSATION
        checks.append(_compare("suggested_model", expect.suggested_model, got))
    if expect.written("quotes"):
        quotes = len(view["quotes"]) if view else NO_CONVERSATION
        checks.append(_compare("quotes", expect.quotes, quotes))
    if expect.written("companies"):
        checks.append(_compare("companies", list(expect.companies or ()), list(run.companies)))
    if expect.written("lgpd_requests"):
        lgpd = list(view["lgpd_requests"]) if view else NO_CONVERSATION
        checks.append(_compare("lgpd_requests", list(expect.lgpd_requests or ()), lgpd))
    if expect.written("model_calls") and scripted:
        checks.append(_compare("model_calls", expect.model_calls, run.model_calls))
    for action in expect.audit_actions or ():
        present = "present" if action in run.audit_actions else "absent"
        checks.append(_compare(f"audit {action}", "present", present))
    return checks


def _slot_check(
    slot: str,
    expected: str | bool,
    lead: dict[str, Any],
    view: dict[str, Any] | None,
    scripted: bool,
) -> Check:
    got = lead.get(slot) if view else NO_CONVERSATION
    if scripted:
        return _compare(f"slot {slot}", expected, got, kind=CheckKind.SLOT)
    filled = view is not None and got not in (None, "")
    return Check(CheckKind.SLOT, f"slot {slot}", "filled", _show(got), filled)


def _compare(
    name: str, expected: Any, got: Any, *, kind: CheckKind = CheckKind.EXPECTATION
) -> Check:
    return Check(kind, name, _show(expected), _show(got), expected == got)


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    return str(value)
