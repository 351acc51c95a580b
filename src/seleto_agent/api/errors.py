"""Typed API errors and the one renderer of `{"error": "<Code>", "detail": "..."}`."""

from __future__ import annotations

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from seleto_agent.domain.untrusted_json import clean_text
from seleto_agent.observability.logging import get_logger
from seleto_agent.observability.metrics import DATABASE_UNAVAILABLE

log = get_logger(__name__)


class ApiError(Exception):
    status_code = 400
    code = "BadRequest"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Unauthorized(ApiError):
    status_code = 401
    code = "Unauthorized"


class Forbidden(ApiError):
    status_code = 403
    code = "Forbidden"


class NotFound(ApiError):
    status_code = 404
    code = "NotFound"


class Conflict(ApiError):
    status_code = 409
    code = "Conflict"


class PayloadTooLarge(ApiError):
    status_code = 413
    code = "PayloadTooLarge"


class MalformedJson(ApiError):
    status_code = 400
    code = "MalformedJson"


class InvalidPayload(ApiError):
    status_code = 400
    code = "InvalidPayload"


class RateLimited(ApiError):
    status_code = 429
    code = "RateLimited"


class NotConfigured(ApiError):
    status_code = 503
    code = "NotConfigured"


def error_response(status_code: int, code: str, detail: str) -> JSONResponse:
    # A detail may quote a caller's input; a lone surrogate in it would fail the UTF-8 render.
    return JSONResponse({"error": code, "detail": clean_text(detail)}, status_code=status_code)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status_code, exc.code, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        unreadable = [e for e in exc.errors() if e.get("type") == "json_invalid"]
        if unreadable:
            reason = unreadable[0].get("ctx", {}).get("error", "not valid JSON")
            return error_response(400, "MalformedJson", f"body is not valid JSON ({reason})")
        fields = ", ".join(".".join(str(p) for p in e.get("loc", ())) for e in exc.errors())
        return error_response(422, "ValidationError", f"invalid fields: {fields}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "NotFound", 405: "MethodNotAllowed", 401: "Unauthorized"}.get(
            exc.status_code, "HttpError"
        )
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(sqlalchemy.exc.TimeoutError)
    @app.exception_handler(sqlalchemy.exc.OperationalError)
    @app.exception_handler(sqlalchemy.exc.InterfaceError)
    async def _database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
        # No free connection, or the server is down: nothing was stored, so the caller (a
        # provider re-sending a webhook, say) must come back, not give up on a 500.
        DATABASE_UNAVAILABLE.inc()
        log.error("api.database_unavailable", error=type(exc).__name__)
        response = error_response(503, "DatabaseUnavailable", "database unavailable; retry")
        response.headers["Retry-After"] = "2"
        return response

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("api.unhandled_error", error=type(exc).__name__)
        return error_response(500, "InternalError", "unexpected error; it was logged")
