"""JSON shapes of the Chatwoot simulator: API answers and webhook bodies (TEST/SANDBOX ONLY).

Webhook bodies follow contracts/chatwoot.md §2.1-2.3 (`Message#webhook_data`,
`Conversations::EventDataPresenter`, `Contact#webhook_data`). API answers follow Chatwoot's
jbuilder views as far as the contract and swagger fixtures show them; a message in an API
answer (and in `conversation.messages`) is push data, with an integer `message_type` and an
integer `created_at`, unlike the webhook's strings.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from seleto_agent.sandbox.chatwoot_state import (
    Actor,
    ContactRecord,
    ConversationRecord,
    MessageRecord,
    WebhookRecord,
)
from seleto_agent.sandbox.config import SandboxConfig

JsonDict = dict[str, Any]

# Rails enum order of Message#message_type.
MESSAGE_TYPE_NUMBERS: dict[str, int] = {
    "incoming": 0,
    "outgoing": 1,
    "activity": 2,
    "template": 3,
}
_SENDER_CLASS = {
    "user": "User",
    "agent_bot": "AgentBot",
    "captain_assistant": "Captain::Assistant",
    "contact": "Contact",
}


def iso(timestamp: float) -> str:
    """Rails' JSON form of a datetime: ISO-8601 in UTC with milliseconds."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def account_ref(config: SandboxConfig) -> JsonDict:
    return {"id": config.chatwoot_account_id, "name": config.chatwoot_account_name}


def inbox_ref(config: SandboxConfig) -> JsonDict:
    return {"id": config.chatwoot_inbox_id, "name": config.chatwoot_inbox_name}


def _inbox_webhook_data(inbox_id: int, config: SandboxConfig) -> JsonDict:
    """Inbox#webhook_data: `{id, name}`."""
    if inbox_id == config.chatwoot_inbox_id:
        return inbox_ref(config)
    return {"id": inbox_id, "name": config.chatwoot_other_inbox_name}


def _channel(inbox_id: int, config: SandboxConfig) -> str:
    return "Channel::Api" if inbox_id == config.chatwoot_inbox_id else "Channel::WebWidget"


def inbox_json(inbox_id: int, config: SandboxConfig) -> JsonDict:
    """An inbox as the API nests it in contact inboxes (`api/v1/models/_inbox`, abridged)."""
    return {**_inbox_webhook_data(inbox_id, config), "channel_type": _channel(inbox_id, config)}


def contact_inbox_json(source_id: str, inbox_id: int, config: SandboxConfig) -> JsonDict:
    """`api/v1/models/_contact_inbox`: what `POST /contacts/{id}/contact_inboxes` answers, and
    each item of a contact's `contact_inboxes`."""
    return {"source_id": source_id, "inbox": inbox_json(inbox_id, config)}


# --- contacts -------------------------------------------------------------------------------


def _contact_fields(contact: ContactRecord) -> JsonDict:
    return {
        "additional_attributes": dict(contact.additional_attributes),
        "custom_attributes": dict(contact.custom_attributes),
        "email": contact.email,
        "id": contact.id,
        "identifier": contact.identifier,
        "name": contact.name,
        "phone_number": contact.phone_number,
        "thumbnail": "",
        "blocked": False,
    }


def contact_json(contact: ContactRecord, config: SandboxConfig) -> JsonDict:
    """A contact in API answers (create, update, search), with its contact inboxes."""
    return {
        **_contact_fields(contact),
        "availability_status": "offline",
        "created_at": int(contact.created_at),
        "last_activity_at": None,
        "contact_inboxes": [
            contact_inbox_json(link.source_id, link.inbox_id, config)
            for link in contact.contact_inboxes
        ],
    }


def contact_push_data(contact: ContactRecord) -> JsonDict:
    """Contact#push_event_data: what `conversation.meta.sender` holds (§2.3)."""
    return {**_contact_fields(contact), "type": "contact"}


def contact_webhook_data(
    contact: ContactRecord, config: SandboxConfig, *, with_type: bool = False
) -> JsonDict:
    """Contact#webhook_data: newer Chatwoot has no `type` key, older had "contact" (§2.2)."""
    data = {
        "account": account_ref(config),
        **_contact_fields(contact),
        "avatar": "",
    }
    if with_type:
        data["type"] = "contact"
    return data


