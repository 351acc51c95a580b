"""The printed scorecard: one row per scenario, the checks that did not pass, then totals."""

from __future__ import annotations

from collections.abc import Sequence

from seleto_agent.evals.harness import ModelMode
from seleto_agent.evals.scorer import Check, CheckKind, ScenarioScore

OTHER_KINDS = (CheckKind.RUN, CheckKind.EXPECTATION)


PARALLEL_LABEL = "every turn's tool calls in one response"
REAL_RULES = (
    "Against a real model the final state decides: temperature, handoff, suggested model, "
    "quotes, companies, LGPD requests, audited actions, expected tools called, slots (free "
    "text loosely equal), silence after handoff. Reply kinds the model chooses are reported "
    "(marked 'reported') and do not decide."
)


def render_scorecard(
    scores: Sequence[ScenarioScore], mode: ModelMode, *, parallel_tools: bool = False
) -> str:
    scripted = mode.scripted
    rows = [_row(score) for score in scores]
    headers = [
        "scenario",
        "replies",
        "guardrail",
        "blocked drafts",
        "slots (exact)" if scripted else "slots (loose)",
        "temperature (expected → got)",
        "other",
        "result",
    ]
    title = f"Conversation evals — {mode.label}" + (
        f" — {PARALLEL_LABEL}" if parallel_tools else ""
    )
    lines = [title, "", _table(headers, rows), ""]
    if not scripted:
        lines += [REAL_RULES, ""]
    failing = [(score.scenario_id, check) for score in scores for check in score.checks]
    failing = [(name, check) for name, check in failing if not check.passed]
    if failing:
        lines.append("Checks that did not pass:")
        lines += [
            f"  {name}: {check.name}: expected {check.expected}, got {check.got}"
            + ("" if check.deciding else " (reported)")
            for name, check in failing
        ]
        lines.append("")
    lines += _totals(scores, scripted)
    return "\n".join(lines)


def exit_code(scores: Sequence[ScenarioScore]) -> int:
    return 1 if any(score.deciding_failures() for score in scores) else 0


def _row(score: ScenarioScore) -> list[str]:
    temperature = score.of_kind(CheckKind.TEMPERATURE)
    other = [c for kind in OTHER_KINDS for c in score.of_kind(kind)]
    if score.deciding_failures():
        result = "FAIL"
    elif all(check.passed for check in score.checks):
        result = "pass"
    else:
        result = "differs"
    return [
        score.scenario_id,
        str(score.replies_sent),
        f"{score.replies_compliant}/{score.replies_sent}",
        str(score.drafts_blocked),
        _ratio(score.of_kind(CheckKind.SLOT)),
        f"{temperature[0].expected} → {temperature[0].got}" if temperature else "-",
        _ratio(other),
        result,
    ]


def _totals(scores: Sequence[ScenarioScore], scripted: bool) -> list[str]:
    def everything(*kinds: CheckKind) -> list[Check]:
        return [check for score in scores for kind in kinds for check in score.of_kind(kind)]

    sent = sum(score.replies_sent for score in scores)
    compliant = sum(score.replies_compliant for score in scores)
    passed = sum(1 for score in scores if not score.deciding_failures())
    blocked = sum(score.drafts_blocked for score in scores)
    totals = [
        ("scenarios passing", f"{passed}/{len(scores)}"),
        ("replies sent", str(sent)),
        (
            "guardrail compliance",
            f"{_percent(compliant, sent)} of sent replies pass check_reply; "
            f"{blocked} drafts blocked before sending",
        ),
        (
            "slots exact" if scripted else "slots matching",
            _percent_of(everything(CheckKind.SLOT)),
        ),
        ("temperature agreement", _percent_of(everything(CheckKind.TEMPERATURE))),
        ("other expectations", _percent_of(everything(*OTHER_KINDS))),
    ]
    width = max(len(label) for label, _ in totals) + 1
    return [
        "Totals",
        *(f"  {(label + ':').ljust(width)} {value}" for label, value in totals),
        f"Verdict: {'PASS' if passed == len(scores) else 'FAIL'}",
    ]


def _ratio(checks: Sequence[Check]) -> str:
    return f"{sum(c.passed for c in checks)}/{len(checks)}" if checks else "-"


def _percent_of(checks: Sequence[Check]) -> str:
    return _percent(sum(c.passed for c in checks), len(checks))


def _percent(part: int, whole: int) -> str:
    share = f"{100 * part / whole:.1f} %" if whole else "n/a"
    return f"{part}/{whole} ({share})"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])
