"""Who answers a conversation: the bot, or a human who took it over."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum


class ConversationOwner(StrEnum):
    BOT = "bot"
    HUMAN = "human"


def bot_may_answer(owner: ConversationOwner, paused_until: datetime | None, now: datetime) -> bool:
    """A human owner silences the bot; a timed pause ends by itself."""
    if owner is ConversationOwner.BOT:
        return True
    return paused_until is not None and paused_until <= now


def needs_new_session(
    *,
    last_turn_at: datetime | None,
    session_started_at: datetime | None,
    now: datetime,
    window: timedelta,
) -> bool:
    """After a long silence the phone gets a new agent session, once (a retried turn of the
    new window must not rotate again)."""
    if last_turn_at is None or now - last_turn_at <= window:
        return False
    return session_started_at is None or session_started_at <= last_turn_at


def resumed_after(
    *, last_turn_at: datetime | None, session_started_at: datetime | None
) -> datetime | None:
    """When the current session began after an earlier conversation, that conversation's end."""
    if last_turn_at is None or session_started_at is None or session_started_at <= last_turn_at:
        return None
    return last_turn_at


def new_session_id(conversation_key: str, now: datetime) -> str:
    return f"{conversation_key}@{now:%Y%m%dT%H%M%SZ}"
