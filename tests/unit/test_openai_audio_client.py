"""The real transcription client against the sandbox's scripted `/v1/audio/transcriptions`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from seleto_agent.integrations.openai_audio.client import (
    OpenAIAudioClient,
    TranscriptionRejected,
    TranscriptionUnavailable,
)
from seleto_agent.sandbox.transcription_state import DEFAULT_TRANSCRIPT
from tests.conftest import Sandbox

VOICE = (
    Path(__file__).resolve().parents[1] / "fixtures" / "audio" / "voice_pt_br.ogg"
).read_bytes()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def client(
    http: httpx.AsyncClient, sandbox: Sandbox, api_key: str | None = "sk-sandbox"
) -> OpenAIAudioClient:
    return OpenAIAudioClient(
        http=http,
        api_key=api_key,
        base_url=f"{sandbox.url}/v1",
        timeout_seconds=5,
        retry_wait_initial_seconds=0.01,
        retry_wait_max_seconds=0.05,
    )


async def transcribe(audio_client: OpenAIAudioClient, filename: str = "voice.ogg") -> str:
    return await audio_client.create_transcription(
        audio=VOICE, filename=filename, content_type="audio/ogg", model="gpt-4o-mini-transcribe",
        language="pt",
    )  # fmt: skip


async def test_ogg_voice_note_is_sent_as_openai_multipart(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    sandbox.script_transcripts("quero saber da formadora")
    assert await transcribe(client(http, sandbox)) == "quero saber da formadora"
    [request] = sandbox.transcription_requests()
    assert request["model"] == "gpt-4o-mini-transcribe"
    assert request["language"] == "pt"
    assert request["response_format"] == "json"
    assert request["filename"] == "voice.ogg"
    assert request["bytes"] == len(VOICE)
    assert request["head_hex"].startswith(b"OggS".hex())


async def test_unscripted_transcript_is_labelled_as_sandbox_output(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    assert await transcribe(client(http, sandbox)) == DEFAULT_TRANSCRIPT
    assert "sandbox" in DEFAULT_TRANSCRIPT


async def test_5xx_then_success_is_retried_inside_the_call(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    sandbox.transcription_faults(fail_next=2, status=503)
    sandbox.script_transcripts("depois de duas falhas")
    assert await transcribe(client(http, sandbox)) == "depois de duas falhas"
    assert len(sandbox.transcription_requests()) == 3


async def test_always_failing_raises_a_retryable_error_after_three_calls(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    sandbox.transcription_faults(fail_always=True, status=500)
    with pytest.raises(TranscriptionUnavailable) as caught:
        await transcribe(client(http, sandbox))
    assert caught.value.retryable
    assert caught.value.status_code == 500
    assert len(sandbox.transcription_requests()) == 3


async def test_a_refused_file_is_not_retried(http: httpx.AsyncClient, sandbox: Sandbox) -> None:
    with pytest.raises(TranscriptionRejected) as caught:
        await transcribe(client(http, sandbox), filename="voice.opus")
    assert not caught.value.retryable
    assert "Invalid file format" in str(caught.value)
    assert len(sandbox.transcription_requests()) == 1


async def test_missing_key_is_refused_like_openai(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    with pytest.raises(TranscriptionUnavailable) as caught:
        await transcribe(client(http, sandbox, api_key=None))
    assert caught.value.status_code == 401
