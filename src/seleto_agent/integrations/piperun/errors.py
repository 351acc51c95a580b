"""PipeRun failures, typed for the outbox worker (integrations/errors.py).

Messages name the method, the path and the HTTP status only: request bodies and query strings
carry lead data (names, CNPJs, phones) and error strings end up in logs and job rows.
"""

from __future__ import annotations

from typing import Any

import httpx

from seleto_agent.integrations.errors import (
    VendorAuthError,
    VendorError,
    VendorNotFound,
    VendorRejected,
    VendorUnavailable,
)
from seleto_agent.integrations.http_retry import retry_after_seconds


class PipeRunError(VendorError):
    vendor = "piperun"


class PipeRunUnavailable(PipeRunError, VendorUnavailable):
    """5xx, 429, timeout, network failure, a garbled answer or an open circuit."""


class PipeRunRateLimited(PipeRunUnavailable):
    """429: PipeRun did not process the request, so even a create may be sent again."""


class PipeRunConnectFailed(PipeRunUnavailable):
    """No connection was made, so the request never reached PipeRun (safe to resend)."""


class PipeRunCircuitOpen(PipeRunUnavailable):
    """Refused without any network I/O while the breaker is open."""


class PipeRunRejected(PipeRunError, VendorRejected):
    """A 4xx: the request itself is wrong; `field_errors` holds PipeRun's 422 `data`."""


class PipeRunAuthError(PipeRunRejected, VendorAuthError):
    """401/403: PIPERUN_TOKEN is wrong or lacks rights."""


class PipeRunNotFound(PipeRunRejected, VendorNotFound):
    """404: the record is gone (deleted in PipeRun's UI) or never existed."""


def describe(method: str, path: str, status: int | None = None) -> str:
    where = f"PipeRun {method} {path}"
    return f"{where}: HTTP {status}" if status is not None else where


def error_for_status(
    method: str, path: str, response: httpx.Response, body: Any
) -> PipeRunError | None:
    """The error a non-2xx answer stands for; `body` is its parsed JSON or None."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    message = describe(method, path, status)
    if status == 429:
        return PipeRunRateLimited(
            message, status_code=status, retry_after=retry_after_seconds(response)
        )
    if status >= 500:
        return PipeRunUnavailable(
            message, status_code=status, retry_after=retry_after_seconds(response)
        )
    if status in (401, 403):
        return PipeRunAuthError(message, status_code=status)
    if status == 404:
        return PipeRunNotFound(message, status_code=status)
    return PipeRunRejected(message, status_code=status, field_errors=field_errors(body))


def field_errors(body: Any) -> dict[str, list[str]]:
    """PipeRun's 422 `data` as field -> messages.

    piperun.md §3: `data` maps a field to a string (required fields) or to a list of strings
    (uniqueness); "Malformed JSON." comes with no `data` at all and is kept under `_body`.
    """
    if not isinstance(body, dict):
        return {}
    data = body.get("data")
    if isinstance(data, dict) and data:
        return {str(field): _messages(value) for field, value in data.items()}
    message = body.get("message")
    if isinstance(message, str) and message:
        return {"_body": [message]}
    return {}


def _messages(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(item) for item in value]
    return [str(value)]
