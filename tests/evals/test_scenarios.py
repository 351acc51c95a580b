"""Every eval scenario, played through the real service against the sandbox's scripted model
on SQLite and Postgres, twice: with the tool calls as the scenario scripts them, and with every
turn's tool calls merged into one response (Agno then runs them concurrently, as it does for a
real model's parallel calls). The scorer must find nothing that differs from what the scenario
expects; merged runs make fewer model calls, and the scorer derives how many."""

from __future__ import annotations

import pytest

from seleto_agent.evals.driver import run_scenario
from seleto_agent.evals.harness import ModelMode, SandboxClient, eval_phone, eval_settings
from seleto_agent.evals.scenarios import Scenario, load_scenarios
from seleto_agent.evals.scorer import score_scenario

SCENARIOS = load_scenarios()
SCRIPTED = ModelMode.from_environment({})


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
@pytest.mark.parametrize("parallel_tools", [False, True], ids=["as-scripted", "parallel-tools"])
async def test_scenario_meets_its_expectations(
    scenario: Scenario,
    parallel_tools: bool,
    database_url: str,
    sandbox_server: str,
    eval_sandbox: SandboxClient,
) -> None:
    settings = eval_settings(database_url=database_url, sandbox_url=sandbox_server, mode=SCRIPTED)
    run = await run_scenario(
        scenario,
        settings=settings,
        sandbox=eval_sandbox,
        phone=eval_phone(0),
        scripted=True,
        turn_timeout=SCRIPTED.turn_timeout,
        parallel_tools=parallel_tools,
    )
    score = score_scenario(scenario, run, scripted=True)
    failures = [
        f"{check.name}: expected {check.expected}, got {check.got}"
        for check in score.deciding_failures()
    ]
    assert not failures, "checks that failed:\n" + "\n".join(failures)
    assert len(run.turns) == len(scenario.turns)
    assert run.model_calls == scenario.scripted_calls(parallel=parallel_tools)
