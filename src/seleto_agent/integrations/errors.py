"""Typed failures shared by the background-job vendor clients (PipeRun, Chatwoot).

The outbox worker decides by type alone: `VendorUnavailable` is retried for as long as
OUTBOX_GIVE_UP_HOURS allows (the vendor is down or throttling, the job is fine);
`VendorRejected` parks the job as dead at once with the vendor's field errors for ops.
"""

from __future__ import annotations


class VendorError(Exception):
    """A vendor call failed; `vendor` names the service for logs and the admin API."""

    vendor = "vendor"
    retryable = True

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class VendorUnavailable(VendorError):
    """5xx, 429, timeout, network failure or an open circuit: try again later.

    `retry_after` (seconds) is the earliest useful retry when the vendor or the breaker said so.
    """

    def __init__(
        self, message: str, *, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class VendorRejected(VendorError):
    """The vendor refused the request itself (4xx): retrying the same request cannot help.

    `field_errors` maps a field to its messages (PipeRun's 422 `data`, either shape).
    """

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        field_errors: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.field_errors = field_errors or {}


class VendorAuthError(VendorRejected):
    """401/403: the token is wrong or lacks rights; ops must fix the configuration."""


class VendorNotFound(VendorRejected):
    """404 on a record we expected to exist (deleted by a person in the vendor's UI)."""
