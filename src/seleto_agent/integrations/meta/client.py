"""WhatsApp Cloud API outbound client (contracts whatsapp_cloud.md §3-5, 2026 §2.8-2.10).

`POST {base}/{version}/{phone_number_id}/messages` with `Authorization: Bearer`, for text,
templates and read receipts (+ typing), and the two-step media download.

The Cloud API takes no idempotency key, so the rule is Z-API's: a send is retried inside the
call only when the request surely never reached Meta (no connection, no pool slot) or Meta
answered a throughput limit (HTTP 429 / 130429, after its Retry-After). Anything after the
request was written (a read timeout, a dropped connection, a 5xx, a 2xx without
`messages[0].id`) raises `MetaOutcomeUnknown` at once: the outbound service decides from the
statuses, which echo our `biz_opaque_callback_data`. Mark-as-read is idempotent and retries
either way.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import ValidationError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

from seleto_agent.integrations.http_retry import RetryAfterWait, retry_after_seconds
from seleto_agent.integrations.media.download import MediaDownloader
from seleto_agent.integrations.media.errors import MediaError, MediaExpired, MediaRejected
from seleto_agent.integrations.meta.errors import (
    AUTH_CODES,
    GraphErrorIds,
    MetaConnectError,
    MetaError,
    MetaMediaAuthError,
    MetaMediaCorrupt,
    MetaMediaExpiredOrDeleted,
    MetaMediaUnavailable,
    MetaOutcomeUnknown,
    MetaPairRateLimited,
    MetaRateLimited,
    MetaRejected,
    MetaUnavailable,
    error_for_code,
)
from seleto_agent.integrations.meta.schemas import (
    GraphErrorBody,
    MetaMediaMetadata,
    MetaSendResponse,
    MetaSuccessResponse,
)
from seleto_agent.integrations.whatsapp import SentMessage
from seleto_agent.observability.logging import get_logger

log = get_logger(__name__)

# pywa `send_message`: "max 4096 characters"; Meta answers 100 past it, we refuse first.
MAX_TEXT_CHARS = 4096
# Meta's limit on `biz_opaque_callback_data` (Cloud API messages reference).
MAX_REFERENCE_CHARS = 512
# A business-scoped user id: country code, a dot, up to 128 alphanumerics (contracts §2.15).
BSUID_PATTERN = re.compile(r"^[A-Z]{2}\.[A-Za-z0-9]{1,128}$")
THROUGHPUT_CODE = 130429
# Quick in-call retries ride out a blip; longer outages are the worker's backoff's job.
_IN_CALL_ATTEMPTS = 3
# Step 2 with a fresh URL: the first expired or failed; more would hammer Meta's media API
# (360dialog throttles after 20 errors in 60 min on it).
_MEDIA_ATTEMPTS = 2
# Failures before any byte of the request left: Meta cannot have acted on it.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True, slots=True)
class FetchedMedia:
    data: bytes
    mime_type: str


def is_bsuid(value: str) -> bool:
    return BSUID_PATTERN.fullmatch(value) is not None


def addressee(to: str) -> dict[str, str]:
    """`recipient` for a BSUID (Meta silently drops a BSUID put in `to`), else `to`."""
    return {"recipient": to} if is_bsuid(to) else {"to": to}


def sha256_digest(value: str) -> bytes | None:
    """The 32 raw bytes of a sha256 given as hex or base64 (either alphabet), or None."""
    text = value.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", text):
        return bytes.fromhex(text)
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/") + "==", validate=False)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


class MetaClient:
    provider = "meta"

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        base_url: str,
        graph_version: str,
        phone_number_id: str,
        access_token: str,
        media_downloader: MediaDownloader,
        retry_wait_max_seconds: float = 2.0,
    ) -> None:
        self._http = http
        self._root = f"{base_url.rstrip('/')}/{graph_version}"
        self._phone_number_id = phone_number_id
        self._messages_url = f"{self._root}/{phone_number_id}/messages"
        self._auth = {"Authorization": f"Bearer {access_token}"}
        self._downloader = media_downloader
        self._wait = RetryAfterWait(initial=0.2, maximum=retry_wait_max_seconds)

    # --- sending ----------------------------------------------------------------------------

    async def send_text(self, *, to: str, text: str, reference: str | None = None) -> SentMessage:
        if len(text) > MAX_TEXT_CHARS:
            raise MetaRejected("send_text", reason=f"text over {MAX_TEXT_CHARS} characters")
        body = self._message(to, reference)
        body |= {"type": "text", "text": {"preview_url": False, "body": text}}
        return await self._send("send_text", body)

    async def send_template(
        self,
        *,
        to: str,
        name: str,
        language: str = "pt_BR",
        body_params: Sequence[str] = (),
        reference: str | None = None,
    ) -> SentMessage:
        template: dict[str, Any] = {
            "name": name,
            "language": {"policy": "deterministic", "code": language},
        }
        if body_params:
            parameters = [{"type": "text", "text": value} for value in body_params]
            template["components"] = [{"type": "body", "parameters": parameters}]
        body = self._message(to, reference) | {"type": "template", "template": template}
        return await self._send("send_template", body)

    async def mark_read(self, *, to: str, message_id: str, typing: bool = False) -> None:
        """Blue ticks up to `message_id`; with `typing`, "typing…" for up to 25 s. `to` is
        not part of Meta's request (the message id names the chat)."""
        del to
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": message_id,
        }
        if typing:
            body["typing_indicator"] = {"type": "text"}
        answer = await self._post("mark_read", body, idempotent=True)
        if not MetaSuccessResponse.model_validate(answer).success:
            raise MetaUnavailable("mark_read", reason="answer without success")

    def _message(self, to: str, reference: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            **addressee(to),
        }
        if reference is not None:
            if len(reference) > MAX_REFERENCE_CHARS:
                raise MetaRejected("send", reason=f"reference over {MAX_REFERENCE_CHARS} chars")
            body["biz_opaque_callback_data"] = reference
        return body

    async def _send(self, operation: str, body: dict[str, Any]) -> SentMessage:
        answer = await self._post(operation, body, idempotent=False)
        try:
            first = MetaSendResponse.model_validate(answer).first
        except ValidationError:
            first = None
        if first is None or not first.id:
            # A 2xx that names no message proves nothing was sent, nor that it was not.
            raise MetaOutcomeUnknown(
                operation, GraphErrorIds(status_code=200), reason="answer without a message id"
            )
        return SentMessage(provider_message_id=first.id, provider_status=first.message_status)

    async def _post(
        self, operation: str, payload: dict[str, Any], *, idempotent: bool
    ) -> dict[str, Any]:
        def worth_retrying(exc: BaseException) -> bool:
            if isinstance(exc, MetaConnectError):
                return True
            if isinstance(exc, MetaRateLimited) and not isinstance(exc, MetaPairRateLimited):
                return exc.code == THROUGHPUT_CODE or exc.status_code == 429
            return idempotent and isinstance(exc, MetaOutcomeUnknown | MetaUnavailable)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(_IN_CALL_ATTEMPTS),
            wait=self._wait,
            retry=retry_if_exception(worth_retrying),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                try:
                    response = await self._http.post(
                        self._messages_url, json=payload, headers=self._auth
                    )
                except _NOT_SENT as exc:
                    raise MetaConnectError(operation, reason=type(exc).__name__) from exc
                except httpx.HTTPError as exc:
                    raise MetaOutcomeUnknown(operation, reason=type(exc).__name__) from exc
                return _checked(operation, response, may_have_acted=True)
        raise AssertionError("unreachable")  # pragma: no cover

    # --- media ------------------------------------------------------------------------------

    async def fetch_media(self, media_id: str) -> FetchedMedia:
        """The bytes of a media id from a webhook. Each attempt asks Meta for a fresh URL
        (it lives 5 minutes) and downloads it at once with the same token; the URL is never
        kept. A second attempt starts over from the media id."""
        failure: MediaError | None = None
        for _ in range(_MEDIA_ATTEMPTS):
            try:
                return await self._fetch_media_once(media_id)
            except MediaError as exc:
                if not exc.retryable:
                    raise
                failure = exc
        assert failure is not None
        raise failure

    async def _fetch_media_once(self, media_id: str) -> FetchedMedia:
        metadata = await self._media_metadata(media_id)
        try:
            downloaded = await self._downloader.fetch(metadata.url, headers=self._auth)
        except MediaExpired as exc:
            # The URL's 5 minutes ran out between the steps: a new one is needed.
            raise MetaMediaUnavailable("media url expired") from exc
        except MediaRejected as exc:
            if exc.detail in ("HTTP 401", "HTTP 403"):
                raise MetaMediaAuthError(f"media download refused: {exc.detail}") from exc
            raise
        if metadata.sha256:
            expected = sha256_digest(metadata.sha256)
            if expected is None:
                log.warning("meta.media.sha256_unreadable")
            elif hashlib.sha256(downloaded.data).digest() != expected:
                raise MetaMediaCorrupt("media bytes do not match sha256")
        return FetchedMedia(data=downloaded.data, mime_type=metadata.mime_type)

    async def _media_metadata(self, media_id: str) -> MetaMediaMetadata:
        try:
            response = await self._http.get(
                f"{self._root}/{media_id}",
                params={"phone_number_id": self._phone_number_id},
                headers=self._auth,
            )
        except httpx.HTTPError as exc:
            raise MetaMediaUnavailable(f"media metadata: {type(exc).__name__}") from exc
        if response.status_code == 404:
            raise MetaMediaExpiredOrDeleted("media id expired_or_deleted")
        try:
            answer = _checked("media_metadata", response, may_have_acted=False)
        except MetaError as exc:
            raise _media_error(exc) from exc
        try:
            return MetaMediaMetadata.model_validate(answer)
        except ValidationError as exc:
            raise MetaMediaUnavailable("media metadata without a url") from exc


