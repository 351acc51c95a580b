"""Cloud API webhook bodies, built from Meta's documented shapes (TEST/SANDBOX ONLY).

Field names follow contracts whatsapp_cloud.md §2 and whatsapp_cloud_2026.md §2.4-2.7, 2.15,
2.16 (Meta's references and pywa's/Botpress's captured fixtures). Timestamps are strings of
epoch seconds, as Meta sends them.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from typing import Any, Literal, get_args

from seleto_agent.sandbox.config import SandboxConfig

JsonDict = dict[str, Any]

ERRORS_HREF = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"
# Titles Meta gives these codes (error-codes page); receivers must not depend on them.
ERROR_TITLES: dict[int, str] = {
    131026: "Message undeliverable",
    131047: "Re-engagement message",
    131051: "Message type unknown",
    130472: "User's number is part of an experiment",
    130429: "Rate limit hit",
    131000: "Something went wrong",
    131049: "This message was not delivered to maintain healthy ecosystem engagement.",
}


def new_wamid() -> str:
    """`wamid.` + base64, the shape of Meta's message ids."""
    return "wamid." + base64.b64encode(secrets.token_bytes(30)).decode()


def new_media_id() -> str:
    return str(secrets.randbelow(9 * 10**15) + 10**15)


def new_bsuid(country: str = "BR") -> str:
    return f"{country}.{secrets.randbelow(9 * 10**15) + 10**15}"


def error_item(code: int, details: str | None = None) -> JsonDict:
    title = ERROR_TITLES.get(code, "Error")
    return {
        "code": code,
        "title": title,
        "message": title,
        "error_data": {"details": details or title},
        "href": ERRORS_HREF,
    }


@dataclass(frozen=True, slots=True)
class User:
    """Who a webhook is about: a phone (`wa_id`), a BSUID, or both."""

    wa_id: str | None
    user_id: str | None = None
    name: str = "Lead"
    username: str | None = None

    def contact(self) -> JsonDict:
        profile: JsonDict = {"name": self.name}
        if self.username:
            profile["username"] = self.username
        contact: JsonDict = {"profile": profile}
        if self.wa_id:
            contact["wa_id"] = self.wa_id
        if self.user_id:
            contact["user_id"] = self.user_id
        return contact

    def sender(self) -> JsonDict:
        """`from` (absent for a username user with no phone shared) and `from_user_id`."""
        fields: JsonDict = {}
        if self.wa_id:
            fields["from"] = self.wa_id
        if self.user_id:
            fields["from_user_id"] = self.user_id
        return fields

    def keys(self) -> tuple[str, ...]:
        return tuple(k for k in (self.wa_id, self.user_id) if k)


def metadata(config: SandboxConfig) -> JsonDict:
    return {
        "display_phone_number": config.meta_display_phone_number,
        "phone_number_id": config.meta_phone_number_id,
    }


def value(config: SandboxConfig, **items: Any) -> JsonDict:
    return {"messaging_product": "whatsapp", "metadata": metadata(config), **items}


def change(field_name: str, change_value: JsonDict) -> JsonDict:
    return {"value": change_value, "field": field_name}


def envelope(config: SandboxConfig, *entries: list[JsonDict]) -> JsonDict:
    """One body; each argument is the `changes` of one entry."""
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": config.meta_waba_id, "changes": changes} for changes in entries],
    }


def status_item(
    *,
    wamid: str,
    status: str,
    recipient: User,
    timestamp: int,
    reference: str | None = None,
    error_code: int | None = None,
    conversation_id: str | None = None,
) -> JsonDict:
    item: JsonDict = {"id": wamid, "status": status, "timestamp": str(timestamp)}
    if recipient.wa_id:
        item["recipient_id"] = recipient.wa_id
    if recipient.user_id:
        item["recipient_user_id"] = recipient.user_id
    if status in ("sent", "delivered", "read"):
        # Per-message pricing since 2025-07-01: PMP with `type` (`billable` deprecated).
        item["conversation"] = {
            "id": conversation_id or secrets.token_hex(16),
            "origin": {"type": "service"},
        }
        item["pricing"] = {
            "billable": False,
            "pricing_model": "PMP",
            "category": "service",
            "type": "free_customer_service",
        }
    if reference is not None:
        item["biz_opaque_callback_data"] = reference
    if status == "failed":
        item["errors"] = [error_item(error_code or 131026)]
    return item


