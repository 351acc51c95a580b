"""Pure rules behind the kill switch, the turn budgets and the input cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from seleto_agent.domain.flags import FlagSnapshot, UnknownFlag, flag_name
from seleto_agent.domain.turn_budget import PastReply, budget_windows, judge_budget
from seleto_agent.domain.turns import INPUT_CUT_NOTE, cap_turn_input
from seleto_agent.settings import Settings

NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)


def replies(*minutes_ago: float, notes: tuple[float, ...] = ()) -> list[PastReply]:
    turns = [PastReply(NOW - timedelta(minutes=m), budget_note=False) for m in minutes_ago]
    return turns + [PastReply(NOW - timedelta(minutes=m), budget_note=True) for m in notes]


def test_a_turn_fits_until_the_budget_is_used_up() -> None:
    windows = budget_windows(per_hour=3, per_day=0)
    assert judge_budget(replies(1, 2), windows=windows, now=NOW) is None
    verdict = judge_budget(replies(1, 2, 3), windows=windows, now=NOW)
    assert verdict is not None
    assert (verdict.window.name, verdict.note_due) == ("hour", True)


def test_replies_older_than_the_window_do_not_count() -> None:
    windows = budget_windows(per_hour=2, per_day=0)
    assert judge_budget(replies(61, 90, 5), windows=windows, now=NOW) is None


def test_one_note_per_window_and_the_note_is_not_a_turn() -> None:
    windows = budget_windows(per_hour=2, per_day=0)
    # Two turns and the note: still over, the note already went out.
    verdict = judge_budget(replies(10, 20, notes=(5,)), windows=windows, now=NOW)
    assert verdict is not None
    assert verdict.note_due is False
    # One turn and the note: the note does not use up the budget.
    assert judge_budget(replies(10, notes=(5,)), windows=windows, now=NOW) is None
    # A note from an earlier hour: this window gets its own.
    verdict = judge_budget(replies(10, 20, notes=(70,)), windows=windows, now=NOW)
    assert verdict is not None
    assert verdict.note_due is True


def test_the_longest_exceeded_window_is_charged() -> None:
    windows = budget_windows(per_hour=2, per_day=3)
    verdict = judge_budget(replies(10, 20, 300, notes=(120,)), windows=windows, now=NOW)
    assert verdict is not None
    # Over the day's budget, whose note went out two hours ago: not announced again.
    assert (verdict.window.name, verdict.note_due) == ("day", False)


def test_zero_switches_a_budget_off() -> None:
    assert budget_windows(per_hour=0, per_day=0) == ()
    assert judge_budget(replies(*range(500)), windows=(), now=NOW) is None


def test_a_short_input_is_left_alone() -> None:
    assert cap_turn_input("oi", 1000) == "oi"
    assert cap_turn_input("x" * 5000, 0) == "x" * 5000


def test_a_long_input_keeps_its_most_recent_part_after_the_note() -> None:
    text = "início " + " ".join(f"w{n}" for n in range(2000)) + " fim"
    capped = cap_turn_input(text, 800)
    assert len(capped) <= 800
    assert capped.startswith(INPUT_CUT_NOTE + "\n")
    assert capped.endswith("w1999 fim")
    assert "início" not in capped
    # Cut at a word boundary: the kept part starts with a whole word.
    first_word = capped.removeprefix(INPUT_CUT_NOTE + "\n").split(" ")[0]
    assert first_word.startswith("w")
    assert first_word[1:].isdigit()


def test_flags_cover_everyone_then_a_channel() -> None:
    everything_on = FlagSnapshot({})
    assert everything_on.blocking("zapi") is None
    assert FlagSnapshot({"bot_enabled": False}).blocking("meta") == "bot_enabled"
    meta_off = FlagSnapshot({"bot_enabled_meta": False})
    assert meta_off.blocking("meta") == "bot_enabled_meta"
    assert meta_off.blocking("zapi") is None


def test_flag_names_are_taken_as_in_the_environment_too() -> None:
    assert flag_name("BOT_ENABLED") == "bot_enabled"
    assert flag_name("bot_enabled_ads") == "bot_enabled_ads"
    with pytest.raises(UnknownFlag):
        flag_name("bot_enabled_sms")


def test_settings_bound_the_new_limits() -> None:
    with pytest.raises(ValidationError):
        Settings(_env_file=None, max_turn_input_chars=100)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Settings(_env_file=None, flags_cache_seconds=5)  # type: ignore[call-arg]
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (defaults.turn_budget_per_hour, defaults.turn_budget_per_day) == (30, 120)
    assert defaults.max_turn_input_chars == 4000
    assert defaults.bot_enabled is True
