"""Per-lead turn budgets: how many bot replies one conversation may get per hour and per day.

Counted from the bot's reply rows (`reply:<turn_id>` in `outbound_messages`), so the count
survives restarts and is the same in every worker. The turn that would go past a budget does not
run the model: the lead gets one fixed note and the conversation goes to the SDR team. At most
one such note goes out per window length: a later refused turn in the same window stays quiet
(the lead was told, and a person has the conversation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

BUDGET_REPLY = "turn_budget_exceeded"
BUDGET_REPLY_KIND = f"fixed:{BUDGET_REPLY}"
HANDOFF_BUDGET = "budget"


@dataclass(frozen=True, slots=True)
class BudgetWindow:
    name: str  # "hour" or "day", for logs and the handoff reason
    limit: int
    length: timedelta


@dataclass(frozen=True, slots=True)
class PastReply:
    created_at: datetime
    # The budget note itself: not a turn the lead got from the model, so not counted.
    budget_note: bool


@dataclass(frozen=True, slots=True)
class BudgetVerdict:
    window: BudgetWindow
    # False when a budget note already went out within this window's length.
    note_due: bool


def budget_windows(*, per_hour: int, per_day: int) -> tuple[BudgetWindow, ...]:
    """The budgets in force (0 = off), longest first: a refused turn is charged to the
    longest window it exceeds, so a daily refusal is not re-announced by the hourly one."""
    windows = [
        BudgetWindow("day", per_day, timedelta(days=1)),
        BudgetWindow("hour", per_hour, timedelta(hours=1)),
    ]
    return tuple(w for w in windows if w.limit > 0)


def judge_budget(
    replies: Sequence[PastReply], *, windows: Sequence[BudgetWindow], now: datetime
) -> BudgetVerdict | None:
    """None while one more turn fits every budget; else the exceeded window."""
    for window in windows:
        since = now - window.length
        counted = sum(1 for r in replies if r.created_at > since and not r.budget_note)
        if counted < window.limit:
            continue
        noted = any(r.budget_note and r.created_at > since for r in replies)
        return BudgetVerdict(window=window, note_due=not noted)
    return None
