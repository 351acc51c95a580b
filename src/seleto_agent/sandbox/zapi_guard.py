"""Request checks of the Z-API simulator, in the order a call goes through them.

Each check raises `ZapiRejection`, which the route records and renders as `{"error": ...}`.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from seleto_agent.sandbox.config import SandboxConfig
from seleto_agent.sandbox.zapi_state import ZapiFault, ZapiState

JsonDict = dict[str, Any]

# Digits only (DDI+DDD+number), an opaque `@lid` or a `-group` id
# ([D] message/send-message-text.md, tips/lid.md).
PHONE_PATTERN = re.compile(r"^\d+(@lid|-group)?$")
NOT_CONNECTED = "You are not connected."


class ZapiRejection(Exception):
    def __init__(self, status: int, error: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {error}")
        self.status = status
        self.error = error
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.error}, status_code=self.status, headers=self.headers)


def check_access(
    config: SandboxConfig,
    state: ZapiState,
    request: Request,
    instance_id: str,
    instance_token: str,
) -> None:
    if instance_id != config.zapi_instance_id or instance_token != config.zapi_instance_token:
        # Real status undocumented (GAP); 400 chosen.
        raise ZapiRejection(400, "Instance not found")
    knobs = state.knobs
    if (
        knobs.client_token_required
        and request.headers.get("client-token") != config.zapi_client_token
    ):
        # Body from [D] security/client-token.md; the status is a GAP, configurable.
        raise ZapiRejection(knobs.client_token_error_status, "null not allowed")


async def read_json_body(request: Request) -> JsonDict:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise ZapiRejection(415, "Content-Type must be application/json")
    try:
        body = await request.json()
    except ValueError as exc:
        raise ZapiRejection(400, "Invalid JSON body") from exc
    if not isinstance(body, dict):
        raise ZapiRejection(400, "Invalid JSON body")
    return body


def require_phone(body: JsonDict) -> str:
    phone = body.get("phone")
    if not isinstance(phone, str) or not PHONE_PATTERN.fullmatch(phone):
        raise ZapiRejection(400, "Invalid phone")
    return phone


def require_text(body: JsonDict, field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value:
        raise ZapiRejection(400, f"{field} is required")
    return value


def require_connected(state: ZapiState) -> None:
    if state.knobs.disconnected:
        raise ZapiRejection(400, NOT_CONNECTED)


def _format_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


def fault_rejection(fault: ZapiFault) -> ZapiRejection | None:
    if fault.status is None:
        return None
    headers: dict[str, str] = {}
    if fault.retry_after is not None:
        headers["Retry-After"] = _format_seconds(fault.retry_after)
    if fault.error is not None:
        message = fault.error
    elif fault.status == 500:
        message = "Internal server error"
    elif fault.status == 429:
        message = "Too many requests"
    else:
        try:
            message = HTTPStatus(fault.status).phrase
        except ValueError:
            message = "Sandbox injected failure"
    return ZapiRejection(fault.status, message, headers)


async def apply_fault(state: ZapiState, fault_key: str) -> ZapiFault:
    """Consume the next scripted fault of this endpoint: sleep, then maybe fail. Returns the
    fault (an empty one when none was queued) for what it says about an accepted call."""
    fault = state.pop_fault(fault_key)
    if fault is None:
        return ZapiFault()
    if fault.sleep_seconds > 0:
        await asyncio.sleep(fault.sleep_seconds)
    rejection = fault_rejection(fault)
    if rejection is not None:
        raise rejection
    return fault


def accepted_answer(fault: ZapiFault, *, message_id: str, zaap_id: str) -> JSONResponse:
    """The answer to a send Z-API accepted, or the broken one the fault asks for."""
    status = fault.respond_status
    if status is None:
        # `id` duplicates `messageId` "for Zapier compatibility" ([D] send-message-text).
        return JSONResponse({"zaapId": zaap_id, "messageId": message_id, "id": message_id})
    if status < 300:
        return JSONResponse({}, status_code=status)
    rejection = fault_rejection(replace(fault, status=status, retry_after=None))
    assert rejection is not None
    return rejection.response()
