"""OpenAI speech-to-text: `POST {OPENAI_BASE_URL}/audio/transcriptions` (multipart).

Called over our shared httpx client rather than the `openai` SDK so the timeout, the retries
and the error classes are ours, and so `OPENAI_BASE_URL` (the sandbox's scripted model in tests
and demos) is honoured the same way as for chat. The audio is sent from memory.
"""

from __future__ import annotations

import httpx
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
)

from seleto_agent.integrations.http_retry import RetryAfterWait, retry_after_seconds

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Quick in-call retries ride out a blip; a longer outage is the worker's backoff's job.
_IN_CALL_ATTEMPTS = 3
# OpenAI answers these when the file or the parameters are wrong: retrying cannot help.
_REJECTED_STATUSES = frozenset({400, 413, 415, 422})


class TranscriptionError(Exception):
    """A transcription failed. `retryable`: another call later may succeed."""

    retryable = True

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class TranscriptionUnavailable(TranscriptionError):
    """Network failure, timeout, 429, 5xx, or an auth/model error an operator must fix."""

    def __init__(
        self, message: str, *, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class TranscriptionRejected(TranscriptionError):
    """The API refused this audio (bad or corrupt file, too large for it)."""

    retryable = False


class OpenAIAudioClient:
    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        api_key: str | None,
        base_url: str | None,
        timeout_seconds: float,
        retry_wait_initial_seconds: float = 0.2,
        retry_wait_max_seconds: float = 2.0,
    ) -> None:
        self._http = http
        self._url = f"{(base_url or DEFAULT_BASE_URL).rstrip('/')}/audio/transcriptions"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = httpx.Timeout(timeout_seconds, connect=5.0)
        self._wait = RetryAfterWait(
            initial=retry_wait_initial_seconds,
            maximum=retry_wait_max_seconds,
            jitter=retry_wait_initial_seconds,
        )

    async def create_transcription(
        self, *, audio: bytes, filename: str, content_type: str, model: str, language: str
    ) -> str:
        """The transcript's text (possibly empty: judging it is the caller's job)."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(_IN_CALL_ATTEMPTS),
            wait=self._wait,
            retry=retry_if_exception(lambda exc: isinstance(exc, TranscriptionUnavailable)),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._post(audio, filename, content_type, model, language)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _post(
        self, audio: bytes, filename: str, content_type: str, model: str, language: str
    ) -> str:
        try:
            response = await self._http.post(
                self._url,
                headers=self._headers,
                data={"model": model, "language": language, "response_format": "json"},
                files={"file": (filename, audio, content_type)},
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            raise TranscriptionUnavailable(f"request failed: {type(exc).__name__}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return _text_of(response)
        error = _error_text(response)
        if status in _REJECTED_STATUSES:
            raise TranscriptionRejected(f"HTTP {status}: {error}", status_code=status)
        # 401/403/404 (bad key, unknown model) stay retryable: they are fixed by an operator,
        # and the turn falls back to asking the lead to type once its attempts run out.
        raise TranscriptionUnavailable(
            f"HTTP {status}: {error}", status_code=status, retry_after=retry_after_seconds(response)
        )


def _text_of(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError as exc:
        raise TranscriptionUnavailable("response is not JSON") from exc
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str):
        raise TranscriptionUnavailable("response has no text field")
    return text


def _error_text(response: httpx.Response) -> str:
    """The API's error message, cut short; OpenAI's errors never echo the audio or transcript."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message") or body["error"])[:200]
    return str(body)[:200]
