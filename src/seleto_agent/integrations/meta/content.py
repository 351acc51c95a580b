"""What a Cloud API message says, per `type` (contracts/whatsapp_cloud_2026.md §2.5).

Pure: a `messages[i]` object in, our content kind, the text the turn reads and, for a button or
list choice, the id we gave it. Every field is read defensively: the envelope is signed by
Meta, but its shape is still only what the docs and public fixtures show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from seleto_agent.domain.events import ContentKind, Referral

# The turn's text stays a message, not a document: WhatsApp caps a text at 4,096 characters.
MAX_TEXT_CHARS = 4096
# Ad attribution fields are URLs, ids and a headline.
MAX_REFERRAL_CHARS = 2048
# Epoch seconds Meta could mean: after 2009 (WhatsApp's launch), before the year 5000.
_MIN_EPOCH, _MAX_EPOCH = 1_230_768_000, 95_617_584_000

_MEDIA_KINDS = {
    "image": ContentKind.IMAGE,
    "video": ContentKind.VIDEO,
    "document": ContentKind.DOCUMENT,
}
# Cloud API types that carry nothing a turn could read (contracts §2.4: `unsupported` and
# `unknown`, with `errors[]` such as 131051). Any type we do not know is treated the same way:
# the lead is asked to type rather than left without an answer.
UNSUPPORTED_TYPES = frozenset({"unsupported", "unknown"})


@dataclass(frozen=True, slots=True)
class Content:
    kind: ContentKind
    text: str
    machine_value: str | None = None


class NotContent(Exception):
    """A message with no content we can use; the message is the reason stored."""


def text_or_none(value: object, limit: int = MAX_TEXT_CHARS) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def message_content(message: dict[str, Any], message_type: str) -> Content:
    """Raises NotContent for a message that is kept but starts no turn."""
    part = _obj(message.get(message_type))
    if message_type == "text":
        body = text_or_none(part.get("body"))
        if body is None:
            raise NotContent("no_content")
        return Content(ContentKind.TEXT, body)
    if message_type == "interactive":
        return _interactive(message.get("interactive"))
    if message_type == "button":
        # A template's quick-reply button: `text` is what the lead saw, `payload` ours.
        title = text_or_none(part.get("text"))
        if title is None:
            raise NotContent("malformed_button")
        return Content(ContentKind.TEXT, title, text_or_none(part.get("payload")))
    if message_type == "audio":
        return Content(ContentKind.AUDIO, "")
    if message_type in _MEDIA_KINDS:
        return Content(_MEDIA_KINDS[message_type], text_or_none(part.get("caption")) or "")
    if message_type == "sticker":
        return Content(ContentKind.STICKER, "")
    if message_type == "location":
        return Content(ContentKind.LOCATION, _location(part))
    if message_type == "contacts":
        return Content(ContentKind.CONTACT, _contacts(message.get("contacts")))
    if message_type == "order":
        order_text = text_or_none(_obj(message.get("order")).get("text"))
        return Content(ContentKind.OTHER, order_text or "")
    return Content(ContentKind.UNSUPPORTED, "")


def _interactive(value: object) -> Content:
    interactive = _obj(value)
    reply_type = interactive.get("type")
    if reply_type not in ("button_reply", "list_reply"):
        # pywa's `interactive_message_with_err`: the type without its object.
        raise NotContent("malformed_interactive")
    reply = _obj(interactive.get(reply_type))
    title = text_or_none(reply.get("title"))
    if title is None:
        raise NotContent("malformed_interactive")
    return Content(ContentKind.TEXT, title, text_or_none(reply.get("id")))


def _location(part: dict[str, Any]) -> str:
    latitude, longitude = part.get("latitude"), part.get("longitude")
    lines = []
    if _is_number(latitude) and _is_number(longitude):
        lines.append(f"{latitude}, {longitude}")
    lines.extend(t for t in (text_or_none(part.get(k), 256) for k in ("name", "address")) if t)
    return "\n".join(lines)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _contacts(value: object) -> str:
    """One line per shared contact: the formatted name and its phones."""
    lines = []
    for contact in value if isinstance(value, list) else []:
        card = _obj(contact)
        name = text_or_none(_obj(card.get("name")).get("formatted_name"), 256)
        phones = [
            phone
            for entry in card.get("phones") or []
            if (phone := text_or_none(_obj(entry).get("phone"), 64))
        ]
        line = " ".join(filter(None, [name, ", ".join(phones)]))
        if line:
            lines.append(line)
    return "\n".join(lines)[:MAX_TEXT_CHARS]


def referral(message: dict[str, Any]) -> Referral | None:
    """The ad or post a Click-to-WhatsApp message came from (None when there is none)."""
    part = _obj(message.get("referral"))
    found = Referral(
        **{
            name: text_or_none(part.get(name), MAX_REFERRAL_CHARS)
            for name in ("source_url", "source_id", "source_type", "headline", "ctwa_clid")
        }
    )
    return found if found.as_dict() else None


def sent_at(value: object) -> datetime | None:
    """Cloud API `timestamp`: epoch seconds as a string; None for anything else."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        seconds = int(value)
        if _MIN_EPOCH <= seconds <= _MAX_EPOCH:
            return datetime.fromtimestamp(seconds, UTC)
    return None
