"""Pure voice-note rules: silence transcripts, how a burst with audio reads, fallback models."""

from __future__ import annotations

import pytest

from seleto_agent.domain.events import ContentKind
from seleto_agent.domain.turns import UNUSABLE_AUDIO_NOTE, TurnMessage, render_turn_input
from seleto_agent.domain.voice import is_silence_transcript
from seleto_agent.services.voice import ResolvedBurst, VoiceConfig


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "...",
        "♪ ♪",
        "Legendas pela comunidade Amara.org",
        "Obrigado por assistir! Obrigado por assistir!",
        "Inscreva-se no canal.",
        "Thank you for watching.",
    ],
)
def test_empty_or_hallucinated_silence_is_no_speech(text: str) -> None:
    assert is_silence_transcript(text)


@pytest.mark.parametrize(
    "text",
    ["Obrigado.", "Tchau!", "Quero saber o preço da formadora", "legenda por favor, 2000 por dia"],
)
def test_what_a_lead_could_really_say_is_kept(text: str) -> None:
    assert not is_silence_transcript(text)


def test_burst_reads_typed_text_transcripts_and_failed_audio_in_order() -> None:
    assert "escreva" in UNUSABLE_AUDIO_NOTE
    text = render_turn_input(
        [
            TurnMessage(1, ContentKind.TEXT, "oi"),
            TurnMessage(2, ContentKind.AUDIO, "sou da Casa de Carnes Silva"),
            TurnMessage(3, ContentKind.AUDIO, "", unusable=True),
            TurnMessage(4, ContentKind.TEXT, "queria saber da FB300"),
        ]
    )
    assert text.splitlines() == [
        "oi",
        "[áudio transcrito] sou da Casa de Carnes Silva",
        UNUSABLE_AUDIO_NOTE,
        "queria saber da FB300",
    ]


def test_only_failed_audio_means_no_model_run() -> None:
    failed = TurnMessage(1, ContentKind.AUDIO, "", unusable=True)
    assert ResolvedBurst(messages=[failed, failed]).only_unusable_audio
    assert not ResolvedBurst(
        messages=[failed, TurnMessage(2, ContentKind.TEXT, "oi")]
    ).only_unusable_audio
    assert not ResolvedBurst(messages=[TurnMessage(1, ContentKind.AUDIO, "oi")]).only_unusable_audio
    assert not ResolvedBurst(messages=[]).only_unusable_audio


@pytest.mark.parametrize(
    ("fallback", "models"),
    [
        ("whisper-1", ("gpt-4o-mini-transcribe", "whisper-1")),
        (None, ("gpt-4o-mini-transcribe",)),
        ("none", ("gpt-4o-mini-transcribe",)),
        ("gpt-4o-mini-transcribe", ("gpt-4o-mini-transcribe",)),
    ],
)
def test_fallback_model_is_tried_second_unless_turned_off(
    fallback: str | None, models: tuple[str, ...]
) -> None:
    config = VoiceConfig(
        transcribe_model="gpt-4o-mini-transcribe",
        fallback_model=fallback,
        max_seconds=300,
        max_attempts=5,
    )
    assert config.models == models
