"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from seleto_agent.api.deps import RuntimeDep
from seleto_agent.db.migrate import MigrationError, pending_versions
from seleto_agent.observability.logging import get_logger

router = APIRouter()
log = get_logger(__name__)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(runtime: RuntimeDep) -> JSONResponse | dict[str, str]:
    try:
        async with runtime.engine.connect() as conn:
            await conn.execute(text("select 1"))
            pending = await pending_versions(conn, runtime.settings.migrations_dir)
    except MigrationError as exc:
        return JSONResponse({"status": "not_ready", "reason": str(exc)}, status_code=503)
    except Exception as exc:
        log.warning("readyz.database_unavailable", error=type(exc).__name__)
        return JSONResponse(
            {"status": "not_ready", "reason": f"database unavailable ({type(exc).__name__})"},
            status_code=503,
        )
    if pending:
        return JSONResponse(
            {"status": "not_ready", "reason": f"migrations pending: {', '.join(pending)}"},
            status_code=503,
        )
    return {"status": "ready"}


@router.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
