"""Scale-out on one Postgres: events/s and turns/s with 1, 2 and 4 `serve` processes plus as
many separate `worker` processes, and proof that no lead got its reply twice.

For each N: a fresh Postgres database, N `seleto-agent serve` processes (WORKER_EMBEDDED=false,
each on its own port) and N `seleto-agent worker` processes, against one sandbox process
(Z-API simulator + rule-based scripted model, no AI). Leads (one new phone each) send one
message each, posted round-robin to the N serve ports over 32 connections; then the bench waits
until the sandbox has sent every reply.

  events/s   webhooks accepted / time to post them all (the ack side);
  turns/s    replies the sandbox accepted / time from the first post to the last reply;
  doubled    leads that got more than one reply (must be 0);
  lost       leads that got none within the timeout (must be 0).

Usage: uv run python bench/scale_out.py [--quick] [--processes 1,2,4]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
from _common import (
    HOST,
    INSTANCE_ID,
    WEBHOOK_TOKEN,
    BenchEnv,
    Proc,
    database,
    fmt,
    free_port,
    log,
    sandbox_service_env,
    table,
    uv_command,
    wait_http,
)
from loadgen import received_callback_body

CONNECTIONS = 32
REPLY_TIMEOUT_SECONDS = 180.0


@dataclass
class Result:
    processes: int
    leads: int
    accepted: int
    post_seconds: float
    reply_seconds: float | None
    replies: int
    doubled: int
    lost: int

    @property
    def events_per_second(self) -> float:
        return self.accepted / self.post_seconds if self.post_seconds else 0.0

    @property
    def turns_per_second(self) -> float | None:
        return self.replies / self.reply_seconds if self.reply_seconds else None


def service_env(env: BenchEnv, db_url: str, sandbox_url: str) -> dict[str, str]:
    return sandbox_service_env(
        env,
        db_url,
        sandbox_url,
        DATABASE_POOL_SIZE="5",
        WORKER_EMBEDDED="false",
        DEBOUNCE_SECONDS="0.2",
        DEBOUNCE_MAX_SECONDS="1.0",
        WORKER_POLL_SECONDS="0.1",
        RATE_LIMIT_PER_IP_PER_MINUTE="0",
    )


@contextlib.contextmanager
def stack(env: BenchEnv, db_url: str, sandbox_url: str, n: int) -> Iterator[list[int]]:
    """N serve processes (their ports) and N worker processes, stopped afterwards."""
    child_env = service_env(env, db_url, sandbox_url)
    procs: list[Proc] = []
    ports = [free_port() for _ in range(n)]
    try:
        for i, port in enumerate(ports):
            cmd = uv_command("seleto-agent", "serve", "--host", HOST, "--port", str(port))
            procs.append(Proc.start(f"serve-{n}-{i}", cmd, env=child_env, cwd=env.root))
        for i in range(n):
            cmd = uv_command("seleto-agent", "worker")
            procs.append(Proc.start(f"worker-{n}-{i}", cmd, env=child_env, cwd=env.root))
        for proc, port in zip(procs, ports, strict=False):
            wait_http(f"http://{HOST}:{port}/healthz", proc)
        yield ports
    finally:
        for proc in procs:
            proc.stop()


async def post_all(ports: list[int], bodies: list[bytes]) -> tuple[int, float]:
    accepted = 0
    queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
    for index, body in enumerate(bodies):
        queue.put_nowait((ports[index % len(ports)], body))
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def lane() -> None:
            nonlocal accepted
            while not queue.empty():
                port, body = queue.get_nowait()
                url = f"http://{HOST}:{port}/webhooks/zapi/{WEBHOOK_TOKEN}"
                while True:
                    answer = await client.post(
                        url, content=body, headers={"content-type": "application/json"}
                    )
                    if answer.status_code != 503:
                        break
                    # Shed: sent again, as Z-API would.
                    await asyncio.sleep(float(answer.headers.get("retry-after", "1")))
                if answer.json().get("status") == "accepted":
                    accepted += 1

        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(CONNECTIONS)))
        return accepted, time.perf_counter() - started


def replies_by_phone(sandbox: httpx.Client) -> Counter[str]:
    sent = sandbox.get("/_sandbox/state").json()["zapi"]["sent"]
    return Counter(
        str(s["phone"]) for s in sent if s["endpoint"] == "send-text" and s["status_code"] == 200
    )


async def run_one(env: BenchEnv, sandbox_url: str, n: int, leads: int) -> Result:
    run_id = uuid.uuid4().hex[:6]
    bodies = [received_callback_body(i, run_id, INSTANCE_ID) for i in range(leads)]
    phones = {str(json.loads(b)["phone"]) for b in bodies}
    with (
        database("postgres", env) as db_url,
        httpx.Client(base_url=sandbox_url, timeout=10) as sandbox,
        stack(env, db_url, sandbox_url, n) as ports,
    ):
        sandbox.post("/_sandbox/reset", json={"webhooks": True}).raise_for_status()
        log(f"scale-out: {n} serve + {n} worker, {leads} leads")
        started = time.perf_counter()
        accepted, post_seconds = await post_all(ports, bodies)
        deadline = started + REPLY_TIMEOUT_SECONDS
        replied_at: float | None = None
        while time.perf_counter() < deadline:
            got = replies_by_phone(sandbox)
            if phones <= set(got):
                replied_at = time.perf_counter()
                break
            await asyncio.sleep(0.5)
        # A moment more, so a late second copy of any reply would be counted too.
        await asyncio.sleep(2.0)
        got = replies_by_phone(sandbox)
    ours = {phone: count for phone, count in got.items() if phone in phones}
    return Result(
        processes=n,
        leads=leads,
        accepted=accepted,
        post_seconds=post_seconds,
        reply_seconds=replied_at - started if replied_at else None,
        replies=sum(ours.values()),
        doubled=sum(1 for count in ours.values() if count > 1),
        lost=len(phones - set(ours)),
    )


def report(results: list[Result]) -> str:
    headers = [
        "serve + worker",
        "leads",
        "accepted",
        "events/s",
        "replies",
        "turns/s",
        "doubled",
        "lost",
    ]
    rows = [
        [
            f"{r.processes} + {r.processes}",
            str(r.leads),
            str(r.accepted),
            fmt(r.events_per_second, 0),
            str(r.replies),
            fmt(r.turns_per_second, 1),
            str(r.doubled),
            str(r.lost),
        ]
        for r in results
    ]
    return "Scale-out on one Postgres (sandbox Z-API and scripted model)\n" + table(headers, rows)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 leads instead of 1,000")
    parser.add_argument("--processes", default="1,2,4")
    args = parser.parse_args()
    leads = 300 if args.quick else 1000
    counts = [int(n) for n in args.processes.split(",")]
    results: list[Result] = []
    with BenchEnv.create() as env:
        port = free_port()
        cmd = uv_command("seleto-agent", "sandbox", "--host", HOST, "--port", str(port))
        sandbox_proc = Proc.start("sandbox", cmd, env=env.child_env(), cwd=env.root)
        try:
            sandbox_url = f"http://{HOST}:{port}"
            wait_http(f"{sandbox_url}/_sandbox/healthz", sandbox_proc)
            for n in counts:
                results.append(await run_one(env, sandbox_url, n, leads))
        finally:
            sandbox_proc.stop()
    print(report(results))


if __name__ == "__main__":
    asyncio.run(main())
