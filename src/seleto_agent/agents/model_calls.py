"""What the model's HTTP calls answered during one agent run.

Agno turns every OpenAI failure into a failed run whose only trace is a message string; the
HTTP status is what tells an outage (429, 5xx, no answer at all: wait it out) from a request
that will never work (401, 400: a person must look). An httpx response hook on the model's own
client writes into the run's record, found through a context variable the runner sets.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field

import httpx

from seleto_agent.integrations.http_retry import retry_after_seconds


@dataclass(slots=True)
class ModelCalls:
    requests: int = 0
    statuses: list[int] = field(default_factory=list)
    retry_after: float | None = None

    @property
    def outage(self) -> bool:
        """A request went out and got no answer (a timeout, a refused connection), a rate
        limit or a server error. No request at all (no API key) is a configuration error."""
        if self.requests == 0:
            return False
        if len(self.statuses) < self.requests:
            return True
        last = self.statuses[-1]
        return last == 429 or last >= 500


current_calls: contextvars.ContextVar[ModelCalls | None] = contextvars.ContextVar(
    "model_calls", default=None
)


async def record_request(request: httpx.Request) -> None:
    calls = current_calls.get()
    if calls is not None:
        calls.requests += 1


async def record_response(response: httpx.Response) -> None:
    calls = current_calls.get()
    if calls is None:
        return
    calls.statuses.append(response.status_code)
    if response.status_code == 429 or response.status_code >= 500:
        calls.retry_after = retry_after_seconds(response)
