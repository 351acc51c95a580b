"""Z-API callback bodies shaped like the documented examples (contracts/zapi.md §2)."""

from __future__ import annotations

import time
import uuid
from typing import Any

INSTANCE_ID = "SANDBOX-INSTANCE"


def received_text(
    *,
    phone: str = "5544999999999",
    text: str = "oi, vi a formadora de hambúrguer de vocês",
    message_id: str | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "isStatusReply": False,
        "senderLid": "81896604192873@lid",
        "connectedPhone": "554499999999",
        "waitingMessage": False,
        "isEdit": False,
        "isGroup": False,
        "isNewsletter": False,
        "instanceId": INSTANCE_ID,
        "messageId": message_id or uuid.uuid4().hex.upper(),
        "phone": phone,
        "fromMe": False,
        "momment": int(time.time() * 1000),
        "status": "RECEIVED",
        "chatName": "Lead",
        "senderPhoto": None,
        "senderName": "Lead",
        "participantPhone": None,
        "participantLid": None,
        "photo": None,
        "broadcast": False,
        "type": "ReceivedCallback",
        "text": {"message": text},
    }
    body.update(overrides)
    return body


def received_audio(*, phone: str = "5544999999999", **overrides: Any) -> dict[str, Any]:
    body = received_text(phone=phone, **overrides)
    del body["text"]
    body["audio"] = {
        "ptt": True,
        "seconds": 10,
        "audioUrl": "https://example.invalid/audio.ogg",
        "mimeType": "audio/ogg; codecs=opus",
        "viewOnce": False,
    }
    return body


def message_status(*, ids: list[str], status: str = "READ") -> dict[str, Any]:
    return {
        "instanceId": INSTANCE_ID,
        "status": status,
        "ids": ids,
        "momment": int(time.time() * 1000),
        "phoneDevice": 0,
        "phone": "5544999999999",
        "type": "MessageStatusCallback",
        "isGroup": False,
    }
