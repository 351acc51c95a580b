"""Z-API media storage (real audio behind `audioUrl`) and the scripted speech-to-text endpoint."""

from __future__ import annotations

import httpx

from seleto_agent.sandbox.transcription_state import DEFAULT_TRANSCRIPT
from tests.sandbox.sandbox_helpers import CONFIG, Receiver, register_all_webhooks

AUTH = {"Authorization": "Bearer sk-anything"}
OGG_MAGIC = b"OggS"


def local_path(url: str) -> str:
    assert url.startswith(CONFIG.public_base_url)
    return url.removeprefix(CONFIG.public_base_url)


async def test_uploaded_file_is_served_at_a_zapi_like_path(client: httpx.AsyncClient) -> None:
    upload = await client.put(
        "/_sandbox/zapi/media/M1", content=b"OggS-fake", headers={"content-type": "audio/ogg"}
    )
    url = upload.json()["url"]
    assert "/file/temp-file-download/instances/SANDBOX-INSTANCE/M1/" in url
    assert url.endswith(".ogg")
    served = await client.get(local_path(url))
    assert served.status_code == 200
    assert served.content == b"OggS-fake"
    assert served.headers["content-type"].startswith("audio/ogg")
    assert served.headers["content-length"] == "9"
    state = (await client.get("/_sandbox/state")).json()["zapi_media"]
    assert state["requests"][0] | {"at": None} == {
        "media_id": "M1", "status": 200, "bytes_sent": 9, "completed": True, "at": None,
    }  # fmt: skip
    assert "data" not in state["items"]["M1"]


async def test_expiry_faults_and_redirects(client: httpx.AsyncClient) -> None:
    url = (await client.put("/_sandbox/zapi/media/M2", content=b"abc")).json()["url"]
    await client.post("/_sandbox/zapi/media/M2/behaviour", json={"fail_statuses": [503]})
    assert (await client.get(local_path(url))).status_code == 503
    assert (await client.get(local_path(url))).status_code == 200
    await client.post("/_sandbox/zapi/media/M2/behaviour", json={"expired": True})
    assert (await client.get(local_path(url))).status_code == 404
    hop = await client.post(
        "/_sandbox/zapi/media/M3/behaviour", json={"redirect_to": "https://elsewhere.test/x"}
    )
    redirected = await client.get(local_path(hop.json()["url"]))
    assert redirected.status_code == 302
    assert redirected.headers["location"] == "https://elsewhere.test/x"
    unknown = await client.get("/file/temp-file-download/instances/SANDBOX-INSTANCE/nope/a.ogg")
    assert unknown.status_code == 404


async def test_emitted_audio_callback_points_at_a_real_voice_note(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await register_all_webhooks(client, receiver)
    await client.post("/_sandbox/zapi/inbound", json={"kind": "audio"})
    [body] = receiver.bodies("received")
    served = await client.get(local_path(body["audio"]["audioUrl"]))
    assert served.status_code == 200
    assert served.content.startswith(OGG_MAGIC)
    assert b"OpusHead" in served.content[:512]


async def _transcribe(
    client: httpx.AsyncClient, filename: str = "voice.ogg", headers: dict[str, str] = AUTH
) -> httpx.Response:
    return await client.post(
        "/v1/audio/transcriptions",
        headers=headers,
        files={"file": (filename, b"OggS" + b"\0" * 60, "audio/ogg")},
        data={"model": "gpt-4o-mini-transcribe", "language": "pt", "response_format": "json"},
    )


async def test_transcription_returns_scripted_text_then_the_labelled_default(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/_sandbox/transcription/script", json={"texts": ["quero um orçamento"]})
    assert (await _transcribe(client)).json() == {"text": "quero um orçamento"}
    assert (await _transcribe(client)).json() == {"text": DEFAULT_TRANSCRIPT}
    state = (await client.get("/_sandbox/state")).json()["transcription"]
    assert state["requests_count"] == 2
    first = state["requests"][0]
    assert first["filename"] == "voice.ogg"
    assert first["bytes"] == 64
    assert first["head_hex"].startswith(OGG_MAGIC.hex())


async def test_transcription_checks_key_and_file_format(client: httpx.AsyncClient) -> None:
    assert (await _transcribe(client, headers={})).status_code == 401
    refused = await _transcribe(client, filename="voice.opus")
    assert refused.status_code == 400
    assert "Invalid file format" in refused.json()["error"]["message"]


async def test_transcription_faults_like_the_chat_model(client: httpx.AsyncClient) -> None:
    await client.post("/_sandbox/transcription/faults", json={"fail_next": 1, "status": 502})
    assert (await _transcribe(client)).status_code == 502
    assert (await _transcribe(client)).status_code == 200
    await client.post("/_sandbox/reset")
    state = (await client.get("/_sandbox/state")).json()["transcription"]
    assert state == {
        "requests_count": 0, "requests": [], "arrivals": [], "script": [],
        "faults": {"fail_next": 0, "fail_always": False, "status": 500, "delay_seconds": 0.0,
                   "delay_next": 0, "retry_after": None},
    }  # fmt: skip
