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


def run(*, repeat: int = 20) -> list[FilterResult]:
    return [
        score(
            "output guardrail (check_reply)",
            EVALS / "sentences.yaml",
            [k.value for k in ViolationKind],
            lambda text: {v.kind.value for v in check_reply(text)},
            repeat=repeat,
        ),
        score(
            "input checks (inspect_input)",
            EVALS / "inputs.yaml",
            [f.value for f in InputFlag],
            lambda text: {f.value for f in inspect_input(text)},
            repeat=repeat,
        ),
    ]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def report(results: Sequence[FilterResult], *, show_errors: bool = False) -> str:
    parts: list[str] = ["Guardrail filters against the labelled lists"]
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
        if show_errors:
            for text, expected, got in result.errors:
                parts.append(f"  expected {expected} got {got}: {text}")
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--show-errors", action="store_true", help="print every misclassified item")
    parser.add_argument("--repeat", type=int, default=20, help="passes over each list for timing")
    args = parser.parse_args()
    print(report(run(repeat=max(args.repeat, 1)), show_errors=args.show_errors))


if __name__ == "__main__":
    main()
