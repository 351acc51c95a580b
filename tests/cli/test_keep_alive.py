"""`seleto-agent serve` keeps an idle connection open longer than its clients do.

A client that pools connections (httpx: 5 s idle; providers and load balancers: often 60 s)
reuses one it believes open; if the server closed it at that moment, the request is lost on
the wire. uvicorn's default keep-alive is 5 s, which races httpx's exactly.
"""

from __future__ import annotations

import asyncio
import socket
import time

from fastapi import FastAPI

from seleto_agent.cli import KEEP_ALIVE_SECONDS, server_config
from tests.conftest import free_port

REQUEST = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _exchange(sock: socket.socket) -> bytes:
    """One request on the open socket; the whole response (head, then Content-Length bytes),
    or what came before the server closed it."""
    sock.sendall(REQUEST)
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(4096)
        if not chunk:
            return received
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


async def test_a_connection_idle_longer_than_uvicorns_default_still_serves() -> None:
    import uvicorn

    assert KEEP_ALIVE_SECONDS > 60
    port = free_port()
    server = uvicorn.Server(server_config(_app(), "127.0.0.1", port))
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        assert not task.done()
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            first = await asyncio.to_thread(_exchange, sock)
            assert first.startswith(b"HTTP/1.1 200")
            # Past uvicorn's 5 s default: the server would have closed the connection.
            await asyncio.sleep(6.5)
            second = await asyncio.to_thread(_exchange, sock)
            assert second.startswith(b"HTTP/1.1 200")
    finally:
        server.should_exit = True
        await task
