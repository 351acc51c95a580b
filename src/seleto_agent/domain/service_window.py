"""WhatsApp's customer service window: free text only within 24 h of the lead's last message.

Meta: the window opens when the user writes (or calls) and resets on each new message; our own
sends do not extend it; after it closes only approved templates go out (error 131047 otherwise).
It is decided when the message is about to be sent, never when it was queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

SERVICE_WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class WindowState:
    is_open: bool
    closes_at: datetime | None


def service_window(
    last_inbound_at: datetime | None, *, now: datetime, safety: timedelta
) -> WindowState:
    """Open while more than `safety` is left; a lead who never wrote has no window at all."""
    if last_inbound_at is None:
        return WindowState(is_open=False, closes_at=None)
    closes_at = last_inbound_at + SERVICE_WINDOW
    return WindowState(is_open=now < closes_at - safety, closes_at=closes_at)
