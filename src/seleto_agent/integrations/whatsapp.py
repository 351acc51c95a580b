"""The provider-neutral face of a WhatsApp API, as services see it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class SentMessage:
    provider_message_id: str | None
    provider_zaap_id: str | None = None


class WhatsAppError(Exception):
    """A send failed. `retryable` says whether trying again later can help."""

    retryable: bool = True


class WhatsAppSender(Protocol):
    provider: str

    async def send_text(self, *, to: str, text: str) -> SentMessage: ...

    async def mark_read(self, *, to: str, message_id: str) -> None: ...