# --- users and bots -------------------------------------------------------------------------


def user_push_data(user_id: int, config: SandboxConfig, name: str | None = None) -> JsonDict:
    name = name or (
        config.chatwoot_user_name if user_id == config.chatwoot_user_id else f"Agent {user_id}"
    )
    return {
        "id": user_id,
        "name": name,
        "available_name": name,
        "avatar_url": "",
        "type": "user",
        "availability_status": "online",
        "thumbnail": "",
    }


def user_json(user_id: int, config: SandboxConfig) -> JsonDict:
    """An agent as the assignments endpoint answers it."""
    data = user_push_data(user_id, config)
    email = config.chatwoot_user_email if user_id == config.chatwoot_user_id else None
    return {**data, "email": email, "role": "agent", "confirmed": True}


def team_json(team_id: int) -> JsonDict:
    return {"id": team_id, "name": f"team {team_id}", "allow_auto_assign": True}


def captain_data(actor: Actor) -> JsonDict:
    """Captain::Assistant#webhook_data (and push_event_data), Chatwoot's AI assistant."""
    return {
        "id": actor.id,
        "name": actor.name,
        "avatar_url": "",
        "description": "Assistente de IA",
        "created_at": "2026-01-05T12:00:00.000Z",
        "type": "captain_assistant",
    }


def _actor_push_data(actor: Actor, contact: ContactRecord, config: SandboxConfig) -> JsonDict:
    if actor.kind == "contact":
        return contact_push_data(contact)
    if actor.kind == "agent_bot":
        return {"id": actor.id, "name": actor.name, "avatar_url": "", "type": "agent_bot"}
    if actor.kind == "captain_assistant":
        return captain_data(actor)
    return user_push_data(actor.id, config, actor.name)


def _actor_webhook_data(
    actor: Actor, contact: ContactRecord, config: SandboxConfig, *, contact_type: bool
) -> JsonDict:
    if actor.kind == "contact":
        return contact_webhook_data(contact, config, with_type=contact_type)
    if actor.kind == "agent_bot":
        return {"id": actor.id, "name": actor.name, "type": "agent_bot"}
    if actor.kind == "captain_assistant":
        return captain_data(actor)
    return {"id": actor.id, "name": actor.name, "email": actor.email, "type": "user"}


# --- messages ---------------------------------------------------------------------------------


def message_push_data(
    message: MessageRecord,
    conversation: ConversationRecord,
    contact: ContactRecord,
    config: SandboxConfig,
) -> JsonDict:
    """Message#push_event_data: API answers and `conversation.messages` in webhooks."""
    sender = message.sender
    data: JsonDict = {
        "id": message.id,
        "content": message.content,
        "account_id": config.chatwoot_account_id,
        "inbox_id": conversation.inbox_id,
        "conversation_id": conversation.display_id,
        "message_type": MESSAGE_TYPE_NUMBERS[message.message_type],
        "created_at": int(message.created_at),
        "updated_at": iso(message.created_at),
        "private": message.private,
        "status": "sent",
        "source_id": message.source_id,
        "content_type": "text",
        "content_attributes": dict(message.content_attributes),
        "sender_type": _SENDER_CLASS[sender.kind] if sender else None,
        "sender_id": sender.id if sender else None,
        "external_source_ids": {},
        "additional_attributes": {},
        "processed_message_content": message.content,
        "conversation": {
            "assignee_id": conversation.assignee_id,
            "unread_count": 0,
            "last_activity_at": int(conversation.last_activity_at),
            "contact_inbox": {"source_id": conversation.contact_inbox.source_id},
        },
    }
    if sender is not None:
        data["sender"] = _actor_push_data(sender, contact, config)
    return data


def message_webhook_data(
    message: MessageRecord,
    conversation: ConversationRecord,
    contact: ContactRecord,
    config: SandboxConfig,
    *,
    contact_sender_type: bool,
) -> JsonDict:
    """Message#webhook_data (§2.1): string `message_type`, ISO `created_at`."""
    sender = message.sender
    return {
        "account": account_ref(config),
        "additional_attributes": {},
        "content_attributes": dict(message.content_attributes),
        "content_type": "text",
        "content": message.content,
        "conversation": conversation_webhook_data(conversation, contact, config),
        "created_at": iso(message.created_at),
        "id": message.id,
        "inbox": _inbox_webhook_data(conversation.inbox_id, config),
        "message_type": message.message_type,
        "private": message.private,
        "sender": (
            _actor_webhook_data(sender, contact, config, contact_type=contact_sender_type)
            if sender is not None
            else None
        ),
        "source_id": message.source_id,
    }


