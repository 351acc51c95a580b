"""The scenario files: they load strictly, and together they cover every case issue 3 item 7
names (so deleting or weakening one shows up here, not only in a shorter scorecard)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from seleto_agent.domain.brazil import InvalidCnpj, validate_cnpj
from seleto_agent.domain.catalog_file import load_catalog
from seleto_agent.domain.guardrails import check_reply
from seleto_agent.domain.input_checks import InputFlag, inspect_input
from seleto_agent.evals.scenarios import Scenario, ScenarioError, Turn, load_scenarios
from seleto_agent.sandbox.model_replies import ScriptedReply
from seleto_agent.settings import Settings

SCENARIOS = load_scenarios()
CATALOG_FILE = Settings(_env_file=None).knowledge_file  # type: ignore[call-arg]
LGPD_FLAGS = {
    InputFlag.DATA_DELETION,
    InputFlag.DATA_ACCESS,
    InputFlag.DATA_CORRECTION,
    InputFlag.OPT_OUT,
}


def _tool_calls(scenario: Scenario, name: str) -> list[dict[str, Any]]:
    return [
        call.arguments
        for turn in scenario.turns
        for reply in turn.scripted
        for call in reply.tool_calls or ()
        if call.name == name and isinstance(call.arguments, dict)
    ]


def _is_invalid_cnpj(text: str) -> bool:
    try:
        validate_cnpj(text)
    except InvalidCnpj:
        return True
    return False


def test_every_step_of_the_capacity_ladder_is_some_scenarios_suggestion() -> None:
    ladder = {model.code for model in load_catalog(CATALOG_FILE).ladder()}
    suggested = {s.expect.suggested_model for s in SCENARIOS if s.expect.written("suggested_model")}
    assert ladder == {"FBM100", "FB300", "FB700", "EPE1200", "SE-SMARTPRO", "SE3000", "SE6000"}
    assert ladder <= suggested


def test_outcomes_and_reply_paths_are_all_covered() -> None:
    temperatures = {s.expect.temperature.value for s in SCENARIOS if s.expect.temperature}
    handoffs = {s.expect.handoff for s in SCENARIOS}
    reply_kinds = {turn.reply_kind for s in SCENARIOS for turn in s.turns}
    assert temperatures == {"quente", "morno", "frio"}
    assert {"hot_lead", "requested", "lgpd"} <= handoffs
    assert {
        "agent",
        "agent:regenerated",
        "fixed:guardrail_fallback",
        "fixed:lgpd_request_received",
        "none",
    } <= reply_kinds


def test_price_probing_scenarios_script_drafts_the_guardrail_must_block() -> None:
    probes = [s for s in SCENARIOS if s.id.startswith("price_")]
    blocked_kinds = {
        violation.kind.value
        for s in probes
        for turn in s.turns
        for reply in turn.scripted
        for violation in check_reply(reply.content or "")
    }
    assert len(probes) >= 5
    assert all(_tool_calls(s, "create_quote_request") for s in probes)
    assert {"price", "discount", "lead_time"} <= blocked_kinds


def test_cnpj_masked_alphanumeric_and_invalid_are_covered() -> None:
    given = [args["cnpj"] for s in SCENARIOS for args in _tool_calls(s, "register_company")]
    stored = [cnpj for s in SCENARIOS if s.expect.companies for cnpj in s.expect.companies]
    assert any("/" in cnpj and "." in cnpj for cnpj in given)
    assert any(_is_invalid_cnpj(cnpj) for cnpj in given)
    assert any(not cnpj.isdigit() for cnpj in stored)
    assert not any(_is_invalid_cnpj(cnpj) for cnpj in stored)


def test_unavailable_product_injection_and_lgpd_are_covered() -> None:
    catalog = load_catalog(CATALOG_FILE)
    asked = [
        catalog.find(args["product_interest"])
        for s in SCENARIOS
        for args in _tool_calls(s, "update_lead")
        if "product_interest" in args
    ]
    assert any(model is not None and not model.available for model in asked)
    flags = [inspect_input(turn.lead) for s in SCENARIOS for turn in s.turns]
    assert any(InputFlag.PROMPT_INJECTION in found for found in flags)
    lgpd = [s for s in SCENARIOS if s.expect.lgpd_requests]
    assert lgpd
    assert all(s.expect.model_calls == 0 for s in lgpd)
    assert all(LGPD_FLAGS & inspect_input(s.turns[0].lead) for s in lgpd)


# Tools that change the lead (its slots, quotes or handoff) and race when run concurrently.
LEAD_CHANGING = {"update_lead", "create_quote_request", "request_human_handoff"}


def _merged_lead_changes(turn: Turn) -> set[str]:
    """Lead-changing tools that come in one response once the turn's calls are merged."""
    return max(
        (
            {call.name for call in reply.tool_calls or ()} & LEAD_CHANGING
            for reply in turn.replies(parallel=True)
        ),
        key=len,
        default=set(),
    )


