"""PipeRun CRM: the HTTP client, its typed errors and records, and the process-wide breaker."""

from __future__ import annotations

import httpx

from seleto_agent.integrations.piperun.breaker import BreakerState, PipeRunBreaker
from seleto_agent.integrations.piperun.client import PipeRunClient
from seleto_agent.integrations.piperun.errors import (
    PipeRunAuthError,
    PipeRunCircuitOpen,
    PipeRunConnectFailed,
    PipeRunError,
    PipeRunNotFound,
    PipeRunRateLimited,
    PipeRunRejected,
    PipeRunUnavailable,
)
from seleto_agent.settings import Settings, secret

__all__ = [
    "BreakerState",
    "PipeRunAuthError",
    "PipeRunBreaker",
    "PipeRunCircuitOpen",
    "PipeRunClient",
    "PipeRunConnectFailed",
    "PipeRunError",
    "PipeRunNotFound",
    "PipeRunRateLimited",
    "PipeRunRejected",
    "PipeRunUnavailable",
    "build_piperun_client",
]


def build_piperun_client(settings: Settings, http: httpx.AsyncClient) -> PipeRunClient | None:
    """The configured client, or None when PIPERUN_TOKEN is unset (CRM sync disabled,
    INTERFACE.md §2)."""
    token = secret(settings.piperun_token)
    if not token:
        return None
    return PipeRunClient(
        http=http,
        base_url=settings.piperun_base_url,
        token=token,
        timeout_seconds=settings.piperun_timeout_seconds,
        # Built once per process (by the runtime, or by `discover`): PipeRun's health is one
        # fact for every sync job of the process.
        breaker=PipeRunBreaker(
            failure_threshold=settings.piperun_breaker_failures,
            recovery_timeout=settings.piperun_breaker_reset_seconds,
        ),
    )
