"""One circuit breaker per process in front of PipeRun, built on the `circuitbreaker` library.

While PipeRun is down every CRM job would otherwise spend its timeout (20 s) on a dead socket
and pile retries on a service that is trying to recover. After `failure_threshold` consecutive
transient failures the circuit opens: calls fail at once with `PipeRunCircuitOpen` carrying the
seconds left, and the outbox parks the job until then. After `recovery_timeout` one probe call
goes through (half-open); its success closes the circuit, its failure opens it again.

Only server-side trouble counts (5xx, timeouts, network errors, garbled answers). A 4xx means
PipeRun is up and answering, so it counts as a success; a 429 says nothing about its health
and counts as neither.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from enum import StrEnum

from circuitbreaker import CircuitBreaker

from seleto_agent.integrations.piperun.errors import (
    PipeRunCircuitOpen,
    PipeRunError,
    PipeRunRateLimited,
    PipeRunUnavailable,
)
from seleto_agent.observability.logging import get_logger
from seleto_agent.observability.metrics import PIPERUN_CIRCUIT_OPEN

log = get_logger(__name__)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class _TransientFailure(Exception):
    """Raised inside the library's context manager so it counts one failure."""


class PipeRunBreaker:
    def __init__(
        self, *, failure_threshold: int, recovery_timeout: float, name: str = "piperun"
    ) -> None:
        if failure_threshold < 1 or recovery_timeout <= 0:
            raise ValueError("failure_threshold must be >= 1 and recovery_timeout > 0")
        self._circuit = CircuitBreaker(
            failure_threshold=failure_threshold,
            recovery_timeout=recovery_timeout,
            expected_exception=_TransientFailure,
            name=name,
        )
        self._recovery_timeout = recovery_timeout
        # The library keeps its opening time private and rounds what it exposes to whole
        # seconds; our own copy gives callers an exact `retry_after`.
        self._opened_at = 0.0
        self._probe_in_flight = False
        # The library is not thread-safe; the runtime may call from several threads.
        self._lock = threading.Lock()

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return BreakerState(self._circuit.state)

    @property
    def failure_count(self) -> int:
        with self._lock:
            return int(self._circuit.failure_count)

    @contextlib.contextmanager
    def attempt(self) -> Iterator[None]:
        """Guard one HTTP request: refuse it while open, then record how it went."""
        self._admit()
        try:
            yield
        except PipeRunRateLimited:
            self._settle(failed=None)
            raise
        except PipeRunUnavailable:
            self._settle(failed=True)
            raise
        except PipeRunError:
            self._settle(failed=False)
            raise
        except BaseException:
            # A cancelled call or a bug on our side says nothing about PipeRun's health.
            self._settle(failed=None)
            raise
        self._settle(failed=False)

    def _admit(self) -> None:
        with self._lock:
            state = self._circuit.state
            if state == BreakerState.OPEN:
                raise PipeRunCircuitOpen(
                    "PipeRun circuit open; call refused", retry_after=self._remaining()
                )
            if state == BreakerState.HALF_OPEN:
                if self._probe_in_flight:
                    # One probe at a time: a still-sick PipeRun gets one request, not a burst.
                    raise PipeRunCircuitOpen("PipeRun circuit half-open; probe in flight")
                self._probe_in_flight = True

    def _settle(self, *, failed: bool | None) -> None:
        with self._lock:
            self._probe_in_flight = False
            if failed is None:
                return
            # The library counts failures and resets only through its context manager.
            with contextlib.suppress(_TransientFailure), self._circuit:
                if failed:
                    raise _TransientFailure
            is_open = self._circuit.state == BreakerState.OPEN
            if failed and is_open:
                self._opened_at = time.monotonic()
                log.warning(
                    "piperun.circuit.opened",
                    failures=self._circuit.failure_count,
                    retry_in_seconds=self._recovery_timeout,
                )
            elif not failed and self._opened_at:
                self._opened_at = 0.0
                log.info("piperun.circuit.closed")
            PIPERUN_CIRCUIT_OPEN.set(1 if is_open else 0)

    def _remaining(self) -> float:
        if self._circuit.state != BreakerState.OPEN:
            return 0.0
        return max(self._opened_at + self._recovery_timeout - time.monotonic(), 0.0)
