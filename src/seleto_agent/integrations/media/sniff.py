"""What the downloaded bytes really are, and how long they play.

The type comes from the bytes' own magic numbers, never from the payload's `mimeType` or the
URL: a provider bug or a forged callback could call anything "audio/ogg". Only formats that
both `mutagen` can measure and OpenAI's transcription endpoint accepts (flac, m4a, mp3, mp4,
mpeg, mpga, oga, ogg, wav, webm) pass. WebM is left out because mutagen cannot read its
duration, AMR and raw AAC because OpenAI does not take them.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, BinaryIO

from mutagen import MutagenError
from mutagen.flac import FLAC
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

from seleto_agent.integrations.media.errors import MediaTooLong, MediaUnsupported


class AudioFormat(StrEnum):
    OGG_OPUS = "ogg_opus"
    OGG_VORBIS = "ogg_vorbis"
    MP3 = "mp3"
    M4A = "m4a"
    WAV = "wav"
    FLAC = "flac"


# How each format is named when uploaded for transcription: OpenAI picks the decoder from the
# file name's extension, and `.opus` is not on its list while `.ogg` is.
UPLOAD_NAMES: dict[AudioFormat, tuple[str, str]] = {
    AudioFormat.OGG_OPUS: ("voice.ogg", "audio/ogg"),
    AudioFormat.OGG_VORBIS: ("voice.ogg", "audio/ogg"),
    AudioFormat.MP3: ("voice.mp3", "audio/mpeg"),
    AudioFormat.M4A: ("voice.m4a", "audio/mp4"),
    AudioFormat.WAV: ("voice.wav", "audio/wav"),
    AudioFormat.FLAC: ("voice.flac", "audio/flac"),
}
# mutagen's constructors are untyped; each takes a file object and parses it on the spot.
_PARSERS: dict[AudioFormat, Callable[[BinaryIO], Any]] = {
    AudioFormat.OGG_OPUS: OggOpus,
    AudioFormat.OGG_VORBIS: OggVorbis,
    AudioFormat.MP3: MP3,
    AudioFormat.M4A: MP4,
    AudioFormat.WAV: WAVE,
    AudioFormat.FLAC: FLAC,
}
# MP4 brands of 3GPP files: usually AMR inside, which OpenAI rejects.
_3GP_BRANDS = (b"3gp", b"3g2")


@dataclass(frozen=True, slots=True)
class AudioInfo:
    format: AudioFormat
    seconds: float

    @property
    def upload_name(self) -> str:
        return UPLOAD_NAMES[self.format][0]

    @property
    def content_type(self) -> str:
        return UPLOAD_NAMES[self.format][1]


def sniff_audio(data: bytes) -> AudioFormat:
    """The audio format of `data` from its leading bytes; MediaUnsupported when none fits."""
    head = data[:64]
    if head.startswith(b"OggS"):
        # The first Ogg page carries the codec's identification header right after the
        # 27-byte page header and the segment table.
        first_page = data[:512]
        if b"OpusHead" in first_page:
            return AudioFormat.OGG_OPUS
        if b"\x01vorbis" in first_page:
            return AudioFormat.OGG_VORBIS
        raise MediaUnsupported("ogg stream with a codec other than opus or vorbis")
    if head.startswith(b"ID3") or _is_mpeg_audio_frame(head):
        return AudioFormat.MP3
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return AudioFormat.WAV
    if head[4:8] == b"ftyp":
        if head[8:11] in _3GP_BRANDS:
            raise MediaUnsupported("3gpp container")
        return AudioFormat.M4A
    if head.startswith(b"fLaC"):
        return AudioFormat.FLAC
    raise MediaUnsupported("not a supported audio format")


def _is_mpeg_audio_frame(head: bytes) -> bool:
    """An MPEG audio frame header: 11 sync bits, a valid version and layer (not ADTS AAC)."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version = (head[1] >> 3) & 0b11
    layer = (head[1] >> 1) & 0b11
    bitrate_index = head[2] >> 4
    # version 01 is reserved; layer 00 is ADTS (AAC); bitrate 1111 is invalid.
    return version != 0b01 and layer != 0b00 and bitrate_index != 0b1111


def inspect_audio(data: bytes, *, max_seconds: float) -> AudioInfo:
    """Sniff and measure `data` (in memory, never written to disk); enforce the length limit."""
    audio_format = sniff_audio(data)
    try:
        parsed = _PARSERS[audio_format](io.BytesIO(data))
    # mutagen parses untrusted bytes; whatever it trips on means "not a file we can use".
    except (MutagenError, Exception) as exc:
        raise MediaUnsupported(f"unreadable {audio_format.value} file") from exc
    seconds = float(getattr(parsed.info, "length", 0.0) or 0.0)
    if seconds <= 0:
        raise MediaUnsupported(f"{audio_format.value} file without a duration")
    if seconds > max_seconds:
        raise MediaTooLong(f"{seconds:.1f} s is over {max_seconds:g} s", seconds=seconds)
    return AudioInfo(format=audio_format, seconds=seconds)
