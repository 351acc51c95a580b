"""The `seleto-agent` command as operators run it (a real process, a real database)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime

from seleto_agent.db.engine import create_engine
from seleto_agent.db.repositories.events import EventRepository, NewEvent
from seleto_agent.domain.events import EventStatus


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "LOG_LEVEL": "WARNING", **env}
    return subprocess.run(
        [sys.executable, "-m", "seleto_agent.cli", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _insert_dead_event(database_url: str) -> int:
    async def _insert() -> int:
        engine = create_engine(database_url)
        now = datetime.now(UTC)
        async with engine.begin() as conn:
            repo = EventRepository(conn)
            event_id = await repo.insert_unique(
                NewEvent(
                    provider="zapi",
                    instance_id="I",
                    message_id="M-1",
                    event_type="ReceivedCallback",
                    payload=b"{}",
                    status=EventStatus.RECEIVED,
                    received_at=now,
                    conversation_key="wa:+5511987654321",
                )
            )
            assert event_id is not None
            await repo.mark_dead(event_id, error="AgentRunFailed: test", now=now)
        await engine.dispose()
        return event_id

    return asyncio.run(_insert())


def test_migrate_list_and_replay_dead_events(database_url: str) -> None:
    migrated = run_cli("migrate", DATABASE_URL=database_url)
    assert migrated.returncode == 0, migrated.stderr
    assert migrated.stdout == "up to date\n"
    event_id = _insert_dead_event(database_url)

    listed = run_cli("events", "list", "--status", "dead", DATABASE_URL=database_url)
    assert listed.returncode == 0, listed.stderr
    items = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [i["id"] for i in items] == [event_id]
    assert items[0]["phone"] == "wa:+55 11 9****-4321"

    dry = run_cli("events", "replay", "--status", "dead", "--dry-run", DATABASE_URL=database_url)
    assert json.loads(dry.stdout)["queued"] == [event_id]
    still_dead = run_cli("events", "list", "--status", "dead", DATABASE_URL=database_url)
    assert still_dead.stdout.strip()

    replayed = run_cli("events", "replay", str(event_id), "999999", DATABASE_URL=database_url)
    body = json.loads(replayed.stdout)
    assert body["queued"] == [event_id]
    assert body["not_found"] == [999999]
    assert replayed.returncode == 1
    after = run_cli("events", "list", "--status", "received", DATABASE_URL=database_url)
    assert json.loads(after.stdout.splitlines()[0])["attempts"] == 0


def test_prod_without_secrets_exits_naming_them() -> None:
    result = run_cli("serve", APP_ENV="prod", ADMIN_TOKEN="", OPENAI_API_KEY="")
    assert result.returncode == 2
    assert "OPENAI_API_KEY" in result.stderr
    assert "ZAPI_WEBHOOK_TOKEN" in result.stderr


def test_prod_with_a_published_or_short_secret_exits_naming_it() -> None:
    strong = "5d1f0c9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e"
    result = run_cli(
        "serve",
        APP_ENV="prod",
        ADMIN_TOKEN="dev-admin-token",
        OS_SECURITY_KEY="too-short",
        OPENAI_API_KEY="sk-issued-by-the-provider",
        ZAPI_INSTANCE_ID="3C8A1F",
        ZAPI_INSTANCE_TOKEN="vendor-issued-instance-token",
        ZAPI_CLIENT_TOKEN="vendor-issued-client-token",
        ZAPI_WEBHOOK_TOKEN=strong,
        LOG_PII_KEY=strong[::-1],
    )
    assert result.returncode == 2
    assert "ADMIN_TOKEN (a value published in this repository)" in result.stderr
    assert "OS_SECURITY_KEY (shorter than 32 characters)" in result.stderr
    assert "too-short" not in result.stderr
    assert "ZAPI_WEBHOOK_TOKEN" not in result.stderr


def test_lgpd_export_and_delete_of_one_person(database_url: str) -> None:
    event_id = _insert_dead_event(database_url)

    exported = run_cli("lgpd", "export", "+55 (11) 98765-4321", DATABASE_URL=database_url)
    assert exported.returncode == 0, exported.stderr
    document = json.loads(exported.stdout)
    assert document["found"] is True
    assert [e["id"] for e in document["tables"]["inbound_events"]] == [event_id]
    assert document["tables"]["inbound_events"][0]["payload"] == "{}"

    refused = run_cli("lgpd", "delete", "5511987654321", DATABASE_URL=database_url)
    assert refused.returncode == 2
    assert "--yes" in refused.stderr
    deleted = run_cli("lgpd", "delete", "5511987654321", "--yes", DATABASE_URL=database_url)
    assert deleted.returncode == 0, deleted.stderr
    erasure = json.loads(deleted.stdout)
    assert erasure["found"] is True
    assert erasure["rows"]["inbound_events"] == 1
    # The erased event is finished: nothing will answer it.
    assert run_cli("events", "list", "--status", "dead", DATABASE_URL=database_url).stdout == ""

    again = run_cli("lgpd", "delete", "5511987654321", "--yes", DATABASE_URL=database_url)
    assert again.returncode == 0
    assert json.loads(again.stdout)["found"] is False
    unknown = run_cli("lgpd", "export", "lid:12ab", DATABASE_URL=database_url)
    assert unknown.returncode == 2
    assert "not a known @lid" in unknown.stderr
