"""Voice notes: why one could not be used, and when a transcript is really just silence.

Pure rules, no I/O. The reason codes are stored on the event (`inbound_events.media_error`) and
shown to ops by `GET /admin/events/{id}`; they never carry the URL or what was said.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum


class AudioProblem(StrEnum):
    """Why a voice note was not turned into text. Stored as `inbound_events.media_error`."""

    TOO_LONG = "audio_too_long"
    TOO_LARGE = "audio_too_large"
    UNSUPPORTED = "audio_unsupported"
    DOWNLOAD_FAILED = "audio_download_failed"
    EXPIRED = "audio_expired"
    TRANSCRIPTION_FAILED = "audio_transcription_failed"
    NO_SPEECH = "audio_no_speech"
    BLOCKED_HOST = "audio_blocked_host"


# Speech-to-text models (Whisper above all) write these when given silence or noise: subtitle
# credits and YouTube outros learnt from their training data. None of them is something a lead
# says in a voice note to a supplier, so a transcript made only of them is treated as no speech.
# Short words a lead could really say ("obrigado", "tchau") are deliberately not here.
_HALLUCINATED_PHRASES = (
    "legendas pela comunidade amara org",
    "legenda pela comunidade amara org",
    "legendas pela comunidade",
    "sous titres realises par la communaute d amara org",
    "subtitles by the amara org community",
    "legendado por",
    "legendas por",
    "legenda por",
    "legenda adriana zanotto",
    "transcricao e legendas",
    "obrigado por assistir",
    "obrigada por assistir",
    "obrigado por assistirem",
    "inscreva se no canal",
    "se inscreva no canal",
    "thanks for watching",
    "thank you for watching",
    "amara org",
)
_NON_WORD = re.compile(r"[^a-z0-9]+")
# Longest first, so a full credit line is removed before the shorter phrases inside it.
_HALLUCINATION = re.compile(
    r"\b(?:"
    + "|".join(re.escape(p) for p in sorted(_HALLUCINATED_PHRASES, key=len, reverse=True))
    + r")\b"
)


def _normalise(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NON_WORD.sub(" ", ascii_only).strip()


def is_silence_transcript(text: str) -> bool:
    """True when a transcript has no words, or only the phrases models invent for silence."""
    normalised = _normalise(text)
    if not normalised:
        return True
    return not _HALLUCINATION.sub(" ", normalised).strip()
