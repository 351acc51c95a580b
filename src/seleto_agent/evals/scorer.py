"""Compares what a scenario run did with what the scenario expects.

Every comparison is a `Check`, and a failed check that decides fails the eval.

Against the scripted model every check decides: the run is deterministic, so any difference
is a defect. Against a real model the final state still decides, with rules a good model can
meet: temperature, handoff (exactly one, of the expected kind, or none), suggested model,
quote count, companies and LGPD requests exact when written; the tools the scenario expects
called at least once; slots exact when enumerated (`uf`, `knows_seleto`, `email`) and, when
free text, filled and loosely equal (`evals.matching`); no reply on a turn that expects
silence (after a handoff) and the fixed LGPD reply where one is expected; the audited actions
written; every turn played. Only the model's own choices are reported without deciding: the
reply kind of a turn the model answers (whether a draft was blocked first) and the number of
model calls. The guardrail check decides too, but production refuses the same replies
(`agents/guard.py`), so it only proves the guard is wired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from seleto_agent.agents.runner import GUARDRAIL_FALLBACK
from seleto_agent.domain.guardrails import Violation, check_reply
from seleto_agent.evals.driver import ScenarioRun
from seleto_agent.evals.matching import loosely_equal
from seleto_agent.evals.scenarios import NO_REPLY, Scenario

# Drafts the guardrail blocked before the reply that went out, by `reply_kind`.
BLOCKED_DRAFTS = {"agent:regenerated": 1, f"fixed:{GUARDRAIL_FALLBACK}": 2}
NO_CONVERSATION = "no conversation"
# Reply kinds the model does not choose: silence while a person owns the conversation, and
# the fixed reply to an LGPD request (answered without asking the model).
MODEL_FREE_REPLY_KINDS = frozenset({NO_REPLY, "fixed:lgpd_request_received"})
# Slots whose values come from a closed set (or identify someone): compared exactly.
EXACT_SLOTS = frozenset({"uf", "knows_seleto", "email"})


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
    # False for what a real model may legitimately do its own way: reported, never fails.
    deciding: bool = True


@dataclass(frozen=True, slots=True)
class ScenarioScore:
    scenario_id: str
    replies_sent: int
    replies_compliant: int
    drafts_blocked: int
    checks: tuple[Check, ...]

    def of_kind(self, kind: CheckKind) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if check.kind is kind)

    def deciding_failures(self) -> tuple[Check, ...]:
        """The failures that fail the eval."""
        return tuple(check for check in self.checks if check.deciding and not check.passed)


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
            expected_calls = len(turn.replies(parallel=run.parallel_tools))
            checks.append(
                _compare(f"turn {number} model calls", expected_calls, result.model_calls)
            )
        if turn.reply_kind is not None:
            got = ", ".join(reply.kind for reply in result.replies) or NO_REPLY
            deciding = scripted or turn.reply_kind in MODEL_FREE_REPLY_KINDS
            checks.append(
                _compare(f"turn {number} reply_kind", turn.reply_kind, got, deciding=deciding)
            )
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
    checks.append(_handoff_check(expect.handoff_kinds, run.handoffs))
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
    if expect.model_calls is not None and scripted:
        # Merging a turn's tool-call replies saves one model call per reply merged away.
        merged_away = scenario.scripted_calls() - scenario.scripted_calls(
            parallel=run.parallel_tools
        )
        checks.append(_compare("model_calls", expect.model_calls - merged_away, run.model_calls))
    for action in expect.audit_actions or ():
        present = "present" if action in run.audit_actions else "absent"
        checks.append(_compare(f"audit {action}", "present", present))
    for tool in scenario.expected_tools:
        times = run.tools_called.count(tool)
        got = f"called {times}x" if times else "not called"
        checks.append(Check(CheckKind.EXPECTATION, f"tool {tool}", "called", got, times > 0))
    return checks


def _handoff_check(accepted: frozenset[str], recorded: tuple[str, ...]) -> Check:
    """Exactly one handoff of an accepted kind, or none when none is accepted: a second one
    means the SDR team was paged twice for one lead."""
    expected = " or ".join(sorted(accepted)) or "null"
    got = ", ".join(recorded) or "null"
    passed = recorded == () if not accepted else len(recorded) == 1 and recorded[0] in accepted
    return Check(CheckKind.EXPECTATION, "handoff", expected, got, passed)


def _slot_check(
    slot: str,
    expected: str | bool,
    lead: dict[str, Any],
    view: dict[str, Any] | None,
    scripted: bool,
) -> Check:
    got = lead.get(slot) if view else NO_CONVERSATION
    if scripted or slot in EXACT_SLOTS:
        return _compare(f"slot {slot}", expected, got, kind=CheckKind.SLOT)
    matched = view is not None and isinstance(got, str) and loosely_equal(str(expected), got)
    return Check(CheckKind.SLOT, f"slot {slot}", f"~{_show(expected)}", _show(got), matched)


def _compare(
    name: str,
    expected: Any,
    got: Any,
    *,
    kind: CheckKind = CheckKind.EXPECTATION,
    deciding: bool = True,
) -> Check:
    return Check(kind, name, _show(expected), _show(got), expected == got, deciding)


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    return str(value)
