"""Upgrading a SQLite database made at an older commit (SQLite only: Postgres runs the SQL files,
whose shape `test_schema.py` checks against tables.py)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from seleto_agent import cli
from seleto_agent.app import create_app
from seleto_agent.db.engine import create_engine
from seleto_agent.db.migrate import MigrationError, MigrationReport, load_migrations, migrate
from seleto_agent.db.tables import metadata
from seleto_agent.runtime import build_runtime
from seleto_agent.settings import PROJECT_ROOT, get_settings
from tests.conftest import make_settings

MIGRATIONS = PROJECT_ROOT / "supabase" / "migrations"
NEWEST = load_migrations(MIGRATIONS)[-1]
# Tables the newest migration creates; an older database does not have them yet.
TABLES_OF_THE_NEWEST = {
    "outbox_jobs",
    "crm_links",
    "crm_notes",
    "piperun_cities",
    "chatwoot_links",
    "chatwoot_messages",
}


async def readyz(url: str) -> httpx.Response:
    runtime = build_runtime(make_settings(url, "http://127.0.0.1:9", worker_embedded=False))
    transport = httpx.ASGITransport(app=create_app(runtime))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get("/readyz")
    finally:
        await runtime.engine.dispose()
        await runtime.http.aclose()


async def build_old_database(url: str, *, record: list[str], ddl: list[str]) -> None:
    """A database as an older commit made it: fewer tables, `ddl` run on them, `record` versions
    in the bookkeeping table."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            tables = [t for t in metadata.sorted_tables if t.name not in TABLES_OF_THE_NEWEST]
            await conn.run_sync(metadata.create_all, tables=tables)
            for statement in ddl:
                await conn.exec_driver_sql(statement)
            for migration in load_migrations(MIGRATIONS):
                if migration.version in record:
                    await conn.execute(
                        text(
                            "insert into seleto_schema_migrations values "
                            "(:version, :name, :checksum, '2026-11-21 00:00:00')"
                        ),
                        {
                            "version": migration.version,
                            "name": migration.name,
                            "checksum": migration.checksum,
                        },
                    )
    finally:
        await engine.dispose()


async def run_migrate(url: str) -> MigrationReport:
    engine = create_engine(url)
    try:
        return await migrate(engine, MIGRATIONS)
    finally:
        await engine.dispose()


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("select name from sqlite_master where type='table'")}


def columns(path: Path, table: str) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[1] for row in conn.execute(f"pragma table_info({table})")}


def indexes(path: Path, table: str) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[1] for row in conn.execute(f"pragma index_list({table})")}


def recorded(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("select version from seleto_schema_migrations order by version")
        return [row[0] for row in rows]


OLDER_VERSIONS = [m.version for m in load_migrations(MIGRATIONS)[:-1]]
DROP_COLUMN = "alter table conversations drop column human_last_activity_at"
DROP_INDEX = "drop index ix_outbound_messages_conversation"


async def test_migrate_brings_an_older_database_up_to_the_declared_schema(tmp_path: Path) -> None:
    path = tmp_path / "seleto.db"
    url = f"sqlite:///{path}"
    await build_old_database(url, record=OLDER_VERSIONS, ddl=[DROP_COLUMN, DROP_INDEX])
    assert (await readyz(url)).status_code == 503

    report = await run_migrate(url)

    assert "human_last_activity_at" in columns(path, "conversations")
    assert "ix_outbound_messages_conversation" in indexes(path, "outbound_messages")
    assert tables(path) >= TABLES_OF_THE_NEWEST
    assert recorded(path) == [*OLDER_VERSIONS, NEWEST.version]
    assert report.versions == (NEWEST.version,)
    assert "added column conversations.human_last_activity_at" in report.schema_changes
    assert "created index ix_outbound_messages_conversation" in report.schema_changes
    assert "created table outbox_jobs" in report.schema_changes
    response = await readyz(url)
    assert response.status_code == 200, response.json()


async def test_a_recorded_version_with_a_missing_column_is_not_ready_and_migrate_repairs_it(
    tmp_path: Path,
) -> None:
    """What the old `migrate` left behind: every version recorded, the new column absent."""
    path = tmp_path / "seleto.db"
    url = f"sqlite:///{path}"
    await build_old_database(url, record=[*OLDER_VERSIONS, NEWEST.version], ddl=[DROP_COLUMN])
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
    finally:
        await engine.dispose()

    response = await readyz(url)
    assert response.status_code == 503
    assert "conversations.human_last_activity_at" in response.json()["reason"]

    report = await run_migrate(url)

    assert report == MigrationReport((), ("added column conversations.human_last_activity_at",))
    assert "human_last_activity_at" in columns(path, "conversations")
    assert recorded(path) == [*OLDER_VERSIONS, NEWEST.version]
    assert (await readyz(url)).status_code == 200


# handoffs.reason is NOT NULL without a default: existing rows would have no value for it.
DROP_REQUIRED_COLUMN = "alter table handoffs drop column reason"


async def test_a_required_column_sqlite_cannot_add_is_refused_and_nothing_is_recorded(
    tmp_path: Path,
) -> None:
    path = tmp_path / "seleto.db"
    url = f"sqlite:///{path}"
    await build_old_database(url, record=OLDER_VERSIONS, ddl=[DROP_COLUMN, DROP_REQUIRED_COLUMN])

    with pytest.raises(MigrationError) as refused:
        await run_migrate(url)

    message = str(refused.value)
    assert "handoffs.reason" in message
    assert "NOT NULL without a default" in message
    assert f"delete {path}" in message
    # All or nothing: the column that could be added was not, and no table was created either.
    assert recorded(path) == OLDER_VERSIONS
    assert "human_last_activity_at" not in columns(path, "conversations")
    assert not tables(path) & TABLES_OF_THE_NEWEST
    response = await readyz(url)
    assert response.status_code == 503
    reason = response.json()["reason"]
    assert reason.startswith(f"migrations pending: {NEWEST.version}; schema differs")
    assert "handoffs.reason is missing" in reason


def test_the_cli_prints_a_refusal_and_exits_1_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "seleto.db"
    url = f"sqlite:///{path}"
    asyncio.run(build_old_database(url, record=OLDER_VERSIONS, ddl=[DROP_REQUIRED_COLUMN]))
    out = _cli_migrate(monkeypatch, url)

    assert out.code == 1
    assert out.stdout == ""
    assert out.stderr.startswith("migrate refused: this SQLite database cannot be brought")
    assert "handoffs.reason" in out.stderr
    assert "Traceback" not in out.stderr
    assert recorded(path) == OLDER_VERSIONS


def test_the_cli_says_what_it_applied_then_up_to_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "seleto.db"
    url = f"sqlite:///{path}"
    asyncio.run(build_old_database(url, record=OLDER_VERSIONS, ddl=[DROP_COLUMN]))

    first = _cli_migrate(monkeypatch, url)
    assert first.code == 0
    lines = first.stdout.splitlines()
    assert "added column conversations.human_last_activity_at" in lines
    assert lines[-1] == f"applied 1 migration(s): {NEWEST.version}"

    second = _cli_migrate(monkeypatch, url)
    assert (second.code, second.stdout, second.stderr) == (0, "up to date\n", "")


@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str


def _cli_migrate(monkeypatch: pytest.MonkeyPatch, url: str) -> CliRun:
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("MIGRATIONS_DIR", str(MIGRATIONS))
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    out, err = io.StringIO(), io.StringIO()
    get_settings.cache_clear()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(["migrate"])
    finally:
        get_settings.cache_clear()
    return CliRun(code, out.getvalue(), err.getvalue())
