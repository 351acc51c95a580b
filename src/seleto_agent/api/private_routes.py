"""In prod, AgentOS's landing routes (`/`, `/health`, `/info`) need the OS security key too.

AgentOS always exempts them from its own auth (agno/os/app.py builds that list itself), and
`/info` tells anyone the Agno version, the auth mode and the agent count. Our probes are
`/healthz` and `/readyz`; the AgentOS control plane sends the key anyway.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from seleto_agent.api.errors import Unauthorized, error_response

AGENTOS_LANDING_PATHS = frozenset({"/", "/health", "/info"})


class AgentOSLandingGuard:
    def __init__(self, app: ASGIApp, *, key: str | None) -> None:
        self.app = app
        # No key: nothing matches (fail closed), as for every other secret of ours.
        self._expected = f"Bearer {key}".encode() if key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in AGENTOS_LANDING_PATHS:
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if self._expected is None or not hmac.compare_digest(given, self._expected):
                response = error_response(
                    Unauthorized.status_code, Unauthorized.code, "invalid or missing token"
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
