from __future__ import annotations

from seleto_agent.domain.events import ContentKind
from seleto_agent.domain.turns import TurnMessage, backoff_delay, render_turn_input


def test_backoff_doubles_and_is_capped() -> None:
    delays = [
        backoff_delay(n, base_seconds=2, max_seconds=10).total_seconds() for n in (1, 2, 3, 4)
    ]
    assert delays == [2, 4, 8, 10]


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
