"""HTTP load generator for the webhook benchmark; runs as its own process, prints one JSON line.

Raw asyncio HTTP/1.1 over keep-alive connections (no client library): request bytes are built
before the clock starts, so the per-request work of the generator is a socket write, a header
read and a body read. Its own CPU time is reported so its share of a 2-core machine is visible.

Modes:
  open    requests are *scheduled* at a fixed rate (request i at t0 + i/rate) whatever the
          server does; a request whose connection is busy gets another one (open-loop, no
          coordinated omission). Latency from the scheduled time is reported next to latency
          from the actual send.
  closed  `concurrency` connections each send the next request as soon as the previous one
          answered, for `duration` seconds (maximum throughput at that concurrency).

Usage: python bench/loadgen.py --port P --mode open --rate 200 --duration 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
import uuid
from dataclasses import dataclass, field

from seleto_agent.sandbox.zapi_payloads import ReceivedMessage, received_callback

HOST = "127.0.0.1"
MAX_OPEN_CONNECTIONS = 256
# uvicorn closes a keep-alive connection after 5 s idle; never reuse one idle that long.
IDLE_REUSE_SECONDS = 4.0
# Nothing on this path answers slowly on purpose; a stuck request is a failure, not a datum.
REQUEST_TIMEOUT_SECONDS = 10.0


def received_callback_body(index: int, run_id: str, instance_id: str) -> bytes:
    """A unique Z-API ReceivedCallback (new message id, one of 10 million phones)."""
    phone = f"554499{index % 10_000_000:07d}"
    message_id = f"B{run_id}{index:011d}".upper()
    body = received_callback(
        ReceivedMessage(
            instance_id=instance_id,
            connected_phone="554499999999",
            message_id=message_id,
            phone=phone,
            sender_lid=f"{81896604000000 + index % 10_000_000}@lid",
            chat_lid=f"{81896604000000 + index % 10_000_000}@lid",
            chat_name="Lead",
            sender_name="Lead",
            text=f"oi, quero saber o preço da máquina ({index})",
        )
    )
    return json.dumps(body, ensure_ascii=False).encode()


def build_request(path: str, port: int, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {HOST}:{port}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode() + body


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.last_used = time.perf_counter()

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(HOST, port)
        return cls(reader, writer)

    async def request(self, data: bytes) -> int:
        """Send one request and read its whole response; returns the status code."""
        self.writer.write(data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = None
        chunked = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            lowered = name.strip().lower()
            if lowered == b"content-length":
                length = int(value.strip())
            elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if length is not None:
            await self.reader.readexactly(length)
        elif chunked:
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        self.last_used = time.perf_counter()
        return status

    def close(self) -> None:
        self.writer.close()


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    sched_latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    dispatch_lag_max: float = 0.0
    connections: int = 0
    in_flight: int = 0
    in_flight_max: int = 0
    # Per second of the run: (completions, worst latency in ms).
    timeline: dict[int, list[float]] = field(default_factory=dict)

    def record_latency(self, second: int, latency: float) -> None:
        bucket = self.timeline.setdefault(second, [0, 0.0])
        bucket[0] += 1
        bucket[1] = max(bucket[1], latency * 1000)

    def record_status(self, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def record_error(self, exc: BaseException) -> None:
        name = type(exc).__name__
        self.errors[name] = self.errors.get(name, 0) + 1


async def run_open(
    port: int, requests: list[bytes], rate: float, results: Results
) -> tuple[float, int]:
    idle: list[Connection] = []
    tasks: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()

    def take_idle() -> Connection | None:
        while idle:
            conn = idle.pop()
            if time.perf_counter() - conn.last_used < IDLE_REUSE_SECONDS:
                return conn
            conn.close()
        return None

    async def one(data: bytes, scheduled: float) -> None:
        conn = take_idle()
        results.in_flight += 1
        results.in_flight_max = max(results.in_flight_max, results.in_flight)
        try:
            if conn is None:
                if results.connections >= MAX_OPEN_CONNECTIONS:
                    raise ConnectionError("connection cap reached")
                results.connections += 1
                conn = await Connection.open(port)
            sent = time.perf_counter()
            status = await asyncio.wait_for(conn.request(data), REQUEST_TIMEOUT_SECONDS)
            done = time.perf_counter()
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            results.record_error(exc)
            if conn is not None:
                conn.close()
            return
        finally:
            results.in_flight -= 1
        results.latencies.append(done - sent)
        results.sched_latencies.append(done - scheduled)
        results.record_latency(int(scheduled - start), done - scheduled)
        results.record_status(status)
        idle.append(conn)

    start = time.perf_counter() + 0.05
    for i, data in enumerate(requests):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        results.dispatch_lag_max = max(results.dispatch_lag_max, time.perf_counter() - scheduled)
        task = loop.create_task(one(data, scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(set(tasks))
    elapsed = time.perf_counter() - start
    for conn in idle:
        conn.close()
    return elapsed, len(requests)


async def run_closed(
    port: int, requests: list[bytes], concurrency: int, duration: float, results: Results
) -> tuple[float, int]:
    next_index = 0
    sent_count = 0

    async def worker(deadline: float) -> None:
        nonlocal next_index, sent_count
        conn = await Connection.open(port)
        results.connections += 1
        try:
            while time.perf_counter() < deadline and next_index < len(requests):
                data = requests[next_index]
                next_index += 1
                sent_count += 1
                sent = time.perf_counter()
                try:
                    status = await asyncio.wait_for(conn.request(data), REQUEST_TIMEOUT_SECONDS)
                except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                    results.record_error(exc)
                    conn.close()
                    conn = await Connection.open(port)
                    results.connections += 1
                    continue
                results.latencies.append(time.perf_counter() - sent)
                results.record_status(status)
        finally:
            conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker(start + duration) for _ in range(concurrency)))
    return time.perf_counter() - start, sent_count


def _pct(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return (ordered[low] + (ordered[high] - ordered[low]) * (rank - low)) * 1000


def summary(results: Results, elapsed: float, sent: int, cpu: float) -> dict[str, object]:
    ok = sum(n for status, n in results.statuses.items() if 200 <= status < 300)
    lat = results.latencies
    return {
        "sent": sent,
        "ok": ok,
        "statuses": {str(k): v for k, v in sorted(results.statuses.items())},
        "errors": results.errors,
        "elapsed_s": elapsed,
        "ok_per_s": ok / elapsed if elapsed > 0 else 0.0,
        "p50_ms": _pct(lat, 50),
        "p95_ms": _pct(lat, 95),
        "p99_ms": _pct(lat, 99),
        "max_ms": max(lat) * 1000 if lat else None,
        "mean_ms": sum(lat) / len(lat) * 1000 if lat else None,
        "sched_p99_ms": _pct(results.sched_latencies, 99),
        "dispatch_lag_max_ms": results.dispatch_lag_max * 1000,
        "connections": results.connections,
        "in_flight_max": results.in_flight_max,
        "timeline": [[k, int(v[0]), round(v[1], 1)] for k, v in sorted(results.timeline.items())],
        "gen_cpu_s": cpu,
        "gen_cpu_us_per_req": cpu / sent * 1e6 if sent else None,
    }


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    run_id = uuid.uuid4().hex[:8]
    count = (
        int(args.rate * args.duration) if args.mode == "open" else int(args.max_rps * args.duration)
    )
    bodies = (received_callback_body(i, run_id, args.instance_id) for i in range(count))
    requests = [build_request(args.path, args.port, body) for body in bodies]
    warm = Results()
    if args.warmup:
        # A few requests so the server's first-request costs (imports, pools) stay out.
        warm_requests = [
            build_request(
                args.path, args.port, received_callback_body(i, "W" + run_id, args.instance_id)
            )
            for i in range(args.warmup)
        ]
        await run_closed(args.port, warm_requests, args.warmup_concurrency, 60.0, warm)
    results = Results()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    if args.mode == "open":
        elapsed, sent = await run_open(args.port, requests, args.rate, results)
    else:
        elapsed, sent = await run_closed(
            args.port, requests, args.concurrency, args.duration, results
        )
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - cpu_before
    out = summary(results, elapsed, sent, cpu)
    out["warmup_sent"] = args.warmup
    out["warmup_ok"] = sum(n for status, n in warm.statuses.items() if 200 <= status < 300)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--mode", choices=["open", "closed"], required=True)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    # Upper bound on requests prepared for a closed-loop run (rate x duration).
    parser.add_argument("--max-rps", type=float, default=5000.0)
    parser.add_argument("--warmup", type=int, default=300)
    # Below the service's pool size (10), so warm-up fills the pool without overflow churn.
    parser.add_argument("--warmup-concurrency", type=int, default=8)
    parser.add_argument("--instance-id", default="SANDBOX-INSTANCE")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main_async(args))), flush=True)


if __name__ == "__main__":
    main()
