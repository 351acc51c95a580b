"""Audio type from the bytes themselves, and duration read by mutagen."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import pytest

from seleto_agent.integrations.media.errors import MediaTooLong, MediaUnsupported
from seleto_agent.integrations.media.sniff import AudioFormat, inspect_audio, sniff_audio

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "audio"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def wav_bytes(seconds: float, rate: int = 8000) -> bytes:
    """A real WAV made with the standard library: `seconds` of 16-bit mono silence."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0\0" * int(rate * seconds))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "expected", "upload_name"),
    [
        ("voice_pt_br.ogg", AudioFormat.OGG_OPUS, "voice.ogg"),
        ("voice_pt_br.mp3", AudioFormat.MP3, "voice.mp3"),
        ("voice_pt_br.m4a", AudioFormat.M4A, "voice.m4a"),
    ],
)
def test_committed_fixtures_are_recognised_and_measured(
    name: str, expected: AudioFormat, upload_name: str
) -> None:
    info = inspect_audio(fixture(name), max_seconds=300)
    assert info.format is expected
    assert 3.0 < info.seconds < 4.5
    assert info.upload_name == upload_name


def test_ogg_opus_is_uploaded_as_ogg_which_openai_accepts() -> None:
    info = inspect_audio(fixture("voice_pt_br.ogg"), max_seconds=300)
    assert (info.upload_name, info.content_type) == ("voice.ogg", "audio/ogg")


def test_wav_made_by_the_test_is_measured() -> None:
    info = inspect_audio(wav_bytes(2.0), max_seconds=300)
    assert info.format is AudioFormat.WAV
    assert info.seconds == pytest.approx(2.0)


def test_too_long_is_refused_with_its_duration() -> None:
    with pytest.raises(MediaTooLong) as caught:
        inspect_audio(fixture("too_long_silence.ogg"), max_seconds=30)
    assert caught.value.seconds == pytest.approx(40.0, abs=0.5)
    assert caught.value.problem.value == "audio_too_long"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(fixture("not_audio.html"), id="html-error-page"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + b"\0" * 64, id="png"),
        pytest.param(b"#!AMR\n" + b"\0" * 64, id="amr"),
        pytest.param(b"\xff\xf1\x50\x80" + b"\0" * 64, id="adts-aac"),
        pytest.param(b"\0\0\0\x18ftyp3gp4" + b"\0" * 64, id="3gpp"),
        pytest.param(b"\x1aE\xdf\xa3" + b"\0" * 64, id="webm"),
    ],
)
def test_bytes_that_are_not_a_supported_audio_are_refused(data: bytes) -> None:
    with pytest.raises(MediaUnsupported) as caught:
        inspect_audio(data, max_seconds=300)
    assert caught.value.problem.value == "audio_unsupported"


def test_a_truncated_file_with_the_right_magic_is_unsupported_not_a_crash() -> None:
    ogg = fixture("voice_pt_br.ogg")
    assert sniff_audio(ogg[:200]) is AudioFormat.OGG_OPUS
    with pytest.raises(MediaUnsupported):
        inspect_audio(ogg[:200], max_seconds=300)
    with pytest.raises(MediaUnsupported):
        inspect_audio(b"\xff\xfb\x90\x00" + b"\0" * 100, max_seconds=300)


def test_the_payload_mime_type_is_irrelevant_only_bytes_count() -> None:
    # An MP3 arriving as "audio/ogg; codecs=opus" is still an MP3.
    assert sniff_audio(fixture("voice_pt_br.mp3")) is AudioFormat.MP3


def test_committed_fixtures_stay_small() -> None:
    for path in FIXTURES.iterdir():
        assert path.stat().st_size < 60_000, path.name
