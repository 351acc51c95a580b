"""Fixtures for the conversation evals: the run's Postgres database, emptied per scenario."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from seleto_agent.evals.harness import SandboxClient
from tests.conftest import _truncate_postgres


@pytest.fixture
def eval_database_url(postgres_url: str) -> str:
    """The session's Postgres database, truncated the way `database_url` does it."""
    _truncate_postgres(postgres_url)
    return postgres_url


@pytest.fixture
async def eval_sandbox(sandbox_server: str) -> AsyncIterator[SandboxClient]:
    async with SandboxClient.connect(sandbox_server) as client:
        yield client
