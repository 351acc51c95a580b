"""Test-driving endpoints of the Cloud API simulator under `/_sandbox/meta/` (TEST/SANDBOX
ONLY; Meta has none of these). They stand in for the App Dashboard (webhook subscription and
its verification), for WhatsApp users (inbound messages, statuses) and for time itself.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from seleto_agent.integrations.meta.client import is_bsuid
from seleto_agent.sandbox.context import SandboxContext
from seleto_agent.sandbox.meta_emitter import AcceptedSend, signature_header
from seleto_agent.sandbox.meta_graph import issue_media_url
from seleto_agent.sandbox.meta_payloads import (
    WINDOW_OPENING_KINDS,
    MessageKind,
    User,
    change,
    echo_value,
    envelope,
    errors_value,
    inbound_item,
    inbound_value,
    new_media_id,
    new_wamid,
    status_item,
    value,
)
from seleto_agent.sandbox.meta_state import FAULT_ENDPOINTS, MetaFault, MetaTemplate
from seleto_agent.sandbox.zapi_media import sample_voice_note

JsonDict = dict[str, Any]
InboundKind = MessageKind | Literal["echo", "errors"]
Signature = Literal["valid", "wrong", "missing"]
VOICE_MIME = "audio/ogg; codecs=opus"


class SubscribeRequest(BaseModel):
    url: str | None
    verify_token: str | None = None


class VerifyRequest(BaseModel):
    challenge: str = "1158201444"
    verify_token: str | None = None  # default: the token given with the subscription
    mode: str = "subscribe"


class InboundRequest(BaseModel):
    kind: InboundKind = "text"
    # A username user who shares no phone: `wa_id: null` with a `user_id` (BSUID).
    wa_id: str | None = Field(default="5544999999999", pattern=r"^\d+$")
    user_id: str | None = Field(default=None, pattern=r"^[A-Z]{2}\.[A-Za-z0-9]{1,128}$")
    username: str | None = None
    name: str = "Lead"
    text: str = "oi"
    message_id: str | None = None
    context_id: str | None = None
    reply_id: str | None = None
    emoji: str = "👍"
    new_wa_id: str | None = None
    new_user_id: str | None = None
    error_code: int = 130429
    media_id: str | None = None
    # How old the message is when it arrives (Meta re-delivers for days).
    age_seconds: float = Field(default=0.0, ge=0)
    copies: int = Field(default=1, ge=1, le=10)
    concurrent: bool = True
    signature: Signature | None = None


class StatusSpec(BaseModel):
    wamid: str | None = None  # default: the last message the simulator accepted
    status: str = "delivered"
    error_code: int | None = None


class StatusesRequest(BaseModel):
    wamid: str | None = None
    statuses: list[str] = Field(default_factory=lambda: ["sent", "delivered", "read"])
    error_code: int | None = None


class BatchRequest(BaseModel):
    """Several items in one body: all in one `value` ("items"; statuses in a second change,
    since a value carries either messages or statuses), one change each ("changes"), or one
    entry each ("entries")."""

    messages: list[InboundRequest] = Field(default_factory=list)
    statuses: list[StatusSpec] = Field(default_factory=list)
    layout: Literal["items", "changes", "entries"] = "items"
    copies: int = Field(default=1, ge=1, le=10)
    signature: Signature | None = None


class FaultSpec(BaseModel):
    status: int | None = Field(default=None, ge=100, le=599)
    code: int | None = None
    subcode: int | None = None
    retry_after: float | None = Field(default=None, ge=0)
    delay: float = Field(default=0.0, ge=0)
    respond_after: float = Field(default=0.0, ge=0)
    respond_status: int | None = Field(default=None, ge=200, le=599)
    drop_statuses: bool = False


class FaultsRequest(BaseModel):
    """Only the fields sent change; endpoint queues are replaced."""

    messages: list[FaultSpec] | None = None
    media: list[FaultSpec] | None = None
    media_download: list[FaultSpec] | None = None
    enforce_window: bool | None = None
    window_known_issue_probability: float | None = Field(default=None, ge=0, le=1)
    random_seed: int | None = None
    pair_gap_seconds: float | None = Field(default=None, ge=0)
    throughput_per_second: int | None = Field(default=None, ge=1)
    held_for_quality: bool | None = None
    emit_statuses: bool | None = None
    status_mode: (
        Literal[
            "normal",
            "read_before_delivered",
            "read_without_delivered",
            "delivered_after_failed",
            "failed",
        ]
        | None
    ) = None
    failure_code: int | None = None
    status_copies: int | None = Field(default=None, ge=1, le=10)
    signature_mode: Signature | None = None
    redeliver_attempts: int | None = Field(default=None, ge=1, le=20)
    redeliver_base_seconds: float | None = Field(default=None, ge=0)
    status_step_seconds: float | None = Field(default=None, ge=0)
    delay_seconds: float | None = Field(default=None, ge=0)


class WindowRequest(BaseModel):
    user: str
    hours_ago: float = Field(default=0.0, ge=0)


class ClockRequest(BaseModel):
    advance_seconds: float = Field(ge=0)


class MediaBehaviour(BaseModel):
    deleted: bool | None = None
    sha256_encoding: Literal["base64", "hex"] | None = None
    corrupt_sha256: bool | None = None
    # Make the media id this old (its 7 days may be up).
    age_seconds: float | None = Field(default=None, ge=0)


class TemplateRequest(BaseModel):
    name: str
    language: str = "pt_BR"
    category: Literal["marketing", "utility", "authentication"] = "utility"
    body_params: int = Field(default=0, ge=0)


class RawDelivery(BaseModel):
    """Exact bytes to post (e.g. a captured, Meta-signed body) with a given header value."""

    body: str
    signature: str | None = None
    sign: bool = False


def build_meta_control_router(ctx: SandboxContext) -> APIRouter:
    router = APIRouter(prefix="/_sandbox/meta", tags=["sandbox: control"])
    state, config, emitter = ctx.state.meta, ctx.config, ctx.meta_emitter

    def register_voice(media_id: str | None) -> tuple[str, str]:
        media_id = media_id or new_media_id()
        media = state.media(media_id) or state.put_media(
            media_id, data=sample_voice_note(), mime_type=VOICE_MIME
        )
        return media_id, base64.b64encode(hashlib.sha256(media.data).digest()).decode()

    def inbound_change(request: InboundRequest) -> tuple[JsonDict, str]:
        user = User(
            wa_id=request.wa_id,
            user_id=request.user_id,
            name=request.name,
            username=request.username,
        )
        if not user.keys():
            raise HTTPException(422, "a user needs a wa_id, a user_id or both")
        timestamp = int(state.now() - request.age_seconds)
        wamid = request.message_id or new_wamid()
        if request.kind == "echo":
            echo = echo_value(config, user, wamid=wamid, timestamp=timestamp, text=request.text)
            return change("smb_message_echoes", echo), wamid
        if request.kind == "errors":
            return change("messages", errors_value(config, request.error_code)), wamid
        extra: JsonDict = {
            "text": request.text,
            "context_id": request.context_id,
            "business_phone": config.meta_display_phone_number,
            "reply_id": request.reply_id,
            "emoji": request.emoji,
            "new_wa_id": request.new_wa_id,
            "new_user_id": request.new_user_id,
        }
        if request.kind in ("voice", "audio"):
            media_id, sha256 = register_voice(request.media_id)
            media = state.media(media_id)
            assert media is not None
            extra |= {
                "media_id": media_id,
                "sha256": sha256,
                "mime_type": media.mime_type,
                "media_url": issue_media_url(ctx, media_id),
            }
        item = inbound_item(request.kind, user, wamid=wamid, timestamp=timestamp, **extra)
        if request.kind in WINDOW_OPENING_KINDS:
            # The window runs from the message's own timestamp, not its arrival.
            state.record_inbound(*user.keys(), at=float(timestamp))
        return change("messages", inbound_value(config, request.kind, user, item)), wamid

    def accepted(wamid: str | None) -> AcceptedSend:
        found = state.accepted_call(wamid)
        if found is None:
            if wamid is None:
                raise HTTPException(409, "no accepted send yet; give a wamid")
            return AcceptedSend(
                wamid=wamid, recipient=User(wa_id="5544999999999"), reference=None, voice=False
            )
        recipient = str(found["recipient"])
        user = User(wa_id=None, user_id=recipient) if is_bsuid(recipient) else User(wa_id=recipient)
        return AcceptedSend(
            wamid=found["wamid"],
            recipient=user,
            reference=state.reference_of(found["wamid"]),
            voice=found.get("kind") == "audio",
        )

    @router.post("/webhook")
    async def subscribe(request: SubscribeRequest) -> JsonDict:
        """The App Dashboard's Callback URL and Verify token."""
        state.subscribe(request.url, request.verify_token)
        return {"url": request.url}

    @router.post("/verify")
    async def verify(request: VerifyRequest | None = None) -> JsonDict:
        request = request or VerifyRequest()
        return await emitter.verify(
            verify_token=request.verify_token, challenge=request.challenge, mode=request.mode
        )

    @router.post("/inbound")
    async def inbound(request: InboundRequest | None = None) -> JsonDict:
        request = request or InboundRequest()
        built, wamid = inbound_change(request)
        body = envelope(config, [built])
        deliveries = await emitter.deliver(
            body,
            kind=f"inbound:{request.kind}",
            copies=request.copies,
            concurrent=request.concurrent,
            signature_mode=request.signature,
        )
        return {"message_id": wamid, "payload": body, "deliveries": deliveries}

    @router.post("/statuses")
    async def statuses(request: StatusesRequest) -> JsonDict:
        """Statuses of a sent message in any order (read before delivered, a late failed…)."""
        sent = accepted(request.wamid)
        results = await emitter.emit_statuses(
            sent, tuple(request.statuses), error_code=request.error_code
        )
        return {"wamid": sent.wamid, "deliveries": results}

    @router.post("/batch")
    async def batch(request: BatchRequest) -> JsonDict:
        changes = [inbound_change(m)[0] for m in request.messages]
        status_values = []
        for spec in request.statuses:
            sent = accepted(spec.wamid)
            item = status_item(
                wamid=sent.wamid,
                status=spec.status,
                recipient=sent.recipient,
                timestamp=int(state.now()),
                reference=sent.reference,
                error_code=spec.error_code,
            )
            status_values.append(item)
        if request.layout == "items":
            grouped: list[JsonDict] = []
            if changes:
                items = [m for c in changes for m in c["value"].get("messages", [])]
                contacts = [k for c in changes for k in c["value"].get("contacts", [])]
                grouped.append(change("messages", value(config, contacts=contacts, messages=items)))
            if status_values:
                grouped.append(change("messages", value(config, statuses=status_values)))
            entries = [grouped]
        else:
            singles = changes + [
                change("messages", value(config, statuses=[s])) for s in status_values
            ]
            entries = [singles] if request.layout == "changes" else [[c] for c in singles]
        body = envelope(config, *entries)
        deliveries = await emitter.deliver(
            body, kind="batch", copies=request.copies, signature_mode=request.signature
        )
        return {"payload": body, "deliveries": deliveries}

    @router.post("/deliver")
    async def deliver_raw(request: RawDelivery) -> JsonDict:
        url = state.webhook_url
        if url is None:
            raise HTTPException(409, "no webhook subscribed")
        raw = request.body.encode()
        signature = request.signature
        if request.sign:
            signature = signature_header(config.meta_app_secret, raw)
        [result] = await emitter.deliver_bytes(raw, kind="raw", signature=signature)
        return result

    @router.post("/faults")
    async def faults(request: FaultsRequest) -> JsonDict:
        for endpoint in FAULT_ENDPOINTS:
            specs = getattr(request, endpoint)
            if specs is not None:
                state.set_fault_queue(endpoint, [MetaFault(**s.model_dump()) for s in specs])
        knobs = request.model_dump(exclude_none=True, exclude=set(FAULT_ENDPOINTS))
        state.update_knobs(**knobs)
        snapshot: JsonDict = state.snapshot()["faults"]
        return snapshot

    @router.post("/clock")
    async def clock(request: ClockRequest) -> JsonDict:
        return {"now": state.advance(request.advance_seconds)}

    @router.post("/window")
    async def window(request: WindowRequest) -> JsonDict:
        """The user last wrote `hours_ago` (0: just now)."""
        at = state.now() - request.hours_ago * 3600
        state.record_inbound(request.user, at=at)
        return {"user": request.user, "last_inbound": at}

    @router.put("/media/{media_id}")
    async def upload(media_id: str, request: Request) -> JsonDict:
        data = await request.body()
        mime = request.headers.get("content-type", "application/octet-stream")
        state.put_media(media_id, data=data, mime_type=mime, created_at=state.now())
        return {"media_id": media_id, "bytes": len(data)}

    @router.post("/media/{media_id}/behaviour")
    async def media_behaviour(media_id: str, request: MediaBehaviour) -> JsonDict:
        if state.media(media_id) is None:
            raise HTTPException(404, "unknown media id")
        changes = request.model_dump(exclude_none=True)
        age = changes.pop("age_seconds", None)
        if age is not None:
            changes["created_at"] = state.now() - age
        return {"media_id": media_id, **state.put_media(media_id, **changes).describe()}

    @router.post("/templates")
    async def templates(request: TemplateRequest) -> JsonDict:
        state.put_template(
            request.name,
            MetaTemplate(
                language=request.language,
                category=request.category,
                body_params=request.body_params,
            ),
        )
        return {"name": request.name}

    @router.post("/flush")
    async def flush(wait_seconds: float = 10.0) -> JsonDict:
        """Wait until the statuses of earlier sends have been delivered."""
        return {"pending": await emitter.flush(wait_seconds)}

    return router
