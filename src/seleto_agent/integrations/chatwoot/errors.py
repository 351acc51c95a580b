"""Chatwoot failures, typed so the outbox worker can decide by class alone (integrations/errors)."""

from __future__ import annotations

from seleto_agent.integrations.errors import (
    VendorAuthError,
    VendorNotFound,
    VendorRejected,
    VendorUnavailable,
)


class ChatwootUnavailable(VendorUnavailable):
    """5xx, 429, timeout or network failure: try again later.

    `maybe_committed` is true when Chatwoot may have done the work before the failure (a 5xx or
    a timeout after the request was sent). A create must then not be blindly repeated: the
    caller looks the record up first (search contact, list conversations or messages).
    """

    vendor = "chatwoot"

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        maybe_committed: bool = False,
    ) -> None:
        super().__init__(message, status_code=status_code, retry_after=retry_after)
        self.maybe_committed = maybe_committed


class ChatwootRejected(VendorRejected):
    """Chatwoot refused the request itself (a 4xx other than 401/403/404)."""

    vendor = "chatwoot"


class ChatwootAuthError(VendorAuthError):
    """401/403: wrong access token, or an agent-bot token on an endpoint bots cannot use."""

    vendor = "chatwoot"


class ChatwootNotFound(VendorNotFound):
    """404: the contact or conversation is gone (deleted in Chatwoot) or the id is wrong."""

    vendor = "chatwoot"
