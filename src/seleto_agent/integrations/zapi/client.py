"""Z-API outbound client: send-text and read-message (contracts/zapi.md §1).

The instance id and token travel in the URL path, the account token in `Client-Token`.

Z-API takes no idempotency key, so a send is retried inside the call only when the request
surely never reached Z-API (no connection, no pool slot, a 429). Anything after the request was
written (a read timeout, a dropped connection, a 5xx, a 200 without a message id) may mean the
message is already on its way: it raises `ZApiOutcomeUnknown` at once and the outbound service
decides from Z-API's callbacks. `read-message` is idempotent and keeps retrying either way.
"""

from __future__ import annotations

from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
)

from seleto_agent.integrations.http_retry import RetryAfterWait, retry_after_seconds
from seleto_agent.integrations.whatsapp import SentMessage, WhatsAppError, WhatsAppOutcomeUnknown
from seleto_agent.integrations.zapi.schemas import ZApiSendResponse


class ZApiError(WhatsAppError):
    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ZApiUnavailable(ZApiError):
    """429, or no connection could be made: the request did not reach Z-API, worth retrying
    (after `retry_after` seconds if given)."""

    def __init__(
        self, message: str, *, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class ZApiOutcomeUnknown(ZApiError, WhatsAppOutcomeUnknown):
    """The request was written and no usable answer came back: Z-API may have the message."""


class ZApiNotConnected(ZApiError):
    """The instance's WhatsApp session is down; retry later, ops must reconnect the phone."""


class ZApiBadToken(ZApiError):
    """Wrong instance token or Client-Token: retrying will not help until config changes."""

    retryable = False


class ZApiRejected(ZApiError):
    """Z-API refused the request itself (bad phone, bad body)."""

    retryable = False


# Quick in-call retries ride out a blip; longer outages are the worker's backoff's job.
_IN_CALL_ATTEMPTS = 3
# Failures before any byte of the request left: Z-API cannot have acted on it.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class ZApiClient:
    provider = "zapi"

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        base_url: str,
        instance_id: str,
        instance_token: str,
        client_token: str | None,
        retry_wait_max_seconds: float = 2.0,
    ) -> None:
        self._http = http
        self._root = f"{base_url.rstrip('/')}/instances/{instance_id}/token/{instance_token}"
        self._headers = {"Client-Token": client_token} if client_token else {}
        self._wait = RetryAfterWait(initial=0.2, maximum=retry_wait_max_seconds)

    async def send_text(self, *, to: str, text: str, reference: str | None = None) -> SentMessage:
        # Z-API has no field that comes back on its callbacks: `reference` is not sent.
        del reference
        body = await self._post("send-text", {"phone": to, "message": text}, idempotent=False)
        parsed = ZApiSendResponse.model_validate(body)
        message_id = parsed.message_id or parsed.id
        if not message_id:
            # A 2xx that names no message proves nothing was sent, nor that it was not.
            raise ZApiOutcomeUnknown("send-text: answer without a message id", status_code=200)
        return SentMessage(provider_message_id=message_id, provider_zaap_id=parsed.zaap_id)

    async def mark_read(self, *, to: str, message_id: str, typing: bool = False) -> None:
        # read-message has no typing indicator (Z-API types only as part of a send).
        del typing
        await self._post("read-message", {"phone": to, "messageId": message_id}, idempotent=True)

    async def _post(
        self, method: str, payload: dict[str, Any], *, idempotent: bool
    ) -> dict[str, Any]:
        retryable = (ZApiUnavailable, ZApiOutcomeUnknown) if idempotent else (ZApiUnavailable,)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(_IN_CALL_ATTEMPTS),
            wait=self._wait,
            retry=retry_if_exception(lambda exc: isinstance(exc, retryable)),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                try:
                    response = await self._http.post(
                        f"{self._root}/{method}", json=payload, headers=self._headers
                    )
                except _NOT_SENT as exc:
                    raise ZApiUnavailable(f"{method}: {type(exc).__name__}") from exc
                except httpx.HTTPError as exc:
                    raise ZApiOutcomeUnknown(f"{method}: {type(exc).__name__}") from exc
                return _checked(response)
        raise AssertionError("unreachable")  # pragma: no cover


def _checked(response: httpx.Response) -> dict[str, Any]:
    status = response.status_code
    if status == 204 or (200 <= status < 300 and not response.content):
        return {}
    error = _error_text(response)
    if 200 <= status < 300:
        body = response.json()
        return body if isinstance(body, dict) else {}
    if status == 429:
        raise ZApiUnavailable(
            f"HTTP {status}: {error}", status_code=status, retry_after=retry_after_seconds(response)
        )
    if status >= 500:
        # Z-API documents no 5xx; a proxy's 502 or a crash after the send look the same.
        raise ZApiOutcomeUnknown(f"HTTP {status}: {error}", status_code=status)
    lowered = error.lower()
    if "not connected" in lowered or "restore the session" in lowered:
        raise ZApiNotConnected(f"HTTP {status}: {error}", status_code=status)
    # Z-API docs: a missing/wrong Client-Token answers {"error": "null not allowed"}.
    if status in (401, 403) or "not allowed" in lowered or "instance not found" in lowered:
        raise ZApiBadToken(f"HTTP {status}: {error}", status_code=status)
    raise ZApiRejected(f"HTTP {status}: {error}", status_code=status)


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or body)[:200]
    return str(body)[:200]
