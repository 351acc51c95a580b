"""`python -m seleto_agent.evals` end to end, in-process: its own sandbox thread, a fresh
SQLite database per scenario, the scorecard alone on standard output."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from seleto_agent.evals.__main__ import main


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The command configures logging for the process; give the other tests theirs back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_scripted_run_prints_a_labelled_scorecard_and_exits_zero(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code = main(["--scenario", "price_average", "--scenario", "lgpd_deletion"])
    out, err = capsys.readouterr()
    assert code == 0
    assert out.startswith(
        "Conversation evals — SCRIPTED MODEL (sandbox) — checks the deterministic parts only"
    )
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert [row.split("|")[1].strip() for row in rows[1:]] == ["price_average", "lgpd_deletion"]
    # price_average: two replies, both compliant, the first after two blocked drafts.
    assert [cell.strip() for cell in rows[1].split("|")[2:5]] == ["2", "2/2", "2"]
    assert "scenarios passing:     2/2" in out
    assert out.rstrip().endswith("Verdict: PASS")
    # Agno's log of the blocked drafts went to stderr, with the progress lines.
    assert "Validation failed: reply blocked: price" in err
    assert "Validation failed" not in out
    assert "[eval] price_average: ok" in err


def test_an_unknown_scenario_is_refused_with_the_known_ids(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--scenario", "no_such_scenario"])
    assert exited.value.code == 2
    assert "unknown scenario no_such_scenario; known: hot_lead" in capsys.readouterr().err


@pytest.mark.usefixtures("restore_logging")
def test_parallel_tools_runs_merge_each_turns_tool_calls_into_one_response(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code = main(["--parallel-tools", "--scenario", "quote_this_month"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert out.splitlines()[0] == (
        "Conversation evals — SCRIPTED MODEL (sandbox) — checks the deterministic parts only"
        " — every turn's tool calls in one response"
    )
    assert out.rstrip().endswith("Verdict: PASS")


def test_parallel_tools_is_refused_against_a_real_model(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-used")
    with pytest.raises(SystemExit) as exited:
        main(["--parallel-tools"])
    assert exited.value.code == 2
    assert "--parallel-tools scripts the sandbox model" in capsys.readouterr().err
