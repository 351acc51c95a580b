"""The scorer and the scorecard on hand-made runs: what fails a scripted run (any difference),
what fails a real-model run (the final state, the tools, the slots loosely, the silence after
a handoff; not the model's own reply kinds), and how the figures are counted."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from seleto_agent.evals.driver import ScenarioRun, TurnResult
from seleto_agent.evals.harness import ModelMode
from seleto_agent.evals.scenarios import Scenario
from seleto_agent.evals.scorecard import exit_code, render_scorecard
from seleto_agent.evals.scorer import CheckKind, score_scenario
from seleto_agent.evals.service import EventOutcome, Reply

SCRIPTED = ModelMode.from_environment({})
REAL = ModelMode.from_environment({"OPENAI_API_KEY": "sk-test", "OPENAI_MODEL": "gpt-test"})
SAFE = "Quem envia valores é o especialista, junto com a proposta. Qual é o seu nome?"
HANDED_OFF = "Já registrei o seu pedido da FB300; um especialista continua por aqui em breve."


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


# A hot lead in two turns: tools on the first, silence on the second (a person owns it).
HOT = Scenario.model_validate(
    {
        "id": "hot_probe",
        "description": "a hot lead handed to the SDR team",
        "turns": [
            {
                "lead": "Quero orçamento da FB300 pra este mês, aqui é da Smash Burger Londrina/PR",
                "scripted": [
                    {
                        "tool_calls": [
                            {
                                "name": "update_lead",
                                "arguments": {
                                    "company_name": "Smash Burger Londrina",
                                    "product_interest": "FB300",
                                    "production_volume": "2.000 hambúrgueres por dia",
                                    "urgency": "este mês, abertura da segunda loja",
                                    "uf": "PR",
                                },
                            }
                        ]
                    },
                    {
                        "tool_calls": [
                            {"name": "create_quote_request", "arguments": {"product": "FB300"}}
                        ]
                    },
                    {"content": HANDED_OFF},
                ],
                "reply_kind": "agent",
            },
            {"lead": "Obrigado!", "reply_kind": "none"},
        ],
        "expect": {
            "temperature": "quente",
            "handoff": "hot_lead",
            "suggested_model": "FB300",
            "quotes": 1,
            "model_calls": 3,
            "slots": {
                "company_name": "Smash Burger Londrina",
                "product_interest": "FB300",
                "production_volume": "2.000 hambúrgueres por dia",
                "urgency": "este mês, abertura da segunda loja",
                "uf": "PR",
            },
        },
    }
)
HOT_LEAD = {
    "company_name": "Smash Burger Londrina",
    "product_interest": "FB300",
    "production_volume": "2.000 hambúrgueres por dia",
    "urgency": "este mês, abertura da segunda loja",
    "uf": "PR",
    "temperature": "quente",
    "suggested_model": "FB300",
}


def hot_run(
    *,
    lead: dict[str, Any] | None = None,
    handoffs: tuple[str, ...] = ("hot_lead",),
    first_kind: str = "agent",
    second: tuple[Reply, ...] = (),
    tools: tuple[str, ...] = ("update_lead", "create_quote_request"),
    calls: tuple[int, int] = (3, 0),
    parallel_tools: bool = False,
) -> ScenarioRun:
    done = (EventOutcome(status="done", last_error=None),)
    first = (Reply(kind=first_kind, body=HANDED_OFF, status="sent"),)
    return ScenarioRun(
        scenario_id="hot_probe",
        phone="5511900000001",
        turns=(
            TurnResult(replies=first, events=done, model_calls=calls[0]),
            TurnResult(replies=second, events=done, model_calls=calls[1]),
        ),
        sent_texts=tuple(reply.body for reply in (*first, *second)),
        conversation={
            "lead": {**HOT_LEAD, **(lead or {})},
            "handoff": {"kind": handoffs[0]} if handoffs else None,
            "quotes": [{"id": 1, "product": "FB300", "details": None}],
            "lgpd_requests": [],
        },
        companies=(),
        audit_actions=(),
        model_calls=sum(calls),
        error=None,
        handoffs=handoffs,
        tools_called=tools,
        parallel_tools=parallel_tools,
    )


def test_a_run_that_meets_every_expectation_passes_and_counts_the_blocked_draft() -> None:
    score = score_scenario(scenario(quotes=1), run(), scripted=True)
    assert all(check.passed for check in score.checks)
    assert (score.replies_sent, score.replies_compliant, score.drafts_blocked) == (1, 1, 1)
    assert exit_code([score]) == 0
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
        assert CheckKind.GUARDRAIL in {check.kind for check in score.deciding_failures()}
        assert exit_code([score]) == 1
    real = score_scenario(scenario(), leaked, scripted=False)
    assert [c.kind for c in real.deciding_failures()] == [CheckKind.GUARDRAIL]
    assert "price.currency_symbol" in real.deciding_failures()[0].got
    assert real.replies_compliant == 0
    assert "REAL MODEL gpt-test" in render_scorecard([real], REAL)


def test_the_hot_run_passes_against_either_model() -> None:
    for mode in (SCRIPTED, REAL):
        score = score_scenario(HOT, hot_run(), scripted=mode.scripted)
        assert [c for c in score.checks if not c.passed] == []
        assert exit_code([score]) == 0
    names = {check.name for check in score_scenario(HOT, hot_run(), scripted=False).checks}
    assert {"tool update_lead", "tool create_quote_request", "turn 2 reply_kind"} <= names


def test_a_real_model_passes_with_its_own_wording_of_the_slots_and_its_own_reply_kind() -> None:
    reworded = hot_run(
        lead={
            "company_name": "Smash Burger",
            "product_interest": "fb300",
            "production_volume": "2000 hamburgueres/dia",
            "urgency": "ainda este mês",
        },
        first_kind="agent:regenerated",
        tools=("update_lead", "create_quote_request", "update_lead"),
        calls=(5, 0),
    )
    real = score_scenario(HOT, reworded, scripted=False)
    assert real.deciding_failures() == ()
    assert exit_code([real]) == 0
    [reported] = [check for check in real.checks if not check.passed]
    assert (reported.name, reported.deciding) == ("turn 1 reply_kind", False)
    card = render_scorecard([real], REAL)
    assert "hot_probe: turn 1 reply_kind: expected agent, got agent:regenerated (reported)" in card
    assert "only the guardrail" not in card
    assert "Against a real model the final state decides" in card
    assert "| differs |" in card
    assert card.endswith("Verdict: PASS")
    # The scripted model has no excuse: the same wording fails it.
    scripted = score_scenario(HOT, reworded, scripted=True)
    assert {c.name for c in scripted.deciding_failures()} == {
        "slot company_name",
        "slot product_interest",
        "slot production_volume",
        "slot urgency",
        "turn 1 model calls",
        "turn 1 reply_kind",
        "model_calls",
    }


@pytest.mark.parametrize(
    ("changes", "failing", "got"),
    [
        ({"lead": {"temperature": "morno"}}, "temperature", "morno"),
        ({"handoffs": ()}, "handoff", "null"),
        ({"handoffs": ("hot_lead", "requested")}, "handoff", "hot_lead, requested"),
        ({"handoffs": ("requested",)}, "handoff", "requested"),
        (
            {"second": (Reply(kind="agent", body="De nada!", status="sent"),)},
            "turn 2 reply_kind",
            "agent",
        ),
        ({"lead": {"company_name": None}}, "slot company_name", "null"),
        (
            {"lead": {"production_volume": "3 mil por dia"}},
            "slot production_volume",
            "3 mil por dia",
        ),
        ({"lead": {"uf": "SC"}}, "slot uf", "SC"),
        ({"lead": {"suggested_model": "FB700"}}, "suggested_model", "FB700"),
        ({"tools": ("update_lead",)}, "tool create_quote_request", "not called"),
    ],
    ids=[
        "wrong-temperature",
        "missing-handoff",
        "two-handoffs",
        "other-handoff-kind",
        "reply-after-handoff",
        "slot-missing",
        "slot-other-volume",
        "enumerated-slot-differs",
        "other-suggested-model",
        "tool-not-called",
    ],
)
def test_a_real_model_run_that_misses_the_expected_state_fails(
    changes: dict[str, Any], failing: str, got: str
) -> None:
    score = score_scenario(HOT, hot_run(**changes), scripted=False)
    assert [(c.name, c.got) for c in score.deciding_failures()] == [(failing, got)]
    assert exit_code([score]) == 1
    card = render_scorecard([score], REAL)
    assert "| FAIL " in card
    assert card.endswith("Verdict: FAIL")


def test_merged_tool_calls_make_fewer_model_calls_and_the_scorer_derives_how_many() -> None:
    merged = hot_run(calls=(2, 0), parallel_tools=True)
    score = score_scenario(HOT, merged, scripted=True)
    assert score.deciding_failures() == ()
    assert {(c.name, c.expected) for c in score.checks if "model calls" in c.name} == {
        ("turn 1 model calls", "2"),
        ("turn 2 model calls", "0"),
    }
    assert [c.expected for c in score.checks if c.name == "model_calls"] == ["2"]
    # The count still decides: an unmerged count in a merged run fails, and the reverse.
    unmerged = score_scenario(HOT, hot_run(parallel_tools=True), scripted=True)
    assert {c.name for c in unmerged.deciding_failures()} == {"turn 1 model calls", "model_calls"}
    sequential = score_scenario(HOT, hot_run(calls=(2, 0)), scripted=True)
    assert {c.name for c in sequential.deciding_failures()} == {"turn 1 model calls", "model_calls"}
    card = render_scorecard([score], SCRIPTED, parallel_tools=True)
    assert card.splitlines()[0].endswith("— every turn's tool calls in one response")


def test_a_handoff_list_accepts_any_one_of_its_kinds_but_never_two() -> None:
    either = Scenario.model_validate(
        HOT.model_dump()
        | {"expect": HOT.expect.model_dump() | {"handoff": ["hot_lead", "requested"]}}
    )
    for kinds, passed in (
        (("requested",), True),
        (("hot_lead",), True),
        (("hot_lead", "requested"), False),
    ):
        [check] = [
            c
            for c in score_scenario(either, hot_run(handoffs=kinds), scripted=True).checks
            if c.name == "handoff"
        ]
        assert (check.expected, check.passed) == ("hot_lead or requested", passed)


def test_script_not_consumed_dead_events_and_a_stopped_run_fail_either_run() -> None:
    dead = TurnResult(
        replies=(),
        events=(EventOutcome(status="dead", last_error="AgentRunFailed: boom"),),
        model_calls=1,
    )
    stopped = replace(run(model_calls=1), turns=(dead,), sent_texts=(), error="turn 1: stuck")
    score = score_scenario(scenario(), stopped, scripted=True)
    failing = {(c.name, c.got) for c in score.deciding_failures()}
    assert ("turn 1 model calls", "1") in failing
    assert ("turn 1 event", "dead: AgentRunFailed: boom") in failing
    assert ("run", "turn 1: stuck") in failing
    assert ("turn 1 reply_kind", "none") in failing
    # A real model's run that did not play cannot be scored either; the reply kind it would
    # have chosen is only reported.
    real = score_scenario(scenario(), stopped, scripted=False)
    assert {c.name for c in real.deciding_failures()} == {"run", "turn 1 event"}
    assert [c.deciding for c in real.checks if c.name == "turn 1 reply_kind"] == [False]
