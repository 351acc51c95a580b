"""Fixtures for the conversation evals: a control client on the session's sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from seleto_agent.evals.harness import SandboxClient


@pytest.fixture
async def eval_sandbox(sandbox_server: str) -> AsyncIterator[SandboxClient]:
    async with SandboxClient.connect(sandbox_server) as client:
        yield client
