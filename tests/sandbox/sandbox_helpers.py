"""Shared helpers for sandbox tests: config, a threaded uvicorn server, a webhook receiver."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from seleto_agent.sandbox import SandboxConfig

CONFIG = SandboxConfig()
ZAPI_BASE = f"/instances/{CONFIG.zapi_instance_id}/token/{CONFIG.zapi_instance_token}"
ZAPI_HEADERS = {"Client-Token": CONFIG.zapi_client_token}


class ThreadedServer:
    """Runs an ASGI app with uvicorn on a free 127.0.0.1 port in a daemon thread."""

    def __init__(self, app: FastAPI) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 5
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._sock.close()


@dataclass
class Receiver:
    """A stand-in for the service under test: records every webhook it gets over HTTP."""

    base_url: str = ""
    posts: list[dict[str, Any]] = field(default_factory=list)
    # The verify token the GET handshake accepts (Meta's webhook verification).
    verify_token: str = "right-verify-token"

    def url(self, name: str) -> str:
        return f"{self.base_url}/hooks/{name}"

    def bodies(self, name: str) -> list[dict[str, Any]]:
        return [post["body"] for post in self.posts if post["name"] == name]


def receiver_app(receiver: Receiver) -> FastAPI:
    app = FastAPI()

    @app.post("/hooks/{name}")
    async def hook(name: str, request: Request) -> JSONResponse:
        raw = await request.body()
        receiver.posts.append(
            {"name": name, "body": json.loads(raw), "raw": raw, "headers": dict(request.headers)}
        )
        if name == "failing":
            return JSONResponse({"detail": "boom"}, status_code=500)
        # Fails every first delivery of a body, then takes it (a service briefly down).
        if name == "flaky" and [p["raw"] for p in receiver.posts].count(raw) == 1:
            return JSONResponse({"detail": "busy"}, status_code=503)
        return JSONResponse({"received": True, "name": name})

    @app.get("/hooks/{name}")
    async def handshake(request: Request) -> PlainTextResponse:
        params = request.query_params
        if (
            params.get("hub.mode") == "subscribe"
            and params.get("hub.verify_token") == receiver.verify_token
        ):
            return PlainTextResponse(params.get("hub.challenge", ""))
        return PlainTextResponse("", status_code=403)

    return app


async def register_all_webhooks(client: httpx.AsyncClient, receiver: Receiver) -> None:
    """Register a distinct receiver URL per webhook kind, as a service would at start-up."""
    for endpoint, name in (
        ("update-webhook-received", "received"),
        ("update-webhook-delivery", "delivery"),
        ("update-webhook-message-status", "status"),
        ("update-webhook-disconnected", "disconnected"),
        ("update-webhook-connected", "connected"),
    ):
        response = await client.put(
            f"{ZAPI_BASE}/{endpoint}", json={"value": receiver.url(name)}, headers=ZAPI_HEADERS
        )
        assert response.status_code == 200
        assert response.json() == {"value": True}
