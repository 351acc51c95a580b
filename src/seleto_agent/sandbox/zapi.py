"""Z-API outbound API simulator, mounted at the real path `/instances/{id}/token/{token}/`.

Implements contracts/zapi.md §5: send-text, send-audio, read-message, status and the
update-webhook-* family, with Client-Token enforcement, phone validation, 405/415, scripted
faults, disconnected mode and follow-up webhooks after each successful send.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from seleto_agent.sandbox.context import SandboxContext
from seleto_agent.sandbox.zapi_emitter import SentMessage
from seleto_agent.sandbox.zapi_guard import (
    NOT_CONNECTED,
    ZapiRejection,
    accepted_answer,
    apply_fault,
    check_access,
    read_json_body,
    require_connected,
    require_phone,
    require_text,
)
from seleto_agent.sandbox.zapi_payloads import new_outbound_message_id, new_zaap_id
from seleto_agent.sandbox.zapi_state import WEBHOOK_KINDS

JsonDict = dict[str, Any]
Handler = Callable[[Request, str, str], Awaitable[Response]]

ZAPI_PREFIX = "/instances/{instance_id}/token/{instance_token}"

# Endpoint → webhook kinds it sets ([D] webhooks/webhooksConf/*.md).
WEBHOOK_ENDPOINTS: dict[str, tuple[str, ...]] = {
    "update-webhook-received": ("received",),
    "update-webhook-received-delivery": ("received_delivery",),
    "update-webhook-delivery": ("delivery",),
    "update-webhook-message-status": ("message_status",),
    "update-webhook-disconnected": ("disconnected",),
    "update-webhook-connected": ("connected",),
    "update-every-webhooks": WEBHOOK_KINDS,
}
NOTIFY_SENT_BY_ME_ENDPOINT = "update-notify-sent-by-me"
SEND_ENDPOINTS: dict[str, str] = {"send-text": "message", "send-audio": "audio"}
# Keys accepted by the faults control API: endpoint names with underscores.
FAULTABLE_ENDPOINTS: tuple[str, ...] = tuple(
    name.replace("-", "_")
    for name in (
        *SEND_ENDPOINTS,
        "read-message",
        "status",
        *WEBHOOK_ENDPOINTS,
        NOTIFY_SENT_BY_ME_ENDPOINT,
    )
)


def fault_key(endpoint: str) -> str:
    return endpoint.replace("-", "_")


def build_zapi_router(ctx: SandboxContext) -> APIRouter:
    router = APIRouter(prefix=ZAPI_PREFIX, tags=["sandbox: zapi"])
    zapi = ctx.state.zapi

    async def admit(request: Request, instance_id: str, instance_token: str) -> None:
        delay = zapi.knobs.delay_seconds
        if delay > 0:
            await asyncio.sleep(delay)
        check_access(ctx.config, zapi, request, instance_id, instance_token)

    def record(endpoint: str, body: JsonDict, status_code: int, **extra: Any) -> None:
        zapi.record_call(
            {
                "endpoint": endpoint,
                "phone": body.get("phone"),
                "message": body.get("message"),
                "messageId": None,
                "zaapId": None,
                "status_code": status_code,
                "error": None,
                "body": body,
                **extra,
            }
        )

    def send_handler(endpoint: str, content_field: str) -> Handler:
        async def handle(request: Request, instance_id: str, instance_token: str) -> Response:
            body: JsonDict = {}
            try:
                await admit(request, instance_id, instance_token)
                body = await read_json_body(request)
                phone = require_phone(body)
                content = require_text(body, content_field)
                fault = await apply_fault(zapi, fault_key(endpoint))
                require_connected(zapi)
            except ZapiRejection as rejection:
                record(endpoint, body, rejection.status, error=rejection.error)
                return rejection.response()
            message_id, zaap_id = new_outbound_message_id(), new_zaap_id()
            # status_code 200: accepted (the lead gets it), whatever the answer says.
            record(
                endpoint,
                body,
                200,
                messageId=message_id,
                zaapId=zaap_id,
                answered_status=fault.respond_status or 200,
            )
            if not fault.drop_callbacks:
                ctx.zapi_emitter.schedule_after_send(
                    SentMessage(
                        phone=phone,
                        message_id=message_id,
                        zaap_id=zaap_id,
                        text=content if content_field == "message" else None,
                        audio=content if content_field == "audio" else None,
                    ),
                    delay=fault.callbacks_after,
                )
            if fault.respond_after > 0:
                await asyncio.sleep(fault.respond_after)
            return accepted_answer(fault, message_id=message_id, zaap_id=zaap_id)

        return handle

    async def read_message(request: Request, instance_id: str, instance_token: str) -> Response:
        endpoint = "read-message"
        body: JsonDict = {}
        try:
            await admit(request, instance_id, instance_token)
            body = await read_json_body(request)
            require_phone(body)
            message_id = require_text(body, "messageId")
            await apply_fault(zapi, fault_key(endpoint))
            require_connected(zapi)
        except ZapiRejection as rejection:
            record(endpoint, body, rejection.status, error=rejection.error)
            return rejection.response()
        record(endpoint, body, 204, messageId=message_id)
        return Response(status_code=204)

    async def status(request: Request, instance_id: str, instance_token: str) -> Response:
        try:
            await admit(request, instance_id, instance_token)
            await apply_fault(zapi, "status")
        except ZapiRejection as rejection:
            return rejection.response()
        connected = not zapi.knobs.disconnected
        return JSONResponse(
            {
                "connected": connected,
                "error": None if connected else NOT_CONNECTED,
                "smartphoneConnected": connected,
            }
        )

    def webhook_handler(endpoint: str, kinds: tuple[str, ...]) -> Handler:
        async def handle(request: Request, instance_id: str, instance_token: str) -> Response:
            try:
                await admit(request, instance_id, instance_token)
                body = await read_json_body(request)
                url = body.get("value")
                # An empty value unregisters; Z-API itself only accepts https, the sandbox
                # also takes http so a local service can register.
                if url is not None and not isinstance(url, str):
                    raise ZapiRejection(400, "value must be a url")
                if url and not url.startswith(("http://", "https://")):
                    raise ZapiRejection(400, "value must be a url")
                await apply_fault(zapi, fault_key(endpoint))
            except ZapiRejection as rejection:
                return rejection.response()
            for kind in kinds:
                zapi.set_webhook(kind, url)
            notify = body.get("notifySentByMe")
            if isinstance(notify, bool):
                zapi.set_notify_sent_by_me(notify)
            return JSONResponse({"value": True})

        return handle

    async def notify_sent_by_me(
        request: Request, instance_id: str, instance_token: str
    ) -> Response:
        try:
            await admit(request, instance_id, instance_token)
            body = await read_json_body(request)
            enabled = body.get("notifySentByMe", body.get("value"))
            if not isinstance(enabled, bool):
                raise ZapiRejection(400, "notifySentByMe must be a boolean")
            await apply_fault(zapi, fault_key(NOTIFY_SENT_BY_ME_ENDPOINT))
        except ZapiRejection as rejection:
            return rejection.response()
        zapi.set_notify_sent_by_me(enabled)
        return JSONResponse({"value": True})

    for endpoint, content_field in SEND_ENDPOINTS.items():
        router.add_api_route(
            f"/{endpoint}", send_handler(endpoint, content_field), methods=["POST"]
        )
    router.add_api_route("/read-message", read_message, methods=["POST"])
    router.add_api_route("/status", status, methods=["GET"])
    for endpoint, kinds in WEBHOOK_ENDPOINTS.items():
        router.add_api_route(f"/{endpoint}", webhook_handler(endpoint, kinds), methods=["PUT"])
    router.add_api_route(f"/{NOTIFY_SENT_BY_ME_ENDPOINT}", notify_sent_by_me, methods=["PUT"])
    return router
