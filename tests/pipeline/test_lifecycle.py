"""Stopping the service gives back every database connection, also when its workers are in
the middle of a query (AgentOS used to dispose our engine under them on shutdown)."""

from __future__ import annotations

import httpx
import psycopg
from sqlalchemy.engine import make_url

from seleto_agent.app import create_app
from seleto_agent.runtime import build_runtime
from tests.conftest import Sandbox, _truncate_postgres, make_settings


def open_connections(url: str) -> int:
    dsn = make_url(url).set(drivername="postgresql", database="postgres")
    with psycopg.connect(dsn.render_as_string(False), autocommit=True) as conn:
        row = conn.execute(
            "select count(*) from pg_stat_activity where datname = %s", (make_url(url).database,)
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_each_stop_gives_back_every_connection(postgres_url: str, sandbox: Sandbox) -> None:
    _truncate_postgres(postgres_url)
    before = open_connections(postgres_url)
    for _ in range(3):
        runtime = build_runtime(make_settings(postgres_url, sandbox.url))
        app = create_app(runtime)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        # Stopped at once: the worker and the outbox are in their first poll.
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            assert (await client.get("/healthz")).status_code == 200
        await lifespan.__aexit__(None, None, None)
    assert open_connections(postgres_url) == before
