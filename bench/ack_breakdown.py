"""Where the webhook ack time goes: the same request through growing layers, in one process.

No HTTP server and no generator here: each request is handed straight to the ASGI app (or the
service function), one at a time, so the figures are the CPU and wall time of each layer alone.
Layers, each measured with its own bodies (unique message ids and phones):

  noop FastAPI          a FastAPI endpoint that reads the body (framework floor)
  classify              json.loads + Z-API classification (no I/O)
  ingest (DB)           IngestService.ingest: on Postgres the two-round-trip lane
                        (db/repositories/ingest_lane.py), on SQLite one transaction
  webhook app           the webhook app alone (api/webhook_app.py: auth, body, classify, ingest)
  + request middleware  plus RequestContextMiddleware (our access log)
  full app              create_app(): our middleware, the dispatch to the webhook app, AgentOS
                        beside it; LOG_LEVEL=WARNING
  full app, INFO logs   the same at LOG_LEVEL=INFO, the default (log lines go to /dev/null)

Then the garbage collector: the pause of a full collection with the service's heap, and the same
after gc.freeze() (what a server could do once start-up is over).

Usage: uv run python bench/ack_breakdown.py [--quick] [--backends sqlite,postgres] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from _common import INSTANCE_ID, WEBHOOK_TOKEN, BenchEnv, database, fmt, log, table

# FastAPI reads the handlers' (string) annotations from this module's globals.
from fastapi import FastAPI, Request
from loadgen import received_callback_body

if TYPE_CHECKING:
    from seleto_agent.runtime import Runtime
    from seleto_agent.settings import Settings

BACKENDS = ("sqlite", "postgres")
PATH = f"/webhooks/zapi/{WEBHOOK_TOKEN}"


@dataclass
class Layer:
    name: str
    cpu_us: float
    wall_p50_us: float
    wall_p99_us: float


@dataclass
class GcFigures:
    tracked_objects: int
    full_collect_ms: float
    frozen_collect_ms: float
    pauses_during_full_app: dict[str, list[float]] = field(default_factory=dict)


async def call_asgi(app: Any, body: bytes) -> int:
    """One POST through the ASGI app; returns the status code."""
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)  # a client that stays connected
        return {"type": "http.disconnect"}

    status = 0

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    await app(scope, receive, send)
    return status


class Bodies:
    def __init__(self) -> None:
        self.index = 0
        self.run_id = f"{time.time_ns()}"[-9:]

    def take(self, count: int) -> list[bytes]:
        start = self.index
        self.index += count
        return [
            received_callback_body(i, self.run_id, INSTANCE_ID) for i in range(start, start + count)
        ]


async def measure(
    name: str, step: Callable[[bytes], Awaitable[object]], bodies: Bodies, count: int
) -> Layer:
    for body in bodies.take(max(count // 8, 20)):
        await step(body)
    work = bodies.take(count)
    walls: list[float] = []
    cpu_before = time.process_time()
    for body in work:
        started = time.perf_counter()
        await step(body)
        walls.append(time.perf_counter() - started)
    cpu = time.process_time() - cpu_before
    ordered = sorted(walls)
    return Layer(
        name=name,
        cpu_us=cpu / count * 1e6,
        wall_p50_us=statistics.median(walls) * 1e6,
        wall_p99_us=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e6,
    )


def _settings(url: str, level: str) -> Settings:
    from seleto_agent.settings import Settings

    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        app_env="test",
        database_url=url,
        log_level=level,
        worker_embedded=False,
        zapi_webhook_token=WEBHOOK_TOKEN,
        zapi_instance_id=INSTANCE_ID,
        openai_api_key="sk-bench-not-used",
    )


def _webhook_app(runtime: Runtime, *, middleware: bool) -> Any:
    from seleto_agent.api.middleware import RequestContextMiddleware
    from seleto_agent.api.webhook_app import build_webhook_app

    app = build_webhook_app(runtime)
    return RequestContextMiddleware(app) if middleware else app


def _noop_app() -> FastAPI:
    app = FastAPI()

    @app.post("/webhooks/zapi/{token}")
    async def webhook(token: str, request: Request) -> dict[str, str]:
        del token
        await request.body()
        return {"status": "accepted"}

    return app


class GcWatch:
    """Collects garbage-collector pauses (ms) by generation while enabled."""

    def __init__(self) -> None:
        self.pauses: dict[str, list[float]] = {}
        self._started = 0.0
        self.enabled = False

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if not self.enabled:
            return
        if phase == "start":
            self._started = time.perf_counter()
            return
        elapsed = (time.perf_counter() - self._started) * 1000
        self.pauses.setdefault(f"gen{info['generation']}", []).append(elapsed)


def _collect_ms(repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        gc.collect()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def breakdown(url: str, count: int) -> tuple[list[Layer], GcFigures]:
    # Imported here so that importing this module (for `report`) stays cheap.
    from seleto_agent.app import create_app
    from seleto_agent.integrations.zapi.adapter import ZApiLine, classify
    from seleto_agent.observability.logging import configure_logging
    from seleto_agent.runtime import build_runtime

    devnull = open(os.devnull, "w")  # noqa: SIM115 - closed below, after the last layer
    layers: list[Layer] = []
    watch = GcWatch()
    gc.callbacks.append(watch)
    try:
        # The service's own log lines go to stderr, so stdout stays the figures.
        with contextlib.redirect_stdout(sys.stderr):
            configure_logging(level="WARNING", fmt="json", pii_key=b"bench")
            runtime = build_runtime(_settings(url, "WARNING"))
            full = create_app(runtime)
        bodies = Bodies()
        async with full.router.lifespan_context(full):
            noop = _noop_app()
            layers.append(
                await measure("noop FastAPI", lambda b: call_asgi(noop, b), bodies, count)
            )

            line = ZApiLine(INSTANCE_ID)

            async def classify_only(body: bytes) -> object:
                return classify(json.loads(body), line)

            layers.append(await measure("classify", classify_only, bodies, count))

            async def ingest_only(body: bytes) -> object:
                return await runtime.ingest.ingest(
                    raw=body, classified=classify(json.loads(body), line)
                )

            layers.append(await measure("ingest (DB)", ingest_only, bodies, count))
            for name, middleware in (("webhook app", False), ("+ request middleware", True)):
                app = _webhook_app(runtime, middleware=middleware)
                layers.append(await measure(name, lambda b, a=app: call_asgi(a, b), bodies, count))
            watch.enabled = True
            layers.append(await measure("full app", lambda b: call_asgi(full, b), bodies, count))
            watch.enabled = False
            with contextlib.redirect_stdout(devnull):
                configure_logging(level="INFO", fmt="json", pii_key=b"bench")
            layers.append(
                await measure("full app, INFO logs", lambda b: call_asgi(full, b), bodies, count)
            )
            with contextlib.redirect_stdout(sys.stderr):
                configure_logging(level="WARNING", fmt="json", pii_key=b"bench")
            tracked = len(gc.get_objects())
            full_ms = _collect_ms()
            gc.freeze()
            frozen_ms = _collect_ms()
            gc.unfreeze()
    finally:
        gc.callbacks.remove(watch)
        devnull.close()
    return layers, GcFigures(
        tracked_objects=tracked,
        full_collect_ms=full_ms,
        frozen_collect_ms=frozen_ms,
        pauses_during_full_app=watch.pauses,
    )


def run(env: BenchEnv, *, quick: bool, backends: tuple[str, ...] = BACKENDS) -> dict[str, Any]:
    count = 200 if quick else 400
    out: dict[str, Any] = {}
    for backend in backends:
        log(f"ack_breakdown: {backend}, {count} requests per layer")
        with database(backend, env) as url:
            layers, gc_figures = asyncio.run(breakdown(url, count))
        out[backend] = {
            "layers": [layer.__dict__ for layer in layers],
            "gc": gc_figures.__dict__,
        }
    return out


def report(data: dict[str, Any]) -> str:
    backends = list(data)
    names = [layer["name"] for layer in data[backends[0]]["layers"]]
    rows = []
    for i, name in enumerate(names):
        row = [name]
        for backend in backends:
            layer = data[backend]["layers"][i]
            row += [fmt(layer["cpu_us"], 0), fmt(layer["wall_p50_us"], 0)]
        rows.append(row)
    headers = ["layer (one request at a time, in-process)"]
    for backend in backends:
        headers += [f"{backend} CPU us/req", f"{backend} wall p50 us"]
    gc_rows = []
    for backend in backends:
        g = data[backend]["gc"]
        pauses = g["pauses_during_full_app"]
        seen = ", ".join(
            f"{gen}: {len(v)}x, max {max(v):.1f} ms" for gen, v in sorted(pauses.items()) if v
        )
        gc_rows.append(
            [
                backend,
                f"{g['tracked_objects']:,}",
                fmt(g["full_collect_ms"]),
                fmt(g["frozen_collect_ms"]),
                seen or "-",
            ]
        )
    return "\n".join(
        [
            "Ack breakdown: CPU and wall time per request, by layer",
            table(headers, rows),
            "",
            "Garbage collector with the service's heap",
            table(
                [
                    "db",
                    "tracked objects",
                    "full gc.collect() ms",
                    "after gc.freeze() ms",
                    "collections during 'full app' layer",
                ],
                gc_rows,
            ),
        ]
    )


def main() -> None:
    os.environ.setdefault("AGNO_TELEMETRY", "false")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    args = parser.parse_args()
    backends = tuple(b for b in args.backends.split(",") if b)
    with BenchEnv.create() as env:
        data = run(env, quick=args.quick, backends=backends)
    print(json.dumps(data) if args.json else report(data), file=sys.stdout)


if __name__ == "__main__":
    main()
