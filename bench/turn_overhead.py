"""Pipeline overhead per turn: webhook received -> send-text issued, on the local sandbox.

The service runs as a real process with its embedded worker, against the sandbox (scripted
model + Z-API simulator, another process). For N distinct phones we POST one ReceivedCallback
each and take, per phone:
  t0    wall clock just before the webhook POST is written (this process);
  ack   when the webhook answered;
  read  when the sandbox recorded the `read-message` call (the worker claimed the turn);
  send  when the sandbox recorded the `send-text` call (`GET /_sandbox/state` -> zapi.sent[].at,
        an ISO-8601 UTC timestamp taken by the sandbox when it accepted the call).
turn = send - t0. Both clocks are this machine's wall clock.

To know when a reply went out without polling, the sandbox's `delivery` webhook points at a tiny
listener in this process (the sandbox posts a DeliveryCallback after each send); the timestamps
themselves come from the sandbox's state, fetched once per phase.

Phases, per database (SQLite, Postgres):
  sequential     one phone at a time (DEBOUNCE_SECONDS=0);
  concurrent     8 phones in flight (= WORKER_CONCURRENCY), same service;
  debounce 1.5s  a few phones one at a time with the default DEBOUNCE_SECONDS=1.5 (new process).
The model's own time is measured separately (direct POSTs of a recorded request to the sandbox
model) and the agent-run time is read from the service's /metrics (seleto_agent_run_seconds).

Usage: uv run python bench/turn_overhead.py [--quick] [--backends sqlite,postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from _common import (
    HOST,
    INSTANCE_ID,
    SANDBOX_CLIENT_TOKEN,
    SANDBOX_INSTANCE_TOKEN,
    WEBHOOK_TOKEN,
    BenchEnv,
    Proc,
    cpu_seconds,
    database,
    fmt,
    free_port,
    hwm_mb,
    log,
    machine_busy_pct,
    machine_cpu,
    percentile,
    rss_mb,
    running,
    sandbox_service_env,
    table,
    uv_command,
    verdict,
    wait_http,
    wait_idle,
)
from loadgen import Connection, build_request, received_callback_body

BACKENDS = ("sqlite", "postgres")
CONCURRENCY = 8
TURN_TIMEOUT_SECONDS = 30.0
TARGET_P95_MS = 50.0
# Issue 14: one at a time 50 ms, eight at once 150 ms (model time excluded).
TARGET_CONCURRENT_P95_MS = 150.0
DEFAULT_DEBOUNCE = 1.5


# --- the sandbox and the reply listener -------------------------------------------------------


@dataclass
class SandboxHandle:
    url: str
    pid: int


@contextlib.contextmanager
def start_sandbox(env: BenchEnv) -> Iterator[SandboxHandle]:
    port = free_port()
    cmd = uv_command("seleto-agent", "sandbox", "--host", HOST, "--port", str(port))
    with running(Proc.start("sandbox", cmd, env=env.child_env(), cwd=env.root)) as proc:
        url = f"http://{HOST}:{port}"
        wait_http(f"{url}/_sandbox/healthz", proc)
        yield SandboxHandle(url=url, pid=proc.python_pid())


class ReplyListener:
    """Receives the sandbox's DeliveryCallbacks: one per successful send, keyed by phone."""

    def __init__(self) -> None:
        self.port = free_port()
        self._waiters: dict[str, asyncio.Event] = {}
        self._server: asyncio.Server | None = None

    def expect(self, phone: str) -> asyncio.Event:
        return self._waiters.setdefault(phone, asyncio.Event())

    async def __aenter__(self) -> ReplyListener:
        self._server = await asyncio.start_server(self._serve, HOST, self.port)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                body = await reader.readexactly(length) if length else b""
                with contextlib.suppress(ValueError):
                    payload = json.loads(body)
                    phone = str(payload.get("phone") or "")
                    if payload.get("type") == "DeliveryCallback" and phone:
                        self.expect(phone).set()
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b'content-length: 11\r\n\r\n{"ok":true}'
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def sandbox_setup(client: httpx.AsyncClient, listener_port: int) -> None:
    await client.post("/_sandbox/reset", json={"webhooks": True})
    response = await client.put(
        f"/instances/{INSTANCE_ID}/token/{SANDBOX_INSTANCE_TOKEN}/update-webhook-delivery",
        json={"value": f"http://{HOST}:{listener_port}/delivery"},
        headers={"Client-Token": SANDBOX_CLIENT_TOKEN},
    )
    response.raise_for_status()


