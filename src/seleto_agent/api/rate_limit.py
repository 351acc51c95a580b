"""Per-address request limit on the public routes (RATE_LIMIT_PER_IP_PER_MINUTE), per process.

Counted in a fixed one-minute window per client address with the `limits` library, in memory:
each process counts alone, so N processes let through up to N times the figure (enough against
one address hammering /readyz, the admin API or the AgentOS routes; redteam M5). Past it: 429
with `Retry-After` (seconds until the window ends) in the usual `{"error", "detail"}` shape.

Not limited:
- `/webhooks/*`: Z-API and Meta deliver from a few addresses in bursts, and Z-API documents
  no redelivery of a refused callback (contracts: Z-API §4), so a 429 there could lose a lead's
  message; no figure is safe for every burst from every address. Every webhook
  call is authenticated (a path token or an HMAC of the body) with secrets of at least 32
  random characters in prod (C29), out of reach of online guessing, and costs one cheap check
  when wrong.
- `/healthz`: the liveness probe; a 429 there would get a healthy process restarted.

The address is the connection's peer, or the one uvicorn takes from `X-Forwarded-For` when the
proxy is listed in FORWARDED_ALLOW_IPS; behind a proxy that is not listed, every client shares
the proxy's address and budget (RUNBOOK §14).
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import FixedWindowRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from seleto_agent.api.errors import RateLimited, error_response
from seleto_agent.observability.metrics import RATE_LIMITED

EXEMPT_PREFIXES = ("/webhooks/",)
EXEMPT_PATHS = frozenset({"/healthz"})


def is_limited(path: str) -> bool:
    return path not in EXEMPT_PATHS and not path.startswith(EXEMPT_PREFIXES)


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, *, per_minute: int) -> None:
        self.app = app
        self._item = RateLimitItemPerMinute(per_minute)
        self._limiter = FixedWindowRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_limited(scope["path"]):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else "unknown"
        if await self._limiter.hit(self._item, address):
            await self.app(scope, receive, send)
            return
        stats = await self._limiter.get_window_stats(self._item, address)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        RATE_LIMITED.inc()
        response = error_response(
            RateLimited.status_code,
            RateLimited.code,
            f"more than {self._item.amount} requests a minute from this address; "
            f"retry in {retry_after} s",
        )
        response.headers["Retry-After"] = str(retry_after)
        await response(scope, receive, send)
