"""Shared fixtures: real databases (SQLite file and a per-run Postgres database), the sandbox
simulators on a real port, and the service wired against them."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from sqlalchemy.engine import make_url

from seleto_agent.app import create_app
from seleto_agent.db.engine import create_engine
from seleto_agent.db.tables import metadata
from seleto_agent.runtime import Runtime, build_runtime
from seleto_agent.sandbox.app import create_sandbox_app
from seleto_agent.sandbox.config import SandboxConfig
from seleto_agent.services.schema import migrate_all
from seleto_agent.settings import PROJECT_ROOT, Settings

os.environ.setdefault("AGNO_TELEMETRY", "false")

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
WEBHOOK_TOKEN = "test-webhook-token"
ADMIN_TOKEN = "test-admin-token"
INSTANCE_ID = "SANDBOX-INSTANCE"
# The Chatwoot simulator's identity and fake credentials (SandboxConfig defaults).
_CHATWOOT = SandboxConfig()
CHATWOOT_ACCOUNT_ID = _CHATWOOT.chatwoot_account_id
CHATWOOT_INBOX_ID = _CHATWOOT.chatwoot_inbox_id
CHATWOOT_OTHER_INBOX_ID = _CHATWOOT.chatwoot_other_inbox_id
CHATWOOT_USER_TOKEN = _CHATWOOT.chatwoot_user_token
CHATWOOT_BOT_TOKEN = _CHATWOOT.chatwoot_bot_token
CHATWOOT_WEBHOOK_SECRET = _CHATWOOT.chatwoot_webhook_secret


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def migrate_database(url: str) -> None:
    async def _migrate() -> None:
        engine = create_engine(url)
        try:
            await migrate_all(engine, PROJECT_ROOT / "supabase" / "migrations")
        finally:
            await engine.dispose()

    asyncio.run(_migrate())


# --- Postgres must be up before the run starts (C29) ---------------------------------------
_NEEDS_POSTGRES = {"postgres_url", "eval_database_url"}


def _needs_postgres(item: pytest.Item) -> bool:
    names = set(getattr(item, "fixturenames", ()))
    callspec = getattr(item, "callspec", None)
    param = callspec.params.get("database_url") if callspec is not None else None
    return bool(names & _NEEDS_POSTGRES) or ("database_url" in names and param == "postgres")


def pytest_collection_finish(session: pytest.Session) -> None:
    """One clear line when the server is down, instead of an error per Postgres test."""
    if not any(_needs_postgres(item) for item in session.items):
        return
    url = make_url(os.environ.get("TEST_DATABASE_URL", DEFAULT_PG))
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        psycopg.connect(dsn, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        # psycopg: 'connection failed: connection to server at "h", port 1 failed: <why>\n...'
        reason = str(exc).splitlines()[0].rsplit("failed: ", 1)[-1].strip()[:120]
        shown = url.render_as_string(hide_password=True)
        pytest.exit(
            f"Postgres at TEST_DATABASE_URL={shown} is not reachable ({reason}). Start it "
            "(`pg_ctlcluster --skip-systemctl-redirect <version> main start`; `make test` does "
            "this itself when it can) or point TEST_DATABASE_URL at a running server.",
            returncode=3,
        )


# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database on the test server for this run, dropped at the end."""
    admin_url = os.environ.get("TEST_DATABASE_URL", DEFAULT_PG)
    name = f"seleto_test_{uuid.uuid4().hex[:10]}"
    admin_dsn = make_url(admin_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    migrate_database(url)
    yield url
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


def _truncate_postgres(url: str) -> None:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
    ours = [t.name for t in metadata.sorted_tables if t.name != "seleto_schema_migrations"]
    with psycopg.connect(dsn, autocommit=True) as conn:
        agno = [
            f"agno.{row[0]}"
            for row in conn.execute(
                "select tablename from pg_tables where schemaname = 'agno'"
            ).fetchall()
        ]
        tables = ", ".join([*(f"public.{t}" for t in ours), *agno])
        conn.execute(f"truncate {tables} restart identity cascade")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated once per run; each test gets a copy of it (migrating a file
    costs about 0.6 s, a copy a millisecond, and a thousand tests run on SQLite)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "seleto.db"
    migrate_database(f"sqlite:///{path}")
    return path


def _copy_sqlite(source: Path, target: Path) -> None:
    # The backup API copies a consistent image, whatever journal mode the file is in.
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs twice: on a SQLite file and on the real Postgres."""
    if request.param == "sqlite":
        path = tmp_path / "seleto.db"
        _copy_sqlite(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_url")
    _truncate_postgres(url)
    return str(url)


class _ThreadedServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test process owns signals
        return None


@dataclass
class Sandbox:
    url: str
    client: httpx.Client

    def state(self) -> dict[str, Any]:
        response = self.client.get("/_sandbox/state")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def reset(self) -> None:
        self.client.post("/_sandbox/reset", json={"webhooks": True}).raise_for_status()

    def sent_texts(self) -> list[dict[str, Any]]:
        return [
            s
            for s in self.state()["zapi"]["sent"]
            if s["endpoint"] == "send-text" and s["status_code"] == 200
        ]

    def model_faults(self, **faults: Any) -> None:
        self.client.post("/_sandbox/model/faults", json=faults).raise_for_status()

    def zapi_faults(self, **faults: Any) -> None:
        self.client.post("/_sandbox/zapi/faults", json=faults).raise_for_status()

    def put_media(self, media_id: str, data: bytes, content_type: str = "audio/ogg") -> str:
        """Store a file in the Z-API media simulator; returns its URL."""
        response = self.client.put(
            f"/_sandbox/zapi/media/{media_id}",
            content=data,
            headers={"content-type": content_type},
        )
        response.raise_for_status()
        url: str = response.json()["url"]
        return url

    def media_behaviour(self, media_id: str, **knobs: Any) -> str:
        response = self.client.post(f"/_sandbox/zapi/media/{media_id}/behaviour", json=knobs)
        response.raise_for_status()
        url: str = response.json()["url"]
        return url

    def media_requests(self, media_id: str | None = None) -> list[dict[str, Any]]:
        requests: list[dict[str, Any]] = self.state()["zapi_media"]["requests"]
        return [r for r in requests if media_id is None or r["media_id"] == media_id]

    def script_transcripts(self, *texts: str) -> None:
        self.client.post(
            "/_sandbox/transcription/script", json={"texts": list(texts)}
        ).raise_for_status()

    def transcription_faults(self, **faults: Any) -> None:
        self.client.post("/_sandbox/transcription/faults", json=faults).raise_for_status()

    def transcription_requests(self) -> list[dict[str, Any]]:
        requests: list[dict[str, Any]] = self.state()["transcription"]["requests"]
        return requests

    def script(
        self, *replies: dict[str, Any], match: str | None = None, repeat: bool = False
    ) -> None:
        """Queue the scripted model's next replies (content and/or tool calls), in order; with
        `match`, only for requests whose last user message contains that text; with `repeat`,
        every run of that turn gets them again, by step."""
        body: dict[str, Any] = {"replies": list(replies), "repeat": repeat}
        if match is not None:
            body["match"] = match
        self.client.post("/_sandbox/model/script", json=body).raise_for_status()

    def model_requests(self) -> list[dict[str, Any]]:
        requests: list[dict[str, Any]] = self.state()["model"]["requests"]
        return requests

    def chatwoot_settings(self) -> dict[str, Any]:
        """`make_settings` overrides that point the service at the Chatwoot simulator."""
        return {
            "chatwoot_base_url": self.url,
            "chatwoot_account_id": CHATWOOT_ACCOUNT_ID,
            "chatwoot_inbox_id": CHATWOOT_INBOX_ID,
            "chatwoot_api_token": CHATWOOT_USER_TOKEN,
            "chatwoot_webhook_secret": CHATWOOT_WEBHOOK_SECRET,
        }

    def chatwoot_state(self) -> dict[str, Any]:
        section: dict[str, Any] = self.state()["chatwoot"]
        return section

    def chatwoot_faults(self, **faults: Any) -> dict[str, Any]:
        """Fault queues (`queues={"POST /contacts": [{"status": 500}]}`) and switches."""
        response = self.client.post("/_sandbox/chatwoot/faults", json=faults)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def chatwoot_down(self, down: bool = True) -> None:
        self.chatwoot_faults(down=down)

    def _chatwoot_control(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(f"/_sandbox/chatwoot/{action}", json=body)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    def chatwoot_agent_reply(self, conversation_id: int, content: str) -> dict[str, Any]:
        """A human agent's public reply in Chatwoot; returns the message (push data)."""
        return self._chatwoot_control(
            "agent_reply", {"conversation_id": conversation_id, "content": content}
        )

    def chatwoot_private_note(self, conversation_id: int, content: str) -> dict[str, Any]:
        return self._chatwoot_control(
            "private_note", {"conversation_id": conversation_id, "content": content}
        )

    def chatwoot_automated_message(
        self, conversation_id: int, content: str, by: str
    ) -> dict[str, Any]:
        """A public message no person typed: `by` "automation", "agent_bot" or
        "captain_assistant"."""
        return self._chatwoot_control(
            "automated_message", {"conversation_id": conversation_id, "content": content, "by": by}
        )

    def chatwoot_resolve(self, conversation_id: int) -> dict[str, Any]:
        return self._chatwoot_control("resolve", {"conversation_id": conversation_id})

    def chatwoot_set_inbox_webhook(self, url: str | None, secret: str | None = None) -> None:
        """The API inbox's webhook URL, signed with CHATWOOT_WEBHOOK_SECRET unless given."""
        self._chatwoot_control("inbox_webhook", {"url": url, "secret": secret})

    def chatwoot_flush(self, wait_seconds: float = 10.0) -> None:
        self.client.post(
            "/_sandbox/chatwoot/flush", params={"wait_seconds": wait_seconds}
        ).raise_for_status()

    def chatwoot_messages(self, conversation_id: int) -> list[dict[str, Any]]:
        """Messages of a conversation (by display id), oldest first, activity ones included."""
        for conversation in self.chatwoot_state()["conversations"]:
            if conversation["display_id"] == conversation_id:
                messages: list[dict[str, Any]] = conversation["messages"]
                return messages
        raise AssertionError(f"no Chatwoot conversation {conversation_id}")

    @property
    def piperun_url(self) -> str:
        """PIPERUN_BASE_URL for a client of the PipeRun simulator (token: SandboxConfig)."""
        return f"{self.url}/v1"

    def piperun_state(self) -> dict[str, Any]:
        """Records (companies, persons, deals, notes), requests, fault queue and knobs."""
        response = self.client.get("/_sandbox/piperun/state")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def piperun_faults(self, *faults: dict[str, Any], **knobs: Any) -> None:
        """Queue faults ({"method", "path", "status", "delay_seconds", "truncated",
        "after_commit", "retry_after", "body", "times"}) and/or set knobs (down,
        rate_limit_per_minute, rate_limit_window_seconds, stage_must_match_pipeline, clear)."""
        self.client.post(
            "/_sandbox/piperun/faults", json={"queue": list(faults), **knobs}
        ).raise_for_status()

    def piperun_seed(self, resource: str, **fields: Any) -> dict[str, Any]:
        """A record created in PipeRun behind the service's back (as a person would)."""
        response = self.client.post(f"/_sandbox/piperun/seed/{resource}", json=fields)
        response.raise_for_status()
        record: dict[str, Any] = response.json()
        return record

    def piperun_seed_company(self, **fields: Any) -> dict[str, Any]:
        return self.piperun_seed("companies", **fields)

    def piperun_seed_person(self, **fields: Any) -> dict[str, Any]:
        return self.piperun_seed("persons", **fields)

    def piperun_seed_deal(self, **fields: Any) -> dict[str, Any]:
        return self.piperun_seed("deals", **fields)

    def piperun_requests(
        self, method: str | None = None, path_prefix: str | None = None
    ) -> list[dict[str, Any]]:
        """Logged /v1 requests; `path_prefix` is matched against the full path ("/v1/deals")."""
        requests: list[dict[str, Any]] = self.piperun_state()["requests"]
        return [
            r
            for r in requests
            if (method is None or r["method"] == method.upper())
            and (path_prefix is None or r["path"].startswith(path_prefix))
        ]


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(
        # The real port, so media URLs in emitted callbacks point at this server.
        create_sandbox_app(SandboxConfig(public_base_url=f"http://127.0.0.1:{port}")),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
    )
    server = _ThreadedServer(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("sandbox did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def sandbox(sandbox_server: str) -> Iterator[Sandbox]:
    with httpx.Client(base_url=sandbox_server, timeout=10) as client:
        box = Sandbox(url=sandbox_server, client=client)
        box.reset()
        yield box


def make_settings(database_url: str, sandbox_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "app_env": "test",
        "database_url": database_url,
        "admin_token": ADMIN_TOKEN,
        "zapi_base_url": sandbox_url,
        "zapi_instance_id": INSTANCE_ID,
        "zapi_instance_token": "sandbox-instance-token",
        "zapi_client_token": "sandbox-client-token",
        "zapi_webhook_token": WEBHOOK_TOKEN,
        "openai_base_url": f"{sandbox_url}/v1",
        "openai_api_key": "sk-sandbox-not-a-real-key",
        "openai_model": "sandbox-scripted",
        "debounce_seconds": 0.15,
        "debounce_max_seconds": 1.0,
        "worker_poll_seconds": 0.05,
        "worker_lease_seconds": 3.0,
        "retry_base_seconds": 0.05,
        "retry_max_seconds": 0.2,
        "inbound_max_attempts": 3,
        # Every test's requests come from one address; tests/pipeline/test_rate_limit.py turns
        # the limit on.
        "rate_limit_per_ip_per_minute": 0,
        "business_hours_file": PROJECT_ROOT
        / "tests"
        / "fixtures"
        / "business_hours_always_open.yaml",
        # Off: its daily job would be one more outbox row in every test; tests of it turn it on.
        "retention_days_payloads": 0,
        "retention_days_transcripts": 0,
        "retention_days_audit": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class Service:
    runtime: Runtime
    client: httpx.AsyncClient
    app: Any = None

    async def post_zapi(
        self, body: dict[str, Any] | bytes, token: str = WEBHOOK_TOKEN
    ) -> httpx.Response:
        if isinstance(body, bytes):
            return await self.client.post(
                f"/webhooks/zapi/{token}",
                content=body,
                headers={"content-type": "application/json"},
            )
        return await self.client.post(f"/webhooks/zapi/{token}", json=body)

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
async def service_factory(database_url: str, sandbox: Sandbox) -> AsyncIterator[Any]:
    """Start the app (lifespan included, so the embedded worker runs) with setting overrides."""
    stack: list[Any] = []

    async def start(**overrides: Any) -> Service:
        settings = make_settings(database_url, sandbox.url, **overrides)
        runtime = build_runtime(settings)
        app = create_app(runtime)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://service"
        )
        stack.append((lifespan, client))
        return Service(runtime=runtime, client=client, app=app)

    yield start
    for lifespan, client in reversed(stack):
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


@asynccontextmanager
async def listening(service: Service, port: int | None = None) -> AsyncIterator[str]:
    """Serve the service's app on a real port (in this event loop) so the simulators can call
    it; yields the base URL. `port` when the URL must be known before the service starts."""
    port = port or free_port()
    config = uvicorn.Config(
        service.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
    )
    server = _ThreadedServer(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError("service did not start listening")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def service(service_factory: Any) -> Service:
    svc: Service = await service_factory()
    return svc


async def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll until `predicate()` is truthy (sync or async); fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
