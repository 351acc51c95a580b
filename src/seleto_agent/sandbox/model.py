"""Scripted OpenAI-compatible chat model (TEST/SANDBOX ONLY, reported as `sandbox-scripted`).

`POST /v1/chat/completions` answers non-streaming requests with, in order of precedence:
the next reply scripted via `POST /_sandbox/model/script` with a `match` marker contained in
the request's last user message (keyed scripts, one queue per marker, so conversations that
run at the same time keep their own scripts); the next unkeyed scripted reply (one global
queue); a short pt-BR acknowledgement when the last message is a tool result; otherwise a
fixed rule-based pt-BR reply. A scripted reply may hold several tool calls, returned in one
response the way a real model asks for parallel calls. It is a stand-in for tests and demos,
not a language model.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from seleto_agent.sandbox.context import SandboxContext
from seleto_agent.sandbox.model_replies import (
    TOOL_ACKNOWLEDGEMENT,
    ScriptedReply,
    completion_body,
    error_body,
    estimate_tokens,
    last_role,
    last_user_text,
    prompt_text,
    render_tool_call,
    rule_based_reply,
    step_in_run,
)
from seleto_agent.sandbox.model_state import ModelState

JsonDict = dict[str, Any]


class ScriptRequest(BaseModel):
    replies: list[ScriptedReply] = Field(min_length=1)
    # Only requests whose last user message contains this text get these replies.
    match: str | None = Field(default=None, min_length=1)
    # With `match`: keep the replies and answer every run of that turn with them, by step (a
    # run retried after a worker crash gets the same tool calls and text again).
    repeat: bool = False


class ModelFaultsRequest(BaseModel):
    """Only the fields sent change; `fail_always` stays until set to false or reset."""

    fail_next: int | None = Field(default=None, ge=0)
    fail_always: bool | None = None
    status: int | None = Field(default=None, ge=400, le=599)
    delay_seconds: float | None = Field(default=None, ge=0)
    delay_next: int | None = Field(default=None, ge=0)
    # Sent as `Retry-After` with every injected failure (OpenAI does on 429s).
    retry_after: float | None = Field(default=None, ge=0)


def _invalid(message: str) -> JSONResponse:
    return JSONResponse(error_body(message, "invalid_request_error"), status_code=400)


def _next_message(
    model: ModelState, messages: list[JsonDict]
) -> tuple[JsonDict, Literal["stop", "tool_calls"]]:
    scripted = model.pop_for(last_user_text(messages), step=step_in_run(messages))
    if scripted is not None:
        message: JsonDict = {"role": "assistant", "content": scripted.content}
        if scripted.tool_calls:
            message["tool_calls"] = [
                render_tool_call(call, model.next_tool_call_id()) for call in scripted.tool_calls
            ]
            return message, "tool_calls"
        return message, "stop"
    if last_role(messages) == "tool":
        return {"role": "assistant", "content": TOOL_ACKNOWLEDGEMENT}, "stop"
    return {"role": "assistant", "content": rule_based_reply(messages)}, "stop"


def build_model_router(ctx: SandboxContext) -> APIRouter:
    router = APIRouter(tags=["sandbox: model"])
    model = ctx.state.model

    @router.post("/v1/chat/completions", response_model=None)
    async def chat_completions(request: Request) -> JSONResponse:
        # Any `Authorization: Bearer ...` is accepted; the sandbox has no keys.
        try:
            body = await request.json()
        except ValueError:
            return _invalid("request body must be JSON")
        if not isinstance(body, dict):
            return _invalid("request body must be a JSON object")
        model.record_request(body)
        if body.get("stream"):
            return _invalid("streaming not supported by the sandbox model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            return _invalid("`messages` must be a list of objects")
        plan = model.take_fault_plan()
        if plan.delay_seconds > 0:
            await asyncio.sleep(plan.delay_seconds)
        if plan.fail_status is not None:
            kind = "rate_limit_exceeded" if plan.fail_status == 429 else "server_error"
            headers = (
                {"Retry-After": f"{plan.retry_after:g}"} if plan.retry_after is not None else None
            )
            return JSONResponse(
                error_body("sandbox injected failure", kind),
                status_code=plan.fail_status,
                headers=headers,
            )
        message, finish_reason = _next_message(model, messages)
        return JSONResponse(
            completion_body(
                completion_id=model.next_completion_id(),
                message=message,
                finish_reason=finish_reason,
                prompt_tokens=estimate_tokens(prompt_text(body)),
            )
        )

    @router.post("/_sandbox/model/script", tags=["sandbox: control"], response_model=None)
    async def push_script(request: ScriptRequest) -> JsonDict | JSONResponse:
        # `queued` counts the queue the replies joined: the marker's, or the unkeyed one.
        if request.repeat:
            if request.match is None:
                return _invalid("`repeat` needs a `match` marker")
            return {"queued": model.set_repeating(request.match, request.replies)}
        if request.match is not None:
            return {"queued": model.push_keyed(request.match, request.replies)}
        return {"queued": model.push_script(request.replies)}

    @router.post("/_sandbox/model/faults", tags=["sandbox: control"])
    async def set_faults(request: ModelFaultsRequest) -> JsonDict:
        changes = request.model_dump(exclude_none=True)
        model.update_faults(**changes)
        faults: JsonDict = model.snapshot()["faults"]
        return faults

    return router
