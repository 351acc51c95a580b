"""What is left of at-least-once: copies per reply and time to confirm under Z-API send faults.

The service runs as a real process with its embedded worker, against the sandbox (scripted
model + Z-API simulator, another process) whose webhooks point back at the service, so the
DeliveryCallback and MessageStatusCallbacks of every accepted send reach it. Each scenario
gives N new phones one message each, concurrently, with the same fault on every phone's first
send (on the first two for "twice"), and reads per phone:

  copies   send-text calls the simulator accepted for that phone (what the lead receives);
  confirm  time from the first accepted copy (simulator clock) to the row's `sent_at`
           (service clock, same machine): how long the reply stayed unconfirmed;
  outcome  the reply row's status and the lead event's status.

ZAPI_TIMEOUT_SECONDS is 1 s and OUTBOUND_UNKNOWN_GRACE_SECONDS 3 s here (production: 10 s and
60 s) so a run takes about a minute; the grace starts when the client gives up on the answer,
so "beyond the grace" means a callback later than timeout + grace after Z-API accepted.

Usage: uv run python bench/send_ambiguity.py [--quick] [--backend sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
from _common import (
    HOST,
    INSTANCE_ID,
    WEBHOOK_TOKEN,
    BenchEnv,
    Proc,
    _plain_dsn,
    database,
    fmt,
    free_port,
    log,
    percentile,
    running,
    table,
    uv_command,
    wait_http,
    wait_idle,
)
from sqlalchemy.engine import make_url

from seleto_agent.sandbox.zapi_payloads import ReceivedMessage, received_callback

SANDBOX_INSTANCE_TOKEN = "sandbox-instance-token"
SANDBOX_CLIENT_TOKEN = "sandbox-client-token"
TIMEOUT_S = 1.0
GRACE_S = 3.0
LOST = 2 * TIMEOUT_S  # Z-API answers after the client gave up


@dataclass(frozen=True)
class Scenario:
    name: str
    faults: tuple[dict[str, Any], ...]
    # How long after the turns settle late callbacks may still come (and must change nothing).
    settle_s: float = 1.0


SCENARIOS = (
    Scenario("answered normally", ()),
    Scenario("answer after the timeout, callbacks at once", ({"respond_after": LOST},)),
    Scenario("5xx after accepting, callbacks at once", ({"respond_status": 500},)),
    Scenario(
        "200 without ids, callbacks 0.5 grace late",
        ({"respond_status": 200, "callbacks_after": 0.5 * GRACE_S},),
    ),
    Scenario(
        "answer lost, callbacks 0.5 grace late",
        ({"respond_after": LOST, "callbacks_after": 0.5 * GRACE_S},),
    ),
    Scenario(
        "answer lost, callbacks beyond the grace",
        ({"respond_after": LOST, "callbacks_after": TIMEOUT_S + 1.5 * GRACE_S},),
        settle_s=GRACE_S,
    ),
    Scenario("answer lost, no callback", ({"respond_after": LOST, "drop_callbacks": True},)),
    Scenario(
        "answer lost twice, no callback",
        ({"respond_after": LOST, "drop_callbacks": True},) * 2,
    ),
)


@dataclass
class Reply:
    phone: str
    copies: int
    first_copy_at: float | None
    row_status: str | None
    event_status: str | None
    sent_at: float | None

    @property
    def confirm_s(self) -> float | None:
        if self.sent_at is None or self.first_copy_at is None:
            return None
        return self.sent_at - self.first_copy_at


# --- processes ----------------------------------------------------------------------------------


@contextlib.contextmanager
def start_sandbox(env: BenchEnv) -> Iterator[str]:
    port = free_port()
    cmd = uv_command("seleto-agent", "sandbox", "--host", HOST, "--port", str(port))
    with running(Proc.start("sandbox", cmd, env=env.child_env(), cwd=env.root)) as proc:
        url = f"http://{HOST}:{port}"
        wait_http(f"{url}/_sandbox/healthz", proc)
        yield url


@contextlib.asynccontextmanager
async def start_service(env: BenchEnv, db_url: str, sandbox_url: str) -> AsyncIterator[str]:
    port = free_port()
    child_env = env.child_env(
        APP_ENV="test",
        DATABASE_URL=db_url,
        LOG_LEVEL="WARNING",
        ZAPI_BASE_URL=sandbox_url,
        ZAPI_INSTANCE_ID=INSTANCE_ID,
        ZAPI_INSTANCE_TOKEN=SANDBOX_INSTANCE_TOKEN,
        ZAPI_CLIENT_TOKEN=SANDBOX_CLIENT_TOKEN,
        ZAPI_WEBHOOK_TOKEN=WEBHOOK_TOKEN,
        ZAPI_TIMEOUT_SECONDS=str(TIMEOUT_S),
        OUTBOUND_UNKNOWN_GRACE_SECONDS=str(GRACE_S),
        OPENAI_BASE_URL=f"{sandbox_url}/v1",
        OPENAI_API_KEY="sk-sandbox-not-a-real-key",
        OPENAI_MODEL="sandbox-scripted",
        DEBOUNCE_SECONDS="0",
        WORKER_CONCURRENCY="8",
        WORKER_POLL_SECONDS="0.1",
    )
    cmd = uv_command("seleto-agent", "serve", "--host", HOST, "--port", str(port))
    proc = Proc.start("send-ambiguity", cmd, env=child_env, cwd=env.root)
    try:
        await asyncio.to_thread(wait_http, f"http://{HOST}:{port}/healthz", proc)
        await asyncio.to_thread(wait_idle, proc.python_pid())
        yield f"http://{HOST}:{port}"
    finally:
        await asyncio.to_thread(proc.stop)


# --- reading the outcome ------------------------------------------------------------------------

_ROWS_SQL = (
    "select o.recipient, o.status, o.sent_at, "
    "(select e.status from inbound_events e where e.turn_id = o.turn_id limit 1) "
    "from outbound_messages o"
)


def stored_replies(db_url: str) -> dict[str, tuple[str, str | None, float | None]]:
    """recipient -> (row status, event status, sent_at as epoch seconds)."""
    if db_url.startswith("sqlite"):
        path = str(make_url(db_url).database)
        with contextlib.closing(sqlite3.connect(path)) as conn:
            rows = conn.execute(_ROWS_SQL).fetchall()
    else:
        with psycopg.connect(_plain_dsn(db_url)) as conn:
            rows = conn.execute(_ROWS_SQL).fetchall()
    return {str(r[0]): (str(r[1]), r[3], _epoch(r[2])) for r in rows}


def _epoch(value: Any) -> float | None:
    """Stored times are UTC; SQLite hands them back as text without a zone."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def lead_message(phone: str, message_id: str) -> dict[str, Any]:
    return received_callback(
        ReceivedMessage(
            instance_id=INSTANCE_ID,
            connected_phone="554499999999",
            message_id=message_id,
            phone=phone,
            sender_lid=f"{phone}0@lid",
            chat_lid=f"{phone}0@lid",
            chat_name="Lead",
            sender_name="Lead",
            text="oi, quero saber da formadora",
        )
    )


