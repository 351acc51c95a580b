"""Test-driving endpoints of the Chatwoot simulator under `/_sandbox/chatwoot/` (not Chatwoot).

They act as a person in Chatwoot's UI (a public reply, a private note, resolving), as what
else writes in a conversation (an automation rule, an agent bot, Captain), show the inbox
settings page, and set the switches of contracts/chatwoot.md §6: the Chatwoot version (what is
signed), wrongly signed deliveries, a proxy dropping underscore headers, the token user's role,
contact senders with or without `type`, duplicate deliveries, delivery delay, API faults and
down mode.
"""

from __future__ import annotations

from typing import Any, Literal

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
from seleto_agent.sandbox.chatwoot_state import (
    INBOX_WEBHOOK_SIGNING_SINCE,
    Actor,
    ChatwootApiError,
    ChatwootFault,
    UserRole,
    version_tuple,
)
from seleto_agent.sandbox.context import SandboxContext

JsonDict = dict[str, Any]

KNOB_FIELDS: tuple[str, ...] = (
    "down",
    "version",
    "wrong_secret",
    "drop_underscore_headers",
    "api_user_role",
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
    # A Chatwoot release, e.g. "4.12.1" (unsigned API-inbox webhooks) or "4.11.1" (nothing
    # signed, no X-Chatwoot-Delivery).
    version: str | None = Field(default=None, pattern=r"^\d+\.\d+\.\d+$")
    wrong_secret: bool | None = None
    drop_underscore_headers: bool | None = None
    api_user_role: UserRole | None = None
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


class AutomatedMessageRequest(BaseModel):
    """A public outgoing message no person typed, in Chatwoot's real shapes: an automation
    rule's "send message" action (MessageBuilder with no sender and `content_attributes:
    {automation_rule_id}`), an agent bot's reply (sender AgentBot) or Captain's (sender
    Captain::Assistant)."""

    conversation_id: int
    content: str = Field(min_length=1)
    by: Literal["automation", "agent_bot", "captain_assistant"]
    automation_rule_id: int = 1


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
                role="agent",
            )
        return Actor("user", user_id, user_name or f"Agent {user_id}", None, role="agent")

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

    @router.post("/automated_message", response_model=None)
    async def automated_message(request: AutomatedMessageRequest) -> JSONResponse:
        """An automation rule's, an agent bot's or Captain's public reply (outgoing)."""
        sender: Actor | None = None
        content_attributes: JsonDict = {}
        if request.by == "automation":
            content_attributes = {"automation_rule_id": request.automation_rule_id}
        elif request.by == "agent_bot":
            sender = Actor("agent_bot", config.chatwoot_bot_id, config.chatwoot_bot_name)
        else:
            sender = Actor("captain_assistant", 1, "Captain")
        try:
            conversation, contact, message, _ = state.add_message(
                request.conversation_id,
                content=request.content,
                message_type="outgoing",
                private=False,
                sender=sender,
                content_attributes=content_attributes,
            )
        except ChatwootApiError as error:
            return JSONResponse(error.body, status_code=error.status)
        await ctx.chatwoot_emitter.dispatch([message_created(ctx, conversation, contact, message)])
        return JSONResponse(message_push_data(message, conversation, contact, config))

    @router.post("/resolve", response_model=None)
    async def resolve(request: ResolveRequest) -> JSONResponse:
        """A human marks the conversation resolved; emits conversation_status_changed."""
        try:
            conversation, contact, previous, _ = state.set_status(
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

    @router.get("/inbox")
    async def inbox_settings() -> JsonDict:
        """What the API inbox's settings page shows: the HMAC token (identity validation, in
        every version) and, from Chatwoot 4.13.0, the webhook secret (PR 13892: a dedicated
        secret, not the HMAC token). Only the webhook secret verifies its deliveries."""
        webhook = state.inbox_webhook()
        signs = version_tuple(state.knobs.version) >= INBOX_WEBHOOK_SIGNING_SINCE
        return {
            "id": config.chatwoot_inbox_id,
            "name": config.chatwoot_inbox_name,
            "channel_type": "Channel::Api",
            "webhook_url": webhook[0] if webhook else None,
            "hmac_token": config.chatwoot_inbox_hmac_token,
            "secret": (webhook[1] if webhook else config.chatwoot_webhook_secret)
            if signs
            else None,
        }

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
