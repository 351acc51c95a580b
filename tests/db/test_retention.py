"""Retention on both databases: only old, finished data is cleared; what an unfinished event
or job still needs stays; the lgpd audit rows stay; the daily job is queued once a day."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from seleto_agent.agents.factory import provision_agent_tables
from seleto_agent.db.engine import create_engine
from seleto_agent.db.repositories.agno_store import AgnoStore
from seleto_agent.db.tables import (
    audit_log,
    delivery_receipts,
    inbound_events,
    outbound_messages,
    outbox_jobs,
)
from seleto_agent.services.retention import RetentionHandler, RetentionPolicy, RetentionScheduler

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=120)
RECENT = NOW - timedelta(days=5)
POLICY = RetentionPolicy(payload_days=30, transcript_days=90, audit_days=90, batch_size=2)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await provision_agent_tables(engine)
    yield engine
    await engine.dispose()


async def _event(engine: AsyncEngine, name: str, *, status: str, at: datetime) -> int:
    async with engine.begin() as conn:
        return int(
            (
                await conn.execute(
                    insert(inbound_events)
                    .values(
                        provider="zapi",
                        instance_id="I",
                        message_id=name,
                        event_type="ReceivedCallback",
                        conversation_key="wa:+5544999999999",
                        body_text=f"texto {name}",
                        payload=f'{{"senderName": "Ana", "id": "{name}"}}'.encode(),
                        status=status,
                        next_attempt_at=at,
                        received_at=at,
                        updated_at=at,
                        turn_id=f"turn-{name}",
                    )
                    .returning(inbound_events.c.id)
                )
            ).scalar_one()
        )


async def _reply(engine: AsyncEngine, name: str, *, status: str, at: datetime) -> int:
    async with engine.begin() as conn:
        return int(
            (
                await conn.execute(
                    insert(outbound_messages)
                    .values(
                        idempotency_key=f"reply:turn-{name}",
                        provider="zapi",
                        conversation_key="wa:+5544999999999",
                        recipient="5544999999999",
                        body=f"resposta {name}",
                        turn_id=f"turn-{name}",
                        status=status,
                        created_at=at,
                        updated_at=at,
                    )
                    .returning(outbound_messages.c.id)
                )
            ).scalar_one()
        )


async def _rows(engine: AsyncEngine, table: Any) -> dict[int, Any]:
    async with engine.connect() as conn:
        return {row.id: row for row in await conn.execute(select(table))}


async def test_retention_clears_only_old_finished_data(engine: AsyncEngine) -> None:
    old_done = [await _event(engine, f"old{i}", status="done", at=OLD) for i in range(3)]
    old_ignored = await _event(engine, "ignored", status="ignored", at=OLD)
    old_dead = await _event(engine, "dead", status="dead", at=OLD)
    old_failed = await _event(engine, "failed", status="failed", at=OLD)
    mirrored = await _event(engine, "mirror", status="done", at=OLD)
    recent = await _event(engine, "recent", status="done", at=RECENT)
    sent = await _reply(engine, "old0", status="sent", at=OLD)
    for_dead_turn = await _reply(engine, "dead", status="failed", at=OLD)
    recent_reply = await _reply(engine, "recent", status="sent", at=RECENT)
    async with engine.begin() as conn:
        # A dead mirror job still reads its event's text (ops may replay it).
        await conn.execute(
            insert(outbox_jobs).values(
                kind="chatwoot.mirror",
                ordering_key="cw:wa:+5544999999999",
                dedupe_key=f"cw:incoming:{mirrored}",
                payload={"what": "incoming", "ref": str(mirrored)},
                status="dead",
                next_attempt_at=OLD,
                created_at=OLD,
                updated_at=OLD,
            )
        )
        await conn.execute(
            insert(delivery_receipts),
            [
                {
                    "provider": "zapi",
                    "provider_message_id": "m1",
                    "status": "READ",
                    "received_at": OLD,
                },
                {
                    "provider": "zapi",
                    "provider_message_id": "m2",
                    "status": "READ",
                    "received_at": RECENT,
                },
            ],
        )
        for action, at in (
            ("ownership.paused", OLD),
            ("lgpd.delete", OLD),
            ("ownership.paused", RECENT),
        ):
            await conn.execute(
                insert(audit_log).values(
                    at=at, actor="t", action=action, subject_type="x", subject_id="y", details={}
                )
            )
        sessions = (await AgnoStore(conn)._tables())["agno_sessions"]
        for session_id, at in (("idle", OLD), ("live", RECENT)):
            await conn.execute(
                insert(sessions).values(
                    session_id=session_id,
                    session_type="agent",
                    user_id="wa:+5544999999999",
                    created_at=int(at.timestamp()),
                    updated_at=int(at.timestamp()),
                )
            )

    counts = await RetentionHandler(engine, POLICY).run(now=NOW)

    events = await _rows(engine, inbound_events)
    for event_id in [*old_done, old_ignored]:
        assert bytes(events[event_id].payload) == b""
        assert events[event_id].body_text is None
        assert events[event_id].message_id, "the dedupe key stays"
    for event_id in (old_dead, old_failed, mirrored, recent):
        assert bytes(events[event_id].payload) != b"", event_id
        assert events[event_id].body_text is not None, event_id
    replies = await _rows(engine, outbound_messages)
    assert replies[sent].body == ""
    assert replies[for_dead_turn].body != "", "its dead event may be replayed and resend it"
    assert replies[recent_reply].body != ""
    async with engine.connect() as conn:
        receipts = list(await conn.scalars(select(delivery_receipts.c.provider_message_id)))
        actions = sorted(
            (row.action, row.at == RECENT) for row in await conn.execute(select(audit_log))
        )
        left = [
            s["session_id"]
            for s in (await AgnoStore(conn).export(["wa:+5544999999999"]))["agno_sessions"]
        ]
    assert receipts == ["m2"]
    assert actions == [("lgpd.delete", False), ("ownership.paused", True)]
    assert left == ["live"]
    assert counts == {
        "payloads": 4,
        "receipts": 1,
        "texts": 4,
        "replies": 1,
        "agno_sessions": 1,
        "audit": 1,
    }
    assert await RetentionHandler(engine, POLICY).run(now=NOW) == {}, "a second pass has nothing"


async def test_zero_days_keeps_that_data_forever(engine: AsyncEngine) -> None:
    event = await _event(engine, "old", status="done", at=OLD)
    keep_all = RetentionPolicy(payload_days=0, transcript_days=0, audit_days=0, batch_size=10)
    assert not keep_all.enabled
    assert await RetentionHandler(engine, keep_all).run(now=NOW) == {}
    assert (await _rows(engine, inbound_events))[event].body_text == "texto old"


async def test_the_daily_job_is_queued_once_per_day(engine: AsyncEngine) -> None:
    woken: list[bool] = []
    scheduler = RetentionScheduler(engine, on_queued=lambda: woken.append(True))
    first = await scheduler.queue_today(NOW)
    assert first is not None
    assert await scheduler.queue_today(NOW + timedelta(hours=3)) is None
    assert await scheduler.queue_today(NOW + timedelta(days=1)) is not None
    assert woken == [True, True]
    async with engine.connect() as conn:
        kinds = list(await conn.scalars(select(outbox_jobs.c.kind)))
        assert kinds == ["retention.run", "retention.run"]
