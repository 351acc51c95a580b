"""Faithful Z-API webhook bodies and identifiers (shapes from contracts/zapi.md §2).

Where the vendor review corrected the contract (reviews/vendors.md #1, #2): every contact has
one stable `@lid`, named next to the number (`senderLid`, `chatLid`) or instead of it (`phone`),
and the forms switch; a "aguardando mensagem" placeholder is followed by the real message under
the same `messageId`. The control endpoints (`sandbox/zapi_control.py`) emit both.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

JsonDict = dict[str, Any]

AUDIO_MIME_TYPE = "audio/ogg; codecs=opus"


def now_ms() -> int:
    return int(time.time() * 1000)


def new_zaap_id() -> str:
    """32 upper-case hex characters, like `3999984263738042930CD6ECDE9VDWSA` in the docs."""
    return secrets.token_hex(16).upper()


def new_outbound_message_id() -> str:
    """20 characters, the length of the docs' `D241XXXX732339502B68` (WhatsApp Web style)."""
    return "3EB0" + secrets.token_hex(8).upper()


def new_inbound_message_id() -> str:
    """32 upper-case hex characters, like the ReceivedCallback example's messageId."""
    return secrets.token_hex(16).upper()


def _stable_digits(seed: str, salt: str, length: int) -> str:
    # surrogatepass: a test may hand in any string a webhook can carry, lone surrogates too.
    digest = int(hashlib.sha256(f"{salt}:{seed}".encode("utf-8", "surrogatepass")).hexdigest(), 16)
    low = 10 ** (length - 1)
    return str(low + digest % (9 * low))


def lid_for(phone_digits: str) -> str:
    """A stable fake `@lid` for a phone: WhatsApp LIDs are opaque and unrelated to the number."""
    return f"{_stable_digits(phone_digits, 'lid', 14)}@lid"


def group_phone_for(phone_digits: str) -> str:
    """A stable fake group id in Z-API's `<digits>-group` form."""
    return f"120363{_stable_digits(phone_digits, 'group', 12)}-group"


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """Inputs of one ReceivedCallback; `phone` is exactly what the payload's `phone` shows.

    `sender_lid` is who wrote (on a message of the company line: the line itself), `chat_lid`
    the contact the chat is with; None leaves the field null (groups, or callbacks from before
    Z-API sent `@lid` fields)."""

    instance_id: str
    connected_phone: str
    message_id: str
    phone: str
    sender_lid: str | None
    chat_name: str
    sender_name: str
    from_me: bool = False
    from_api: bool = False
    is_group: bool = False
    is_newsletter: bool = False
    waiting_message: bool = False
    participant_phone: str | None = None
    participant_lid: str | None = None
    chat_lid: str | None = None
    text: str | None = None
    audio_url: str | None = None
    audio_seconds: int = 5
    momment_ms: int = field(default_factory=now_ms)


def received_callback(message: ReceivedMessage) -> JsonDict:
    """Envelope of fixtures/vendor/zapi/on_message_received_{text,audio}.json, templated."""
    if message.waiting_message:
        return waiting_callback(message)
    payload: JsonDict = {
        "isStatusReply": False,
        "senderLid": message.sender_lid,
        # chatLid appears in the docs' template example; for groups it is not the sender's.
        "chatLid": None if message.is_group else message.chat_lid,
        "connectedPhone": message.connected_phone,
        "waitingMessage": message.waiting_message,
        "isEdit": False,
        "isGroup": message.is_group,
        "isNewsletter": message.is_newsletter,
        "instanceId": message.instance_id,
        "messageId": message.message_id,
        "phone": message.phone,
        "fromMe": message.from_me,
        "fromApi": message.from_api,
        "momment": message.momment_ms,  # Z-API docs: milliseconds here
        "status": "SENT" if message.from_me else "RECEIVED",
        "chatName": message.chat_name,
        "senderPhoto": None,
        "senderName": message.sender_name,
        "participantPhone": message.participant_phone,
        "participantLid": message.participant_lid,
        "photo": None,
        "broadcast": False,
        "type": "ReceivedCallback",
    }
    if message.audio_url is not None:
        payload["audio"] = {
            "ptt": True,
            "seconds": message.audio_seconds,
            "audioUrl": message.audio_url,
            "mimeType": AUDIO_MIME_TYPE,
            "viewOnce": False,
        }
    else:
        payload["text"] = {"message": message.text or ""}
    return payload


def waiting_callback(message: ReceivedMessage) -> JsonDict:
    """The docs' "aguardando mensagem" example (fixtures/vendor/zapi/on_message_received_waiting
    .json), templated: no content, and none of the `@lid` or `connectedPhone` fields. WhatsApp
    re-sends the decrypted message later under the same `messageId` (vendors.md #2)."""
    return {
        "isGroup": message.is_group,
        "isNewsletter": message.is_newsletter,
        "instanceId": message.instance_id,
        "messageId": message.message_id,
        "momment": message.momment_ms,
        "status": "RECEIVED",
        "fromMe": message.from_me,
        "phone": message.phone,
        "chatName": message.chat_name,
        "senderName": message.sender_name,
        "senderPhoto": None,
        "photo": None,
        "broadcast": False,
        "participantLid": message.participant_lid,
        "type": "ReceivedCallback",
        "waitingMessage": True,
        "viewOnce": True,
    }


def delivery_callback(*, instance_id: str, phone: str, zaap_id: str, message_id: str) -> JsonDict:
    return {
        "phone": phone,
        "zaapId": zaap_id,
        "messageId": message_id,
        "type": "DeliveryCallback",
        "instanceId": instance_id,
    }


def message_status_callback(
    *, instance_id: str, phone: str, message_ids: list[str], status: str, is_group: bool = False
) -> JsonDict:
    # The docs' table says `id` (string) but every example uses `ids` (array); examples win.
    return {
        "instanceId": instance_id,
        "status": status,
        "ids": message_ids,
        "momment": now_ms(),
        "phoneDevice": 0,
        "phone": phone,
        "type": "MessageStatusCallback",
        "isGroup": is_group,
    }


def disconnected_callback(*, instance_id: str) -> JsonDict:
    return {
        "momment": int(time.time()),  # Z-API docs: seconds here, unlike every other callback
        "error": "Device has been disconnected",
        "disconnected": True,
        "type": "DisconnectedCallback",
        "instanceId": instance_id,
    }


def connected_callback(*, instance_id: str, phone: str) -> JsonDict:
    # The official example is not valid JSON; this follows its field list.
    return {
        "type": "ConnectedCallback",
        "connected": True,
        "momment": now_ms(),
        "instanceId": instance_id,
        "phone": phone,
    }


def presence_callback(*, instance_id: str, phone: str, status: str = "AVAILABLE") -> JsonDict:
    return {
        "type": "PresenceChatCallback",
        "phone": phone,
        "status": status,
        "lastSeen": None if status == "AVAILABLE" else now_ms(),
        "instanceId": instance_id,
    }
