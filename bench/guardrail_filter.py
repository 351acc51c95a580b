"""Quality of the deterministic filters against the labelled lists in evals/guardrails/.

Two filters, each scored per kind as a binary classifier over its own list:
  output guardrail  `check_reply` over evals/guardrails/sentences.yaml (price, discount,
                    lead_time, too_many_questions);
  input checks      `inspect_input` over evals/guardrails/inputs.yaml (prompt_injection and
                    the LGPD data-subject requests).
For each kind: true positives (labelled and flagged), false positives (flagged, not labelled),
false negatives (labelled, not flagged), true negatives, precision, recall and the number of
items. The "any" row scores "flagged at all" against "labelled at all". The time per call is
the mean over every item, repeated; pure CPU, no network, no database.

The lists were written together with the rules, so perfect figures here mean the rules do what
the lists say, not that they generalise; add every miss found in real traffic to the lists.
The holdout lists (evals/guardrails/holdout_*.yaml) were written blind, before the rules were
tuned to them. Their first run is history, kept in BLIND_FIGURES below; the section prints the
current figures on them next to it. Items marked `known_miss: true` are still scored (they
count as errors here) and are reported by count.

Usage: uv run python bench/guardrail_filter.py [--show-errors] [--repeat N]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from _common import ROOT, fmt, table

from seleto_agent.domain.guardrails import ViolationKind, check_reply
from seleto_agent.domain.input_checks import InputFlag, inspect_input

EVALS = ROOT / "evals" / "guardrails"

# First run of the checkers on the holdout lists, before any rule was changed for them
# (TP/FP/FN/TN per kind). One reply was relabelled afterwards ("Fica 12x de R$ 2.450 no
# cartão." from [price, discount] to [price], the convention of sentences.yaml); under the
# current label its blind discount row would read 6/0/1/73.
BLIND_FIGURES = {
    "holdout_replies.yaml": (
        "price 18/1/2/59, discount 6/0/2/72, lead_time 8/0/3/69, too_many_questions 4/0/0/76; "
        "7 of 80 items wrong"
    ),
    "holdout_inputs.yaml": (
        "prompt_injection 9/0/1/30, data_deletion 3/0/0/37, data_access 1/0/1/38, "
        "data_correction 0/0/2/38, opt_out 3/0/0/37; 4 of 40 items wrong"
    ),
}


@dataclass
class Confusion:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, *, expected: bool, got: bool) -> None:
        if expected and got:
            self.tp += 1
        elif got:
            self.fp += 1
        elif expected:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None


@dataclass
class FilterResult:
    name: str
    source: str
    kinds: list[str]
    confusion: dict[str, Confusion]
    errors: list[tuple[str, list[str], list[str]]] = field(default_factory=list)
    us_per_call: float = 0.0
    items: int = 0
    known_misses: int = 0
    blind: str | None = None


def _load(path: Path) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return items


def score(
    name: str,
    path: Path,
    kinds: Sequence[str],
    classify: Callable[[str], Iterable[str]],
    *,
    repeat: int,
) -> FilterResult:
    items = _load(path)
    result = FilterResult(
        name=name,
        source=str(path.relative_to(ROOT)),
        kinds=[*kinds, "any"],
        confusion={kind: Confusion() for kind in [*kinds, "any"]},
        items=len(items),
        known_misses=sum(1 for item in items if item.get("known_miss")),
        blind=BLIND_FIGURES.get(path.name),
    )
    for item in items:
        expected = set(item["expect"])
        got = set(classify(item["text"]))
        for kind in kinds:
            result.confusion[kind].add(expected=kind in expected, got=kind in got)
        result.confusion["any"].add(expected=bool(expected), got=bool(got))
        if expected != got:
            result.errors.append((item["text"], sorted(expected), sorted(got)))
    started = time.perf_counter()
    for _ in range(repeat):
        for item in items:
            classify(item["text"])
    elapsed = time.perf_counter() - started
    result.us_per_call = elapsed / (repeat * len(items)) * 1e6 if items else 0.0
    return result


def _reply_kinds(text: str) -> set[str]:
    return {v.kind.value for v in check_reply(text)}


def _input_flags(text: str) -> set[str]:
    return {f.value for f in inspect_input(text)}


def run(*, repeat: int = 20, holdout: bool = False) -> list[FilterResult]:
    """The labelled lists, or with `holdout` the blind holdout lists."""
    replies, inputs = (
        ("holdout_replies.yaml", "holdout_inputs.yaml")
        if holdout
        else ("sentences.yaml", "inputs.yaml")
    )
    return [
        score(
            "output guardrail (check_reply)",
            EVALS / replies,
            [k.value for k in ViolationKind],
            _reply_kinds,
            repeat=repeat,
        ),
        score(
            "input checks (inspect_input)",
            EVALS / inputs,
            [f.value for f in InputFlag],
            _input_flags,
            repeat=repeat,
        ),
    ]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def report(
    results: Sequence[FilterResult],
    *,
    show_errors: bool = False,
    title: str = "Guardrail filters against the labelled lists",
) -> str:
    parts: list[str] = [title]
    for result in results:
        rows = [
            [
                kind,
                str(c.tp),
                str(c.fp),
                str(c.fn),
                str(c.tn),
                _pct(c.precision),
                _pct(c.recall),
                str(c.n),
            ]
            for kind, c in result.confusion.items()
        ]
        parts.append("")
        parts.append(
            f"{result.name}: {result.items} items from {result.source}; "
            f"{fmt(result.us_per_call)} µs per call; {len(result.errors)} items with a wrong set"
        )
        parts.append(table(["kind", "TP", "FP", "FN", "TN", "precision", "recall", "n"], rows))
        if result.known_misses:
            parts.append(f"  {result.known_misses} item(s) marked known_miss (counted above)")
        if result.blind:
            parts.append(f"  blind first run (TP/FP/FN/TN): {result.blind}")
        if show_errors:
            for text, expected, got in result.errors:
                parts.append(f"  expected {expected} got {got}: {text}")
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--show-errors", action="store_true", help="print every misclassified item")
    parser.add_argument("--repeat", type=int, default=20, help="passes over each list for timing")
    args = parser.parse_args()
    repeat = max(args.repeat, 1)
    print(report(run(repeat=repeat), show_errors=args.show_errors))
    print()
    print(
        report(
            run(repeat=repeat, holdout=True),
            show_errors=args.show_errors,
            title="Holdout (written blind, before fixes): current figures",
        )
    )


if __name__ == "__main__":
    main()
