"""Provider webhooks on a FastAPI app of their own, beside AgentOS rather than inside it.

AgentOS wraps its app in CORS, a trailing-slash rewrite (a `BaseHTTPMiddleware`, which runs the
rest of the request in a task of its own) and its run-authorization check; none of them means
anything for a provider's server-to-server POST, and together they cost about as much CPU as
storing the event (bench/ack_breakdown.py). Our own middleware (shedding, access log, per-IP
limit, body limit) still wraps both apps.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from seleto_agent.api.errors import install_error_handlers
from seleto_agent.api.webhooks import chatwoot, meta, zapi
from seleto_agent.runtime import Runtime

PREFIX = "/webhooks/"


def include_webhook_routes(app: FastAPI) -> None:
    app.include_router(zapi.router)
    app.include_router(meta.router)
    app.include_router(chatwoot.router)


def build_webhook_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.runtime = runtime
    install_error_handlers(app)
    include_webhook_routes(app)
    return app


class WebhookDispatch:
    """Pure ASGI: `/webhooks/...` to the webhook app, everything else to the main app."""

    def __init__(self, app: ASGIApp, *, webhooks: ASGIApp) -> None:
        self.app = app
        self.webhooks = webhooks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        if path.endswith("/"):
            # What AgentOS's rewrite did for these routes: a URL pasted with a trailing slash.
            # In place: the access log reads the matched route from this same scope.
            scope["path"] = path.rstrip("/")
        await self.webhooks(scope, receive, send)
