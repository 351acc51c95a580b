"""Correlation id, access log and latency histogram per request (route templates only: paths
may hold tokens)."""

from __future__ import annotations

import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seleto_agent.observability.logging import get_logger
from seleto_agent.observability.metrics import HTTP_SECONDS

log = get_logger("seleto_agent.access")

_REQUEST_ID_HEADER = b"x-request-id"


class RequestContextMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware) to keep the webhook ack path cheap."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Latin-1 as Starlette reads headers: any bytes decode, a caller cannot make this raise.
        incoming = dict(scope.get("headers") or []).get(_REQUEST_ID_HEADER, b"").decode("latin-1")
        request_id = incoming[:64] if incoming.isprintable() and incoming else uuid.uuid4().hex
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = list(message.get("headers") or [])
                headers.append((_REQUEST_ID_HEADER, request_id.encode()))
                message["headers"] = headers
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                route = getattr(scope.get("route"), "path", "unmatched")
                seconds = time.perf_counter() - started
                HTTP_SECONDS.labels(route, str(status_holder["status"])).observe(seconds)
                log.info(
                    "http.request",
                    method=scope.get("method"),
                    route=route,
                    status=status_holder["status"],
                    ms=round(seconds * 1000, 2),
                )
