"""Turns a Z-API callback body into a domain event (contracts/zapi.md §2).

Z-API signs no callback (contracts/zapi.md §3): besides the secret webhook path, a callback is
only believed when it names our instance (`instanceId`, required) and, when ZAPI_CONNECTED_PHONE
is set, our line (`connectedPhone`). What a holder of the URL can still forge: DECISIONS C26.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from seleto_agent.domain.events import (
    OWN_ECHO_REASON,
    PHONE_REPLY_REASON,
    Classified,
    ContentKind,
    DeliveryUpdate,
    IgnoredCallback,
    InboundMessage,
    SentEcho,
)
from seleto_agent.domain.phone import InvalidWhatsAppId, WhatsAppAddress, parse_whatsapp_id
from seleto_agent.integrations.zapi.schemas import ZApiReceivedCallback, ZApiStatusCallback
from seleto_agent.observability.logging import get_logger

log = get_logger(__name__)

PROVIDER = "zapi"
# Z-API reports one message per status callback in every example; a few in a burst at most.
# More is no callback of ours (red-team M2): the rest are dropped, not written.
MAX_STATUS_IDS = 50
# A message from the company line without `connectedPhone` (every documented example has it):
# it could be anyone who knows the URL, so it neither pauses the bot nor proves a send.
FROM_ME_UNVERIFIED_REASON = "from_me_unverified"
# An "aguardando mensagem" placeholder is stored under its own dedupe key: WhatsApp re-sends
# the decrypted message under the same `messageId` (vendors.md #2), and that one must be taken.
WAITING_MESSAGE_REASON = "waiting_message"
PLACEHOLDER_KEY_PREFIX = "waiting:"


@dataclass(frozen=True, slots=True)
class ZApiLine:
    """The instance whose callbacks we act on and, when configured, its WhatsApp number."""

    instance_id: str | None
    connected_phone: str | None = None  # E.164


def classify(body: dict[str, Any], line: ZApiLine) -> Classified:
    """What this callback means for us. Never raises on a well-formed JSON object."""
    event_type = str(body.get("type") or "")
    problem = _line_problem(body, line)
    if problem is not None:
        # Another instance pointed at our URL, or a forger who does not know ours: keep the
        # body, start nothing.
        return IgnoredCallback(
            provider=PROVIDER,
            event_type=event_type or "unknown",
            reason=problem,
            instance_id=_str_or_none(body.get("instanceId")),
        )
    # Z-API docs DISAGREE on the case ("ReceivedCallBack" in the table, "ReceivedCallback" in
    # every example): compare case-insensitively.
    kind = event_type.lower()
    if kind == "receivedcallback":
        return _classify_received(body, event_type)
    if kind in ("messagestatuscallback", "deliverycallback"):
        return _classify_status(body, event_type)
    reason = kind.removesuffix("callback") or "unknown_type"
    return IgnoredCallback(
        provider=PROVIDER,
        event_type=event_type or "unknown",
        reason=reason,
        instance_id=_str_or_none(body.get("instanceId")),
    )


def _line_problem(body: dict[str, Any], line: ZApiLine) -> str | None:
    if not line.instance_id:
        return "instance_not_configured"
    instance_id = _str_or_none(body.get("instanceId"))
    if instance_id is None:
        return "missing_instance"
    if instance_id != line.instance_id:
        return "unknown_instance"
    connected = body.get("connectedPhone")
    if line.connected_phone and connected is not None:
        # Z-API writes the line as a JID (12 digits for an old Brazilian mobile): compare E.164.
        address = _address(str(connected))
        if address is None or address.e164 != line.connected_phone:
            return "unknown_connected_phone"
    return None


def _classify_received(body: dict[str, Any], event_type: str) -> Classified:
    try:
        callback = ZApiReceivedCallback.model_validate(body)
    except ValidationError as exc:
        fields = ",".join(str(e["loc"][0]) for e in exc.errors() if e["loc"])
        return _ignored(body, event_type, f"invalid_fields:{fields}")
    if not callback.message_id or not callback.phone:
        return _ignored(body, event_type, "missing_message_id_or_phone")
    try:
        sender = parse_whatsapp_id(callback.phone, lid=_contact_lid(callback))
    except InvalidWhatsAppId:
        sender = None
    if callback.waiting_message:
        # Not decrypted yet, no content (also on the company phone's own messages: the docs'
        # example is `fromMe: true`); nothing to act on until the real message comes.
        return IgnoredCallback(
            provider=PROVIDER,
            event_type=event_type,
            reason=WAITING_MESSAGE_REASON,
            instance_id=callback.instance_id,
            message_id=PLACEHOLDER_KEY_PREFIX + callback.message_id,
            sender=sender,
        )
    if callback.from_me and not callback.connected_phone:
        return _ignored(body, event_type, FROM_ME_UNVERIFIED_REASON, sender=sender)
    skip_reason = _skip_reason(callback)
    if skip_reason == OWN_ECHO_REASON and sender is not None:
        _kind, text = _content(callback)
        return SentEcho(
            provider=PROVIDER,
            event_type=event_type,
            instance_id=callback.instance_id,
            message_id=callback.message_id,
            recipient=sender,
            text=text,
        )
    if skip_reason == PHONE_REPLY_REASON and sender is not None:
        _kind, text = _content(callback)
        return IgnoredCallback(
            provider=PROVIDER,
            event_type=event_type,
            reason=skip_reason,
            instance_id=callback.instance_id,
            message_id=callback.message_id,
            sender=sender,
            text=text or None,
        )
    if skip_reason is not None:
        return _ignored(body, event_type, skip_reason, sender=sender)
    if sender is None:
        return _ignored(body, event_type, "invalid_sender")
    content_kind, text = _content(callback)
    if content_kind is None:
        return _ignored(body, event_type, "no_content", sender=sender)
    return InboundMessage(
        provider=PROVIDER,
        event_type=event_type,
        instance_id=callback.instance_id,
        message_id=callback.message_id,
        sender=sender,
        kind=content_kind,
        text=text,
        sender_name=callback.sender_name,
    )


def _contact_lid(callback: ZApiReceivedCallback) -> str | None:
    """The contact's `@lid` (contracts/zapi.md §2.1: `chatLid` is the most stable id).

    On a message of the company line `senderLid` is the sender, that is us, so only the chat's
    counts there."""
    if callback.from_me:
        return callback.chat_lid
    return callback.chat_lid or callback.sender_lid


def _skip_reason(callback: ZApiReceivedCallback) -> str | None:
    phone = callback.phone or ""
    if callback.from_me:
        # Our own sends echo back flagged fromApi; anything else may be an SDR typing on the
        # company phone, which the worker checks against our sends (a takeover if not ours).
        return OWN_ECHO_REASON if callback.from_api else PHONE_REPLY_REASON
    if callback.is_group or phone.endswith(("-group", "@g.us")):
        return "group"
    if callback.is_newsletter or phone.endswith("@newsletter"):
        return "newsletter"
    if callback.broadcast or phone.endswith("@broadcast"):
        return "broadcast"
    if callback.is_edit:
        return "edit"
    if callback.reaction is not None:
        return "reaction"
    if callback.notification:
        return "notification"
    return None


def _content(callback: ZApiReceivedCallback) -> tuple[ContentKind | None, str]:
    if callback.text is not None and callback.text.message:
        return ContentKind.TEXT, callback.text.message
    if callback.buttons_response_message is not None:
        return ContentKind.TEXT, str(callback.buttons_response_message.get("message") or "")
    if callback.list_response_message is not None:
        return ContentKind.TEXT, str(callback.list_response_message.get("title") or "")
    if callback.audio is not None:
        return ContentKind.AUDIO, ""
    for kind, media in (
        (ContentKind.IMAGE, callback.image),
        (ContentKind.VIDEO, callback.video),
        (ContentKind.DOCUMENT, callback.document),
    ):
        if media is not None:
            return kind, media.caption or ""
    if callback.sticker is not None:
        return ContentKind.STICKER, ""
    if callback.location is not None:
        return ContentKind.LOCATION, ""
    if callback.contact is not None:
        return ContentKind.CONTACT, ""
    return None, ""


def _classify_status(body: dict[str, Any], event_type: str) -> Classified:
    try:
        callback = ZApiStatusCallback.model_validate(body)
    except ValidationError:
        return _ignored(body, event_type, "invalid_status_callback")
    ids = [*(callback.ids or []), *(i for i in (callback.id, callback.message_id) if i)]
    is_delivery = event_type.lower() == "deliverycallback"
    status = callback.status or ("ACCEPTED" if is_delivery else "")
    if not ids or not status:
        return _ignored(body, event_type, "status_without_ids")
    unique_ids = tuple(dict.fromkeys(ids))
    if len(unique_ids) > MAX_STATUS_IDS:
        log.warning("zapi.status_ids_capped", ids=len(unique_ids), kept=MAX_STATUS_IDS)
        unique_ids = unique_ids[:MAX_STATUS_IDS]
    return DeliveryUpdate(
        provider=PROVIDER,
        event_type=event_type,
        provider_message_ids=unique_ids,
        status=status.upper(),
        instance_id=callback.instance_id,
        # "Ao enviar": one message of this instance went out to `phone`.
        sent_to=_address(callback.phone) if is_delivery and len(unique_ids) == 1 else None,
    )


def _address(phone: str | None) -> WhatsAppAddress | None:
    try:
        return parse_whatsapp_id(phone) if phone else None
    except InvalidWhatsAppId:
        return None


def _ignored(
    body: dict[str, Any], event_type: str, reason: str, *, sender: WhatsAppAddress | None = None
) -> IgnoredCallback:
    return IgnoredCallback(
        provider=PROVIDER,
        event_type=event_type,
        reason=reason,
        instance_id=_str_or_none(body.get("instanceId")),
        message_id=_str_or_none(body.get("messageId")),
        sender=sender,
    )


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def audio_url(body: dict[str, Any]) -> str | None:
    """Where a voice note's bytes are (`audio.audioUrl`, contracts/zapi.md §2.2), if anywhere.

    Z-API keeps media for 30 days and then deletes it; the URL is read at turn time from the
    stored payload, which is the only place it is kept.
    """
    audio = body.get("audio")
    url = audio.get("audioUrl") if isinstance(audio, dict) else None
    return url if isinstance(url, str) and url else None
