"""`POST /webhooks/zapi/{token}`: store first, answer in milliseconds, never wait for the agent."""

from __future__ import annotations

from fastapi import APIRouter, Request

from seleto_agent.api.deps import RuntimeDep, check_token
from seleto_agent.api.webhooks.body import json_object
from seleto_agent.integrations.zapi.adapter import PROVIDER, ZApiLine, classify
from seleto_agent.settings import secret

router = APIRouter()


@router.post("/webhooks/zapi/{token}")
async def zapi_webhook(token: str, request: Request, runtime: RuntimeDep) -> dict[str, str]:
    settings = runtime.settings
    check_token(token, secret(settings.zapi_webhook_token))
    # At most MAX_BODY_BYTES: api/body_limit.py answered 413 before this route for more.
    raw = await request.body()
    body = await json_object(runtime.ingest, provider=PROVIDER, raw=raw)
    line = ZApiLine(settings.zapi_instance_id, settings.zapi_connected_phone)
    outcome = await runtime.ingest.ingest(raw=raw, classified=classify(body, line))
    return {"status": outcome.value}
