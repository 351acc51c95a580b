"""Turns a Cloud API webhook body into domain events, one per item (contracts/whatsapp_cloud_2026.md
§2.4-2.7, 2.15, 2.16).

One body batches entries × changes × items (messages, statuses, errors, echoes): each becomes its
own event with its own dedupe key, so a re-delivered body stores nothing twice and one odd item
costs no other. Keys (`instance_id` = the change's `phone_number_id`): a message by its wamid, a
status by `status:{wamid}:{status}` (one wamid goes sent → delivered → read), anything without an
id of its own by a digest of the body and its place in it.

The signature (api/webhooks/meta.py) proves Meta sent the body; the `phone_number_id` check
below proves it is about our number (another number of the same app is stored, not acted on).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from seleto_agent.domain.events import (
    FAILED_STATUS,
    PHONE_REPLY_REASON,
    Classified,
    DeliveryUpdate,
    IdentityChange,
    IdentityUpdate,
    IgnoredCallback,
    InboundMessage,
)
from seleto_agent.domain.phone import InvalidWhatsAppId, WhatsAppAddress, parse_cloud_sender
from seleto_agent.integrations.meta.content import (
    NotContent,
    message_content,
    referral,
    sent_at,
    text_or_none,
)

PROVIDER = "meta"
OBJECT = "whatsapp_business_account"
# A reason or event type quoting the body (a field or type name) stays a label.
_MAX_LABEL_CHARS = 64


@dataclass(frozen=True, slots=True)
class MetaLine:
    """The business number whose notifications we act on (META_PHONE_NUMBER_ID)."""

    phone_number_id: str | None


def classify(body: dict[str, Any], line: MetaLine) -> list[Classified]:
    """Every item of the body, in order; never empty (a body with none is kept as one ignored
    event) and never raises on a well-formed JSON object."""
    digest = body_digest(body)
    if body.get("object") != OBJECT:
        return [_ignored("unknown_object", f"object:{digest}", event_type="unknown_object")]
    items: list[Classified] = []
    for e, entry in enumerate(_list(body.get("entry"))):
        changes = _obj(entry).get("changes")
        if not isinstance(changes, list):
            items.append(_ignored("malformed_entry", f"entry:{digest}:{e}"))
            continue
        for c, change in enumerate(changes):
            items.extend(_classify_change(_obj(change), line, f"{digest}:{e}.{c}"))
    return items or [_ignored("no_items", f"body:{digest}")]


@dataclass(frozen=True, slots=True)
class AudioRef:
    """Where a Cloud API voice note is: a media id for the Graph API (the `url`, when the
    webhook gives one, still needs the Bearer token; contracts/whatsapp_cloud_2026.md §2.8)."""

    media_id: str | None
    url: str | None
    mime_type: str | None
    voice: bool


def audio_ref(body: dict[str, Any], message_id: str) -> AudioRef | None:
    """The audio of message `message_id` in a stored body (one body batches several
    messages, and every one of their events holds the whole body)."""
    for entry in _list(body.get("entry")):
        for change in _list(_obj(entry).get("changes")):
            for message in _list(_obj(_obj(change).get("value")).get("messages")):
                found = _obj(message)
                if found.get("id") == message_id and found.get("type") == "audio":
                    audio = _obj(found.get("audio"))
                    return AudioRef(
                        media_id=_str(audio.get("id")),
                        url=_str(audio.get("url")),
                        mime_type=_str(audio.get("mime_type")),
                        voice=audio.get("voice") is True,
                    )
    return None


def body_digest(body: dict[str, Any]) -> str:
    """Same document, same digest, whatever its spacing or key order."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _classify_change(change: dict[str, Any], line: MetaLine, where: str) -> list[Classified]:
    field = _label(change.get("field")) or "unknown_field"
    value = _obj(change.get("value"))
    if field not in ("messages", "smb_message_echoes"):
        # Account, quality and template notifications: kept for ops, nothing to act on.
        return [_ignored(field, f"field:{where}", event_type=field)]
    phone_number_id = _str(_obj(value.get("metadata")).get("phone_number_id"))
    if not line.phone_number_id:
        return [_ignored("instance_not_configured", f"change:{where}", phone_number_id)]
    if phone_number_id != line.phone_number_id:
        return [_ignored("unknown_instance", f"change:{where}", phone_number_id)]
    if field == "smb_message_echoes":
        echoes = _list(value.get("message_echoes"))
        return [
            _echo(_obj(echo), phone_number_id, f"{where}.{i}") for i, echo in enumerate(echoes)
        ] or [_ignored("no_items", f"change:{where}", phone_number_id)]
    contacts = [_obj(c) for c in _list(value.get("contacts"))]
    items: list[Classified] = [
        _status(_obj(status), phone_number_id, f"{where}.{i}")
        for i, status in enumerate(_list(value.get("statuses")))
    ]
    items += [
        _message(_obj(message), contacts, phone_number_id, f"{where}.{i}")
        for i, message in enumerate(_list(value.get("messages")))
    ]
    for i, error in enumerate(_list(value.get("errors"))):
        code = _obj(error).get("code")
        reason = f"meta_error:{code}" if _is_int(code) else "meta_error"
        items.append(_ignored(reason, f"error:{where}.{i}", phone_number_id, event_type="error"))
    return items or [_ignored("no_items", f"change:{where}", phone_number_id)]


