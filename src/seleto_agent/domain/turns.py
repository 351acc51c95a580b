"""Pure rules of the worker: burst grouping, backoff, and how a turn's input is written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from seleto_agent.domain.events import ContentKind


@dataclass(frozen=True, slots=True)
class TurnMessage:
    event_id: int
    kind: ContentKind
    # For a voice note: its transcript once transcribed, "" before.
    text: str
    # A voice note that could not be heard (too long, too large, download or transcription
    # failed...); `inbound_events.media_error` says why.
    unusable: bool = False


def backoff_delay(attempts: int, *, base_seconds: float, max_seconds: float) -> timedelta:
    """Delay before attempt `attempts + 1`: base, 2x base, 4x base... capped."""
    exponent = max(attempts - 1, 0)
    return timedelta(seconds=min(base_seconds * (2**exponent), max_seconds))


# A transcribed voice note reads as its text, marked so the agent knows it was spoken.
TRANSCRIBED_AUDIO_PREFIX = "[áudio transcrito]"
# A voice note that could not be used: the agent answers the rest and asks for it in writing.
UNUSABLE_AUDIO_NOTE = (
    "[o lead enviou um áudio que não consegui ouvir; peça com gentileza que escreva a mensagem]"
)

# What the agent reads for content it cannot see (the audio entry: a voice note not yet
# transcribed, which a turn never renders once voice notes are resolved).
_CONTENT_NOTES = {
    ContentKind.AUDIO: "[o lead enviou um áudio que ainda não consigo ouvir]",
    ContentKind.IMAGE: "[o lead enviou uma imagem]",
    ContentKind.VIDEO: "[o lead enviou um vídeo]",
    ContentKind.DOCUMENT: "[o lead enviou um documento]",
    ContentKind.STICKER: "[o lead enviou uma figurinha]",
    ContentKind.LOCATION: "[o lead enviou uma localização]",
    ContentKind.CONTACT: "[o lead enviou um contato]",
    ContentKind.UNSUPPORTED: (
        "[o lead enviou uma mensagem que o WhatsApp não me deixa abrir; peça com gentileza que "
        "escreva o que precisa]"
    ),
    ContentKind.OTHER: "[o lead enviou uma mensagem sem texto]",
}


def render_turn_input(messages: list[TurnMessage]) -> str:
    """One user message for the agent: the burst's parts in arrival order, one per line."""
    lines: list[str] = []
    for message in messages:
        text = message.text.strip()
        if message.kind is ContentKind.AUDIO and message.unusable:
            lines.append(UNUSABLE_AUDIO_NOTE)
            continue
        if message.kind is ContentKind.AUDIO and text:
            lines.append(f"{TRANSCRIBED_AUDIO_PREFIX} {text}")
            continue
        note = _CONTENT_NOTES.get(message.kind)
        if note and text:
            lines.append(f"{note} {text}")
        elif note:
            lines.append(note)
        elif text:
            lines.append(text)
    return "\n".join(lines)


# What the model reads in place of the start of a burst longer than MAX_TURN_INPUT_CHARS.
INPUT_CUT_NOTE = (
    "[mensagem muito longa: o começo foi cortado e só o trecho final, o mais recente, aparece "
    "abaixo; se precisar do que faltou, peça com gentileza um resumo]"
)
# A cut this close to a space moves to it, so the model does not start on half a word.
_WORD_SLACK = 40


def cap_turn_input(text: str, max_chars: int) -> str:
    """The burst's text within `max_chars` (0 = no cap): the most recent part, after a note
    saying the start was cut. The events keep the whole text; only the model's input is cut."""
    if max_chars <= 0 or len(text) <= max_chars:
        return text
    keep = max(max_chars - len(INPUT_CUT_NOTE) - 1, 0)
    tail = text[len(text) - keep :] if keep else ""
    space = tail.find(" ", 0, _WORD_SLACK)
    if space != -1:
        tail = tail[space + 1 :]
    return f"{INPUT_CUT_NOTE}\n{tail.lstrip()}"
