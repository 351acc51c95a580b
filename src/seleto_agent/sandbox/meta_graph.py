"""WhatsApp Cloud API (Graph) simulator at the real paths (TEST/SANDBOX ONLY).

- `POST /{version}/{phone_number_id}/messages`: text, template, audio, interactive, reaction
  sends and `status: read` (+ `typing_indicator`), with Bearer auth, the 24 h window on the
  simulated clock, pair rate and throughput limits, scripted faults, and statuses emitted to
  the subscribed webhook after each accepted send;
- `GET /{version}/{media_id}`: media metadata with a fresh URL that lives 5 minutes;
- `GET /whatsapp_business/attachments/?mid=&ext=&hash=`: the bytes (lookaside.fbsbx.com's
  path), Bearer required, 404 once the URL expired.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from seleto_agent.sandbox.context import SandboxContext
from seleto_agent.sandbox.meta_emitter import AcceptedSend
from seleto_agent.sandbox.meta_guard import (
    GraphRejection,
    fault_rejection,
    invalid,
    read_json,
    recipient_of,
    require_bearer,
    require_messaging_product,
    require_reference,
    require_text,
    unknown_object,
)
from seleto_agent.sandbox.meta_payloads import User, new_wamid
from seleto_agent.sandbox.meta_state import (
    MEDIA_ID_TTL_SECONDS,
    MEDIA_URL_TTL_SECONDS,
    MetaFault,
    MetaMedia,
    MetaState,
)

JsonDict = dict[str, Any]

ATTACHMENTS_PATH = "/whatsapp_business/attachments/"
SEND_TYPES = frozenset({"text", "template", "audio", "interactive", "reaction", "image"})
# Free-form types need the window; only templates may open a conversation.
_WINDOW_FREE_TYPES = frozenset({"template"})


def _check_template(state: MetaState, body: JsonDict, *, to_bsuid: bool) -> None:
    template = body.get("template")
    if not isinstance(template, dict) or not isinstance(template.get("name"), str):
        raise GraphRejection(
            131008, "(#131008) Required parameter is missing", details="template.name is required"
        )
    language = template.get("language")
    code = language.get("code") if isinstance(language, dict) else None
    known = state.template(template["name"])
    if known is None or code != known.language:
        raise GraphRejection(
            132001,
            "(#132001) Template name does not exist in the translation",
            details=f"template name ({template['name']}) does not exist in {code}",
        )
    parameters = 0
    for component in template.get("components") or []:
        if isinstance(component, dict) and component.get("type") == "body":
            parameters += len(component.get("parameters") or [])
    if parameters != known.body_params:
        raise GraphRejection(
            132000,
            "(#132000) Number of parameters does not match the expected number of params",
            details=f"body: number of localizable_params ({parameters}) does not match the "
            f"expected number of params ({known.body_params})",
        )
    if to_bsuid and known.category == "authentication":
        raise GraphRejection(
            131062,
            "(#131062) Business-scoped user ID recipients not supported",
            details="Authentication templates cannot be sent to a business-scoped user ID",
        )


def _check_content(state: MetaState, body: JsonDict, *, to_bsuid: bool) -> str:
    kind = body.get("type", "text")
    if kind not in SEND_TYPES:
        raise invalid("type", f"type {kind} is not supported")
    if kind == "text":
        require_text(body)
    elif kind == "template":
        _check_template(state, body, to_bsuid=to_bsuid)
    elif not isinstance(body.get(kind), dict):
        raise GraphRejection(
            131008, "(#131008) Required parameter is missing", details=f"{kind} object is required"
        )
    return str(kind)


def _sha256_field(media: MetaMedia) -> str:
    digest = hashlib.sha256(media.data).digest()
    if media.corrupt_sha256:
        digest = hashlib.sha256(media.data + b"corrupt").digest()
    if media.sha256_encoding == "hex":
        return digest.hex()
    return base64.b64encode(digest).decode()


def issue_media_url(ctx: SandboxContext, media_id: str) -> str:
    """A lookaside-style URL for `media_id`, valid 5 minutes of simulated time from now."""
    now, token = ctx.state.meta.now(), secrets.token_urlsafe(24)
    ctx.state.meta.issue_media_url(token, media_id, now)
    base = ctx.config.public_base_url
    return f"{base}{ATTACHMENTS_PATH}?mid={media_id}&ext={int(now)}&hash={token}"


def build_meta_graph_router(ctx: SandboxContext) -> APIRouter:
    router = APIRouter(tags=["sandbox: meta graph"])
    state = ctx.state.meta
    config = ctx.config

    async def messages(request: Request, version: str, phone_number_id: str) -> Response:
        del version
        body: JsonDict = {}
        record: JsonDict = {"endpoint": "messages", "authorized": False}
        try:
            if state.knobs.delay_seconds > 0:
                await asyncio.sleep(state.knobs.delay_seconds)
            require_bearer(config, request)
            record["authorized"] = True
            if phone_number_id != config.meta_phone_number_id:
                raise unknown_object(phone_number_id, "post")
            body = await read_json(request)
            record["body"] = body
            require_messaging_product(body)
            fault = state.pop_fault("messages")
            if fault.delay > 0:
                await asyncio.sleep(fault.delay)
            rejection = fault_rejection(fault)
            if rejection is not None:
                raise rejection
            if body.get("status") is not None:
                return _mark_read(body, record)
            return await _send(body, record, fault)
        except GraphRejection as rejection:
            failed = {"status_code": rejection.status, "error_code": rejection.code}
            state.record_call({**record, **failed})
            return rejection.response()

    def _mark_read(body: JsonDict, record: JsonDict) -> Response:
        if body.get("status") != "read":
            raise invalid("status", "status must be read")
        if not isinstance(body.get("message_id"), str) or not body["message_id"]:
            raise GraphRejection(
                131008, "(#131008) Required parameter is missing", details="message_id is required"
            )
        typing = body.get("typing_indicator")
        if typing is not None and typing != {"type": "text"}:
            raise invalid("typing_indicator", "typing_indicator.type must be text")
        state.record_call(
            {**record, "kind": "read", "status_code": 200, "typing": typing is not None}
        )
        return JSONResponse({"success": True})

    async def _send(body: JsonDict, record: JsonDict, fault: MetaFault) -> Response:
        recipient, vanishes = recipient_of(body)
        to_bsuid = "recipient" in body
        kind = _check_content(state, body, to_bsuid=to_bsuid)
        reference = require_reference(body)
        now = state.now()
        if not vanishes:
            free_form = kind not in _WINDOW_FREE_TYPES
            if (
                free_form
                and state.knobs.enforce_window
                and (not state.window_open(recipient, now) or state.known_issue_strikes())
            ):
                raise GraphRejection(
                    131047,
                    "(#131047) Re-engagement message",
                    details="Message failed to send because more than 24 hours have passed "
                    "since the customer last replied to this number.",
                )
            # Last: only a message that goes out counts towards the limits.
            limit = state.pace(recipient, now)
            if limit == "throughput":
                raise GraphRejection(
                    130429,
                    "(#130429) Rate limit hit",
                    details="Cloud API message throughput has been reached.",
                )
            if limit == "pair":
                raise GraphRejection(
                    131056,
                    "(#131056) (Business Account, Consumer Account) pair rate limit hit",
                    details="Too many messages sent from this phone number to the same phone "
                    "number in a short period of time.",
                )
        wamid = new_wamid()
        status = "held_for_quality_assessment" if state.knobs.held_for_quality else "accepted"
        state.record_call(
            {
                **record,
                "kind": kind,
                "status_code": 200,
                "wamid": wamid,
                "recipient": recipient,
                "vanished": vanishes,
                "answered_status": fault.respond_status or 200,
            }
        )
        state.remember_reference(wamid, reference)
        if not vanishes and not fault.drop_statuses:
            user = User(wa_id=None, user_id=recipient) if to_bsuid else User(wa_id=recipient)
            audio = body.get("audio")
            voice = kind == "audio" and isinstance(audio, dict) and audio.get("voice") is True
            ctx.meta_emitter.schedule_statuses(
                AcceptedSend(wamid=wamid, recipient=user, reference=reference, voice=voice)
            )
        if fault.respond_after > 0:
            await asyncio.sleep(fault.respond_after)
        if fault.respond_status is not None:
            if fault.respond_status < 300:
                return JSONResponse(
                    {"messaging_product": "whatsapp"}, status_code=fault.respond_status
                )
            lost = GraphRejection(
                131000,
                "(#131000) Something went wrong",
                status=fault.respond_status,
                details="Something went wrong",
            )
            return lost.response()
        contact = {"input": body.get("to") or recipient}
        contact["user_id" if to_bsuid else "wa_id"] = recipient
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "contacts": [contact],
                "messages": [{"id": wamid, "message_status": status}],
            }
        )

    async def media_metadata(request: Request, version: str, media_id: str) -> Response:
        del version
        entry: JsonDict = {"endpoint": "media", "media_id": media_id}
        try:
            require_bearer(config, request)
            owner = request.query_params.get("phone_number_id")
            if owner is not None and owner != config.meta_phone_number_id:
                raise unknown_object(media_id, "get")
            fault = state.pop_fault("media")
            if fault.delay > 0:
                await asyncio.sleep(fault.delay)
            rejection = fault_rejection(fault)
            if rejection is not None:
                raise rejection
            now = state.now()
            media = state.media(media_id)
            if media is None or media.deleted or now - media.created_at > MEDIA_ID_TTL_SECONDS:
                rejection = unknown_object(media_id, "get")
                rejection.status = 404
                raise rejection
        except GraphRejection as rejection:
            state.record_media_request({**entry, "status_code": rejection.status})
            return rejection.response()
        url = issue_media_url(ctx, media_id)
        state.record_media_request({**entry, "status_code": 200})
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "url": url,
                "mime_type": media.mime_type,
                "sha256": _sha256_field(media),
                "file_size": len(media.data),
                "id": media_id,
            }
        )

    async def attachment(request: Request) -> Response:
        token = request.query_params.get("hash", "")
        entry: JsonDict = {
            "endpoint": "media_download",
            "media_id": request.query_params.get("mid"),
            "bearer": request.headers.get("authorization") == f"Bearer {config.meta_access_token}",
        }
        fault = state.pop_fault("media_download")
        if fault.delay > 0:
            await asyncio.sleep(fault.delay)
        if fault.status is not None:
            state.record_media_request({**entry, "status_code": fault.status})
            return Response(status_code=fault.status)
        if not entry["bearer"]:
            # Without the token the URL does not return the media (contracts §4).
            state.record_media_request({**entry, "status_code": 401})
            return Response(status_code=401)
        issued = state.media_url(token)
        media = state.media(issued.media_id) if issued else None
        if (
            issued is None
            or media is None
            or media.deleted
            or state.now() - issued.issued_at > MEDIA_URL_TTL_SECONDS
        ):
            state.record_media_request({**entry, "status_code": 404})
            return Response(status_code=404)
        state.record_media_request({**entry, "status_code": 200, "bytes": len(media.data)})
        return Response(media.data, media_type=media.mime_type)

    router.add_api_route(
        "/{version:graph_version}/{phone_number_id}/messages", messages, methods=["POST"]
    )
    router.add_api_route(ATTACHMENTS_PATH, attachment, methods=["GET"])
    router.add_api_route("/{version:graph_version}/{media_id}", media_metadata, methods=["GET"])
    return router
