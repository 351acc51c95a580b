"""Runs every benchmark and prints their figures and a summary against the targets.

`make bench` runs this. Nothing here asserts: the figures are printed for people to read.
Only 127.0.0.1 is contacted; every process started is stopped, every database created dropped.

Usage: uv run python bench/run_all.py [--quick] [--skip ack,turn,breakdown,guardrails,tokens]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ack_breakdown
import guardrail_filter
import psycopg
import turn_overhead
import webhook_ack
from _common import BENCH_DIR, BenchEnv, fmt, log, pg_admin_url, table


def machine_line() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    try:
        with psycopg.connect(pg_admin_url()) as conn:
            row = conn.execute("show server_version").fetchone()
        postgres = f"Postgres {row[0] if row else '?'}"
    except psycopg.Error:
        postgres = "Postgres unreachable"
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores ({cpu}); "
        f"Python {platform.python_version()}; {postgres}"
    )


def run_breakdown(env: BenchEnv, quick: bool) -> dict[str, Any]:
    """In its own process, so its heap and GC figures are the service's alone."""
    cmd = [sys.executable, str(BENCH_DIR / "ack_breakdown.py"), "--json"]
    if quick:
        cmd.append("--quick")
    result = subprocess.run(
        cmd,
        env=env.child_env(),
        cwd=env.root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"ack_breakdown failed:\n{result.stderr[-3000:]}")
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter runs (about 2 minutes)")
    parser.add_argument(
        "--skip", default="", help="comma list of: ack, turn, breakdown, guardrails, tokens"
    )
    args = parser.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    started = time.perf_counter()
    header = machine_line()
    sections: list[str] = []
    summary: list[list[str]] = []
    with BenchEnv.create() as env:
        if "ack" not in skip:
            ack = webhook_ack.run(env, quick=args.quick)
            sections.append(webhook_ack.report(ack))
            summary += webhook_ack.targets_report(ack)
        if "turn" not in skip:
            turns = turn_overhead.run(env, quick=args.quick)
            sections.append(turn_overhead.report(turns))
            summary += turn_overhead.targets_report(turns)
        if "breakdown" not in skip:
            log("ack_breakdown: in its own process")
            sections.append(ack_breakdown.report(run_breakdown(env, args.quick)))
    if "guardrails" not in skip:
        sections.append(guardrail_filter.report(guardrail_filter.run()))
        sections.append(
            guardrail_filter.report(
                guardrail_filter.run(holdout=True),
                title="Holdout (written blind, before fixes): current figures",
            )
        )
    if "tokens" not in skip:
        log("prompt_tokens: in its own process")
        tokens = subprocess.run(
            [sys.executable, str(BENCH_DIR / "prompt_tokens.py")],
            check=True,
            capture_output=True,
            text=True,
        )
        sections.append(tokens.stdout.strip())
    elapsed = time.perf_counter() - started
    print(f"seleto-agent benchmarks{' (--quick)' if args.quick else ''}: {header}")
    print()
    for section in sections:
        print(section)
        print()
    print("Summary against the targets")
    print(table(["figure", "target", "measured", "verdict"], summary))
    print()
    print(f"total bench time {fmt(elapsed, 0)} s")


if __name__ == "__main__":
    main()
