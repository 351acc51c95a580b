from __future__ import annotations

from datetime import UTC, datetime, timedelta

from seleto_agent.domain.events import ContentKind
from seleto_agent.domain.turns import TurnMessage, backoff_delay, burst_is_ripe, render_turn_input

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def test_backoff_doubles_and_is_capped() -> None:
    delays = [
        backoff_delay(n, base_seconds=2, max_seconds=10).total_seconds() for n in (1, 2, 3, 4)
    ]
    assert delays == [2, 4, 8, 10]


def test_burst_waits_for_quiet_but_not_past_the_max() -> None:
    def ripe(first_ago: float, last_ago: float) -> bool:
        return burst_is_ripe(
            first_received_at=NOW - timedelta(seconds=first_ago),
            last_received_at=NOW - timedelta(seconds=last_ago),
            now=NOW,
            quiet_seconds=1.5,
            max_wait_seconds=5,
        )

    assert not ripe(1.0, 0.2)
    assert ripe(2.0, 1.6)
    assert ripe(5.0, 0.1)


def test_turn_input_keeps_order_and_marks_unreadable_content() -> None:
    text = render_turn_input(
        [
            TurnMessage(1, ContentKind.TEXT, "oi"),
            TurnMessage(2, ContentKind.AUDIO, ""),
            TurnMessage(3, ContentKind.IMAGE, "minha máquina"),
        ]
    )
    assert text.splitlines() == [
        "oi",
        "[o lead enviou um áudio que ainda não consigo ouvir]",
        "[o lead enviou uma imagem] minha máquina",
    ]
