"""`python -m seleto_agent.evals` (`make eval`): run the scenarios, print the scorecard.

Against the sandbox's scripted model by default (exit 1 when anything differs from what the
scenario expects); against a real model when `OPENAI_API_KEY` is set (exit 1 when the final
state, the tools called, a slot or the silence after a handoff misses the scenario's
expectation; the reply kinds the model chooses are only reported). `--parallel-tools` gives
the scripted model every turn's tool calls in one response. WhatsApp is always the sandbox.
Each scenario gets a fresh SQLite database in a scratch folder unless `--database-url` names
one to share (migrated first, data kept).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from seleto_agent.evals.driver import run_scenario
from seleto_agent.evals.harness import (
    ModelMode,
    SandboxClient,
    eval_phone,
    eval_settings,
    local_sandbox,
    migrate_database,
    service_output_to_stderr,
)
from seleto_agent.evals.scenarios import Scenario, ScenarioError, load_scenarios
from seleto_agent.evals.scorecard import exit_code, render_scorecard
from seleto_agent.evals.scorer import ScenarioScore, score_scenario


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seleto_agent.evals", description=__doc__)
    parser.add_argument(
        "--scenario", action="append", metavar="ID", help="run only this scenario (repeatable)"
    )
    parser.add_argument(
        "--database-url",
        help="one database for every scenario (e.g. a scratch Postgres) instead of a fresh "
        "SQLite file each; it is migrated first and the eval leads stay in it",
    )
    parser.add_argument(
        "--parallel-tools",
        action="store_true",
        help="scripted model only: merge each turn's tool calls into one response, so Agno "
        "runs them concurrently as it does for a real model's parallel calls",
    )
    args = parser.parse_args(argv)
    try:
        scenarios = load_scenarios()
    except ScenarioError as exc:
        parser.error(str(exc))
    if args.scenario:
        unknown = sorted(set(args.scenario) - {s.id for s in scenarios})
        if unknown:
            known = ", ".join(s.id for s in scenarios)
            parser.error(f"unknown scenario {', '.join(unknown)}; known: {known}")
        scenarios = tuple(s for s in scenarios if s.id in args.scenario)
    mode = ModelMode.from_environment(os.environ)
    if args.parallel_tools and not mode.scripted:
        parser.error("--parallel-tools scripts the sandbox model; unset OPENAI_API_KEY")
    with service_output_to_stderr(pii_key=b"evals"), local_sandbox() as sandbox_url:
        scores = asyncio.run(
            run_all(
                scenarios,
                mode,
                sandbox_url,
                args.database_url,
                parallel_tools=args.parallel_tools,
            )
        )
    print(render_scorecard(scores, mode, parallel_tools=args.parallel_tools))
    return exit_code(scores)


async def run_all(
    scenarios: Sequence[Scenario],
    mode: ModelMode,
    sandbox_url: str,
    database_url: str | None,
    *,
    parallel_tools: bool = False,
) -> list[ScenarioScore]:
    run_number = secrets.randbelow(10_000)
    scores: list[ScenarioScore] = []
    with tempfile.TemporaryDirectory(prefix="seleto-evals-") as scratch:
        if database_url:
            shared = eval_settings(database_url=database_url, sandbox_url=sandbox_url, mode=mode)
            await migrate_database(shared)
        async with SandboxClient.connect(sandbox_url) as sandbox:
            for index, scenario in enumerate(scenarios):
                url = database_url or f"sqlite:///{Path(scratch) / f'{scenario.id}.db'}"
                settings = eval_settings(database_url=url, sandbox_url=sandbox_url, mode=mode)
                if not database_url:
                    await migrate_database(settings)
                run = await run_scenario(
                    scenario,
                    settings=settings,
                    sandbox=sandbox,
                    phone=eval_phone(index, run=run_number),
                    scripted=mode.scripted,
                    turn_timeout=mode.turn_timeout,
                    parallel_tools=parallel_tools,
                )
                score = score_scenario(scenario, run, scripted=mode.scripted)
                failed = score.deciding_failures()
                print(f"[eval] {scenario.id}: {'FAIL' if failed else 'ok'}", file=sys.stderr)
                scores.append(score)
    return scores


if __name__ == "__main__":
    sys.exit(main())
