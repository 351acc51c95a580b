"""PipeRun CRM API simulator at the real paths `/v1/...` (contracts/piperun.md §6).

Each request passes, in order: the request log, `down` mode, the `token` header check, the
rate limit, the next matching scripted fault, then the endpoint itself under the state lock.
A client reaches it with `PIPERUN_BASE_URL=<sandbox>/v1` and the token in `SandboxConfig`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from seleto_agent.sandbox.context import SandboxContext
from seleto_agent.sandbox.piperun_protocol import Call, Handler, Refusal, Reply, as_int, failure
from seleto_agent.sandbox.piperun_resources import ROUTES
from seleto_agent.sandbox.piperun_state import PipeRunFault, PipeRunState

JsonDict = dict[str, Any]

PREFIX = "/v1"
MALFORMED_JSON = "Malformed JSON."
_REDACTED = "<redacted>"
# What a gateway in front of PipeRun answers when the app behind it is gone: HTML, not JSON.
_GATEWAY_PAGE = (
    "<html>\r\n<head><title>{code} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


def build_piperun_router(ctx: SandboxContext) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["sandbox: piperun"])
    for method, path, handler in ROUTES:
        router.add_api_route(path, _endpoint(ctx, method, handler), methods=[method])
    return router


def _endpoint(
    ctx: SandboxContext, method: str, handler: Handler
) -> Callable[[Request], Awaitable[Response]]:
    piperun = ctx.state.piperun

    async def endpoint(request: Request) -> Response:
        raw = await request.body()
        body, malformed = _parse_body(raw)
        seq = piperun.record_request(
            {
                "method": method,
                "path": request.url.path,
                "query": dict(request.query_params),
                "headers": {
                    name: _REDACTED if name.lower() == "token" else value
                    for name, value in request.headers.items()
                },
                "body": body if raw else None,
                "raw_body": raw.decode("utf-8", errors="replace")[:2000] if malformed else None,
            }
        )
        call = Call(
            query=dict(request.query_params),
            body=body,
            record_id=as_int(request.path_params.get("id")),
            knobs=piperun.knobs,
        )
        response = await _serve(ctx, request, method, handler, call, malformed=malformed)
        piperun.finish_request(seq, response.status_code)
        return response

    return endpoint


def _parse_body(raw: bytes) -> tuple[JsonDict, bool]:
    if not raw.strip():
        return {}, False
    try:
        body = json.loads(raw)
    except ValueError:
        return {}, True
    return (body, False) if isinstance(body, dict) else ({}, True)


async def _serve(
    ctx: SandboxContext,
    request: Request,
    method: str,
    handler: Handler,
    call: Call,
    *,
    malformed: bool,
) -> Response:
    piperun = ctx.state.piperun
    knobs = call.knobs
    if knobs.down:
        return _json(failure(503, "Service Unavailable"))
    # Header names are case-insensitive: real clients send `token` and `Token` (piperun.md §1).
    if request.headers.get("token") != ctx.config.piperun_token:
        return _json(failure(knobs.auth_error_status, "Unauthenticated"))
    retry_after = piperun.take_rate_slot()
    if retry_after is not None:
        # Laravel's throttle answer: its text, Retry-After in whole seconds, the limit headers.
        headers = {
            "Retry-After": str(retry_after),
            "X-RateLimit-Limit": str(knobs.rate_limit_per_minute),
            "X-RateLimit-Remaining": "0",
        }
        return _json(failure(429, "Too Many Attempts."), headers)
    fault = piperun.pop_fault(method, request.url.path.removeprefix(PREFIX))
    if fault is not None and not fault.after_commit:
        await _sleep(fault.delay_seconds)
        if fault.status is not None:
            return _fault_response(fault)
    reply = _run(piperun, handler, call, malformed=malformed and method in ("POST", "PUT"))
    if fault is not None and fault.after_commit:
        await _sleep(fault.delay_seconds)
        if fault.status is not None:
            return _fault_response(fault)
    if fault is not None and fault.truncated:
        text = json.dumps(reply.body, ensure_ascii=False)
        return Response(
            text[: len(text) // 2], status_code=reply.status, media_type="application/json"
        )
    return _json(reply)


def _run(piperun: PipeRunState, handler: Handler, call: Call, *, malformed: bool) -> Reply:
    if malformed:
        # piperun.md §3: the one 422 without `data`.
        return failure(422, MALFORMED_JSON)
    with piperun.transaction() as store:
        try:
            return handler(store, call)
        except Refusal as refusal:
            return refusal.reply


async def _sleep(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)


def _json(reply: Reply, headers: dict[str, str] | None = None) -> Response:
    if reply.status == 204:
        # HTTP: a 204 carries no body.
        return Response(status_code=204, headers=headers)
    return JSONResponse(reply.body, status_code=reply.status, headers=headers)


def _fault_response(fault: PipeRunFault) -> Response:
    status = fault.status or 500
    headers: dict[str, str] = {}
    if fault.retry_after is not None:
        seconds = fault.retry_after
        headers["Retry-After"] = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
    if isinstance(fault.body, str):
        return Response(fault.body, status_code=status, headers=headers, media_type="text/html")
    if fault.body is not None:
        return JSONResponse(fault.body, status_code=status, headers=headers)
    phrase = _phrase(status)
    if status in (502, 504):
        page = _GATEWAY_PAGE.format(code=status, phrase=phrase)
        return Response(page, status_code=status, headers=headers, media_type="text/html")
    message = {500: "Server Error", 429: "Too Many Attempts."}.get(status, phrase)
    return _json(failure(status, message), headers)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Sandbox injected failure"
