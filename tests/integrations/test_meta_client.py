"""The real Cloud API client against the Cloud API simulator over HTTP."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from seleto_agent.integrations.media.download import MediaDownloader
from seleto_agent.integrations.media.policy import MediaPolicy
from seleto_agent.integrations.meta import (
    ErrorAction,
    MetaAuthError,
    MetaClient,
    MetaConnectError,
    MetaMediaAuthError,
    MetaMediaCorrupt,
    MetaMediaExpiredOrDeleted,
    MetaMediaUnavailable,
    MetaOutcomeUnknown,
    MetaOutsideWindow,
    MetaPairRateLimited,
    MetaRejected,
)
from seleto_agent.integrations.whatsapp import WhatsAppOutcomeUnknown
from seleto_agent.sandbox.config import SandboxConfig
from tests.conftest import Sandbox, free_port

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vendor" / "meta"
CONFIG = SandboxConfig()
PHONE = "5511987654321"
BSUID = "BR.1502576394655843"
VERSION = "v25.0"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


@pytest.fixture
async def media_http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
        yield client


def meta(
    http: httpx.AsyncClient,
    media_http: httpx.AsyncClient,
    sandbox: Sandbox,
    *,
    base_url: str | None = None,
    access_token: str = CONFIG.meta_access_token,
) -> MetaClient:
    downloader = MediaDownloader(
        http=media_http,
        # The sandbox at 127.0.0.1 over http, listed by address as an operator would.
        policy=MediaPolicy.from_setting("127.0.0.1", allow_http=True),
        max_bytes=1_000_000,
        timeout_seconds=5,
    )
    return MetaClient(
        http=http,
        base_url=base_url or sandbox.url,
        graph_version=VERSION,
        phone_number_id=CONFIG.meta_phone_number_id,
        access_token=access_token,
        media_downloader=downloader,
        retry_wait_max_seconds=0.05,
    )


def control(sandbox: Sandbox, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = sandbox.client.post(f"/_sandbox/meta/{path}", json=body)
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


def calls(sandbox: Sandbox) -> list[dict[str, Any]]:
    recorded: list[dict[str, Any]] = sandbox.state()["meta"]["calls"]
    return recorded


def media_requests(sandbox: Sandbox, endpoint: str) -> list[dict[str, Any]]:
    recorded: list[dict[str, Any]] = sandbox.state()["meta"]["media_requests"]
    return [r for r in recorded if r["endpoint"] == endpoint]


def open_window(sandbox: Sandbox, user: str = PHONE) -> None:
    control(sandbox, "window", {"user": user, "hours_ago": 1})


async def test_send_text_sends_meta_body_and_returns_the_wamid(
    http: httpx.AsyncClient, media_http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    open_window(sandbox)
    sent = await meta(http, media_http, sandbox).send_text(
        to=PHONE, text="Olá!", reference="reply:42"
    )
    [call] = calls(sandbox)
    assert call["status_code"] == 200
    assert sent.provider_message_id == call["wamid"]
    assert sent.provider_message_id.startswith("wamid.")
    assert sent.provider_status == "accepted"
    assert call["body"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": PHONE,
        "type": "text",
        "text": {"preview_url": False, "body": "Olá!"},
        "biz_opaque_callback_data": "reply:42",
    }


def test_the_simulators_send_answer_has_the_documented_shape(sandbox: Sandbox) -> None:
    open_window(sandbox)
    response = sandbox.client.post(
        f"/{VERSION}/{CONFIG.meta_phone_number_id}/messages",
        json={"messaging_product": "whatsapp", "to": PHONE, "type": "text", "text": {"body": "x"}},
        headers={"Authorization": f"Bearer {CONFIG.meta_access_token}"},
    )
    documented = json.loads((FIXTURES / "send_message_response.json").read_text())
    body = response.json()
    assert set(body) == set(documented)
    assert set(body["contacts"][0]) == set(documented["contacts"][0])
    assert set(body["messages"][0]) == {"id", "message_status"}


async def test_a_bsuid_goes_in_recipient_not_to(
    http: httpx.AsyncClient, media_http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    open_window(sandbox, BSUID)
    await meta(http, media_http, sandbox).send_text(to=BSUID, text="Olá!")
    [call] = calls(sandbox)
    assert call["body"]["recipient"] == BSUID
    assert "to" not in call["body"]
    assert call["vanished"] is False


async def test_text_over_4096_characters_is_refused_before_sending(
    http: httpx.AsyncClient, media_http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    open_window(sandbox)
    client = meta(http, media_http, sandbox)
    with pytest.raises(MetaRejected):
        await client.send_text(to=PHONE, text="a" * 4097)
    assert calls(sandbox) == []
    await client.send_text(to=PHONE, text="a" * 4096)
    assert len(calls(sandbox)) == 1


async def test_outside_the_window_is_a_typed_131047_never_retried(
    http: httpx.AsyncClient, media_http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    control(sandbox, "window", {"user": PHONE, "hours_ago": 25})
    with pytest.raises(MetaOutsideWindow) as caught:
        await meta(http, media_http, sandbox).send_text(to=PHONE, text="oi")
    error = caught.value
    assert (error.code, error.status_code, error.retryable) == (131047, 400, False)
    assert error.action is ErrorAction.OUTSIDE_WINDOW
    assert error.fbtrace_id
    # Only ids in the text: Meta's message and details can quote what we sent.
    assert "Re-engagement" not in str(error)
    assert len(calls(sandbox)) == 1


async def test_a_second_message_within_6_s_is_pair_rate_limited(
    http: httpx.AsyncClient, media_http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    open_window(sandbox)
    client = meta(http, media_http, sandbox)
    await client.send_text(to=PHONE, text="um")
    with pytest.raises(MetaPairRateLimited) as caught:
        await client.send_text(to=PHONE, text="dois")
    assert caught.value.code == 131056
    assert caught.value.retry_after is not None
    assert caught.value.retry_after >= 6
    assert caught.value.retryable
    # Not retried inside the call: a tight loop would only earn more 131056s.
    assert [c["status_code"] for c in calls(sandbox)] == [200, 400]
    control(sandbox, "clock", {"advance_seconds": 6})
    await client.send_text(to=PHONE, text="dois")


async def test_throughput_limit_is_retried_after_retry_after(
    http: httpx.AsyncClient, media_http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    open_window(sandbox)
    control(sandbox, "faults", {"messages": [{"status": 429, "code": 130429, "retry_after": 1}]})
    started = time.monotonic()
    await meta(http, media_http, sandbox).send_text(to=PHONE, text="oi")
    assert time.monotonic() - started >= 1.0
    assert [(c["status_code"], c.get("error_code")) for c in calls(sandbox)] == [
        (429, 130429),
        (200, None),
    ]


async def test_an_invalid_token_is_190_and_not_retryable(
    http: httpx.AsyncClient, media_http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    open_window(sandbox)
    client = meta(http, media_http, sandbox, access_token="expired")
    with pytest.raises(MetaAuthError) as caught:
        await client.send_text(to=PHONE, text="oi")
    assert (caught.value.code, caught.value.status_code) == (190, 401)
    assert not caught.value.retryable
    assert caught.value.action is ErrorAction.ALERT
    assert len(calls(sandbox)) == 1


async def test_a_5xx_is_an_unknown_outcome_and_not_retried(
    http: httpx.AsyncClient, media_http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    open_window(sandbox)
    control(sandbox, "faults", {"messages": [{"status": 500, "code": 131000}] * 3})
    with pytest.raises(MetaOutcomeUnknown) as caught:
        await meta(http, media_http, sandbox).send_text(to=PHONE, text="oi")
    assert isinstance(caught.value, WhatsAppOutcomeUnknown)
    assert caught.value.code == 131000
    assert len(calls(sandbox)) == 1


async def test_a_timeout_after_meta_accepted_is_an_unknown_outcome(
    media_http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    open_window(sandbox)
    control(sandbox, "faults", {"messages": [{"respond_after": 1.5}]})
    async with httpx.AsyncClient(timeout=0.5) as impatient:
        with pytest.raises(MetaOutcomeUnknown):
            await meta(impatient, media_http, sandbox).send_text(to=PHONE, text="oi")
    # Meta has it: the message was accepted although the answer never arrived.
    [call] = calls(sandbox)
    assert call["status_code"] == 200
    assert call["wamid"]


async def test_a_2xx_without_a_message_id_is_an_unknown_outcome(
    http: httpx.AsyncClient, media_http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    open_window(sandbox)
    control(sandbox, "faults", {"messages": [{"respond_status": 200}]})
    with pytest.raises(MetaOutcomeUnknown):
        await meta(http, media_http, sandbox).send_text(to=PHONE, text="oi")
    assert len(calls(sandbox)) == 1


async def test_no_connection_is_retried_then_reported_as_never_sent(
    http: httpx.AsyncClient, media_http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    client = meta(http, media_http, sandbox, base_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(MetaConnectError) as caught:
        await client.send_text(to=PHONE, text="oi")
    assert caught.value.retryable
    assert not isinstance(caught.value, WhatsAppOutcomeUnknown)


async def test_send_template_body_and_it_needs_no_window(
    http: httpx.AsyncClient, media_http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    sent = await meta(http, media_http, sandbox).send_template(
        to=PHONE, name="retomada_conversa", body_params=["Maria"], reference="followup:7"
    )
    [call] = calls(sandbox)
    assert sent.provider_message_id == call["wamid"]
    assert call["body"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": PHONE,
        "type": "template",
        "template": {
            "name": "retomada_conversa",
            "language": {"policy": "deterministic", "code": "pt_BR"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Maria"}]}],
        },
        "biz_opaque_callback_data": "followup:7",
    }


async def test_a_template_with_the_wrong_parameter_count_is_dead(
    http: httpx.AsyncClient, media_http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    with pytest.raises(MetaRejected) as caught:
        await meta(http, media_http, sandbox).send_template(to=PHONE, name="retomada_conversa")
    assert caught.value.code == 132000
    assert caught.value.action is ErrorAction.DEAD


async def test_mark_read_with_typing_sends_the_documented_body(
    http: httpx.AsyncClient, media_http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    client = meta(http, media_http, sandbox)
    await client.mark_read(to=PHONE, message_id="wamid.lead-1", typing=True)
    await client.mark_read(to=PHONE, message_id="wamid.lead-2")
    documented = json.loads((FIXTURES / "mark_read_with_typing_request.json").read_text())
    with_typing, plain = calls(sandbox)
    assert with_typing["body"] == {**documented, "message_id": "wamid.lead-1"}
    assert plain["body"] == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.lead-2",
    }
    assert (with_typing["typing"], plain["typing"]) == (True, False)


async def test_mark_read_is_idempotent_and_retried_after_a_5xx(
    http: httpx.AsyncClient, media_http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    control(sandbox, "faults", {"messages": [{"status": 500}]})
    await meta(http, media_http, sandbox).mark_read(to=PHONE, message_id="wamid.lead-1")
    assert [c["status_code"] for c in calls(sandbox)] == [500, 200]


def put_media(sandbox: Sandbox, media_id: str, data: bytes) -> None:
    response = sandbox.client.put(
        f"/_sandbox/meta/media/{media_id}",
        content=data,
        headers={"content-type": "audio/ogg; codecs=opus"},
    )
    response.raise_for_status()


async def test_media_is_fetched_in_two_steps_with_the_token_on_both(
    http: httpx.AsyncClient, media_http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    data = b"OggS" + bytes(range(256)) * 10
    put_media(sandbox, "1234567890987654", data)
    fetched = await meta(http, media_http, sandbox).fetch_media("1234567890987654")
    assert fetched.data == data
    assert fetched.mime_type == "audio/ogg; codecs=opus"
    [metadata] = media_requests(sandbox, "media")
    [download] = media_requests(sandbox, "media_download")
    assert metadata["status_code"] == 200
    assert download["status_code"] == 200
    assert download["bearer"] is True


async def test_a_hex_sha256_is_accepted_as_well_as_base64(
    http: httpx.AsyncClient, media_http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    data = b"OggS-hex"
    put_media(sandbox, "111", data)
    control(sandbox, "media/111/behaviour", {"sha256_encoding": "hex"})
    fetched = await meta(http, media_http, sandbox).fetch_media("111")
    assert hashlib.sha256(fetched.data).digest() == hashlib.sha256(data).digest()


async def test_bytes_that_do_not_match_the_sha256_are_refused_after_a_fresh_retry(
    http: httpx.AsyncClient, media_http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    put_media(sandbox, "222", b"OggS-corrupt")
    control(sandbox, "media/222/behaviour", {"corrupt_sha256": True})
    with pytest.raises(MetaMediaCorrupt) as caught:
        await meta(http, media_http, sandbox).fetch_media("222")
    assert caught.value.retryable
    assert len(media_requests(sandbox, "media")) == 2
    assert len(media_requests(sandbox, "media_download")) == 2


async def test_an_expired_media_url_restarts_from_the_media_id(
    http: httpx.AsyncClient, media_http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    put_media(sandbox, "333", b"OggS-333")
    # The first URL answers what an expired one answers.
    control(sandbox, "faults", {"media_download": [{"status": 404}]})
    fetched = await meta(http, media_http, sandbox).fetch_media("333")
    assert fetched.data == b"OggS-333"
    assert [r["status_code"] for r in media_requests(sandbox, "media")] == [200, 200]
    assert [r["status_code"] for r in media_requests(sandbox, "media_download")] == [404, 200]


async def test_an_unknown_or_week_old_media_id_is_expired_or_deleted(
    http: httpx.AsyncClient, media_http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    client = meta(http, media_http, sandbox)
    with pytest.raises(MetaMediaExpiredOrDeleted) as caught:
        await client.fetch_media("999")
    assert caught.value.reason == "expired_or_deleted"
    assert not caught.value.retryable
    put_media(sandbox, "444", b"OggS")
    control(sandbox, "clock", {"advance_seconds": 7 * 24 * 3600 + 1})
    with pytest.raises(MetaMediaExpiredOrDeleted):
        await client.fetch_media("444")
    # Not retried: a 404 will not heal.
    assert len(media_requests(sandbox, "media")) == 2


async def test_a_bad_token_on_media_is_not_retryable(
    http: httpx.AsyncClient, media_http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    put_media(sandbox, "555", b"OggS")
    with pytest.raises(MetaMediaAuthError) as caught:
        await meta(http, media_http, sandbox, access_token="expired").fetch_media("555")
    assert not caught.value.retryable
    assert len(media_requests(sandbox, "media")) == 1


async def test_media_5xx_is_retried_once_from_step_one_then_retryable(
    http: httpx.AsyncClient, media_http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    put_media(sandbox, "666", b"OggS")
    control(sandbox, "faults", {"media": [{"status": 500}, {"status": 503}]})
    with pytest.raises(MetaMediaUnavailable) as caught:
        await meta(http, media_http, sandbox).fetch_media("666")
    assert caught.value.retryable
    assert [r["status_code"] for r in media_requests(sandbox, "media")] == [500, 503]


async def test_a_media_timeout_is_retried_from_step_one(
    media_http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    put_media(sandbox, "888", b"OggS-888")
    control(sandbox, "faults", {"media": [{"delay": 1.0}]})
    async with httpx.AsyncClient(timeout=0.3) as impatient:
        fetched = await meta(impatient, media_http, sandbox).fetch_media("888")
    assert fetched.data == b"OggS-888"
    assert len(media_requests(sandbox, "media_download")) == 1
