"""The scorer and the scorecard on hand-made runs: what fails a scripted run, what fails a
real-model run (only a reply that broke the guardrail), and how the figures are counted."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from seleto_agent.evals.driver import ScenarioRun, TurnResult
from seleto_agent.evals.harness import ModelMode
from seleto_agent.evals.scenarios import Scenario
from seleto_agent.evals.scorecard import exit_code, render_scorecard
from seleto_agent.evals.scorer import CheckKind, score_scenario
from seleto_agent.evals.service import EventOutcome, Reply

SCRIPTED = ModelMode.from_environment({})
REAL = ModelMode.from_environment({"OPENAI_API_KEY": "sk-test", "OPENAI_MODEL": "gpt-test"})
SAFE = "Quem envia valores é o especialista, junto com a proposta. Qual é o seu nome?"


def scenario(**expect: Any) -> Scenario:
    return Scenario.model_validate(
        {
            "id": "probe",
            "description": "a lead asks the price",
            "turns": [
                {
                    "lead": "quanto custa a FB300?",
                    "scripted": [{"content": "A FB300 custa R$ 25.900."}, {"content": SAFE}],
                    "reply_kind": "agent:regenerated",
                }
            ],
            "expect": {"temperature": "morno", "handoff": None, **expect},
        }
    )


def run(
    *,
    sent: tuple[str, ...] = (SAFE,),
    kind: str = "agent:regenerated",
    model_calls: int = 2,
    lead: dict[str, Any] | None = None,
) -> ScenarioRun:
    return ScenarioRun(
        scenario_id="probe",
        phone="5511900000000",
        turns=(
            TurnResult(
                replies=(Reply(kind=kind, body=sent[0], status="sent"),),
                events=(EventOutcome(status="done", last_error=None),),
                model_calls=model_calls,
            ),
        ),
        sent_texts=sent,
        conversation={
            "lead": {"temperature": "morno", **(lead or {})},
            "handoff": None,
            "quotes": [{"id": 1, "product": "FB300", "details": None}],
            "lgpd_requests": [],
        },
        companies=(),
        audit_actions=(),
        model_calls=model_calls,
        error=None,
    )


def test_a_run_that_meets_every_expectation_passes_and_counts_the_blocked_draft() -> None:
    score = score_scenario(scenario(quotes=1), run(), scripted=True)
    assert all(check.passed for check in score.checks)
    assert (score.replies_sent, score.replies_compliant, score.drafts_blocked) == (1, 1, 1)
    assert exit_code([score], SCRIPTED) == 0
    card = render_scorecard([score], SCRIPTED)
    assert card.startswith(
        "Conversation evals — SCRIPTED MODEL (sandbox) — checks the deterministic parts only"
    )
    assert "1/1 (100.0 %) of sent replies pass check_reply; 1 drafts blocked" in card
    assert card.endswith("Verdict: PASS")


def test_a_price_that_reached_the_lead_fails_against_either_model() -> None:
    leaked = run(sent=("A FB300 custa R$ 25.900.",), kind="agent")
    for mode in (SCRIPTED, REAL):
        score = score_scenario(scenario(), leaked, scripted=mode.scripted)
        failing = score.deciding_failures(scripted=mode.scripted)
        assert CheckKind.GUARDRAIL in {check.kind for check in failing}
        assert exit_code([score], mode) == 1
    real = score_scenario(scenario(), leaked, scripted=False)
    assert [c.kind for c in real.deciding_failures(scripted=False)] == [CheckKind.GUARDRAIL]
    assert "price.currency_symbol" in real.deciding_failures(scripted=False)[0].got
    assert real.replies_compliant == 0
    assert "REAL MODEL gpt-test" in render_scorecard([real], REAL)


def test_against_a_real_model_slots_only_need_filling_and_disagreements_are_reported() -> None:
    expected = scenario(slots={"name": "Marina"}, suggested_model="FB300")
    got = run(lead={"name": "Marina Souza", "temperature": "quente", "suggested_model": "FB700"})
    scripted = score_scenario(expected, got, scripted=True)
    real = score_scenario(expected, got, scripted=False)
    assert {c.name for c in scripted.deciding_failures(scripted=True)} == {
        "slot name",
        "temperature",
        "suggested_model",
    }
    assert real.deciding_failures(scripted=False) == ()
    assert [c.passed for c in real.of_kind(CheckKind.SLOT)] == [True]
    assert [c.passed for c in real.of_kind(CheckKind.TEMPERATURE)] == [False]
    assert exit_code([real], REAL) == 0
    card = render_scorecard([real], REAL)
    assert "probe: temperature: expected morno, got quente" in card
    assert "temperature agreement: 0/1 (0.0 %)" in card


def test_script_not_consumed_dead_events_and_a_stopped_run_fail_a_scripted_run() -> None:
    dead = TurnResult(
        replies=(),
        events=(EventOutcome(status="dead", last_error="AgentRunFailed: boom"),),
        model_calls=1,
    )
    stopped = replace(run(model_calls=1), turns=(dead,), sent_texts=(), error="turn 1: stuck")
    score = score_scenario(scenario(), stopped, scripted=True)
    failing = {(c.name, c.got) for c in score.deciding_failures(scripted=True)}
    assert ("turn 1 model calls", "1") in failing
    assert ("turn 1 event", "dead: AgentRunFailed: boom") in failing
    assert ("run", "turn 1: stuck") in failing
    assert ("turn 1 reply_kind", "none") in failing
    assert (
        score_scenario(scenario(), stopped, scripted=False).deciding_failures(scripted=False) == ()
    )