# --- conversations ----------------------------------------------------------------------------


def _last_chat_message(conversation: ConversationRecord) -> MessageRecord | None:
    """Chatwoot's `chat` scope: neither activity nor private."""
    for message in reversed(conversation.messages):
        if message.message_type != "activity" and not message.private:
            return message
    return None


def _meta(
    conversation: ConversationRecord, contact: ContactRecord, config: SandboxConfig
) -> JsonDict:
    return {
        "sender": contact_push_data(contact),
        "assignee": (
            user_push_data(conversation.assignee_id, config)
            if conversation.assignee_id is not None
            else None
        ),
        "team": team_json(conversation.team_id) if conversation.team_id is not None else None,
        "hmac_verified": False,
    }


def _conversation_common(
    conversation: ConversationRecord, contact: ContactRecord, config: SandboxConfig
) -> JsonDict:
    last = _last_chat_message(conversation)
    return {
        "additional_attributes": dict(conversation.additional_attributes),
        "can_reply": True,
        "custom_attributes": dict(conversation.custom_attributes),
        # The display id: the number in `/conversations/{id}` paths (§2.3).
        "id": conversation.display_id,
        "inbox_id": conversation.inbox_id,
        "labels": list(conversation.labels),
        "messages": (
            [message_push_data(last, conversation, contact, config)] if last is not None else []
        ),
        "meta": _meta(conversation, contact, config),
        "status": conversation.status,
        "snoozed_until": conversation.snoozed_until,
        "unread_count": 0,
        "first_reply_created_at": None,
        "priority": None,
        "waiting_since": None,
        "agent_last_seen_at": 0,
        "contact_last_seen_at": 0,
        "last_activity_at": int(conversation.last_activity_at),
        "timestamp": int(conversation.last_activity_at),
        "created_at": int(conversation.created_at),
    }


def conversation_webhook_data(
    conversation: ConversationRecord, contact: ContactRecord, config: SandboxConfig
) -> JsonDict:
    """Conversations::EventDataPresenter (§2.3)."""
    return {
        **_conversation_common(conversation, contact, config),
        "channel": _channel(conversation.inbox_id, config),
        "contact_inbox": {
            "id": conversation.contact_inbox.id,
            "contact_id": contact.id,
            "inbox_id": conversation.inbox_id,
            "source_id": conversation.contact_inbox.source_id,
            "hmac_verified": False,
        },
        "updated_at": float(conversation.last_activity_at),
        "account": account_ref(config),
    }


def conversation_json(
    conversation: ConversationRecord, contact: ContactRecord, config: SandboxConfig
) -> JsonDict:
    """A conversation in API answers (create, show, a contact's conversations)."""
    common = _conversation_common(conversation, contact, config)
    common["meta"] = {**common["meta"], "channel": _channel(conversation.inbox_id, config)}
    return {**common, "account_id": config.chatwoot_account_id, "muted": False}


def changed(attributes: dict[str, list[Any]]) -> list[JsonDict]:
    """`changed_attributes`: `[{"<attr>": {"current_value", "previous_value"}}]`."""
    return [
        {name: {"current_value": values[1], "previous_value": values[0]}}
        for name, values in attributes.items()
    ]


def webhook_json(webhook: WebhookRecord, config: SandboxConfig, *, has_secret: bool) -> JsonDict:
    data: JsonDict = {
        "id": webhook.id,
        "url": webhook.url,
        "name": webhook.name,
        "account_id": config.chatwoot_account_id,
        "subscriptions": list(webhook.subscriptions),
        "inbox": inbox_ref(config) if webhook.inbox_id is not None else None,
    }
    if has_secret:
        # Shown since Chatwoot 4.11.2 (PR 13573) so the receiver can verify signatures.
        data["secret"] = webhook.secret
    return data