async def sandbox_state(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/_sandbox/state")
    response.raise_for_status()
    state: dict[str, Any] = response.json()
    return state


def _ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


# --- the service ------------------------------------------------------------------------------


@dataclass
class ServiceHandle:
    proc: Proc
    port: int
    pid: int
    startup_s: float
    rss_idle_mb: float | None


@contextlib.asynccontextmanager
async def start_service(
    env: BenchEnv, db_url: str, sandbox_url: str, *, debounce: float
) -> AsyncIterator[ServiceHandle]:
    port = free_port()
    child_env = sandbox_service_env(
        env,
        db_url,
        sandbox_url,
        DEBOUNCE_SECONDS=str(debounce),
        WORKER_CONCURRENCY=str(CONCURRENCY),
    )
    cmd = uv_command("seleto-agent", "serve", "--host", HOST, "--port", str(port))
    proc = Proc.start(f"turn-{debounce:g}", cmd, env=child_env, cwd=env.root)
    try:
        startup = await asyncio.to_thread(wait_http, f"http://{HOST}:{port}/healthz", proc)
        pid = proc.python_pid()
        await asyncio.to_thread(wait_idle, pid)
        yield ServiceHandle(proc, port, pid, startup, rss_mb(pid))
    finally:
        await asyncio.to_thread(proc.stop)


async def metric_sums(port: int) -> dict[str, float]:
    """Sums and counts of the service's histograms, and turn outcomes, from /metrics."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        text = (await client.get(f"http://{HOST}:{port}/metrics")).text
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        name, _, value = line.rpartition(" ")
        if name.startswith(("seleto_agent_run_seconds_", "seleto_turn_seconds_", "seleto_turns")):
            with contextlib.suppress(ValueError):
                values[name] = float(value)
    return values


def metric_delta(before: dict[str, float], after: dict[str, float], name: str) -> float:
    return after.get(name, 0.0) - before.get(name, 0.0)


# --- one phase ----------------------------------------------------------------------------------


@dataclass
class Turn:
    phone: str
    t0: float
    ack: float | None = None
    read: float | None = None
    send: float | None = None

    @property
    def turn_ms(self) -> float | None:
        return (self.send - self.t0) * 1000 if self.send is not None else None


@dataclass
class Phase:
    backend: str
    name: str
    turns: list[Turn] = field(default_factory=list)
    elapsed_s: float = 0.0
    service_cpu_ms: float | None = None
    sandbox_cpu_ms: float | None = None
    machine_busy_pct: float | None = None
    agent_mean_ms: float | None = None
    turn_metric_mean_ms: float | None = None
    outcomes: dict[str, int] = field(default_factory=dict)

    def values(self, attr: str) -> list[float]:
        out: list[float] = []
        for turn in self.turns:
            end = getattr(turn, attr)
            if end is not None:
                out.append((end - turn.t0) * 1000)
        return out

    @property
    def replied(self) -> int:
        return sum(1 for t in self.turns if t.send is not None)

    def per_turn(self, total_ms: float | None) -> float | None:
        return total_ms / len(self.turns) if total_ms is not None and self.turns else None


class Driver:
    """Posts one webhook per phone and waits for that phone's reply to be sent."""

    def __init__(
        self,
        service: ServiceHandle,
        sandbox_pid: int,
        listener: ReplyListener,
        run_id: str,
        first_index: int,
    ) -> None:
        self.port = service.port
        self.service_pid = service.pid
        self.sandbox_pid = sandbox_pid
        self.listener = listener
        self.run_id = run_id
        # The phone is derived from the index: distinct ranges give distinct phones.
        self.counter = first_index

    def next_phone(self) -> tuple[str, bytes]:
        index = self.counter
        self.counter += 1
        body = received_callback_body(index, self.run_id, INSTANCE_ID)
        phone = json.loads(body)["phone"]
        return phone, build_request(f"/webhooks/zapi/{WEBHOOK_TOKEN}", self.port, body)

    async def one(self, conn: Connection) -> Turn:
        phone, request = self.next_phone()
        replied = self.listener.expect(phone)
        turn = Turn(phone=phone, t0=time.time())
        status = await conn.request(request)
        turn.ack = time.time()
        if status != 200:
            log(f"turn_overhead: webhook answered {status}")
            return turn
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(replied.wait(), TURN_TIMEOUT_SECONDS)
        return turn

    async def run(self, count: int, concurrency: int) -> tuple[list[Turn], float]:
        queue = list(range(count))
        turns: list[Turn] = []

        async def lane() -> None:
            conn = await Connection.open(self.port)
            try:
                while queue:
                    queue.pop()
                    turns.append(await self.one(conn))
            finally:
                conn.close()

        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(concurrency)))
        return turns, time.perf_counter() - started


