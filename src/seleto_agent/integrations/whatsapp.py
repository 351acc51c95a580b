"""The provider-neutral face of a WhatsApp API, as services see it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class SentMessage:
    provider_message_id: str | None
    provider_zaap_id: str | None = None
    # What the provider said of the message on acceptance (Meta: "accepted",
    # "held_for_quality_assessment"); None when it says nothing (Z-API).
    provider_status: str | None = None


class WhatsAppError(Exception):
    """A send failed. `retryable` says whether trying again later can help."""

    retryable: bool = True


class WhatsAppOutsideWindow(WhatsAppError):
    """Free text refused: the lead's last message is more than 24 h old (the Cloud API's
    customer service window). Not retryable as text; a template, or the lead writing again, is
    the way back."""

    retryable = False


class WhatsAppOutcomeUnknown(WhatsAppError):
    """The request may have reached the provider, so the message may be on its way: a timeout
    while waiting for the answer, a dropped connection, a 5xx, or a success without a message
    id. Sending again could deliver it twice; the caller decides from the provider's callbacks.
    """


class WhatsAppSender(Protocol):
    provider: str

    async def send_text(self, *, to: str, text: str, reference: str | None = None) -> SentMessage:
        """`reference` is our outbound key; a provider that echoes it on its statuses (Meta's
        `biz_opaque_callback_data`) lets a send whose answer was lost be confirmed."""
        ...

    async def mark_read(self, *, to: str, message_id: str, typing: bool = False) -> None:
        """Blue ticks; `typing` also shows "digitando…" where the provider has it (Meta)."""
        ...
