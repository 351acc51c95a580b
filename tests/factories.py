"""Z-API callback bodies shaped like the documented examples (contracts/zapi.md §2), built by
the same code the sandbox emits them with."""

from __future__ import annotations

import time
import uuid
from typing import Any

from seleto_agent.integrations.zapi.adapter import ZApiLine
from seleto_agent.sandbox.zapi_payloads import ReceivedMessage, lid_for, received_callback

INSTANCE_ID = "SANDBOX-INSTANCE"
# The line the tests' service runs as (no ZAPI_CONNECTED_PHONE unless a test sets one).
ZAPI_LINE = ZApiLine(INSTANCE_ID)


def received_text(
    *,
    phone: str = "5544999999999",
    text: str = "oi, vi a formadora de hambúrguer de vocês",
    message_id: str | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    # Each contact has its own stable @lid, as the sandbox gives it.
    lid = phone if phone.endswith("@lid") else lid_for(phone)
    body = received_callback(
        ReceivedMessage(
            instance_id=INSTANCE_ID,
            connected_phone="554499999999",
            message_id=message_id or uuid.uuid4().hex.upper(),
            phone=phone,
            sender_lid=lid,
            chat_lid=lid,
            chat_name="Lead",
            sender_name="Lead",
            text=text,
        )
    )
    body.update(overrides)
    return body


def received_audio(
    *,
    phone: str = "5544999999999",
    audio_url: str = "https://example.invalid/audio.ogg",
    **overrides: Any,
) -> dict[str, Any]:
    body = received_text(phone=phone, **overrides)
    del body["text"]
    body["audio"] = {
        "ptt": True,
        "seconds": 10,
        "audioUrl": audio_url,
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