def attach_sandbox_times(turns: list[Turn], state: dict[str, Any]) -> None:
    """First read-message and send-text the sandbox recorded for each phone."""
    by_phone = {t.phone: t for t in turns}
    for entry in state["zapi"]["sent"]:
        turn = by_phone.get(str(entry.get("phone")))
        if turn is None or entry.get("status_code") not in (200, 204):
            continue
        at = _ts(entry["at"])
        if entry["endpoint"] == "read-message" and turn.read is None:
            turn.read = at
        elif entry["endpoint"] == "send-text" and turn.send is None:
            turn.send = at


async def run_phase(
    backend: str,
    name: str,
    driver: Driver,
    sandbox: httpx.AsyncClient,
    *,
    count: int,
    concurrency: int,
) -> Phase:
    log(f"turn_overhead: {backend} {name}: {count} phones, {concurrency} in flight")
    before = await metric_sums(driver.port)
    cpu_before = (cpu_seconds(driver.service_pid), cpu_seconds(driver.sandbox_pid))
    machine_before = machine_cpu()
    turns, elapsed = await driver.run(count, concurrency)
    await asyncio.sleep(0.2)  # the last turn's bookkeeping (mark done) after its send
    cpu_after = (cpu_seconds(driver.service_pid), cpu_seconds(driver.sandbox_pid))
    machine_pct = machine_busy_pct(machine_before, machine_cpu())
    after = await metric_sums(driver.port)
    attach_sandbox_times(turns, await sandbox_state(sandbox))
    phase = Phase(
        backend=backend,
        name=name,
        turns=turns,
        elapsed_s=elapsed,
        service_cpu_ms=_cpu_ms(cpu_before[0], cpu_after[0]),
        sandbox_cpu_ms=_cpu_ms(cpu_before[1], cpu_after[1]),
        machine_busy_pct=machine_pct,
    )
    runs = metric_delta(before, after, "seleto_agent_run_seconds_count")
    if runs:
        phase.agent_mean_ms = (
            metric_delta(before, after, "seleto_agent_run_seconds_sum") / runs * 1000
        )
    turn_count = metric_delta(before, after, "seleto_turn_seconds_count")
    if turn_count:
        phase.turn_metric_mean_ms = (
            metric_delta(before, after, "seleto_turn_seconds_sum") / turn_count * 1000
        )
    for key in after:
        if key.startswith("seleto_turns_total{"):
            outcome = key.split('"')[1]
            delta = int(metric_delta(before, after, key))
            if delta:
                phase.outcomes[outcome] = delta
    return phase


