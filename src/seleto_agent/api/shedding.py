"""Load shedding on the webhook routes: past INGEST_MAX_INFLIGHT requests in flight, a 503 with
`Retry-After` at once.

A provider that gets a 503 re-sends the webhook later (Z-API and Meta both retry on non-2xx),
and nothing was accepted, so nothing is lost; a queue without a bound would instead hold
connections until clients or proxies drop them. Pure ASGI and first in the chain: a shed
request costs neither a body read nor a route lookup (uvicorn discards the unread body and keeps
the connection usable: tests/pipeline/test_backpressure.py).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from seleto_agent.api.errors import error_response
from seleto_agent.observability.metrics import WEBHOOKS_SHED

SHED_PREFIX = "/webhooks/"
# Seconds a shed provider is asked to wait; a burst is usually over by then.
RETRY_AFTER_SECONDS = 1


class LoadShedMiddleware:
    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.inflight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(SHED_PREFIX):
            await self.app(scope, receive, send)
            return
        if self.inflight >= self.limit:
            WEBHOOKS_SHED.inc()
            response = error_response(
                503, "Overloaded", "too many webhooks in flight; retry shortly"
            )
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            await response(scope, receive, send)
            return
        self.inflight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.inflight -= 1
