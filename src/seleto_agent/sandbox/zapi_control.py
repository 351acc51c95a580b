"""Test-driving endpoints of the Z-API simulator under `/_sandbox/zapi/` (not part of Z-API)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from seleto_agent.sandbox.context import SandboxContext
from seleto_agent.sandbox.zapi import FAULTABLE_ENDPOINTS
from seleto_agent.sandbox.zapi_media import register_sample_voice_note
from seleto_agent.sandbox.zapi_payloads import (
    ReceivedMessage,
    connected_callback,
    delivery_callback,
    disconnected_callback,
    group_phone_for,
    lid_for,
    message_status_callback,
    new_inbound_message_id,
    new_outbound_message_id,
    new_zaap_id,
    presence_callback,
    received_callback,
)
from seleto_agent.sandbox.zapi_state import ZapiFault

JsonDict = dict[str, Any]

# Callback type → webhook kinds to try, in order; "received" is always the last fallback.
CALLBACK_TARGETS: dict[str, tuple[str, ...]] = {
    "PresenceChatCallback": ("received",),
    "DisconnectedCallback": ("disconnected", "received"),
    "ConnectedCallback": ("connected", "received"),
    "MessageStatusCallback": ("message_status", "received"),
    "DeliveryCallback": ("delivery", "received"),
}
KNOB_FIELDS: tuple[str, ...] = (
    "disconnected",
    "client_token_required",
    "client_token_error_status",
    "emit_statuses",
    "echo_from_me",
    "delay_seconds",
    "webhook_headers",
)


ContactForm = Literal["number", "lid", "number_without_lid"]


class InboundRequest(BaseModel):
    phone: str = Field(default="5544999999999", pattern=r"^\d+$")
    text: str = "oi"
    message_id: str | None = None
    from_me: bool = False
    is_group: bool = False
    is_newsletter: bool = False
    # Only the "aguardando mensagem" placeholder, no content.
    waiting_message: bool = False
    # The placeholder first, then the real message under the same messageId (what WhatsApp
    # does when it could not decrypt the message at once; vendors.md #2).
    placeholder_first: bool = False
    placeholder_delay_seconds: float = Field(default=0.1, ge=0, le=30)
    # How this message names the contact; unset: the contact's form (`/contacts/{phone}`).
    form: ContactForm | None = None
    sender_name: str = "Lead"
    copies: int = Field(default=1, ge=1, le=100)
    concurrent: bool = True
    kind: Literal["text", "audio"] = "text"
    audio_url: str | None = None
    audio_seconds: int = Field(default=5, ge=1)
    lid: str | None = Field(default=None, pattern=r"^\d+@lid$")
    group_phone: str | None = Field(default=None, pattern=r"^\d+-group$")
    group_name: str = "Grupo Sandbox"


class ContactFormRequest(BaseModel):
    form: ContactForm


class FaultSpec(BaseModel):
    status: int | None = Field(default=None, ge=100, le=599)
    retry_after: float | None = Field(default=None, ge=0)
    delay: float = Field(default=0.0, ge=0)
    timeout: float | None = Field(default=None, ge=0)
    respond_after: float = Field(default=0.0, ge=0)
    respond_status: int | None = Field(default=None, ge=200, le=599)
    callbacks_after: float = Field(default=0.0, ge=0)
    drop_callbacks: bool = False
    error: str | None = None


class ZapiFaultsRequest(BaseModel):
    """Every field is optional; only the ones sent change. Endpoint queues are replaced."""

    send_text: list[FaultSpec] | None = None
    send_audio: list[FaultSpec] | None = None
    read_message: list[FaultSpec] | None = None
    status: list[FaultSpec] | None = None
    queues: dict[str, list[FaultSpec]] | None = None  # any other endpoint, by underscored name
    disconnected: bool | None = None
    client_token_required: bool | None = None
    client_token_error_status: int | None = Field(default=None, ge=400, le=599)
    emit_statuses: bool | None = None
    echo_from_me: bool | None = None
    delay_seconds: float | None = Field(default=None, ge=0)
    webhook_headers: dict[str, str] | None = None


def _received_message(ctx: SandboxContext, request: InboundRequest) -> ReceivedMessage:
    contact_lid = request.lid or lid_for(request.phone)
    form = request.form or ctx.state.zapi.contact_form(request.phone)
    phone = contact_lid if form == "lid" else request.phone
    lid: str | None = None if form == "number_without_lid" else contact_lid
    # On a message of the company line the sender is the line; the chat is the contact.
    sender_lid = lid_for(ctx.config.zapi_connected_phone) if request.from_me else lid
    participant_phone: str | None = None
    participant_lid: str | None = None
    chat_name = request.sender_name
    if request.is_group:
        participant_phone, participant_lid = phone, lid
        phone = request.group_phone or group_phone_for(request.phone)
        chat_name = request.group_name
    audio_url: str | None = None
    message_id = request.message_id or new_inbound_message_id()
    if request.kind == "audio":
        # By default the simulator holds a real OGG/Opus voice note at a Z-API-like URL.
        audio_url = request.audio_url or register_sample_voice_note(ctx, message_id)
    return ReceivedMessage(
        instance_id=ctx.config.zapi_instance_id,
        connected_phone=ctx.config.zapi_connected_phone,
        message_id=message_id,
        phone=phone,
        sender_lid=sender_lid,
        chat_lid=lid,
        chat_name=chat_name,
        sender_name=request.sender_name,
        from_me=request.from_me,
        is_group=request.is_group,
        is_newsletter=request.is_newsletter,
        waiting_message=request.waiting_message,
        participant_phone=participant_phone,
        participant_lid=participant_lid,
        text=request.text,
        audio_url=audio_url,
        audio_seconds=request.audio_seconds,
    )


def _default_callback(ctx: SandboxContext, callback_type: str) -> JsonDict:
    instance_id = ctx.config.zapi_instance_id
    last = ctx.state.zapi.last_successful_send() or {}
    phone = str(last.get("phone") or "5544999999999")
    message_id = str(last.get("messageId") or new_outbound_message_id())
    if callback_type == "PresenceChatCallback":
        return presence_callback(instance_id=instance_id, phone=phone)
    if callback_type == "DisconnectedCallback":
        return disconnected_callback(instance_id=instance_id)
    if callback_type == "ConnectedCallback":
        return connected_callback(instance_id=instance_id, phone=ctx.config.zapi_connected_phone)
    if callback_type == "MessageStatusCallback":
        return message_status_callback(
            instance_id=instance_id, phone=phone, message_ids=[message_id], status="READ"
        )
    zaap_id = str(last.get("zaapId") or new_zaap_id())
    return delivery_callback(
        instance_id=instance_id, phone=phone, zaap_id=zaap_id, message_id=message_id
    )


def _no_webhook() -> JSONResponse:
    return JSONResponse({"error": "no webhook registered"}, status_code=409)


def build_zapi_control_router(ctx: SandboxContext) -> APIRouter:
    router = APIRouter(prefix="/_sandbox/zapi", tags=["sandbox: control"])
    zapi = ctx.state.zapi

    @router.post("/inbound", response_model=None)
    async def inbound(request: InboundRequest | None = None) -> JsonDict | JSONResponse:
        """Deliver a ReceivedCallback to the registered received webhook (`copies` times)."""
        request = request or InboundRequest()
        url = zapi.webhook_url("received", "received_delivery")
        if url is None:
            return _no_webhook()
        message = _received_message(ctx, request)
        result: JsonDict = {"message_id": message.message_id}
        if request.placeholder_first:
            placeholder = received_callback(replace(message, waiting_message=True))
            result["placeholder"] = {
                "payload": placeholder,
                "responses": await ctx.zapi_emitter.post(url, placeholder),
            }
            await asyncio.sleep(request.placeholder_delay_seconds)
        payload = received_callback(message)
        responses = await ctx.zapi_emitter.post(
            url, payload, copies=request.copies, concurrent=request.concurrent
        )
        return {**result, "payload": payload, "responses": responses}

    @router.post("/contacts/{phone}")
    async def contact_form(phone: str, request: ContactFormRequest) -> JsonDict:
        """Switch how a contact's next messages name them (e.g. number → `@lid` only)."""
        if not phone.isdigit():
            raise HTTPException(422, "phone must be digits")
        zapi.set_contact_form(phone, request.form)
        return {"phone": phone, "form": request.form, "lid": lid_for(phone)}

    @router.post("/callback", response_model=None)
    async def callback(body: Annotated[JsonDict, Body()]) -> JsonDict | JSONResponse:
        """Post an example of another callback type; other body keys override its fields."""
        callback_type = body.get("type")
        if callback_type not in CALLBACK_TARGETS:
            raise HTTPException(422, f"type must be one of {sorted(CALLBACK_TARGETS)}")
        url = zapi.webhook_url(*CALLBACK_TARGETS[callback_type])
        if url is None:
            return _no_webhook()
        payload = {**_default_callback(ctx, callback_type), **body}
        # Keep `status` coherent with what the service is told.
        if callback_type == "DisconnectedCallback":
            zapi.update_knobs(disconnected=True)
        elif callback_type == "ConnectedCallback":
            zapi.update_knobs(disconnected=False)
        responses = await ctx.zapi_emitter.post(url, payload)
        return {"payload": payload, "responses": responses}

    @router.post("/faults")
    async def set_faults(request: ZapiFaultsRequest) -> JsonDict:
        queues = dict(request.queues or {})
        for key in ("send_text", "send_audio", "read_message", "status"):
            value = getattr(request, key)
            if value is not None:
                queues[key] = value
        unknown = sorted(set(queues) - set(FAULTABLE_ENDPOINTS))
        if unknown:
            raise HTTPException(422, f"unknown endpoints {unknown}; use {FAULTABLE_ENDPOINTS}")
        for endpoint, specs in queues.items():
            zapi.set_fault_queue(endpoint, [ZapiFault(**spec.model_dump()) for spec in specs])
        changes = {
            name: getattr(request, name)
            for name in KNOB_FIELDS
            if getattr(request, name) is not None
        }
        zapi.update_knobs(**changes)
        faults: JsonDict = zapi.snapshot()["faults"]
        return faults

    @router.post("/flush")
    async def flush(wait_seconds: float = 10.0) -> JsonDict:
        """Wait until follow-up callbacks of earlier sends have been posted."""
        still_running = await ctx.zapi_emitter.flush(wait_seconds)
        return {"pending": still_running, "emitted": len(zapi.snapshot()["emitted"])}

    return router