def _message(
    message: dict[str, Any], contacts: list[dict[str, Any]], instance_id: str, where: str
) -> Classified:
    message_type = _label(message.get("type")) or "unknown"
    event_type = f"message:{message_type}"
    wamid = _str(message.get("id"))
    if wamid is None:
        return _ignored("missing_message_id", f"message:{where}", instance_id, event_type)
    contact = _contact_of(message, contacts)
    profile = _obj(contact.get("profile"))
    try:
        sender = parse_cloud_sender(
            _str(message.get("from")) or _str(contact.get("wa_id")),
            bsuid=_str(message.get("from_user_id")) or _str(contact.get("user_id")),
            parent_bsuid=_str(contact.get("parent_user_id")),
            username=_str(profile.get("username")),
        )
    except InvalidWhatsAppId:
        return _ignored("invalid_sender", wamid, instance_id, event_type)
    if message_type == "reaction":
        return _ignored("reaction", wamid, instance_id, event_type, sender=sender)
    if message_type == "system":
        return _system(message, sender, wamid, instance_id, event_type)
    try:
        content = message_content(message, message_type)
    except NotContent as exc:
        return _ignored(str(exc), wamid, instance_id, event_type, sender=sender)
    return InboundMessage(
        provider=PROVIDER,
        event_type=event_type,
        instance_id=instance_id,
        message_id=wamid,
        sender=sender,
        kind=content.kind,
        text=content.text,
        sender_name=text_or_none(profile.get("name"), 256) or sender.username,
        sent_at=sent_at(message.get("timestamp")),
        machine_value=content.machine_value,
        referral=referral(message),
    )


def _contact_of(message: dict[str, Any], contacts: list[dict[str, Any]]) -> dict[str, Any]:
    """The `contacts[]` entry of the message's sender (by number or BSUID); the only one when
    the message names neither."""
    sender_ids = {_str(message.get("from")), _str(message.get("from_user_id"))} - {None}
    for contact in contacts:
        if {_str(contact.get("wa_id")), _str(contact.get("user_id"))} & sender_ids:
            return contact
    return contacts[0] if len(contacts) == 1 and not sender_ids else {}


def _system(
    message: dict[str, Any],
    sender: WhatsAppAddress,
    wamid: str,
    instance_id: str,
    event_type: str,
) -> Classified:
    system = _obj(message.get("system"))
    kind = _label(system.get("type")) or "unknown"
    try:
        if kind == IdentityChange.NUMBER:
            new_address = parse_cloud_sender(_str(system.get("wa_id")))
        elif kind == IdentityChange.USER_ID:
            # GAP: Meta's reference names the new id's field only in prose; `user_id` is the
            # name every other Cloud API object gives a BSUID.
            new_address = parse_cloud_sender(None, bsuid=_str(system.get("user_id")))
        else:
            return _ignored(f"system:{kind}", wamid, instance_id, event_type, sender=sender)
    except InvalidWhatsAppId:
        return _ignored("invalid_identity_change", wamid, instance_id, event_type, sender=sender)
    return IdentityUpdate(
        provider=PROVIDER,
        event_type=event_type,
        instance_id=instance_id,
        message_id=wamid,
        change=IdentityChange(kind),
        sender=sender,
        new_address=new_address,
    )


def _status(status: dict[str, Any], instance_id: str, where: str) -> Classified:
    wamid = _str(status.get("id"))
    name = _label(status.get("status"))
    if wamid is None or name is None:
        return _ignored("status_without_id", f"status:{where}", instance_id, "status")
    try:
        recipient: WhatsAppAddress | None = parse_cloud_sender(
            _str(status.get("recipient_id")),
            bsuid=_str(status.get("recipient_user_id")),
            parent_bsuid=_str(status.get("recipient_parent_user_id")),
        )
    except InvalidWhatsAppId:
        recipient = None
    errors = _list(status.get("errors"))
    code = _obj(errors[0]).get("code") if errors else None
    upper = name.upper()
    return DeliveryUpdate(
        provider=PROVIDER,
        event_type=f"status:{name}",
        provider_message_ids=(wamid,),
        status=upper,
        instance_id=instance_id,
        # Any status but a failure says the message went out to this person.
        sent_to=recipient if upper != FAILED_STATUS else None,
        event_key=f"status:{wamid}:{name}",
        callback_data=text_or_none(status.get("biz_opaque_callback_data"), 512),
        error_code=code if _is_int(code) else None,
    )


def _echo(echo: dict[str, Any], instance_id: str, where: str) -> Classified:
    """A message typed in the WhatsApp Business app on our number (Coexistence): as Z-API's
    `fromMe` without `fromApi`, maybe an SDR taking the conversation over."""
    echo_type = _label(echo.get("type")) or "unknown"
    event_type = f"echo:{echo_type}"
    wamid = _str(echo.get("id"))
    if wamid is None:
        return _ignored("missing_message_id", f"echo:{where}", instance_id, event_type)
    try:
        lead = parse_cloud_sender(
            _str(echo.get("to")),
            bsuid=_str(echo.get("to_user_id")),
            parent_bsuid=_str(echo.get("to_parent_user_id")),
        )
    except InvalidWhatsAppId:
        return _ignored("invalid_recipient", wamid, instance_id, event_type)
    try:
        text: str | None = message_content(echo, echo_type).text or None
    except NotContent:
        text = None
    return IgnoredCallback(
        provider=PROVIDER,
        event_type=event_type,
        reason=PHONE_REPLY_REASON,
        instance_id=instance_id,
        message_id=wamid,
        sender=lead,
        text=text,
    )


def _ignored(
    reason: str,
    key: str,
    instance_id: str | None = None,
    event_type: str = "notification",
    *,
    sender: WhatsAppAddress | None = None,
) -> IgnoredCallback:
    return IgnoredCallback(
        provider=PROVIDER,
        event_type=event_type,
        reason=reason,
        instance_id=instance_id,
        message_id=key,
        sender=sender,
    )


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _label(value: object) -> str | None:
    return value[:_MAX_LABEL_CHARS] if isinstance(value, str) and value else None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
