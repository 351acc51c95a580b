"""Chatwoot Application API simulator under `/api/v1/accounts/{account_id}` (TEST/SANDBOX ONLY).

Implements contracts/chatwoot.md §4 and §6: contacts (create, update, search with 15-a-page
paging, a contact's conversations, linking a contact to an inbox), conversations with display
ids, messages, toggle_status, assignments, labels (overwrite) and account webhooks. Every call
goes through the same steps: down mode, the access token, account, scripted fault, the write,
its webhooks, the answer.

Where the contract is wrong or silent, this follows Chatwoot's code (vendors review):
- the token is read from `api_access_token` or `api-access-token` (Rails maps both to
  HTTP_API_ACCESS_TOKEN); knob `drop_underscore_headers` (on by default) models the proxy in
  front that drops the underscore spelling;
- `toggle_status` leaving the conversation open assigns it to the calling agent-role user;
- `POST /contacts/{id}/contact_inboxes` links an existing contact to an inbox (missing from §4);
- search's `meta.count` is the size of the page, with `has_more`, not a total.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from seleto_agent.sandbox.chatwoot_emitter import Emission
from seleto_agent.sandbox.chatwoot_payloads import (
    changed,
    contact_inbox_json,
    contact_json,
    contact_push_data,
    contact_webhook_data,
    conversation_json,
    conversation_webhook_data,
    inbox_json,
    message_push_data,
    message_webhook_data,
    team_json,
    user_json,
    user_push_data,
    webhook_json,
)
from seleto_agent.sandbox.chatwoot_state import (
    ACCOUNT_WEBHOOK_SIGNING_SINCE,
    CONVERSATION_STATUSES,
    Actor,
    ChatwootApiError,
    ChatwootFault,
    ContactRecord,
    ConversationRecord,
    MessageRecord,
    invalid,
    not_found,
    version_tuple,
)
from seleto_agent.sandbox.context import SandboxContext

JsonDict = dict[str, Any]

CHATWOOT_PREFIX = "/api/v1/accounts/{account_id}"
# Webhook.ALLOWED_WEBHOOK_EVENTS (contracts §2).
ACCOUNT_WEBHOOK_EVENTS: tuple[str, ...] = (
    "conversation_status_changed",
    "conversation_updated",
    "conversation_created",
    "contact_created",
    "contact_updated",
    "message_created",
    "message_updated",
    "webwidget_triggered",
    "inbox_created",
    "inbox_updated",
    "conversation_typing_on",
    "conversation_typing_off",
)
# Devise's answer without a token; a token that matches nobody gets Chatwoot's own message.
UNAUTHENTICATED: JsonDict = {"error": "You need to sign in or sign up before continuing."}
INVALID_TOKEN: JsonDict = {"error": "Invalid Access Token"}
# Chatwoot's MessageFinder answers the latest 20 messages (older ones via `before`).
MESSAGES_PAGE_SIZE = 20
# ContactsController::RESULTS_PER_PAGE.
SEARCH_PAGE_SIZE = 15

# Every route as "METHOD /path" below the account prefix: also the fault-queue keys.
ROUTES: tuple[str, ...] = (
    "POST /contacts",
    "GET /contacts/search",
    "GET /contacts/{contact_id}",
    "DELETE /contacts/{contact_id}",
    "PUT /contacts/{contact_id}",
    "GET /contacts/{contact_id}/conversations",
    "POST /contacts/{contact_id}/contact_inboxes",
    "POST /conversations",
    "GET /conversations/{conversation_id}",
    "GET /conversations/{conversation_id}/messages",
    "POST /conversations/{conversation_id}/messages",
    "POST /conversations/{conversation_id}/toggle_status",
    "POST /conversations/{conversation_id}/assignments",
    "POST /conversations/{conversation_id}/labels",
    "GET /webhooks",
    "POST /webhooks",
    "DELETE /webhooks/{webhook_id}",
)
# What an agent-bot token may call (Chatwoot's bot-accessible endpoints, as recalled from its
# AccessTokenAuthHelper; not covered by the contract): a bot cannot manage contacts.
BOT_ROUTES: frozenset[str] = frozenset(
    {
        "POST /conversations",
        "POST /conversations/{conversation_id}/messages",
        "POST /conversations/{conversation_id}/toggle_status",
        "POST /conversations/{conversation_id}/assignments",
    }
)
_ROUTE_PATTERNS = [
    re.compile("^" + re.sub(r"\\{\w+\\}", r"[^/]+", re.escape(route)) + "$") for route in ROUTES
]


def is_fault_key(key: str) -> bool:
    """A route template (`POST /conversations/{conversation_id}/messages`) or a concrete path
    of one (`POST /conversations/3/messages`)."""
    return any(pattern.match(key) for pattern in _ROUTE_PATTERNS)


@dataclass(frozen=True, slots=True)
class Call:
    actor: Actor
    body: JsonDict
    query: Mapping[str, str]
    params: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Outcome:
    body: Any
    emissions: tuple[Emission, ...] = ()
    status: int = 200


Work = Callable[[Call], Outcome]


# --- emissions shared with the control routes ---------------------------------------------------


def message_created(
    ctx: SandboxContext,
    conversation: ConversationRecord,
    contact: ContactRecord,
    message: MessageRecord,
) -> Emission:
    knobs = ctx.state.chatwoot.knobs
    payload = message_webhook_data(
        message,
        conversation,
        contact,
        ctx.config,
        contact_sender_type=knobs.contact_sender_type,
    )
    return Emission(
        "message_created", {**payload, "event": "message_created"}, conversation.inbox_id
    )


def conversation_event(
    ctx: SandboxContext,
    event: str,
    conversation: ConversationRecord,
    contact: ContactRecord,
    changes: dict[str, list[Any]] | None = None,
) -> Emission:
    payload = {**conversation_webhook_data(conversation, contact, ctx.config), "event": event}
    if changes is not None:
        payload["changed_attributes"] = changed(changes)
    return Emission(event, payload, conversation.inbox_id)


def status_changed(
    ctx: SandboxContext,
    conversation: ConversationRecord,
    contact: ContactRecord,
    previous: str,
    assignment: dict[str, list[Any]] | None = None,
) -> tuple[Emission, ...]:
    """The status change's event, then the assignee change's (toggle_status by an agent)."""
    emissions: list[Emission] = []
    if previous != conversation.status:
        changes = {"status": [previous, conversation.status]}
        emissions.append(
            conversation_event(ctx, "conversation_status_changed", conversation, contact, changes)
        )
    if assignment:
        emissions.append(
            conversation_event(ctx, "conversation_updated", conversation, contact, assignment)
        )
    return tuple(emissions)


# --- request parsing helpers --------------------------------------------------------------------


def _id_param(call: Call, name: str) -> int:
    value = call.params.get(name, "")
    if not value.isdigit():
        raise not_found()
    return int(value)


def _optional_int(value: Any, field: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise invalid(f"{field} is invalid", field)


def _dict_field(body: JsonDict, field: str) -> JsonDict:
    value = body.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(f"{field} is invalid", field)
    return value


def _status_field(value: Any) -> str:
    if value not in CONVERSATION_STATUSES:
        raise invalid(f"'{value}' is not a valid status", "status")
    return str(value)


async def _read_body(request: Request) -> JsonDict:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = await request.json()
    except ValueError as exc:
        raise ChatwootApiError(400, {"error": "Invalid JSON body"}) from exc
    if not isinstance(body, dict):
        raise ChatwootApiError(400, {"error": "Invalid JSON body"})
    return body


def _fault_error(fault: ChatwootFault) -> ChatwootApiError:
    status = fault.status or 500
    headers: dict[str, str] = {}
    if fault.retry_after is not None:
        seconds = fault.retry_after
        headers["Retry-After"] = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Sandbox injected failure"
    return ChatwootApiError(status, {"status": status, "error": phrase}, headers)


# --- the router ----------------------------------------------------------------------------------


def build_chatwoot_router(ctx: SandboxContext) -> APIRouter:
    router = APIRouter(prefix=CHATWOOT_PREFIX, tags=["sandbox: chatwoot"])
    config = ctx.config
    state = ctx.state.chatwoot

    def authenticate(request: Request) -> Actor:
        knobs = state.knobs
        token = request.headers.get("api-access-token")
        if not token and not knobs.drop_underscore_headers:
            token = request.headers.get("api_access_token")
        if not token:
            raise ChatwootApiError(401, dict(UNAUTHENTICATED))
        if token == config.chatwoot_user_token:
            return Actor(
                "user",
                config.chatwoot_user_id,
                config.chatwoot_user_name,
                config.chatwoot_user_email,
                role=knobs.api_user_role,
            )
        if token == config.chatwoot_bot_token:
            return Actor("agent_bot", config.chatwoot_bot_id, config.chatwoot_bot_name)
        raise ChatwootApiError(401, dict(INVALID_TOKEN))

    async def serve(request: Request, route: str, work: Work) -> Response:
        method = request.method
        concrete = request.url.path.split(f"/accounts/{request.path_params['account_id']}", 1)[-1]
        entry: JsonDict = {
            "method": method,
            "path": request.url.path,
            "route": route,
            "query": str(request.url.query),
            "token": None,
        }
        fault: ChatwootFault | None = None
        try:
            if state.knobs.down:
                raise ChatwootApiError(503, {"status": 503, "error": "Service Unavailable"})
            actor = authenticate(request)
            entry["token"] = actor.kind
            if actor.kind == "agent_bot" and route not in BOT_ROUTES:
                raise ChatwootApiError(401, {"error": "Unauthorized"})
            if request.path_params["account_id"] != str(config.chatwoot_account_id):
                raise not_found()
            # Read before any scripted delay: a client that times out meanwhile has still
            # delivered its whole request, and the write goes ahead without it.
            body = await _read_body(request) if method in ("POST", "PUT", "PATCH") else {}
            fault = state.pop_fault(f"{method} {concrete}", route)
            if fault is not None and fault.delay > 0:
                await asyncio.sleep(fault.delay)
            if fault is not None and fault.status is not None and not fault.after_commit:
                raise _fault_error(fault)
            outcome = work(Call(actor, body, request.query_params, request.path_params))
        except ChatwootApiError as error:
            state.record_request({**entry, "status": error.status})
            return JSONResponse(error.body, status_code=error.status, headers=error.headers)
        await ctx.chatwoot_emitter.dispatch(outcome.emissions)
        if fault is not None and fault.after_commit:
            failure = _fault_error(fault)
            state.record_request({**entry, "status": failure.status, "committed": True})
            return JSONResponse(failure.body, status_code=failure.status, headers=failure.headers)
        state.record_request({**entry, "status": outcome.status})
        if outcome.body is None and outcome.status == 200 and method == "DELETE":
            return Response(status_code=200)
        return JSONResponse(outcome.body, status_code=outcome.status)

    # --- contacts ------------------------------------------------------------------------------

    inboxes = (config.chatwoot_inbox_id, config.chatwoot_other_inbox_id)

    def known_inbox(value: Any) -> int | None:
        inbox_id = _optional_int(value, "inbox_id")
        if inbox_id is not None and inbox_id not in inboxes:
            raise not_found()
        return inbox_id

    def create_contact(call: Call) -> Outcome:
        # The controller links the contact only `if params[:inbox_id].present?`.
        inbox_id = known_inbox(call.body.get("inbox_id"))
        contact = state.create_contact(inbox_id, call.body)
        link = contact.contact_inboxes[0] if contact.contact_inboxes else None
        answer = {
            "payload": {
                "contact": contact_json(contact, config),
                "contact_inbox": {
                    "inbox": inbox_json(link.inbox_id, config) if link else None,
                    "source_id": link.source_id if link else None,
                },
            }
        }
        payload = {**contact_webhook_data(contact, config), "event": "contact_created"}
        return Outcome(answer, (Emission("contact_created", payload, None),))

    def create_contact_inbox(call: Call) -> Outcome:
        """ContactInboxesController#create: 404 for an unknown contact or inbox, the
        `_contact_inbox` partial (not wrapped in `payload`) otherwise."""
        contact_id = _id_param(call, "contact_id")
        state.contact(contact_id)
        inbox_id = known_inbox(call.body.get("inbox_id"))
        if inbox_id is None:
            raise not_found()  # `inboxes.find(nil)`
        source_id = call.body.get("source_id")
        if source_id is not None and not isinstance(source_id, str):
            raise invalid("Source is invalid", "source_id")
        link = state.link_contact_inbox(contact_id, inbox_id, source_id or None)
        return Outcome(contact_inbox_json(link.source_id, link.inbox_id, config))

    def search_contacts(call: Call) -> Outcome:
        query = call.query.get("q", "")
        if not query.strip():
            raise ChatwootApiError(422, {"error": "Specify search string with parameter q"})
        page_text = call.query.get("page", "1")
        page = int(page_text) if page_text.isdigit() and int(page_text) > 0 else 1
        found = state.search_contacts(query)
        start = (page - 1) * SEARCH_PAGE_SIZE
        # `fetch_contacts_with_has_more` reads one contact more than a page: `count` is the
        # size of this page, never a total, and `has_more` tells whether another page exists.
        shown = found[start : start + SEARCH_PAGE_SIZE]
        return Outcome(
            {
                "meta": {
                    "count": len(shown),
                    "current_page": page,
                    "has_more": len(found) > start + SEARCH_PAGE_SIZE,
                },
                "payload": [contact_json(c, config) for c in shown],
            }
        )

    def show_contact(call: Call) -> Outcome:
        contact = state.contact(_id_param(call, "contact_id"))
        return Outcome({"payload": contact_json(contact, config)})

    def update_contact(call: Call) -> Outcome:
        contact, changes = state.update_contact(_id_param(call, "contact_id"), call.body)
        emissions: tuple[Emission, ...] = ()
        if changes:
            payload = {
                **contact_webhook_data(contact, config),
                "event": "contact_updated",
                "changed_attributes": changed(changes),
            }
            emissions = (Emission("contact_updated", payload, None),)
        return Outcome({"payload": contact_json(contact, config)}, emissions)

    def delete_contact(call: Call) -> Outcome:
        """ContactsController#destroy: ContactPolicy lets administrators only (Pundit's
        refusal is Chatwoot's 401), then `destroy!` takes the contact's conversations and
        messages with it (`dependent: :destroy_async`, done at once here) and answers
        `head :ok`."""
        if call.actor.role != "administrator":
            raise ChatwootApiError(401, {"error": "You are not authorized to do this action"})
        state.delete_contact(_id_param(call, "contact_id"))
        return Outcome(None)

    def contact_conversations(call: Call) -> Outcome:
        contact_id = _id_param(call, "contact_id")
        conversations = state.contact_conversations(contact_id)
        contact = state.contact(contact_id)
        return Outcome({"payload": [conversation_json(c, contact, config) for c in conversations]})

    # --- conversations -------------------------------------------------------------------------

    def create_conversation(call: Call) -> Outcome:
        body = call.body
        source_id = body.get("source_id")
        if not isinstance(source_id, str) or not source_id:
            raise invalid("Source can't be blank", "source_id")
        conversation, contact = state.create_conversation(
            source_id=source_id,
            inbox_id=_optional_int(body.get("inbox_id"), "inbox_id"),
            status=_status_field(body.get("status") or "open"),
            assignee_id=_optional_int(body.get("assignee_id"), "assignee_id"),
            team_id=_optional_int(body.get("team_id"), "team_id"),
            additional_attributes=_dict_field(body, "additional_attributes"),
            custom_attributes=_dict_field(body, "custom_attributes"),
        )
        emissions = [conversation_event(ctx, "conversation_created", conversation, contact)]
        first = _dict_field(body, "message")
        if isinstance(first.get("content"), str) and first["content"]:
            conversation, contact, message, _ = state.add_message(
                conversation.display_id,
                content=first["content"],
                message_type="outgoing",
                private=False,
                sender=call.actor,
                content_attributes={},
            )
            emissions.append(message_created(ctx, conversation, contact, message))
        return Outcome(conversation_json(conversation, contact, config), tuple(emissions))

    def show_conversation(call: Call) -> Outcome:
        conversation, contact = state.conversation(_id_param(call, "conversation_id"))
        return Outcome(conversation_json(conversation, contact, config))

    def create_message(call: Call) -> Outcome:
        display_id = _id_param(call, "conversation_id")
        state.conversation(display_id)  # 404 before 422, as Rails loads the record first
        body = call.body
        content = body.get("content")
        if not isinstance(content, str) or not content.strip():
            raise ChatwootApiError(422, {"error": "Validation failed: Content can't be blank"})
        message_type = body.get("message_type") or "outgoing"
        if message_type not in ("outgoing", "incoming"):
            raise ChatwootApiError(422, {"error": f"'{message_type}' is not a valid message_type"})
        source_id = body.get("source_id")
        conversation, contact, message, reopened_from = state.add_message(
            display_id,
            content=content,
            message_type=message_type,
            private=body.get("private") is True,
            # Chatwoot makes the conversation's contact the sender of an incoming message.
            sender=call.actor if message_type == "outgoing" else None,
            content_attributes=_dict_field(body, "content_attributes"),
            source_id=source_id if isinstance(source_id, str) else None,
        )
        emissions: tuple[Emission, ...] = (message_created(ctx, conversation, contact, message),)
        if reopened_from is not None:
            emissions += status_changed(ctx, conversation, contact, reopened_from)
        return Outcome(message_push_data(message, conversation, contact, config), emissions)

    def list_messages(call: Call) -> Outcome:
        conversation, contact = state.conversation(_id_param(call, "conversation_id"))
        messages = conversation.messages
        before = call.query.get("before", "")
        if before.isdigit():
            messages = [m for m in messages if m.id < int(before)]
        page = messages[-MESSAGES_PAGE_SIZE:]
        meta = {
            "labels": list(conversation.labels),
            "additional_attributes": dict(conversation.additional_attributes),
            "contact": contact_push_data(contact),
            "assignee": (
                user_push_data(conversation.assignee_id, config)
                if conversation.assignee_id is not None
                else None
            ),
            "agent_last_seen_at": None,
            "assignee_last_seen_at": None,
        }
        payload = [message_push_data(m, conversation, contact, config) for m in page]
        return Outcome({"meta": meta, "payload": payload})

    def toggle_status(call: Call) -> Outcome:
        display_id = _id_param(call, "conversation_id")
        state.conversation(display_id)
        raw_status = call.body.get("status")
        status = _status_field(raw_status) if raw_status else None
        snoozed_until = _optional_int(call.body.get("snoozed_until"), "snoozed_until")
        conversation, contact, previous, assignment = state.set_status(
            display_id, status, snoozed_until, call.actor
        )
        answer = {
            "meta": {},
            "payload": {
                "success": True,
                "current_status": conversation.status,
                "conversation_id": conversation.display_id,
            },
        }
        return Outcome(answer, status_changed(ctx, conversation, contact, previous, assignment))

    def assign(call: Call) -> Outcome:
        display_id = _id_param(call, "conversation_id")
        state.conversation(display_id)
        body = call.body
        # "If the assignee_id is present, this param [team_id] would be ignored" (§4).
        if "assignee_id" in body:
            value = _optional_int(body["assignee_id"], "assignee_id")
            conversation, contact, changes = state.assign(display_id, "assignee_id", value)
            answer = user_json(value, config) if value is not None else None
        elif "team_id" in body:
            value = _optional_int(body["team_id"], "team_id")
            conversation, contact, changes = state.assign(display_id, "team_id", value)
            answer = team_json(value) if value is not None else None
        else:
            return Outcome(None)
        emissions: tuple[Emission, ...] = ()
        if changes:
            emissions = (
                conversation_event(ctx, "conversation_updated", conversation, contact, changes),
            )
        return Outcome(answer, emissions)

    def set_labels(call: Call) -> Outcome:
        display_id = _id_param(call, "conversation_id")
        labels = call.body.get("labels")
        if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
            raise invalid("Labels must be a list of strings", "labels")
        conversation, contact, previous = state.set_labels(display_id, labels)
        emissions: tuple[Emission, ...] = ()
        if previous != conversation.labels:
            changes = {"label_list": [previous, list(conversation.labels)]}
            emissions = (
                conversation_event(ctx, "conversation_updated", conversation, contact, changes),
            )
        return Outcome({"payload": list(conversation.labels)}, emissions)

    # --- account webhooks ------------------------------------------------------------------------

    def has_secret() -> bool:
        return version_tuple(state.knobs.version) >= ACCOUNT_WEBHOOK_SIGNING_SINCE

    def list_webhooks(call: Call) -> Outcome:
        del call
        webhooks = [webhook_json(w, config, has_secret=has_secret()) for w in state.webhooks()]
        return Outcome({"payload": {"webhooks": webhooks}})

    def create_webhook(call: Call) -> Outcome:
        body = call.body
        url = body.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise invalid("Url is invalid", "url")
        subscriptions = body.get("subscriptions", list(ACCOUNT_WEBHOOK_EVENTS))
        if (
            not isinstance(subscriptions, list)
            or not subscriptions
            or any(event not in ACCOUNT_WEBHOOK_EVENTS for event in subscriptions)
        ):
            raise invalid("Subscriptions Invalid events", "subscriptions")
        inbox_id = _optional_int(body.get("inbox_id"), "inbox_id")
        if inbox_id is not None and inbox_id != config.chatwoot_inbox_id:
            raise not_found()
        name = body.get("name")
        webhook = state.add_webhook(
            url=url,
            subscriptions=subscriptions,
            name=name if isinstance(name, str) else None,
            inbox_id=inbox_id,
        )
        answer = webhook_json(webhook, config, has_secret=has_secret())
        return Outcome({"payload": {"webhook": answer}})

    def delete_webhook(call: Call) -> Outcome:
        state.delete_webhook(_id_param(call, "webhook_id"))
        return Outcome(None)

    works: dict[str, Work] = {
        "POST /contacts": create_contact,
        "GET /contacts/search": search_contacts,
        "GET /contacts/{contact_id}": show_contact,
        "PUT /contacts/{contact_id}": update_contact,
        "DELETE /contacts/{contact_id}": delete_contact,
        "GET /contacts/{contact_id}/conversations": contact_conversations,
        "POST /contacts/{contact_id}/contact_inboxes": create_contact_inbox,
        "POST /conversations": create_conversation,
        "GET /conversations/{conversation_id}": show_conversation,
        "GET /conversations/{conversation_id}/messages": list_messages,
        "POST /conversations/{conversation_id}/messages": create_message,
        "POST /conversations/{conversation_id}/toggle_status": toggle_status,
        "POST /conversations/{conversation_id}/assignments": assign,
        "POST /conversations/{conversation_id}/labels": set_labels,
        "GET /webhooks": list_webhooks,
        "POST /webhooks": create_webhook,
        "DELETE /webhooks/{webhook_id}": delete_webhook,
    }

    def handler(route: str) -> Callable[[Request], Any]:
        work = works[route]

        async def handle(request: Request) -> Response:
            return await serve(request, route, work)

        return handle

    for route in ROUTES:
        method, path = route.split(" ", 1)
        router.add_api_route(path, handler(route), methods=[method])
    return router