def _media_error(exc: MetaError) -> MediaError:
    detail = f"media metadata: {exc}"
    if (exc.code is not None and exc.code in AUTH_CODES) or exc.status_code in (401, 403):
        return MetaMediaAuthError(detail)
    # Graph's answer for an id that does not exist: code 100, subcode 33.
    if exc.code == 100 and exc.subcode == 33:
        return MetaMediaExpiredOrDeleted("media id expired_or_deleted")
    if exc.retryable:
        return MetaMediaUnavailable(detail)
    return MediaRejected(detail)


def _checked(operation: str, response: httpx.Response, *, may_have_acted: bool) -> dict[str, Any]:
    status = response.status_code
    if 200 <= status < 300:
        try:
            body = response.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}
    ids = _error_ids(response)
    log.warning(
        "meta.call_failed",
        operation=operation,
        status=status,
        code=ids.code,
        subcode=ids.subcode,
        fbtrace_id=ids.fbtrace_id,
    )
    raise error_for_code(
        operation,
        ids,
        retry_after=retry_after_seconds(response),
        may_have_acted=may_have_acted,
    )


def _error_ids(response: httpx.Response) -> GraphErrorIds:
    detail = None
    with contextlib.suppress(ValueError, ValidationError):
        detail = GraphErrorBody.model_validate(response.json()).error
    if detail is None:
        return GraphErrorIds(status_code=response.status_code)
    return GraphErrorIds(
        status_code=response.status_code,
        code=detail.code,
        subcode=detail.error_subcode,
        fbtrace_id=detail.fbtrace_id,
    )
