"""Inbound event states and the provider-neutral shapes the pipeline works with."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
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


def combined_outcome(outcomes: list[IngestOutcome]) -> IngestOutcome:
    """One answer for a body of several items: accepted if any item was, duplicate if every
    item was, else ignored."""
    if IngestOutcome.ACCEPTED in outcomes:
        return IngestOutcome.ACCEPTED
    if outcomes and all(o is IngestOutcome.DUPLICATE for o in outcomes):
        return IngestOutcome.DUPLICATE
    return IngestOutcome.IGNORED


class ContentKind(StrEnum):
    TEXT = "text"
    AUDIO = "audio"
    IMAGE = "image"
    VIDEO = "video"
    DOCUMENT = "document"
    STICKER = "sticker"
    LOCATION = "location"
    CONTACT = "contact"
    # A message WhatsApp could not hand over (Cloud API `unsupported`, error 131051): the lead
    # is asked to type it.
    UNSUPPORTED = "unsupported"
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
class Referral:
    """The Click-to-WhatsApp ad or post a lead came from (Cloud API `referral`): campaign
    attribution for the CRM."""

    source_url: str | None = None
    source_id: str | None = None
    source_type: str | None = None
    headline: str | None = None
    ctwa_clid: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}


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
    # When the lead sent it, by the provider's clock (Cloud API `timestamp`): a retried
    # delivery can arrive days later, and the 24 h reply window counts from here.
    sent_at: datetime | None = None
    # A button or list choice: `text` is the title the lead saw, this the id we gave it.
    machine_value: str | None = None
    referral: Referral | None = None


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
    # Set when the update says one message went out to this chat (Z-API's DeliveryCallback,
    # any Cloud API status): proof enough for a send of ours whose answer was lost.
    sent_to: WhatsAppAddress | None = None
    # The dedupe key when the provider repeats updates (Cloud API: `status:{wamid}:{status}`);
    # None stores every copy (Z-API names no id per update).
    event_key: str | None = None
    # Cloud API `biz_opaque_callback_data`: what the send put there, echoed back.
    callback_data: str | None = None
    # Why a `FAILED` send failed (Cloud API `errors[0].code`).
    error_code: int | None = None


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


class IdentityChange(StrEnum):
    """Cloud API `system` messages: WhatsApp says who a known lead now is."""

    NUMBER = "user_changed_number"
    USER_ID = "user_changed_user_id"


@dataclass(frozen=True, slots=True)
class IdentityUpdate:
    """A lead's id changed (a new number, a new BSUID): the new id is linked to the lead the
    old one names, audited; never a turn."""

    provider: str
    event_type: str
    instance_id: str
    message_id: str
    change: IdentityChange
    sender: WhatsAppAddress
    new_address: WhatsAppAddress


Classified = InboundMessage | IgnoredCallback | DeliveryUpdate | SentEcho | IdentityUpdate


FAILED_STATUS = "FAILED"

# How far along a sent message is; a late or repeated receipt never moves it back. A failure is
# final: a `delivered` from another of the lead's devices after it (order is not guaranteed,
# contracts/whatsapp_cloud_2026.md §2.7) is kept as a receipt but does not hide it.
_DELIVERY_RANK = {
    "ACCEPTED": 1,
    "SENT": 2,
    "RECEIVED": 3,
    "DELIVERED": 3,
    "READ": 4,
    "READ_BY_ME": 4,
    "PLAYED": 5,
    FAILED_STATUS: 99,
}


def delivery_rank(status: str | None) -> int:
    """Unknown statuses (a provider's error codes, say) rank lowest but still beat nothing."""
    if status is None:
        return -1
    return _DELIVERY_RANK.get(status.upper(), 0)


def most_advanced(statuses: list[str]) -> str | None:
    return max(statuses, key=delivery_rank, default=None)
