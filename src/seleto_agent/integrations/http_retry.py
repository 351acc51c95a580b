"""Retry timing shared by the vendor clients: honour a server's Retry-After, within a cap."""

from __future__ import annotations

import httpx
from tenacity import RetryCallState, wait_exponential_jitter

# A longer Retry-After is left to the worker's backoff instead of holding the turn.
MAX_RETRY_AFTER_SECONDS = 5.0


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The `Retry-After` header in seconds (the delta form vendors send), or None."""
    try:
        return max(float(response.headers.get("retry-after", "")), 0.0)
    except ValueError:
        return None


class RetryAfterWait:
    """A tenacity wait: the failed call's `retry_after` (capped) when the server gave one,
    else jittered exponential backoff."""

    def __init__(self, *, initial: float, maximum: float, jitter: float = 1.0) -> None:
        self._backoff = wait_exponential_jitter(multiplier=initial, max=maximum, jitter=jitter)

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, int | float):
            return min(float(retry_after), MAX_RETRY_AFTER_SECONDS)
        return float(self._backoff(state))
