"""Every eval scenario, played through the real service against the sandbox's scripted model
on Postgres: the scorer must find nothing that differs from what the scenario expects."""

from __future__ import annotations

import pytest

from seleto_agent.evals.driver import run_scenario
from seleto_agent.evals.harness import ModelMode, SandboxClient, eval_phone, eval_settings
from seleto_agent.evals.scenarios import Scenario, load_scenarios
from seleto_agent.evals.scorer import score_scenario

SCENARIOS = load_scenarios()
SCRIPTED = ModelMode.from_environment({})


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
async def test_scenario_meets_its_expectations(
    scenario: Scenario, eval_database_url: str, sandbox_server: str, eval_sandbox: SandboxClient
) -> None:
    settings = eval_settings(
        database_url=eval_database_url, sandbox_url=sandbox_server, mode=SCRIPTED
    )
    run = await run_scenario(
        scenario,
        settings=settings,
        sandbox=eval_sandbox,
        phone=eval_phone(0),
        scripted=True,
        turn_timeout=SCRIPTED.turn_timeout,
    )
    score = score_scenario(scenario, run, scripted=True)
    failures = [
        f"{check.name}: expected {check.expected}, got {check.got}"
        for check in score.deciding_failures(scripted=True)
    ]
    assert failures == []
    assert len(run.turns) == len(scenario.turns)
