"""Who answers a conversation: the bot, or a human who took it over."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum


class ConversationOwner(StrEnum):
    BOT = "bot"
    HUMAN = "human"


def bot_may_answer(owner: ConversationOwner, paused_until: datetime | None, now: datetime) -> bool:
    """A human owner silences the bot; a timed pause ends by itself."""
    if owner is ConversationOwner.BOT:
        return True
    return paused_until is not None and paused_until <= now
