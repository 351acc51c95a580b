"""Parsing of Chatwoot webhook bodies into one flat `ChatwootEvent` (contracts/chatwoot.md §2).

Built from the model code the contract describes (§2.1-2.3) and tolerant of the older docs
sample: string ids, `conversation.display_id`, a top-level `contact`, null `sender`. Deciding
what an event means (our own echo, a human reply, a command) is the caller's job (§5).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import BeforeValidator, Field, ValidationError

from seleto_agent.integrations.chatwoot.schemas import (
    ChatwootModel,
    LooseBool,
    LooseDict,
    LooseInt,
    LooseMessageType,
    LooseStr,
    MessageType,
    loose_list,
    mapping_or_none,
)

T = TypeVar("T")


class InvalidChatwootPayload(ValueError):
    """The body is not a Chatwoot webhook: not a JSON object, or no `event` name."""


@dataclass(frozen=True, slots=True)
class ChatwootEvent:
    event: str
    # Set for message_* events only; other events' top-level `id` is a conversation or contact.
    message_id: int | None = None
    message_type: MessageType | None = None
    private: bool = False
    content: str | None = None
    content_attributes: dict[str, Any] = field(default_factory=dict)
    # "user", "agent_bot", "contact", or None (newer Chatwoot sends contacts without a type).
    sender_type: str | None = None
    sender_id: int | None = None
    # The display id used in API paths.
    conversation_id: int | None = None
    conversation_status: str | None = None
    inbox_id: int | None = None
    account_id: int | None = None
    contact_phone: str | None = None
    contact_identifier: str | None = None
    changed_attributes: list[dict[str, Any]] = field(default_factory=list)
    created_at: datetime | None = None


class _Person(ChatwootModel):
    id: LooseInt = None
    type: LooseStr = None
    phone_number: LooseStr = None
    identifier: LooseStr = None


_LoosePerson = Annotated[_Person | None, BeforeValidator(mapping_or_none)]


class _Meta(ChatwootModel):
    sender: _LoosePerson = None


class _Conversation(ChatwootModel):
    id: LooseInt = None
    display_id: LooseInt = None
    status: LooseStr = None
    inbox_id: LooseInt = None
    account_id: LooseInt = None
    meta: Annotated[_Meta | None, BeforeValidator(mapping_or_none)] = None


class _Ref(ChatwootModel):
    id: LooseInt = None


_LooseRef = Annotated[_Ref | None, BeforeValidator(mapping_or_none)]


def _changed(value: Any) -> list[dict[str, Any]]:
    return [item for item in loose_list(value) if isinstance(item, dict)]


class _Body(ChatwootModel):
    event: str
    id: LooseInt = None
    display_id: LooseInt = None
    message_type: LooseMessageType = None
    private: LooseBool = False
    content: LooseStr = None
    content_attributes: LooseDict = Field(default_factory=dict)
    sender: _LoosePerson = None
    contact: _LoosePerson = None
    conversation: Annotated[_Conversation | None, BeforeValidator(mapping_or_none)] = None
    status: LooseStr = None
    meta: Annotated[_Meta | None, BeforeValidator(mapping_or_none)] = None
    inbox: _LooseRef = None
    inbox_id: LooseInt = None
    account: _LooseRef = None
    account_id: LooseInt = None
    phone_number: LooseStr = None
    identifier: LooseStr = None
    changed_attributes: Annotated[list[dict[str, Any]], BeforeValidator(_changed)] = Field(
        default_factory=list
    )
    created_at: Any = None


def parse_event(body: bytes | str | dict[str, Any]) -> ChatwootEvent:
    """One webhook body (raw bytes as received, or already decoded) as a `ChatwootEvent`."""
    data = _decode(body)
    event = data.get("event")
    if not isinstance(event, str) or not event.strip():
        raise InvalidChatwootPayload("Chatwoot webhook body has no `event` name")
    try:
        parsed = _Body.model_validate(data)
    except ValidationError as exc:
        raise InvalidChatwootPayload(f"unreadable Chatwoot `{event}` webhook") from exc
    return _event_from(parsed)


def _decode(body: bytes | str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(body, dict):
        return body
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: nesting deeper than the parser's stack, never a Chatwoot body.
        raise InvalidChatwootPayload("Chatwoot webhook body is not JSON") from exc
    if not isinstance(data, dict):
        raise InvalidChatwootPayload("Chatwoot webhook body is not a JSON object")
    return data


def _event_from(body: _Body) -> ChatwootEvent:
    kind = body.event.strip()
    is_message = kind.startswith("message_")
    is_conversation = kind.startswith("conversation_")
    is_contact = kind.startswith("contact_")
    conversation = body.conversation
    # The payload of a conversation_* event is the conversation itself (§2).
    meta = conversation.meta if conversation is not None else None
    if is_conversation and meta is None:
        meta = body.meta
    contact = meta.sender if meta is not None else None
    if contact is None and is_contact:
        contact = _Person(id=body.id, phone_number=body.phone_number, identifier=body.identifier)
    fallback = body.contact
    if contact is None and body.message_type == "incoming":
        fallback = fallback or body.sender
    return ChatwootEvent(
        event=kind,
        message_id=body.id if is_message else None,
        message_type=body.message_type,
        private=body.private,
        content=body.content,
        content_attributes=body.content_attributes,
        sender_type=body.sender.type if body.sender is not None else None,
        sender_id=body.sender.id if body.sender is not None else None,
        conversation_id=_conversation_id(body, is_conversation),
        conversation_status=(
            conversation.status if conversation is not None and conversation.status else None
        )
        or (body.status if is_conversation else None),
        inbox_id=_first(
            body.inbox.id if body.inbox is not None else None,
            body.inbox_id,
            conversation.inbox_id if conversation is not None else None,
        ),
        account_id=_first(
            body.account.id if body.account is not None else None,
            body.account_id,
            conversation.account_id if conversation is not None else None,
        ),
        contact_phone=_first(
            contact.phone_number if contact is not None else None,
            fallback.phone_number if fallback is not None else None,
        ),
        contact_identifier=_first(
            contact.identifier if contact is not None else None,
            fallback.identifier if fallback is not None else None,
        ),
        changed_attributes=body.changed_attributes,
        created_at=_timestamp(body.created_at),
    )


def _conversation_id(body: _Body, is_conversation: bool) -> int | None:
    conversation = body.conversation
    if conversation is not None:
        # Older payloads (the docs sample) carried `display_id` next to a row `id`; where both
        # exist `display_id` is the unambiguous one. Newer payloads set `id` to the display id.
        return _first(conversation.display_id, conversation.id)
    if is_conversation:
        return _first(body.display_id, body.id)
    return None


def _first(*values: T | None) -> T | None:
    for value in values:
        if value is not None and value != "":
            return value
    return None


_RAILS_UTC = "%Y-%m-%d %H:%M:%S UTC"


def _timestamp(value: Any) -> datetime | None:
    """ISO-8601 (webhook_data), integer seconds (push data) or Rails' `... UTC` (docs sample)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, ValueError, OSError):
            # 1e20, NaN, Infinity: JSON allows them, no clock does.
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = datetime.strptime(text, _RAILS_UTC)
        except ValueError:
            return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