def test_parallel_tool_calls_that_race_on_the_lead_are_covered() -> None:
    racing = {
        s.id: _merged_lead_changes(turn)
        for s in SCENARIOS
        for turn in s.turns
        if len(_merged_lead_changes(turn)) > 1
        and len(turn.scripted) > len(turn.replies(parallel=True))
    }
    # Scripted one call per reply, so the as-scripted run is the sequential control and the
    # merged run the concurrent one.
    assert racing["quote_this_month"] == {"update_lead", "create_quote_request"}
    assert racing["handoff_while_turning_hot"] == {"update_lead", "request_human_handoff"}
    by_id = {s.id: s for s in SCENARIOS}
    assert by_id["quote_this_month"].expect.handoff == "hot_lead"
    assert by_id["handoff_while_turning_hot"].expect.handoff_kinds == {"hot_lead", "requested"}
    assert any(turn.parallel_tools for s in SCENARIOS for turn in s.turns)


def _reply(*tools: str, content: str | None = None) -> ScriptedReply:
    calls = [{"name": name, "arguments": {}} for name in tools]
    return ScriptedReply.model_validate({"content": content, "tool_calls": calls or None})


def test_merging_joins_consecutive_tool_call_replies_only() -> None:
    turn = Turn(
        lead="oi",
        scripted=(
            _reply("update_lead"),
            _reply("create_quote_request"),
            _reply(content="rascunho bloqueado"),
            _reply("register_company"),
            _reply("request_human_handoff"),
            _reply(content="final"),
        ),
    )
    merged = turn.replies(parallel=True)
    assert [[c.name for c in r.tool_calls or ()] or r.content for r in merged] == [
        ["update_lead", "create_quote_request"],
        "rascunho bloqueado",
        ["register_company", "request_human_handoff"],
        "final",
    ]
    assert turn.replies() == turn.scripted
    assert Turn(lead="oi", scripted=turn.scripted, parallel_tools=True).replies() == merged


def test_model_calls_are_counted_after_the_turns_own_merge() -> None:
    base = {
        "id": "probe",
        "description": "a probe",
        "expect": {"temperature": None, "handoff": None, "model_calls": 2},
    }
    scripted = [
        {"tool_calls": [{"name": "update_lead", "arguments": {}}]},
        {"tool_calls": [{"name": "create_quote_request", "arguments": {"product": "FB300"}}]},
        {"content": "ok"},
    ]
    flagged = Scenario.model_validate(
        base | {"turns": [{"lead": "oi", "scripted": scripted, "parallel_tools": True}]}
    )
    assert (flagged.scripted_calls(), flagged.scripted_calls(parallel=True)) == (2, 2)
    assert flagged.expected_tools == ("update_lead", "create_quote_request")
    with pytest.raises(ValueError, match="model_calls is 2 but the turns script 3"):
        Scenario.model_validate(base | {"turns": [{"lead": "oi", "scripted": scripted}]})


VALID = """
scenarios:
  - id: probe
    description: a probe
    turns:
      - lead: oi
        scripted:
          - content: Olá!
    expect:
      temperature: null
      handoff: null
"""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("- content: Olá!", "- tool_calls: [{name: send_price, arguments: {}}]"), "unknown tool"),
        (("handoff: null", "handoff: null\n      slots: {cpf: '1'}"), "unknown slot"),
        (
            ("handoff: null", "handoff: null\n      slots: {knows_seleto: sim}"),
            "expects true or false",
        ),
        (("handoff: null", "handoff: null\n      model_calls: 2"), "model_calls is 2"),
        (("handoff: null", "handoff: []"), "at least 1 item"),
        (("handoff: null", "handoff: null\n      tools: [send_price]"), "unknown tool"),
        (("      - lead: oi", "      - lead: oi\n        parallel_tools: sim"), "parallel_tools"),
        (("      temperature: null\n", ""), "temperature"),
        (("      - lead: oi", "      - lead: oi\n        reply_kind: maybe"), "reply_kind"),
    ],
)
def test_a_bad_scenario_file_is_refused_naming_the_file(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    (tmp_path / "bad.yaml").write_text(VALID.replace(*change), encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"^bad\.yaml: ") as refused:
        load_scenarios(tmp_path)
    assert message in str(refused.value)


def test_scenario_ids_are_unique_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(VALID, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(VALID, encoding="utf-8")
    with pytest.raises(ScenarioError, match="'probe' is used twice"):
        load_scenarios(tmp_path)
    (tmp_path / "b.yaml").unlink()
    assert [s.id for s in load_scenarios(tmp_path)] == ["probe"]
