"""Request-scoped access to the runtime, and the shared token check of the edge."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from seleto_agent.api.errors import NotConfigured, Unauthorized
from seleto_agent.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    # async so FastAPI does not hop to its thread pool for a dictionary lookup.
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def check_token(given: str, expected: str | None) -> None:
    """Constant-time comparison; an unset secret refuses everything (fail closed)."""
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("invalid or missing token")


def check_bearer(request: Request, expected: str | None, *, name: str) -> None:
    """`Authorization: Bearer <expected>`; 503 when the secret `name` is not configured."""
    if not expected:
        raise NotConfigured(f"{name} is not set; this route is disabled")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    check_token(token.strip() if scheme.lower() == "bearer" else "", expected)
