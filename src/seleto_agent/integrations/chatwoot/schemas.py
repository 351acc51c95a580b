"""Chatwoot API answers we read (contracts/chatwoot.md §2, §4). Unknown fields are ignored.

Chatwoot is loose with types: the docs sample sends ids as strings, push data sends
`message_type` as an integer where webhook data sends a string, and optional objects come as
null. The `Loose*` types below turn such values into one shape (or None) instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

MessageType = Literal["incoming", "outgoing", "activity", "template"]
MESSAGE_TYPES: tuple[MessageType, ...] = get_args(MessageType)
# Rails enum order of Message#message_type; push_event_data sends these integers.
_MESSAGE_TYPE_BY_NUMBER: dict[int, MessageType] = dict(enumerate(MESSAGE_TYPES))
# Chatwoot's contact search answers pages of this many contacts.
SEARCH_PAGE_SIZE = 15


# Chatwoot's ids are Postgres bigints; anything outside that is no id (and would overflow
# the columns and SQL parameters it is looked up with).
_MAX_ID = 2**63 - 1


def loose_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and 0 <= value <= _MAX_ID:
        return value
    return None


def loose_str(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def loose_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def loose_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def mapping_or_none(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def normalise_message_type(value: Any) -> MessageType | None:
    """The string form of a message type, from either the string or the integer form."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return _MESSAGE_TYPE_BY_NUMBER.get(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text.isdigit():
            return _MESSAGE_TYPE_BY_NUMBER.get(int(text))
        for known in MESSAGE_TYPES:
            if known == text:
                return known
    return None


LooseInt = Annotated[int | None, BeforeValidator(loose_int)]
LooseStr = Annotated[str | None, BeforeValidator(loose_str)]
LooseDict = Annotated[dict[str, Any], BeforeValidator(loose_dict)]
LooseMessageType = Annotated[MessageType | None, BeforeValidator(normalise_message_type)]


def _bool_or_false(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


LooseBool = Annotated[bool, BeforeValidator(_bool_or_false)]


def _labels(value: Any) -> list[str]:
    return [str(item) for item in loose_list(value) if isinstance(item, str | int)]


LooseLabels = Annotated[list[str], BeforeValidator(_labels)]


def _int_or_str(value: Any) -> int | str | None:
    if isinstance(value, float):
        return int(value)
    return value if isinstance(value, int | str) and not isinstance(value, bool) else None


class ChatwootModel(BaseModel):
    model_config = ConfigDict(extra="ignore")


class IdRef(ChatwootModel):
    id: LooseInt = None
    name: LooseStr = None


LooseRef = Annotated[IdRef | None, BeforeValidator(mapping_or_none)]


class ContactInbox(ChatwootModel):
    source_id: LooseStr = None
    inbox: LooseRef = None
    inbox_id: LooseInt = None

    @property
    def effective_inbox_id(self) -> int | None:
        if self.inbox is not None and self.inbox.id is not None:
            return self.inbox.id
        return self.inbox_id


def _contact_inboxes(value: Any) -> list[Any]:
    return [item for item in loose_list(value) if isinstance(item, dict)]


class Contact(ChatwootModel):
    id: int
    name: LooseStr = None
    email: LooseStr = None
    phone_number: LooseStr = None
    identifier: LooseStr = None
    custom_attributes: LooseDict = Field(default_factory=dict)
    additional_attributes: LooseDict = Field(default_factory=dict)
    contact_inboxes: Annotated[list[ContactInbox], BeforeValidator(_contact_inboxes)] = Field(
        default_factory=list
    )

    def source_id_for(self, inbox_id: int) -> str | None:
        """The contact_inbox source id that links this contact to `inbox_id`, if any."""
        for link in self.contact_inboxes:
            if link.effective_inbox_id == inbox_id and link.source_id:
                return link.source_id
        return None


@dataclass(frozen=True, slots=True)
class CreatedContact:
    contact_id: int
    # Needed to open a conversation in an API inbox (contracts/chatwoot.md §4).
    source_id: str
    contact: Contact


class ConversationContact(ChatwootModel):
    id: LooseInt = None
    name: LooseStr = None
    phone_number: LooseStr = None
    identifier: LooseStr = None


class ConversationMeta(ChatwootModel):
    sender: Annotated[ConversationContact | None, BeforeValidator(mapping_or_none)] = None
    assignee: LooseRef = None
    team: LooseRef = None


class Conversation(ChatwootModel):
    # The display id: the number used in `/conversations/{id}` paths (§2.3), never the row id.
    id: int
    inbox_id: LooseInt = None
    status: LooseStr = None
    labels: LooseLabels = Field(default_factory=list)
    additional_attributes: LooseDict = Field(default_factory=dict)
    custom_attributes: LooseDict = Field(default_factory=dict)
    meta: Annotated[ConversationMeta, BeforeValidator(loose_dict)] = Field(
        default_factory=ConversationMeta
    )

    @property
    def contact_id(self) -> int | None:
        return self.meta.sender.id if self.meta.sender is not None else None

    @property
    def assignee_id(self) -> int | None:
        return self.meta.assignee.id if self.meta.assignee is not None else None


class MessageSender(ChatwootModel):
    id: LooseInt = None
    name: LooseStr = None
    # "user", "agent_bot", "contact", or None: newer Chatwoot omits it for contacts (§2.2).
    type: LooseStr = None


class Message(ChatwootModel):
    id: int
    content: LooseStr = None
    message_type: LooseMessageType = None
    private: LooseBool = False
    content_attributes: LooseDict = Field(default_factory=dict)
    source_id: LooseStr = None
    conversation_id: LooseInt = None
    sender: Annotated[MessageSender | None, BeforeValidator(mapping_or_none)] = None
    # Integer seconds in API answers, an ISO string in webhooks.
    created_at: Annotated[int | str | None, BeforeValidator(_int_or_str)] = None


def _bool_or_none(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


class SearchMeta(ChatwootModel):
    # The size of this page in current Chatwoot (not a total); absent in older versions.
    count: LooseInt = None
    current_page: LooseInt = None
    has_more: Annotated[bool | None, BeforeValidator(_bool_or_none)] = None


class ContactSearchPage(ChatwootModel):
    payload: list[Contact] = Field(default_factory=list)
    meta: Annotated[SearchMeta, BeforeValidator(loose_dict)] = Field(default_factory=SearchMeta)


class ConversationList(ChatwootModel):
    payload: list[Conversation] = Field(default_factory=list)


class MessageList(ChatwootModel):
    payload: list[Message] = Field(default_factory=list)


class ToggleStatusResult(ChatwootModel):
    success: LooseBool = False
    current_status: LooseStr = None
    conversation_id: LooseInt = None


class ToggleStatusAnswer(ChatwootModel):
    payload: ToggleStatusResult


class LabelsAnswer(ChatwootModel):
    payload: LooseLabels = Field(default_factory=list)
