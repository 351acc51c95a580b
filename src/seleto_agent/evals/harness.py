"""What an eval runs against: the model choice, the service's settings and the sandbox.

WhatsApp is always the sandbox's Z-API simulator, so no eval ever writes to a real lead. The
model is the sandbox's scripted one, or a real OpenAI-compatible model when `OPENAI_API_KEY` is
set in the environment (`OPENAI_MODEL`, `OPENAI_BASE_URL` are then read from it too).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from seleto_agent.db.engine import create_engine
from seleto_agent.observability.logging import configure_logging
from seleto_agent.sandbox.app import create_sandbox_app
from seleto_agent.sandbox.config import SandboxConfig
from seleto_agent.sandbox.model_replies import SANDBOX_MODEL_NAME, ScriptedReply
from seleto_agent.services.schema import migrate_all
from seleto_agent.settings import PROJECT_ROOT, Settings

HOST = "127.0.0.1"
SANDBOX = SandboxConfig()
# Credentials of a local simulation, not secrets.
WEBHOOK_TOKEN = "eval-webhook-token"  # noqa: S105
ADMIN_TOKEN = "eval-admin-token"  # noqa: S105
SCRIPTED_LABEL = "SCRIPTED MODEL (sandbox) — checks the deterministic parts only"
SANDBOX_START_SECONDS = 10.0
# The scripted model answers in milliseconds, so a turn still running after 15 s is stuck. A
# real model may need several calls per run (tools, then text) and a blocked draft adds a run.
SCRIPTED_TURN_SECONDS = 15.0
REAL_TURN_SECONDS = 240.0


@dataclass(frozen=True, slots=True)
class ModelMode:
    scripted: bool
    model_id: str

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> ModelMode:
        if not environ.get("OPENAI_API_KEY"):
            return cls(scripted=True, model_id=SANDBOX_MODEL_NAME)
        default = str(Settings.model_fields["openai_model"].default)
        return cls(scripted=False, model_id=environ.get("OPENAI_MODEL") or default)

    @property
    def label(self) -> str:
        return SCRIPTED_LABEL if self.scripted else f"REAL MODEL {self.model_id}"

    @property
    def turn_timeout(self) -> float:
        return SCRIPTED_TURN_SECONDS if self.scripted else REAL_TURN_SECONDS


def eval_phone(index: int, *, run: int = 0) -> str:
    """A mobile number (DDD 11) per scenario; `run` keeps runs on one database apart."""
    return f"55119{run:04d}{index:04d}"


def eval_settings(*, database_url: str, sandbox_url: str, mode: ModelMode) -> Settings:
    """The service's settings for one scenario: test timings, Z-API on the sandbox."""
    values: dict[str, Any] = {
        "app_env": "test",
        "database_url": database_url,
        "admin_token": ADMIN_TOKEN,
        "zapi_base_url": sandbox_url,
        "zapi_instance_id": SANDBOX.zapi_instance_id,
        "zapi_instance_token": SANDBOX.zapi_instance_token,
        "zapi_client_token": SANDBOX.zapi_client_token,
        "zapi_webhook_token": WEBHOOK_TOKEN,
        "worker_embedded": True,
        # A scenario's turns are posted one at a time, so a short burst window only costs time.
        "debounce_seconds": 0.15,
        "debounce_max_seconds": 1.0,
        "worker_poll_seconds": 0.05,
        "retry_base_seconds": 0.05,
        "retry_max_seconds": 0.2,
        "inbound_max_attempts": 3,
        # Scores must not depend on the clock: the team is always in during an eval.
        "business_hours_file": PROJECT_ROOT / "evals" / "business_hours.yaml",
    }
    if mode.scripted:
        values |= {
            "openai_base_url": f"{sandbox_url}/v1",
            "openai_api_key": "sk-sandbox-not-a-real-key",
            "openai_model": SANDBOX_MODEL_NAME,
            "worker_lease_seconds": 3.0,
        }
    # Real model: OPENAI_API_KEY, OPENAI_MODEL and OPENAI_BASE_URL come from the environment,
    # and the default lease outlasts a slow model call.
    return Settings(_env_file=None, **values)


async def migrate_database(settings: Settings) -> None:
    engine = create_engine(settings.database_url)
    try:
        await migrate_all(engine, settings.migrations_dir)
    finally:
        await engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class _ThreadedServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the calling process owns signals
        return None


@contextmanager
def service_output_to_stderr(*, pii_key: bytes) -> Iterator[None]:
    """While the service runs, its logs and Agno's go to stderr (errors only, for ours), so
    standard output holds the report alone."""
    # Agno's logger has its own plain StreamHandler on the stdout it saw at import
    # (agno/utils/log.py, `propagate = False`), which redirecting sys.stdout does not reach.
    # Subclasses (file handlers, pytest's capture) are someone else's and are left alone.
    agno = [h for h in logging.getLogger("agno").handlers if type(h) is logging.StreamHandler]
    streams = [handler.stream for handler in agno]
    with contextlib.redirect_stdout(sys.stderr):
        configure_logging(level="ERROR", fmt="console", pii_key=pii_key)
        for handler in agno:
            handler.setStream(sys.stderr)
        try:
            yield
        finally:
            for handler, stream in zip(agno, streams, strict=True):
                handler.setStream(stream)


@contextmanager
def local_sandbox() -> Iterator[str]:
    """The sandbox on a free local port, served from a thread; yields its base URL."""
    port = free_port()
    url = f"http://{HOST}:{port}"
    app = create_sandbox_app(SandboxConfig(public_base_url=url))
    server = _ThreadedServer(uvicorn.Config(app, host=HOST, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + SANDBOX_START_SECONDS
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the sandbox did not start")
        time.sleep(0.02)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=5)


class SandboxClient:
    """The sandbox's control API: reset, scripting the model, and what it received."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    @classmethod
    @asynccontextmanager
    async def connect(cls, url: str) -> AsyncIterator[SandboxClient]:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            yield cls(client)

    async def reset(self) -> None:
        # Webhooks too: the service runs in-process, so the sandbox has nobody to call back.
        response = await self._client.post("/_sandbox/reset", json={"webhooks": True})
        response.raise_for_status()

    async def script(self, replies: Sequence[ScriptedReply], *, match: str | None = None) -> None:
        """Queue the model's next replies; with `match`, only for requests whose last user
        message contains that text."""
        body: dict[str, Any] = {
            "replies": [reply.model_dump(exclude_none=True) for reply in replies]
        }
        if match is not None:
            body["match"] = match
        response = await self._client.post("/_sandbox/model/script", json=body)
        response.raise_for_status()

    async def model_requests(self) -> list[dict[str, Any]]:
        requests: list[dict[str, Any]] = (await self._state())["model"]["requests"]
        return requests

    async def sent_texts(self, phone: str) -> list[str]:
        """Texts the simulated WhatsApp accepted for this phone, in order."""
        return [
            str(entry["message"])
            for entry in (await self._state())["zapi"]["sent"]
            if entry["endpoint"] == "send-text"
            and entry["status_code"] == 200
            and entry["phone"] == phone
        ]

    async def _state(self) -> dict[str, Any]:
        response = await self._client.get("/_sandbox/state")
        response.raise_for_status()
        state: dict[str, Any] = response.json()
        return state