async def accepted_sends(sandbox: httpx.AsyncClient) -> list[dict[str, Any]]:
    state = (await sandbox.get("/_sandbox/state")).json()
    return [
        s for s in state["zapi"]["sent"] if s["endpoint"] == "send-text" and s["status_code"] == 200
    ]


# --- one scenario ---------------------------------------------------------------------------------


async def run_scenario(
    scenario: Scenario,
    *,
    index: int,
    phones: int,
    service: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    db_url: str,
) -> list[Reply]:
    numbers = [f"55449{index:02d}{n:06d}" for n in range(phones)]
    queue = [fault for fault in scenario.faults for _ in numbers]
    response = await sandbox.post("/_sandbox/zapi/faults", json={"send_text": queue})
    response.raise_for_status()
    for phone in numbers:
        body = lead_message(phone, f"BENCH{index:02d}{phone}")
        (await service.post(f"/webhooks/zapi/{WEBHOOK_TOKEN}", json=body)).raise_for_status()
    deadline = time.monotonic() + TIMEOUT_S * 4 + GRACE_S * 3 + 30
    while time.monotonic() < deadline:
        stored = stored_replies(db_url)
        settled = [stored.get(p, ("", None, None))[1] in ("done", "dead") for p in numbers]
        if all(settled):
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(scenario.settle_s)
    stored = stored_replies(db_url)
    sends = await accepted_sends(sandbox)
    replies = []
    for phone in numbers:
        mine = [s for s in sends if s["phone"] == phone]
        row_status, event_status, sent_at = stored.get(phone, (None, None, None))
        replies.append(
            Reply(
                phone=phone,
                copies=len(mine),
                first_copy_at=datetime.fromisoformat(mine[0]["at"]).timestamp() if mine else None,
                row_status=row_status,
                event_status=event_status,
                sent_at=sent_at,
            )
        )
    return replies