def inbound_item(kind: str, user: User, *, wamid: str, timestamp: int, **extra: Any) -> JsonDict:
    """A `messages[]` item of `kind` (see `INBOUND_KINDS`)."""
    base: JsonDict = {**user.sender(), "id": wamid, "timestamp": str(timestamp)}
    context_id = extra.get("context_id")
    if context_id:
        base["context"] = {"from": extra["business_phone"], "id": context_id}
    text = extra.get("text") or "oi"
    if kind == "text":
        return {**base, "type": "text", "text": {"body": text}}
    if kind == "referral":
        referral = {
            "source_url": "https://fb.me/sandbox-ad",
            "source_id": "120200000000000001",
            "source_type": "ad",
            "headline": "Seladoras Seleto",
            "body": "Fale com a Seleto",
            "media_type": "image",
            "image_url": "https://example.invalid/ad.jpg",
            "ctwa_clid": "ARAkLkA8rmlFeiCktEJQ-QTwRiyYHAFDLMNDBH0CD3qpjd0HR4irJ6LEkR7JwFF4XvnO2E4",
        }
        return {**base, "type": "text", "text": {"body": text}, "referral": referral}
    if kind in ("voice", "audio"):
        audio = {
            "mime_type": extra["mime_type"],
            "sha256": extra["sha256"],
            "id": extra["media_id"],
            "url": extra["media_url"],
            "voice": kind == "voice",
        }
        return {**base, "type": "audio", "audio": audio}
    if kind == "button_reply":
        reply = {"id": extra.get("reply_id") or "vol:500_2000", "title": text[:20]}
        interactive = {"type": "button_reply", "button_reply": reply}
        return {**base, "type": "interactive", "interactive": interactive}
    if kind == "list_reply":
        reply = {"id": extra.get("reply_id") or "seg:alimentos", "title": text[:24]}
        reply["description"] = "Linha de produtos"
        interactive = {"type": "list_reply", "list_reply": reply}
        return {**base, "type": "interactive", "interactive": interactive}
    if kind == "quick_reply":
        button = {"payload": extra.get("reply_id") or "ver_resposta", "text": text}
        return {**base, "type": "button", "button": button}
    if kind == "reaction":
        reacted = extra.get("context_id") or new_wamid()
        reaction = {"message_id": reacted, "emoji": extra.get("emoji", "👍")}
        return {**base, "type": "reaction", "reaction": reaction}
    if kind == "unsupported":
        return {
            **base,
            "type": "unsupported",
            "unsupported": {"type": "poll"},
            "errors": [error_item(131051, "Message type is currently not supported.")],
        }
    if kind == "system_number_changed":
        new_phone = extra.get("new_wa_id") or "5544988887777"
        system = {
            "body": f"User {user.name} changed from {user.wa_id} to {new_phone}",
            "wa_id": new_phone,
            "type": "user_changed_number",
        }
        return {**base, "type": "system", "system": system}
    if kind == "system_user_id_changed":
        system = {
            "body": "User changed their business-scoped user id",
            "user_id": extra.get("new_user_id") or new_bsuid(),
            "type": "user_changed_user_id",
        }
        return {**base, "type": "system", "system": system}
    raise ValueError(f"unknown inbound kind {kind}")


# The `messages[]` items this builder makes (the control API adds echoes and value errors).
MessageKind = Literal[
    "text",
    "referral",
    "voice",
    "audio",
    "button_reply",
    "list_reply",
    "quick_reply",
    "reaction",
    "unsupported",
    "system_number_changed",
    "system_user_id_changed",
]
INBOUND_KINDS: tuple[str, ...] = get_args(MessageKind)
# What resets the 24 h window: the user wrote. Reactions are a GAP (contracts 2026 §2.19);
# system notices are not the user writing.
WINDOW_OPENING_KINDS = frozenset(INBOUND_KINDS) - {
    "reaction",
    "system_number_changed",
    "system_user_id_changed",
}


def inbound_value(config: SandboxConfig, kind: str, user: User, item: JsonDict) -> JsonDict:
    # [M] system reference: "system messages webhooks don't include a contacts array".
    if kind.startswith("system_"):
        return value(config, messages=[item])
    return value(config, contacts=[user.contact()], messages=[item])


def echo_value(
    config: SandboxConfig, user: User, *, wamid: str, timestamp: int, text: str
) -> JsonDict:
    """`smb_message_echoes`: sent from the WhatsApp Business app on a Coexistence number."""
    echo: JsonDict = {
        "from": config.meta_display_phone_number,
        "id": wamid,
        "timestamp": str(timestamp),
        "type": "text",
        "text": {"body": text},
    }
    if user.wa_id:
        echo["to"] = user.wa_id
    if user.user_id:
        echo["to_user_id"] = user.user_id
    return value(config, message_echoes=[echo])


def errors_value(config: SandboxConfig, code: int) -> JsonDict:
    return value(config, errors=[error_item(code)])
