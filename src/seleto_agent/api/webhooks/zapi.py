"""`POST /webhooks/zapi/{token}`: store first, answer in milliseconds, never wait for the agent."""

from __future__ import annotations

from fastapi import APIRouter, Request

from seleto_agent.api.deps import RuntimeDep, check_token
from seleto_agent.api.errors import InvalidPayload, MalformedJson
from seleto_agent.domain.untrusted_json import UnreadableJson, loads
from seleto_agent.integrations.zapi.adapter import PROVIDER, ZApiLine, classify
from seleto_agent.settings import secret

router = APIRouter()


@router.post("/webhooks/zapi/{token}")
async def zapi_webhook(token: str, request: Request, runtime: RuntimeDep) -> dict[str, str]:
    settings = runtime.settings
    check_token(token, secret(settings.zapi_webhook_token))
    # At most MAX_BODY_BYTES: api/body_limit.py answered 413 before this route for more.
    raw = await request.body()
    try:
        # Strings come back storable (no NUL, no lone surrogate): the raw bytes are what is
        # kept as sent, the parsed columns are what the turn and the databases read.
        body = loads(raw)
    except UnreadableJson as exc:
        await runtime.ingest.record_rejected(
            provider=PROVIDER, raw=raw, event_type="malformed", error="malformed_json"
        )
        raise MalformedJson(f"body is not valid JSON ({exc})") from exc
    if not isinstance(body, dict):
        await runtime.ingest.record_rejected(
            provider=PROVIDER, raw=raw, event_type="malformed", error="not_a_json_object"
        )
        raise InvalidPayload("body must be a JSON object")
    line = ZApiLine(settings.zapi_instance_id, settings.zapi_connected_phone)
    outcome = await runtime.ingest.ingest(raw=raw, classified=classify(body, line))
    return {"status": outcome.value}
