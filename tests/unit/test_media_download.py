"""The real media downloader against the sandbox's Z-API media storage over HTTP."""

from __future__ import annotations

import http.server as http_server
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from seleto_agent.integrations.media.download import (
    MediaDownloader,
    build_media_http_client,
)
from seleto_agent.integrations.media.errors import (
    MediaBlocked,
    MediaExpired,
    MediaTooLarge,
    MediaUnavailable,
)
from seleto_agent.integrations.media.policy import MediaPolicy, Resolver, system_resolve
from tests.conftest import Sandbox
from tests.trap import connection_trap

VOICE = (
    Path(__file__).resolve().parents[1] / "fixtures" / "audio" / "voice_pt_br.ogg"
).read_bytes()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    client = build_media_http_client()
    yield client
    await client.aclose()


def downloader(
    http: httpx.AsyncClient,
    *,
    hosts: str = "127.0.0.1",
    max_bytes: int = 1024 * 1024,
    timeout: float = 5.0,
    resolve: Resolver = system_resolve,
) -> MediaDownloader:
    return MediaDownloader(
        http=http,
        policy=MediaPolicy.from_setting(hosts, allow_http=True),
        max_bytes=max_bytes,
        timeout_seconds=timeout,
        resolve=resolve,
    )


async def test_voice_note_is_downloaded_whole(http: httpx.AsyncClient, sandbox: Sandbox) -> None:
    url = sandbox.put_media("happy", VOICE)
    assert "/file/temp-file-download/instances/" in url
    downloaded = await downloader(http).fetch(url)
    assert downloaded.data == VOICE
    assert downloaded.redirects == 0


async def test_connection_goes_to_the_checked_address_not_a_second_lookup(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    # "media.test" exists in no DNS: only the pinned, checked address can have been used.
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"]

    url = sandbox.put_media("pinned", VOICE).replace("127.0.0.1", "media.test")
    fetched = await downloader(http, hosts="media.test,127.0.0.1", resolve=resolve).fetch(url)
    assert fetched.data == VOICE
    assert calls == ["media.test"]


async def test_private_address_is_never_connected_to(http: httpx.AsyncClient) -> None:
    with connection_trap() as trap:
        with pytest.raises(MediaBlocked):
            await downloader(http).fetch(trap.url())
        # Listed by name, but the name resolves to loopback, which is not listed itself.
        with (
            connection_trap("127.0.0.1") as local_trap,
            pytest.raises(MediaBlocked, match="non-public"),
        ):
            await downloader(http, hosts="localhost").fetch(local_trap.url(host="localhost"))
        assert local_trap.connections == []
    assert trap.connections == []


async def test_redirect_to_a_private_address_is_refused_before_connecting(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    with connection_trap() as trap:
        url = sandbox.media_behaviour("bounce", redirect_to=trap.url())
        with pytest.raises(MediaBlocked):
            await downloader(http).fetch(url)
    assert trap.connections == []
    assert [r["status"] for r in sandbox.media_requests("bounce")] == [302]


async def test_redirects_are_followed_and_rechecked_up_to_three(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    final = sandbox.put_media("final", VOICE)
    hop2 = sandbox.media_behaviour("hop2", redirect_to=final)
    hop1 = sandbox.media_behaviour("hop1", redirect_to=hop2)
    fetched = await downloader(http).fetch(hop1)
    assert fetched.data == VOICE
    assert fetched.redirects == 2

    loop = sandbox.media_behaviour("loop")
    sandbox.media_behaviour("loop", redirect_to=loop)
    with pytest.raises(MediaBlocked, match="more than 3 redirects"):
        await downloader(http).fetch(loop)
    assert len(sandbox.media_requests("loop")) == 4


async def test_declared_oversize_is_refused_without_reading_the_body(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    url = sandbox.media_behaviour("huge", generate_bytes=5_000_000)
    with pytest.raises(MediaTooLarge) as caught:
        await downloader(http, max_bytes=100_000).fetch(url)
    assert caught.value.bytes_read == 0


async def test_undeclared_oversize_stops_reading_at_the_limit(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    total = 64 * 1024 * 1024
    url = sandbox.media_behaviour("endless", generate_bytes=total, declare_length=False)
    with pytest.raises(MediaTooLarge) as caught:
        await downloader(http, max_bytes=100_000).fetch(url)
    # One 64 KiB chunk past the limit at most, then the connection is dropped.
    assert 100_000 < caught.value.bytes_read <= 100_000 + 64 * 1024
    [served] = sandbox.media_requests("endless")
    assert not served["completed"]
    assert served["bytes_sent"] < total // 4


async def test_expired_media_is_reported_as_expired(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    url = sandbox.put_media("old", VOICE)
    sandbox.media_behaviour("old", expired=True)
    with pytest.raises(MediaExpired) as caught:
        await downloader(http).fetch(url)
    assert caught.value.problem.value == "audio_expired"
    assert not caught.value.retryable


async def test_server_errors_and_slowness_are_retryable(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    url = sandbox.put_media("flaky", VOICE)
    sandbox.media_behaviour("flaky", fail_statuses=[503])
    with pytest.raises(MediaUnavailable) as caught:
        await downloader(http).fetch(url)
    assert caught.value.retryable
    assert (await downloader(http).fetch(url)).data == VOICE

    sandbox.media_behaviour("flaky", delay_seconds=1)
    started = time.monotonic()
    with pytest.raises(MediaUnavailable, match="download took over"):
        await downloader(http, timeout=0.3).fetch(url)
    assert time.monotonic() - started < 1.5


async def test_error_messages_never_carry_the_url(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    url = sandbox.put_media("secret-path", VOICE)
    sandbox.media_behaviour("secret-path", expired=True)
    with pytest.raises(MediaExpired) as caught:
        await downloader(http).fetch(url)
    assert "secret-path" not in str(caught.value)
    assert "temp-file-download" not in str(caught.value)


class _HeaderRecorder(http_server.BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        _HeaderRecorder.seen.append({k.lower(): v for k, v in self.headers.items()})
        body = b"OggS-elsewhere"
        self.send_response(200)
        self.send_header("Content-Type", "audio/ogg")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        del format, args


async def test_extra_headers_never_follow_a_redirect_to_another_origin(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    # Meta's media URL needs the Bearer token; a redirect elsewhere must not receive it.
    server = http_server.ThreadingHTTPServer(("127.0.0.2", 0), _HeaderRecorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        elsewhere = f"http://127.0.0.2:{server.server_address[1]}/voice.ogg"
        url = sandbox.media_behaviour("bounce-token", redirect_to=elsewhere)
        fetched = await downloader(http, hosts="127.0.0.1,127.0.0.2").fetch(
            url, headers={"Authorization": "Bearer secret-token"}
        )
    finally:
        server.shutdown()
        server.server_close()
    assert fetched.data == b"OggS-elsewhere"
    [headers] = _HeaderRecorder.seen
    assert "authorization" not in headers