def _cpu_ms(before: float | None, after: float | None) -> float | None:
    return (after - before) * 1000 if before is not None and after is not None else None


async def model_round_trip_ms(sandbox: httpx.AsyncClient, samples: int = 30) -> float | None:
    """Median time of the sandbox model answering a request the agent really sent."""
    requests = (await sandbox_state(sandbox))["model"]["requests"]
    if not requests:
        return None
    body = requests[-1]
    times: list[float] = []
    for _ in range(samples):
        started = time.perf_counter()
        response = await sandbox.post("/v1/chat/completions", json=body)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return statistics.median(times)


# --- per backend ------------------------------------------------------------------------------


@dataclass
class BackendResult:
    backend: str
    phases: list[Phase] = field(default_factory=list)
    model_rtt_ms: float | None = None
    startup_s: float | None = None
    rss_idle_mb: float | None = None
    rss_peak_mb: float | None = None

    def phase(self, name: str) -> Phase | None:
        return next((p for p in self.phases if p.name == name), None)


async def bench_backend(
    backend: str, env: BenchEnv, box: SandboxHandle, *, count: int, debounce_count: int
) -> BackendResult:
    sandbox_url = box.url
    result = BackendResult(backend=backend)
    async with (
        ReplyListener() as listener,
        httpx.AsyncClient(base_url=sandbox_url, timeout=10.0) as sandbox,
    ):
        with database(backend, env) as db_url:
            await sandbox_setup(sandbox, listener.port)
            async with start_service(env, db_url, sandbox_url, debounce=0.0) as svc:
                result.startup_s = svc.startup_s
                result.rss_idle_mb = svc.rss_idle_mb
                driver = Driver(svc, box.pid, listener, f"{time.time_ns()}"[-10:], first_index=0)
                # Warm-up: Agno creates its tables lazily on the first run; pools fill.
                await driver.run(3, 1)
                for name, concurrency in (("sequential", 1), (f"concurrent x{CONCURRENCY}", 8)):
                    result.phases.append(
                        await run_phase(
                            backend, name, driver, sandbox, count=count, concurrency=concurrency
                        )
                    )
                result.model_rtt_ms = await model_round_trip_ms(sandbox)
                result.rss_peak_mb = hwm_mb(svc.pid)
            if debounce_count:
                await sandbox_setup(sandbox, listener.port)
                async with start_service(
                    env, db_url, sandbox_url, debounce=DEFAULT_DEBOUNCE
                ) as svc:
                    driver = Driver(
                        svc, box.pid, listener, f"{time.time_ns()}"[-10:], first_index=1_000_000
                    )
                    await driver.run(1, 1)
                    result.phases.append(
                        await run_phase(
                            backend,
                            f"debounce {DEFAULT_DEBOUNCE:g}s",
                            driver,
                            sandbox,
                            count=debounce_count,
                            concurrency=1,
                        )
                    )
    return result


async def run_async(
    env: BenchEnv, *, quick: bool, backends: tuple[str, ...]
) -> list[BackendResult]:
    count, debounce_count = (30, 3) if quick else (100, 4)
    results: list[BackendResult] = []
    with start_sandbox(env) as box:
        for backend in backends:
            results.append(
                await bench_backend(backend, env, box, count=count, debounce_count=debounce_count)
            )
    return results


def run(env: BenchEnv, *, quick: bool, backends: tuple[str, ...] = BACKENDS) -> list[BackendResult]:
    return asyncio.run(run_async(env, quick=quick, backends=backends))


# --- report -------------------------------------------------------------------------------------


