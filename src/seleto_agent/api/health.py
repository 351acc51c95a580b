"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from seleto_agent.api.deps import RuntimeDep, check_bearer
from seleto_agent.settings import AppEnv, WhatsAppProviderName, secret

router = APIRouter()

# In prod the reason (pending migration names, the database error's class) goes to the log
# (`readyz.not_ready`), not to whoever probes the public route.
PUBLIC_NOT_READY = "not ready; see the logs"


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(runtime: RuntimeDep) -> JSONResponse | dict[str, object]:
    reason = await runtime.readiness.not_ready_reason()
    if reason is not None:
        if runtime.settings.app_env is AppEnv.PROD:
            reason = PUBLIC_NOT_READY
        return JSONResponse({"status": "not_ready", "reason": reason}, status_code=503)
    details = {"whatsapp_provider": runtime.settings.whatsapp_provider.value}
    if runtime.settings.whatsapp_provider is WhatsAppProviderName.META:
        # The pinned Graph version, so a deploy shows which one it talks to.
        details["meta_graph_version"] = runtime.settings.meta_graph_version
    return {"status": "ready", "details": details}


@router.get("/metrics")
async def metrics(request: Request, runtime: RuntimeDep) -> Response:
    if not runtime.settings.metrics_public:
        # Business volumes: Prometheus scrapes with `authorization: credentials` = ADMIN_TOKEN.
        check_bearer(request, secret(runtime.settings.admin_token), name="ADMIN_TOKEN")
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
