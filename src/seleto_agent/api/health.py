"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

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
            try:
                pending = await pending_versions(conn, runtime.settings.migrations_dir)
            except SQLAlchemyError:
                return _not_ready("migrations not applied: run `seleto-agent migrate`")
    except MigrationError as exc:
        return _not_ready(str(exc))
    except Exception as exc:
        log.warning("readyz.database_unavailable", error=type(exc).__name__)
        return _not_ready(f"database unavailable ({type(exc).__name__})")
    if pending:
        return _not_ready(f"migrations pending: {', '.join(pending)}")
    return {"status": "ready"}


def _not_ready(reason: str) -> JSONResponse:
    return JSONResponse({"status": "not_ready", "reason": reason}, status_code=503)


@router.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
