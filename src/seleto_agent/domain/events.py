"""Inbound event states and the provider-neutral shapes the pipeline works with."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from seleto_agent.domain.phone import WhatsAppAddress


class EventStatus(StrEnum):
    RECEIVED = "received"
    PROCESSING = "processing"
    DONE = "done"
    IGNORED = "ignored"
    FAILED = "failed"
    DEAD = "dead"


# A message sent from the company phone but not through the API: maybe an SDR taking over.
PHONE_REPLY_REASON = "from_me_phone"
# The provider's copy of a message we sent through its API.
OWN_ECHO_REASON = "from_me"

PENDING_STATUSES = (EventStatus.RECEIVED, EventStatus.FAILED)
REPLAYABLE_STATUSES = (EventStatus.DEAD, EventStatus.FAILED)


class IngestOutcome(StrEnum):
    """What the webhook answers (`{"status": ...}`)."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"


class ContentKind(StrEnum):
    TEXT = "text"
    AUDIO = "audio"
    IMAGE = "image"
    VIDEO = "video"
    DOCUMENT = "document"
    STICKER = "sticker"
    LOCATION = "location"
    CONTACT = "contact"
    OTHER = "other"


class OutboundStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    # Surely not sent: the next attempt may send it.
    FAILED = "failed"
    # The provider may have it (a timeout, a 5xx...): confirmed by its callbacks, or sent once
    # more after a grace, never blindly.
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A lead's message, as every provider adapter produces it."""

    provider: str
    event_type: str
    instance_id: str
    message_id: str
    sender: WhatsAppAddress
    kind: ContentKind
    text: str
    sender_name: str | None = None


@dataclass(frozen=True, slots=True)
class IgnoredCallback:
    """A callback that is recorded but starts no turn; `reason` is stored as the event's note."""

    provider: str
    event_type: str
    reason: str
    instance_id: str | None = None
    message_id: str | None = None
    sender: WhatsAppAddress | None = None
    # Kept only for a message typed on the company phone (shown to the SDR team).
    text: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryUpdate:
    """A provider's news about messages we sent (delivered, read...)."""

    provider: str
    event_type: str
    provider_message_ids: tuple[str, ...]
    status: str
    instance_id: str | None = None
    # Set when the update says one message went out to this chat (Z-API's DeliveryCallback):
    # proof enough for a send of ours whose answer was lost.
    sent_to: WhatsAppAddress | None = None


@dataclass(frozen=True, slots=True)
class SentEcho:
    """The provider's copy of a message sent through its API (Z-API `fromMe` + `fromApi`):
    recorded, starts no turn, and proves which text went out to which chat."""

    provider: str
    event_type: str
    instance_id: str | None
    message_id: str
    recipient: WhatsAppAddress
    text: str


Classified = InboundMessage | IgnoredCallback | DeliveryUpdate | SentEcho


# How far along a sent message is; a late or repeated receipt never moves it back.
_DELIVERY_RANK = {
    "ACCEPTED": 1,
    "SENT": 2,
    "RECEIVED": 3,
    "DELIVERED": 3,
    "READ": 4,
    "READ_BY_ME": 4,
    "PLAYED": 5,
}


def delivery_rank(status: str | None) -> int:
    """Unknown statuses (a provider's error codes, say) rank lowest but still beat nothing."""
    if status is None:
        return -1
    return _DELIVERY_RANK.get(status.upper(), 0)


def most_advanced(statuses: list[str]) -> str | None:
    return max(statuses, key=delivery_rank, default=None)
