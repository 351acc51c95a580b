"""Voice notes end to end: webhook → download from the Z-API media simulator → transcription by
the sandbox's `/v1/audio/transcriptions` → the agent reads the text, or the lead is asked to
type it. Real audio files, real HTTP, real databases (SQLite and Postgres)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from seleto_agent.agents.prompts import load_fixed_replies
from seleto_agent.db.tables import inbound_events, outbound_messages
from seleto_agent.domain.turns import UNUSABLE_AUDIO_NOTE
from seleto_agent.observability.logging import configure_logging
from seleto_agent.settings import PROJECT_ROOT
from tests.conftest import Sandbox, Service, wait_for
from tests.factories import received_audio, received_text
from tests.trap import connection_trap

AUDIO = Path(__file__).resolve().parents[1] / "fixtures" / "audio"
VOICE = (AUDIO / "voice_pt_br.ogg").read_bytes()
TRANSCRIPT = "quero saber da formadora de hambúrguer"
ASK_TO_TYPE = load_fixed_replies(PROJECT_ROOT / "prompts" / "respostas_fixas_v1.yaml").get(
    "audio_unusable"
)
# Voice-note settings every test here runs with: the sandbox (127.0.0.1, plain http) is the only
# media host (README "Voice notes": MEDIA_ALLOWED_HOSTS=127.0.0.1 against the local sandbox).
# Checks that do not depend on the database run on SQLite only, to keep the suite quick.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
VOICE_SETTINGS: dict[str, Any] = {
    "media_allowed_hosts": "127.0.0.1",
    "openai_transcribe_retry_wait_seconds": 0.01,
}


async def start(service_factory: Any, **overrides: Any) -> Service:
    service: Service = await service_factory(**{**VOICE_SETTINGS, **overrides})
    return service


async def events(service: Service) -> list[Any]:
    async with service.runtime.engine.connect() as conn:
        return list(await conn.execute(select(inbound_events).order_by(inbound_events.c.id)))


async def all_done(service: Service) -> bool:
    rows = await events(service)
    return bool(rows) and all(row.status == "done" for row in rows)


def user_messages(sandbox: Sandbox) -> list[str]:
    return [
        m["content"]
        for request in sandbox.state()["model"]["requests"]
        for m in request["messages"]
        if m["role"] == "user"
    ]


async def admin_event(service: Service, event_id: int) -> dict[str, Any]:
    response = await service.client.get(
        f"/admin/events/{event_id}", headers=service.admin_headers()
    )
    body: dict[str, Any] = response.json()
    return body


async def assert_asked_to_type_once(service: Service, sandbox: Sandbox, reason: str) -> Any:
    """The lead got the fixed pt-BR reply exactly once, no model ran, and ops see why."""
    await wait_for(lambda: all_done(service))
    await asyncio.sleep(0.15)  # nothing else is on its way
    sent = sandbox.sent_texts()
    assert [s["message"] for s in sent] == [ASK_TO_TYPE]
    assert "por escrito" in ASK_TO_TYPE
    assert sandbox.state()["model"]["requests"] == []
    [event] = await events(service)
    assert (event.status, event.media_error, event.body_is_transcript) == ("done", reason, False)
    assert (await admin_event(service, event.id))["media_error"] == reason
    async with service.runtime.engine.connect() as conn:
        [row] = list(await conn.execute(select(outbound_messages)))
    assert (row.idempotency_key, row.status) == (f"reply:{event.turn_id}", "sent")
    return event


async def test_voice_note_is_transcribed_and_answered_as_if_typed(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await start(service_factory)
    url = sandbox.put_media("happy", VOICE, "audio/ogg; codecs=opus")
    sandbox.script_transcripts(TRANSCRIPT)
    await service.post_zapi(received_audio(audio_url=url))
    await wait_for(lambda: all_done(service))
    assert user_messages(sandbox) == [f"[áudio transcrito] {TRANSCRIPT}"]
    assert len(sandbox.sent_texts()) == 1
    [request] = sandbox.transcription_requests()
    assert (request["model"], request["language"], request["filename"]) == (
        "gpt-4o-mini-transcribe",
        "pt",
        "voice.ogg",
    )
    assert request["bytes"] == len(VOICE)
    [event] = await events(service)
    assert (event.body_text, event.body_is_transcript, event.media_error) == (
        TRANSCRIPT,
        True,
        None,
    )
    # No raw audio anywhere: the stored payload is the webhook body, which holds only the URL.
    assert VOICE[:64] not in event.payload
    assert url.encode() in event.payload
    view = await admin_event(service, event.id)
    assert (view["body_is_transcript"], view["media_error"]) == (True, None)
    assert TRANSCRIPT not in json.dumps(view)


async def test_voice_note_inside_a_burst_joins_the_same_turn_in_order(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await start(service_factory, debounce_seconds=0.5, debounce_max_seconds=3)
    url = sandbox.put_media("burst", VOICE)
    sandbox.script_transcripts("sou da Casa de Carnes Silva")
    await service.post_zapi(received_text(text="oi"))
    await service.post_zapi(received_audio(audio_url=url))
    await service.post_zapi(received_text(text="é pra Campinas"))
    await wait_for(lambda: all_done(service))
    assert user_messages(sandbox) == [
        "oi\n[áudio transcrito] sou da Casa de Carnes Silva\né pra Campinas"
    ]
    assert len(sandbox.sent_texts()) == 1
    assert len({row.turn_id for row in await events(service)}) == 1


async def test_failed_audio_beside_typed_text_is_a_note_for_the_agent(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await start(service_factory, debounce_seconds=0.4)
    url = sandbox.put_media("gone", VOICE)
    sandbox.media_behaviour("gone", expired=True)
    await service.post_zapi(received_text(text="oi"))
    await service.post_zapi(received_audio(audio_url=url))
    await wait_for(lambda: all_done(service))
    assert user_messages(sandbox) == [f"oi\n{UNUSABLE_AUDIO_NOTE}"]
    [reply] = sandbox.sent_texts()
    assert reply["message"] != ASK_TO_TYPE
    assert [row.media_error for row in await events(service)] == [None, "audio_expired"]


async def test_oversize_audio_stops_reading_at_the_limit(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await start(service_factory, audio_max_bytes=200_000)
    total = 32 * 1024 * 1024
    url = sandbox.media_behaviour("big", generate_bytes=total, declare_length=False)
    await service.post_zapi(received_audio(audio_url=url))
    await assert_asked_to_type_once(service, sandbox, "audio_too_large")
    [served] = sandbox.media_requests("big")
    assert not served["completed"]
    assert served["bytes_sent"] < total // 4
    assert sandbox.transcription_requests() == []


async def test_too_long_audio_is_not_transcribed(service_factory: Any, sandbox: Sandbox) -> None:
    service = await start(service_factory, audio_max_seconds=30)
    url = sandbox.put_media("long", (AUDIO / "too_long_silence.ogg").read_bytes())
    await service.post_zapi(received_audio(audio_url=url))
    await assert_asked_to_type_once(service, sandbox, "audio_too_long")
    assert sandbox.transcription_requests() == []


async def test_file_that_is_not_audio_is_refused_whatever_its_content_type(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await start(service_factory)
    url = sandbox.put_media("html", (AUDIO / "not_audio.html").read_bytes(), "audio/ogg")
    await service.post_zapi(received_audio(audio_url=url))
    await assert_asked_to_type_once(service, sandbox, "audio_unsupported")
    assert sandbox.transcription_requests() == []


async def test_url_to_a_private_address_is_never_fetched(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await start(service_factory)
    with connection_trap() as trap:
        await service.post_zapi(received_audio(audio_url=trap.url()))
        await assert_asked_to_type_once(service, sandbox, "audio_blocked_host")
    assert trap.connections == []


async def test_redirect_to_a_private_address_is_not_followed(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await start(service_factory)
    with connection_trap() as trap:
        url = sandbox.media_behaviour("hop", redirect_to=trap.url())
        await service.post_zapi(received_audio(audio_url=url))
        await assert_asked_to_type_once(service, sandbox, "audio_blocked_host")
    assert trap.connections == []
    assert [r["status"] for r in sandbox.media_requests("hop")] == [302]


async def test_expired_media_404_asks_the_lead_to_type(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await start(service_factory)
    url = sandbox.put_media("expired", VOICE)
    sandbox.media_behaviour("expired", expired=True)
    await service.post_zapi(received_audio(audio_url=url))
    event = await assert_asked_to_type_once(service, sandbox, "audio_expired")
    assert event.attempts == 1  # a 404 is final: not retried
    assert len(sandbox.media_requests("expired")) == 1


async def test_transcription_5xx_then_success_answers_the_transcript(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await start(service_factory)
    url = sandbox.put_media("flaky", VOICE)
    # Six failures exhaust one attempt (3 calls to the main model, 3 to the fallback); the
    # turn is retried by the worker and the seventh call succeeds.
    sandbox.transcription_faults(fail_next=6, status=503)
    sandbox.script_transcripts(TRANSCRIPT)
    await service.post_zapi(received_audio(audio_url=url))
    await wait_for(lambda: all_done(service))
    assert user_messages(sandbox) == [f"[áudio transcrito] {TRANSCRIPT}"]
    assert len(sandbox.sent_texts()) == 1
    models = [r["model"] for r in sandbox.transcription_requests()]
    assert models == ["gpt-4o-mini-transcribe"] * 3 + ["whisper-1"] * 3 + ["gpt-4o-mini-transcribe"]
    [event] = await events(service)
    assert (event.attempts, event.body_is_transcript, event.last_error) == (2, True, None)


async def test_transcription_always_failing_sends_the_fallback_exactly_once(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await start(service_factory)
    url = sandbox.put_media("broken", VOICE)
    sandbox.transcription_faults(fail_always=True, status=500)
    await service.post_zapi(received_audio(audio_url=url))
    event = await assert_asked_to_type_once(service, sandbox, "audio_transcription_failed")
    # Every attempt was used (INBOUND_MAX_ATTEMPTS=3 in tests), then the lead was asked to type
    # instead of the event going dead.
    assert event.attempts == 3
    assert len(sandbox.transcription_requests()) == 3 * 6
    replay = await service.client.post(
        f"/admin/events/{event.id}/replay", headers=service.admin_headers()
    )
    assert replay.json()["skipped"] == [{"id": event.id, "reason": "already_done"}]
    await asyncio.sleep(0.3)
    assert len(sandbox.sent_texts()) == 1


async def test_turn_retry_reuses_the_stored_transcript(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await start(service_factory)
    url = sandbox.put_media("once", VOICE)
    sandbox.script_transcripts(TRANSCRIPT)
    sandbox.model_faults(fail_next=1, status=500)
    await service.post_zapi(received_audio(audio_url=url))
    await wait_for(lambda: all_done(service))
    assert len(sandbox.sent_texts()) == 1
    assert len(sandbox.state()["model"]["requests"]) == 2
    # The model failed once and the turn was retried: the audio was fetched and transcribed once.
    assert len(sandbox.media_requests("once")) == 1
    assert len(sandbox.transcription_requests()) == 1
    [event] = await events(service)
    # A 500 from the model is an outage: retried without using up an attempt (C35).
    assert (event.attempts, event.body_text) == (1, TRANSCRIPT)


@sqlite_only
async def test_silence_transcript_counts_as_no_speech(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await start(service_factory)
    url = sandbox.put_media("quiet", VOICE)
    sandbox.script_transcripts("Legendas pela comunidade Amara.org", "")
    await service.post_zapi(received_audio(audio_url=url))
    await assert_asked_to_type_once(service, sandbox, "audio_no_speech")
    assert [r["model"] for r in sandbox.transcription_requests()] == [
        "gpt-4o-mini-transcribe",
        "whisper-1",
    ]


@sqlite_only
async def test_emitted_voice_note_from_the_simulator_is_transcribed(
    service_factory: Any, sandbox: Sandbox
) -> None:
    """The simulator's own audio callback: its `audioUrl` serves the sample voice note."""
    service = await start(service_factory)
    from tests.conftest import WEBHOOK_TOKEN

    sandbox.client.put(
        "/instances/SANDBOX-INSTANCE/token/sandbox-instance-token/update-webhook-received",
        json={"value": f"{sandbox.url}/unused"},
        headers={"Client-Token": "sandbox-client-token"},
    ).raise_for_status()
    emitted = sandbox.client.post("/_sandbox/zapi/inbound", json={"kind": "audio"}).json()
    # The service runs in-process (ASGI), so the test hands it the emitted body itself.
    await service.post_zapi(emitted["payload"], token=WEBHOOK_TOKEN)
    await wait_for(lambda: all_done(service))
    [event] = await events(service)
    assert event.body_is_transcript
    assert event.body_text.startswith("[sandbox]")
    assert len(sandbox.sent_texts()) == 1


@sqlite_only
async def test_voice_logs_carry_no_transcript_url_or_phone(
    service_factory: Any, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(level="DEBUG", fmt="json", pii_key=b"test-key")
    try:
        service = await start(service_factory)
        url = sandbox.put_media("private-media-id", VOICE)
        sandbox.script_transcripts("meu telefone é 11 98765-4321, quero a FB300")
        await service.post_zapi(received_audio(phone="5511987654321", audio_url=url))
        await wait_for(lambda: all_done(service))
        output = capsys.readouterr().out
    finally:
        logging.getLogger().handlers = []
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert any(line["event"] == "voice.transcribed" for line in lines)
    for needle in ("private-media-id", "temp-file-download", "FB300", "98765", "5511987654321"):
        assert needle not in output, needle