def summary_row(scenario: Scenario, replies: list[Reply]) -> list[str]:
    copies: dict[int, int] = {}
    for reply in replies:
        copies[reply.copies] = copies.get(reply.copies, 0) + 1
    confirm = [r.confirm_s for r in replies if r.confirm_s is not None]
    outcomes: dict[str, int] = {}
    for reply in replies:
        key = f"{reply.row_status}/{reply.event_status}"
        outcomes[key] = outcomes.get(key, 0) + 1
    return [
        scenario.name,
        str(len(replies)),
        " ".join(f"{n}x:{count}" for n, count in sorted(copies.items())),
        fmt(max((r.copies for r in replies), default=0), 0),
        fmt(percentile(confirm, 50), 2),
        fmt(max(confirm, default=None), 2),
        " ".join(f"{k}:{v}" for k, v in sorted(outcomes.items())),
    ]


async def run_async(env: BenchEnv, *, phones: int, backend: str) -> list[list[str]]:
    rows: list[list[str]] = []
    with start_sandbox(env) as sandbox_url, database(backend, env) as db_url:
        async with (
            start_service(env, db_url, sandbox_url) as service_url,
            httpx.AsyncClient(base_url=sandbox_url, timeout=10) as sandbox,
            httpx.AsyncClient(base_url=service_url, timeout=10) as service,
        ):
            await sandbox.post("/_sandbox/reset", json={"webhooks": True})
            registered = await sandbox.put(
                f"/instances/{INSTANCE_ID}/token/{SANDBOX_INSTANCE_TOKEN}/update-every-webhooks",
                json={"value": f"{service_url}/webhooks/zapi/{WEBHOOK_TOKEN}"},
                headers={"Client-Token": SANDBOX_CLIENT_TOKEN},
            )
            registered.raise_for_status()
            for index, scenario in enumerate(SCENARIOS):
                log(f"send_ambiguity: {scenario.name}")
                replies = await run_scenario(
                    scenario,
                    index=index,
                    phones=phones,
                    service=service,
                    sandbox=sandbox,
                    db_url=db_url,
                )
                rows.append(summary_row(scenario, replies))
    return rows


def report(rows: list[list[str]], *, backend: str, phones: int) -> str:
    headers = [
        "first send of each reply",
        "replies",
        "copies (n x: replies)",
        "max copies",
        "confirm p50 s",
        "confirm max s",
        "row/event",
    ]
    return (
        f"Send ambiguity ({backend}; {phones} replies per scenario; ZAPI_TIMEOUT_SECONDS="
        f"{TIMEOUT_S:g}, OUTBOUND_UNKNOWN_GRACE_SECONDS={GRACE_S:g})\n" + table(headers, rows)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 replies per scenario instead of 8")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    phones = 4 if args.quick else 8
    with BenchEnv.create() as env:
        rows = asyncio.run(run_async(env, phones=phones, backend=args.backend))
    print(report(rows, backend=args.backend, phones=phones))


if __name__ == "__main__":
    main()
