"""Request-scoped access to the runtime, and the shared body/token helpers of the edge."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from seleto_agent.api.errors import PayloadTooLarge, Unauthorized
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


async def read_body_limited(request: Request, limit: int) -> bytes:
    """The raw body, refusing (413) past `limit` bytes without reading the rest."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
