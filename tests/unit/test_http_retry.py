"""The retry timing every vendor client shares."""

from __future__ import annotations

import httpx
from tenacity import RetryCallState

from seleto_agent.integrations.http_retry import (
    MAX_RETRY_AFTER_SECONDS,
    RetryAfterWait,
    retry_after_seconds,
)


class _Unavailable(Exception):
    def __init__(self, retry_after: float | None) -> None:
        super().__init__("unavailable")
        self.retry_after = retry_after


def _state(exc: BaseException, attempt: int = 1) -> RetryCallState:
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = attempt
    state.set_exception((type(exc), exc, None))
    return state


def test_retry_after_header_is_read_in_seconds() -> None:
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "2"})) == 2.0
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "-3"})) == 0.0
    assert retry_after_seconds(httpx.Response(429)) is None
    # The HTTP-date form is not what these vendors send; it falls back to backoff.
    date = "Wed, 21 Oct 2026 07:28:00 GMT"
    assert retry_after_seconds(httpx.Response(503, headers={"Retry-After": date})) is None


def test_wait_honours_retry_after_within_the_cap() -> None:
    wait = RetryAfterWait(initial=0.2, maximum=2.0)
    assert wait(_state(_Unavailable(1.5))) == 1.5
    assert wait(_state(_Unavailable(60))) == MAX_RETRY_AFTER_SECONDS


def test_wait_without_retry_after_backs_off_within_the_maximum() -> None:
    wait = RetryAfterWait(initial=0.2, maximum=2.0, jitter=0.0)
    assert wait(_state(_Unavailable(None), attempt=1)) == 0.2
    assert wait(_state(_Unavailable(None), attempt=2)) == 0.4
    assert wait(_state(RuntimeError("network"), attempt=10)) == 2.0
