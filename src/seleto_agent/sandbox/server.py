"""Runs the sandbox with uvicorn; called by `seleto-agent sandbox --port P`."""

from __future__ import annotations

import uvicorn

from seleto_agent.sandbox.app import create_sandbox_app
from seleto_agent.sandbox.config import SandboxConfig

# Wildcard binds are not reachable addresses; media URLs must point somewhere real.
_WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104


def run_sandbox(host: str, port: int, config: SandboxConfig | None = None) -> None:
    public_host = "127.0.0.1" if host in _WILDCARD_HOSTS else host
    config = config or SandboxConfig(public_base_url=f"http://{public_host}:{port}")
    uvicorn.run(create_sandbox_app(config), host=host, port=port, log_level="info")
