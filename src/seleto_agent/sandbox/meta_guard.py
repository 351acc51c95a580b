"""Request checks of the Cloud API simulator and its Graph error answers (TEST/SANDBOX ONLY).

Every check raises `GraphRejection`, rendered as Meta's error body
`{"error": {"message", "type", "code", "error_subcode"?, "error_data"?, "fbtrace_id"}}`.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.convertors import Convertor, register_url_convertor

from seleto_agent.integrations.meta.client import is_bsuid
from seleto_agent.sandbox.config import SandboxConfig
from seleto_agent.sandbox.meta_payloads import ERROR_TITLES
from seleto_agent.sandbox.meta_state import MetaFault

JsonDict = dict[str, Any]

PHONE_PATTERN = re.compile(r"^\+?\d{8,15}$")
MAX_TEXT_CHARS = 4096


class GraphVersion(Convertor[str]):
    """`v25.0`-style path segment. Only these paths are Graph's, so `/v1/...` (PipeRun, the
    scripted model) never reaches the Cloud API routes."""

    regex = r"v\d+\.\d+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("graph_version", GraphVersion())

# HTTP status Meta answers with each code (contracts 2026 §2.12; YCloud mirrors Meta's table).
HTTP_STATUS_OF_CODE: dict[int, int] = {190: 401, 130429: 429, 131000: 500, 131016: 503, 2: 503}
_TYPES: dict[int, str] = {190: "OAuthException", 100: "OAuthException"}


class GraphRejection(Exception):
    def __init__(
        self,
        code: int,
        message: str,
        *,
        status: int | None = None,
        subcode: int | None = None,
        details: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.status = status or HTTP_STATUS_OF_CODE.get(code, 400)
        self.message = message
        self.subcode = subcode
        self.details = details
        self.retry_after = retry_after

    def body(self) -> JsonDict:
        error: JsonDict = {
            "message": self.message,
            "type": _TYPES.get(self.code, "OAuthException" if self.code < 1000 else "GraphAPI"),
            "code": self.code,
            "fbtrace_id": secrets.token_urlsafe(12),
        }
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.details is not None:
            error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        return {"error": error}

    def response(self) -> JSONResponse:
        headers = {}
        if self.retry_after is not None:
            headers["Retry-After"] = f"{self.retry_after:g}"
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def fault_rejection(fault: MetaFault) -> GraphRejection | None:
    if fault.status is None:
        return None
    code = fault.code if fault.code is not None else (131000 if fault.status >= 500 else 100)
    title = ERROR_TITLES.get(code, "Sandbox injected failure")
    return GraphRejection(
        code,
        f"({code}) {title}",
        status=fault.status,
        subcode=fault.subcode,
        details=title,
        retry_after=fault.retry_after,
    )


def require_bearer(config: SandboxConfig, request: Request) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise GraphRejection(190, "Invalid OAuth access token - Cannot parse access token")
    if token != config.meta_access_token:
        raise GraphRejection(190, "Error validating access token", subcode=463)


def unknown_object(object_id: str, method: str) -> GraphRejection:
    """Graph's answer for an id it does not know (or may not see)."""
    return GraphRejection(
        100,
        f"Unsupported {method} request. Object with ID '{object_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation.",
        subcode=33,
    )


async def read_json(request: Request) -> JsonDict:
    try:
        body = await request.json()
    except ValueError as exc:
        raise GraphRejection(100, "(#100) Invalid JSON body") from exc
    if not isinstance(body, dict):
        raise GraphRejection(100, "(#100) Invalid JSON body")
    return body


def invalid(parameter: str, details: str | None = None) -> GraphRejection:
    return GraphRejection(
        100, "(#100) Invalid parameter", details=details or f"Parameter {parameter} is invalid"
    )


def require_messaging_product(body: JsonDict) -> None:
    if body.get("messaging_product") != "whatsapp":
        raise GraphRejection(
            100,
            "(#100) The parameter messaging_product is required.",
            details="messaging_product must be whatsapp",
        )


def recipient_of(body: JsonDict) -> tuple[str, bool]:
    """The addressee and whether the message will silently vanish (a BSUID put in `to`)."""
    to, recipient = body.get("to"), body.get("recipient")
    if to is not None and recipient is not None:
        raise invalid("to", "Use either to or recipient, not both")
    if recipient is not None:
        if not isinstance(recipient, str) or not is_bsuid(recipient):
            raise invalid("recipient", "recipient must be a business-scoped user id")
        return recipient, False
    if to is None:
        raise GraphRejection(
            131008, "(#131008) Required parameter is missing", details="Parameter to is required"
        )
    if not isinstance(to, str):
        raise invalid("to")
    if is_bsuid(to):
        # ChatbotX PR #965: "sending a BSUID in `to` is silently dropped by Meta".
        return to, True
    if not PHONE_PATTERN.fullmatch(to):
        raise invalid("to", "Parameter to must be a phone number")
    return to.lstrip("+"), False


def require_text(body: JsonDict) -> str:
    text = body.get("text")
    content = text.get("body") if isinstance(text, dict) else None
    if not isinstance(content, str) or not content:
        raise GraphRejection(
            131008, "(#131008) Required parameter is missing", details="text.body is required"
        )
    if len(content) > MAX_TEXT_CHARS:
        raise invalid("text.body", f"text.body must be at most {MAX_TEXT_CHARS} characters")
    return content


def require_reference(body: JsonDict) -> str | None:
    reference = body.get("biz_opaque_callback_data")
    if reference is None:
        return None
    if not isinstance(reference, str) or len(reference) > 512:
        raise invalid("biz_opaque_callback_data", "at most 512 characters")
    return reference