def report(results: list[BackendResult]) -> str:
    rows: list[list[str]] = []
    for res in results:
        for phase in res.phases:
            turn = phase.values("send")
            ack = phase.values("ack")
            read = phase.values("read")
            rows.append(
                [
                    res.backend,
                    phase.name,
                    f"{phase.replied}/{len(phase.turns)}",
                    fmt(percentile(turn, 50)),
                    fmt(percentile(turn, 95)),
                    fmt(percentile(turn, 99)),
                    fmt(max(turn) if turn else None),
                    fmt(percentile(ack, 50)),
                    fmt(percentile(read, 50)),
                    fmt(phase.agent_mean_ms),
                    fmt(res.model_rtt_ms),
                    fmt(phase.turn_metric_mean_ms),
                    fmt(len(phase.turns) / phase.elapsed_s if phase.elapsed_s else None),
                    fmt(phase.per_turn(phase.service_cpu_ms)),
                    fmt(phase.per_turn(phase.sandbox_cpu_ms)),
                    fmt(phase.machine_busy_pct, 0),
                    ", ".join(f"{k}:{v}" for k, v in sorted(phase.outcomes.items())) or "-",
                ]
            )
    lines = [
        "Turn overhead: webhook POST -> send-text recorded by the sandbox (ms)",
        table(
            [
                "db",
                "phase",
                "replied",
                "turn p50",
                "turn p95",
                "turn p99",
                "turn max",
                "ack p50",
                "read-msg p50",
                "agent run mean",
                "model RTT",
                "claim->sent mean",
                "turns/s",
                "svc CPU ms/turn",
                "sandbox CPU ms/turn",
                "machine busy %",
                "outcomes",
            ],
            rows,
        ),
        "",
        "Service process memory with the embedded worker",
        table(
            ["db", "startup s", "RSS idle MB", "RSS peak MB"],
            [
                [r.backend, fmt(r.startup_s), fmt(r.rss_idle_mb, 0), fmt(r.rss_peak_mb, 0)]
                for r in results
            ],
        ),
    ]
    return "\n".join(lines)


def targets_report(results: list[BackendResult]) -> list[list[str]]:
    rows: list[list[str]] = []
    for res in results:
        seq = res.phase("sequential")
        if seq is not None:
            p95 = percentile(seq.values("send"), 95)
            rows.append(
                [
                    f"turn overhead p95, sequential, {res.backend}",
                    f"<= {TARGET_P95_MS:g} ms",
                    f"{fmt(p95)} ms",
                    verdict(p95, TARGET_P95_MS, lower_is_better=True),
                ]
            )
        conc = res.phase(f"concurrent x{CONCURRENCY}")
        if conc is not None:
            p95 = percentile(conc.values("send"), 95)
            rows.append(
                [
                    f"turn overhead p95, {CONCURRENCY} concurrent, {res.backend}",
                    f"<= {TARGET_CONCURRENT_P95_MS:g} ms",
                    f"{fmt(p95)} ms",
                    verdict(p95, TARGET_CONCURRENT_P95_MS, lower_is_better=True),
                ]
            )
        deb = res.phase(f"debounce {DEFAULT_DEBOUNCE:g}s")
        if deb is not None and seq is not None:
            added = _diff(percentile(deb.values("send"), 50), percentile(seq.values("send"), 50))
            rows.append(
                [
                    f"added by DEBOUNCE_SECONDS={DEFAULT_DEBOUNCE:g} (p50), {res.backend}",
                    "(informative)",
                    f"{fmt(added)} ms",
                    "-",
                ]
            )
    return rows


def _diff(a: float | None, b: float | None) -> float | None:
    return a - b if a is not None and b is not None else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    args = parser.parse_args()
    backends = tuple(b for b in args.backends.split(",") if b)
    with BenchEnv.create() as env:
        results = run(env, quick=args.quick, backends=backends)
    print(report(results))
    print()
    print(table(["figure", "target", "measured", "verdict"], targets_report(results)))


if __name__ == "__main__":
    main()
