"""Test-driving endpoints of the Chatwoot simulator under `/_sandbox/chatwoot/` (not Chatwoot).

They act as a person in Chatwoot's UI (a public reply, a private note, resolving) and set the
switches of contracts/chatwoot.md §6: unsigned or wrongly signed deliveries, contact senders
with or without `type`, duplicate deliveries, delivery delay, API faults and down mode.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from seleto_agent.sandbox.chatwoot import (
    is_fault_key,
    message_created,
    status_changed,
)
from seleto_agent.sandbox.chatwoot_emitter import Emission
from seleto_agent.sandbox.chatwoot_payloads import message_push_data
from seleto_agent.sandbox.chatwoot_state import Actor, ChatwootApiError, ChatwootFault
from seleto_agent.sandbox.context import SandboxContext

JsonDict = dict[str, Any]

KNOB_FIELDS: tuple[str, ...] = (
    "down",
    "signed",
    "wrong_secret",
    "contact_sender_type",
    "duplicate_delivery",
    "delay_seconds",
    "emit_before_response",
)


class FaultSpec(BaseModel):
    status: int | None = Field(default=None, ge=400, le=599)
    retry_after: float | None = Field(default=None, ge=0)
    delay: float = Field(default=0.0, ge=0)
    after_commit: bool = False


class ChatwootFaultsRequest(BaseModel):
    """Only the fields sent change. `queues` maps "METHOD /path" (a route template such as
    `POST /conversations/{conversation_id}/messages`, or a concrete path) to faults consumed
    one per matching call; a key's queue is replaced."""

    queues: dict[str, list[FaultSpec]] | None = None
    down: bool | None = None
    signed: bool | None = None
    wrong_secret: bool | None = None
    contact_sender_type: bool | None = None
    duplicate_delivery: bool | None = None
    delay_seconds: float | None = Field(default=None, ge=0)
    emit_before_response: bool | None = None


class HumanMessageRequest(BaseModel):
    conversation_id: int
    content: str = Field(min_length=1)
    # Defaults to the user behind the API token: the case where only our own records can tell
    # our echo from a person's reply (contracts §5).
    user_id: int | None = None
    user_name: str | None = None


class ResolveRequest(BaseModel):
    conversation_id: int
    user_id: int | None = None
    user_name: str | None = None


class InboxWebhookRequest(BaseModel):
    # None or "" removes it.
    url: str | None = None
    # Defaults to SandboxConfig.chatwoot_webhook_secret; "" means the inbox has no secret.
    secret: str | None = None


def build_chatwoot_control_router(ctx: SandboxContext) -> APIRouter:
    router = APIRouter(prefix="/_sandbox/chatwoot", tags=["sandbox: control"])
    config = ctx.config
    state = ctx.state.chatwoot

    def human(user_id: int | None, user_name: str | None) -> Actor:
        if user_id is None or user_id == config.chatwoot_user_id:
            return Actor(
                "user",
                config.chatwoot_user_id,
                user_name or config.chatwoot_user_name,
                config.chatwoot_user_email,
            )
        return Actor("user", user_id, user_name or f"Agent {user_id}", None)

    async def human_message(request: HumanMessageRequest, *, private: bool) -> JSONResponse:
        try:
            conversation, contact, message, _ = state.add_message(
                request.conversation_id,
                content=request.content,
                message_type="outgoing",
                private=private,
                sender=human(request.user_id, request.user_name),
                content_attributes={},
            )
        except ChatwootApiError as error:
            return JSONResponse(error.body, status_code=error.status)
        await ctx.chatwoot_emitter.dispatch([message_created(ctx, conversation, contact, message)])
        return JSONResponse(message_push_data(message, conversation, contact, config))

    @router.post("/agent_reply", response_model=None)
    async def agent_reply(request: HumanMessageRequest) -> JSONResponse:
        """A human agent's public reply in the Chatwoot UI (outgoing, sender type "user")."""
        return await human_message(request, private=False)

    @router.post("/private_note", response_model=None)
    async def private_note(request: HumanMessageRequest) -> JSONResponse:
        """A human agent's private note (outgoing, private)."""
        return await human_message(request, private=True)

    @router.post("/resolve", response_model=None)
    async def resolve(request: ResolveRequest) -> JSONResponse:
        """A human marks the conversation resolved; emits conversation_status_changed."""
        try:
            conversation, contact, previous = state.set_status(
                request.conversation_id,
                "resolved",
                None,
                human(request.user_id, request.user_name),
            )
        except ChatwootApiError as error:
            return JSONResponse(error.body, status_code=error.status)
        emissions: list[Emission] = list(status_changed(ctx, conversation, contact, previous))
        await ctx.chatwoot_emitter.dispatch(emissions)
        return JSONResponse(
            {
                "conversation_id": conversation.display_id,
                "previous_status": previous,
                "current_status": conversation.status,
            }
        )

    @router.post("/inbox_webhook")
    async def inbox_webhook(request: InboxWebhookRequest) -> JsonDict:
        """Sets the API inbox's `webhook_url` (inbox settings in Chatwoot)."""
        url = request.url or None
        if url is not None and not url.startswith(("http://", "https://")):
            raise HTTPException(422, "url must be http(s)")
        secret = config.chatwoot_webhook_secret if request.secret is None else request.secret
        state.set_inbox_webhook(url, secret or None)
        return {"url": url, "signed": bool(secret)}

    @router.post("/faults")
    async def set_faults(request: ChatwootFaultsRequest) -> JsonDict:
        queues = request.queues or {}
        unknown = sorted(key for key in queues if not is_fault_key(key))
        if unknown:
            raise HTTPException(422, f"unknown routes {unknown}; use 'METHOD /path'")
        for key, specs in queues.items():
            state.set_fault_queue(key, [ChatwootFault(**spec.model_dump()) for spec in specs])
        changes = {
            name: getattr(request, name)
            for name in KNOB_FIELDS
            if getattr(request, name) is not None
        }
        state.update_knobs(**changes)
        faults: JsonDict = state.snapshot()["faults"]
        return faults

    @router.post("/flush")
    async def flush(wait_seconds: float = 10.0) -> JsonDict:
        """Waits until deliveries already started have been answered."""
        still_running = await ctx.chatwoot_emitter.flush(wait_seconds)
        return {"pending": still_running, "deliveries": len(state.snapshot()["deliveries"])}

    @router.post("/reset")
    async def reset(webhooks: bool = True) -> JsonDict:
        """Resets the Chatwoot simulator only (the global `/_sandbox/reset` resets all)."""
        await ctx.chatwoot_emitter.cancel_pending()
        state.reset(clear_webhooks=webhooks)
        return {"reset": True, "webhooks_cleared": webhooks}

    return router
