"""Fixtures for sandbox tests: in-process client, a real webhook receiver, a live sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI

from seleto_agent.sandbox import create_sandbox_app
from tests.sandbox.sandbox_helpers import CONFIG, Receiver, ThreadedServer, receiver_app


@pytest.fixture(scope="session")
def receiver_server() -> Iterator[Receiver]:
    receiver = Receiver()
    server = ThreadedServer(receiver_app(receiver))
    server.start()
    receiver.base_url = server.base_url
    yield receiver
    server.stop()


@pytest.fixture
def receiver(receiver_server: Receiver) -> Receiver:
    receiver_server.posts.clear()
    return receiver_server


@pytest.fixture
def app() -> FastAPI:
    return create_sandbox_app(CONFIG)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        yield client


@pytest.fixture
def live_sandbox() -> Iterator[str]:
    """The sandbox served over real HTTP (needed where client timeouts matter)."""
    server = ThreadedServer(create_sandbox_app(CONFIG))
    server.start()
    yield server.base_url
    server.stop()
