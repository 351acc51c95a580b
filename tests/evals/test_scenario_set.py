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
from seleto_agent.evals.scenarios import Scenario, ScenarioError, load_scenarios
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
