"""Webhook ack latency and throughput of `POST /webhooks/zapi/{token}`, plus the service's RSS.

For each target (a no-op FastAPI endpoint, the service on SQLite, the service on Postgres):
start the server as its own process, then run the load generator (bench/loadgen.py, another
process) twice:
  open    200 req/s offered for 20 s (5 s with --quick): ack latency at a realistic rate;
  closed  32 connections back to back for 8 s (4 s with --quick): maximum events/s.
Each run starts with 300 warm-up requests (8 connections) that are not measured, once the
server has gone idle after its start-up. The service runs with WORKER_EMBEDDED=false, so only
ingestion (store + classify) is measured. Every body is a distinct ReceivedCallback (new message
id, new phone).

Also reads the server's memory (VmRSS idle, sampled every 100 ms under load, VmHWM) and CPU.

Usage: uv run python bench/webhook_ack.py [--quick] [--targets noop,sqlite,postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from _common import (
    BENCH_DIR,
    HOST,
    INSTANCE_ID,
    WEBHOOK_TOKEN,
    BenchEnv,
    Proc,
    RssSampler,
    count_rows,
    cpu_seconds,
    database,
    fmt,
    free_port,
    hwm_mb,
    log,
    machine_busy_pct,
    machine_cpu,
    pg_sessions,
    rss_mb,
    running,
    table,
    uv_command,
    verdict,
    wait_http,
    wait_idle,
)

TARGETS = ("noop", "sqlite", "postgres")
OPEN_RATE = 200.0
CONCURRENCY = 32
TARGET_P99_MS = 15.0
TARGET_EVENTS_PER_S = 1000.0
TARGET_RSS_MB = 300.0


@dataclass
class LoadRun:
    mode: str
    gen: dict[str, Any]
    server_cpu_pct: float | None
    server_cpu_us_per_req: float | None
    # Postgres connections the service opened during this load (pool growth and churn).
    pg_sessions: int | None = None


@dataclass
class TargetResult:
    target: str
    startup_s: float
    rss_idle_mb: float | None = None
    rss_load_peak_mb: float | None = None
    rss_peak_mb: float | None = None
    rss_after_mb: float | None = None
    runs: list[LoadRun] = field(default_factory=list)
    stored_rows: int | None = None
    acked: int = 0

    def run(self, mode: str) -> LoadRun | None:
        return next((r for r in self.runs if r.mode == mode), None)


@contextlib.contextmanager
def start_server(target: str, env: BenchEnv) -> Iterator[tuple[Proc, int, str | None, float]]:
    """The server of `target` on a free port; yields (process, port, database url, start-up s)."""
    port = free_port()
    with contextlib.ExitStack() as stack:
        url: str | None = None
        if target == "noop":
            cmd = uv_command(
                "uvicorn",
                "--app-dir",
                str(BENCH_DIR),
                "noop_app:app",
                "--host",
                HOST,
                "--port",
                str(port),
                "--no-access-log",
                "--log-level",
                "warning",
            )
            child_env = env.child_env()
        else:
            url = stack.enter_context(database(target, env))
            cmd = uv_command("seleto-agent", "serve", "--host", HOST, "--port", str(port))
            child_env = env.child_env(
                APP_ENV="test",
                DATABASE_URL=url,
                LOG_LEVEL="WARNING",
                WORKER_EMBEDDED="false",
                ZAPI_WEBHOOK_TOKEN=WEBHOOK_TOKEN,
                ZAPI_INSTANCE_ID=INSTANCE_ID,
                OPENAI_API_KEY="sk-bench-not-used",
            )
        proc = stack.enter_context(
            running(Proc.start(f"ack-{target}", cmd, env=child_env, cwd=env.root))
        )
        startup = wait_http(f"http://{HOST}:{port}/healthz", proc)
        yield proc, port, url, startup


def run_generator(
    port: int, mode: str, duration: float, env: BenchEnv, server_pid: int
) -> tuple[dict[str, Any], float | None, float | None, list[float]]:
    cmd = [
        sys.executable,
        str(BENCH_DIR / "loadgen.py"),
        "--port",
        str(port),
        "--path",
        f"/webhooks/zapi/{WEBHOOK_TOKEN}",
        "--mode",
        mode,
        "--rate",
        str(OPEN_RATE),
        "--duration",
        str(duration),
        "--concurrency",
        str(CONCURRENCY),
        "--instance-id",
        INSTANCE_ID,
    ]
    cpu_before = cpu_seconds(server_pid)
    machine_before = machine_cpu()
    with RssSampler(server_pid) as sampler:
        result = subprocess.run(
            cmd,
            env=env.child_env(),
            cwd=env.root,
            capture_output=True,
            text=True,
            timeout=duration + 120,
            check=False,
        )
    cpu_after = cpu_seconds(server_pid)
    machine_pct = machine_busy_pct(machine_before, machine_cpu())
    if result.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{result.stderr}")
    gen: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    gen["machine_busy_pct"] = machine_pct
    if cpu_before is None or cpu_after is None:
        return gen, None, None, sampler.samples
    cpu = cpu_after - cpu_before
    # Warm-up requests are served too; the server was idle otherwise (no embedded worker).
    served = int(gen["sent"]) + int(gen.get("warmup_sent", 0))
    # CPU% is the share of one core over the load window (start-up of the generator excluded).
    cpu_pct = cpu / float(gen["elapsed_s"]) * 100 if gen["elapsed_s"] else None
    return gen, cpu_pct, cpu / served * 1e6 if served else None, sampler.samples


def bench_target(target: str, env: BenchEnv, *, open_s: float, closed_s: float) -> TargetResult:
    log(f"webhook_ack: starting {target}")
    with start_server(target, env) as (proc, port, url, startup):
        pid = proc.python_pid()
        wait_idle(pid)  # AgentOS and the pools finish their start-up work
        result = TargetResult(target=target, startup_s=startup, rss_idle_mb=rss_mb(pid))
        for mode, duration in (("open", open_s), ("closed", closed_s)):
            log(f"webhook_ack: {target} {mode} for {duration:g}s")
            sessions_before = pg_sessions(url) if url else None
            gen, cpu_pct, cpu_us, samples = run_generator(port, mode, duration, env, pid)
            if samples:
                result.rss_load_peak_mb = max(result.rss_load_peak_mb or 0.0, *samples)
            sessions_after = pg_sessions(url) if url else None
            result.runs.append(
                LoadRun(
                    mode=mode,
                    gen=gen,
                    server_cpu_pct=cpu_pct,
                    server_cpu_us_per_req=cpu_us,
                    # The "after" probe counts itself once more than the "before" one.
                    pg_sessions=sessions_after - sessions_before - 1
                    if sessions_before is not None and sessions_after is not None
                    else None,
                )
            )
            result.acked += int(gen["ok"]) + int(gen.get("warmup_ok", 0))
        result.rss_peak_mb = hwm_mb(pid)
        result.rss_after_mb = rss_mb(pid)
        if url is not None:
            result.stored_rows = count_rows(url, "inbound_events")
    return result


def _mode_label(mode: str) -> str:
    return f"open {OPEN_RATE:g}/s" if mode == "open" else f"closed c={CONCURRENCY}"


def report(results: list[TargetResult]) -> str:
    rows = []
    for res in results:
        for run in res.runs:
            g = run.gen
            bad = {k: v for k, v in g["statuses"].items() if not k.startswith("2")}
            problems = ", ".join(f"{k}x{v}" for k, v in {**bad, **g["errors"]}.items()) or "0"
            rows.append(
                [
                    res.target,
                    _mode_label(run.mode),
                    f"{g['sent']:,}",
                    fmt(g["ok_per_s"], 0),
                    fmt(g["p50_ms"], 2),
                    fmt(g["p95_ms"], 2),
                    fmt(g["p99_ms"], 2),
                    fmt(g["max_ms"], 1),
                    fmt(g["sched_p99_ms"], 2) if run.mode == "open" else "-",
                    fmt(run.server_cpu_pct, 0),
                    fmt(run.server_cpu_us_per_req, 0),
                    fmt(g["machine_busy_pct"], 0),
                    fmt(g["gen_cpu_us_per_req"], 0),
                    "-" if run.pg_sessions is None else str(run.pg_sessions),
                    problems,
                ]
            )
    lines = [
        "Webhook ack: POST /webhooks/zapi/{token}, unique ReceivedCallback bodies",
        table(
            [
                "target",
                "load",
                "sent",
                "ok/s",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "max ms",
                "p99 from sched",
                "server CPU %",
                "server CPU us/req",
                "machine busy %",
                "gen CPU us/req",
                "new PG conns",
                "non-2xx/errors",
            ],
            rows,
        ),
        "",
        "Server process memory: VmRSS idle, max VmRSS sampled under load, VmHWM (all-time peak)",
        table(
            [
                "target",
                "startup s",
                "RSS idle MB",
                "RSS under load max MB",
                "VmHWM MB",
                "RSS after MB",
                "rows/acked",
            ],
            [
                [
                    r.target,
                    fmt(r.startup_s, 1),
                    fmt(r.rss_idle_mb, 0),
                    fmt(r.rss_load_peak_mb, 0),
                    fmt(r.rss_peak_mb, 0),
                    fmt(r.rss_after_mb, 0),
                    "-" if r.stored_rows is None else f"{r.stored_rows:,}/{r.acked:,}",
                ]
                for r in results
            ],
        ),
    ]
    return "\n".join(lines)


def targets_report(results: list[TargetResult]) -> list[list[str]]:
    """Rows (figure, target, measured, verdict) for the summary."""
    rows: list[list[str]] = []
    by_name = {r.target: r for r in results}
    pg = by_name.get("postgres")
    pg_open = pg.run("open") if pg else None
    if pg_open is not None:
        p99 = pg_open.gen["p99_ms"]
        rows.append(
            [
                "ack p99 @200/s, Postgres",
                f"<= {TARGET_P99_MS:g} ms",
                f"{fmt(p99, 2)} ms",
                verdict(p99, TARGET_P99_MS, lower_is_better=True),
            ]
        )
    for name in ("sqlite", "postgres"):
        res = by_name.get(name)
        closed = res.run("closed") if res else None
        if res is None or closed is None:
            continue
        rate = closed.gen["ok_per_s"]
        rows.append(
            [
                f"events/s per process, {name}",
                f">= {TARGET_EVENTS_PER_S:,.0f}",
                fmt(rate, 0),
                verdict(rate, TARGET_EVENTS_PER_S, lower_is_better=False),
            ]
        )
        rows.append(
            [
                f"service RSS peak under load, {name}",
                f"<= {TARGET_RSS_MB:g} MB",
                f"{fmt(res.rss_peak_mb, 0)} MB",
                verdict(res.rss_peak_mb, TARGET_RSS_MB, lower_is_better=True),
            ]
        )
    return rows


def run(env: BenchEnv, *, quick: bool, targets: tuple[str, ...] = TARGETS) -> list[TargetResult]:
    open_s, closed_s = (5.0, 4.0) if quick else (20.0, 8.0)
    return [bench_target(t, env, open_s=open_s, closed_s=closed_s) for t in targets]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--targets", default=",".join(TARGETS))
    args = parser.parse_args()
    targets = tuple(t for t in args.targets.split(",") if t)
    with BenchEnv.create() as env:
        results = run(env, quick=args.quick, targets=targets)
    print(report(results))
    print()
    print(table(["figure", "target", "measured", "verdict"], targets_report(results)))


if __name__ == "__main__":
    main()
