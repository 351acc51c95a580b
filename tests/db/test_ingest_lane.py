"""The Postgres ack lane (db/repositories/ingest_lane.py) writes exactly what the general
transaction writes, and hands every case it does not own back to it.

Each test runs the same messages through an IngestService with the lane and one without, on
the real Postgres, and compares the rows; SQLite has no lane (its runtime builds none).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from seleto_agent.db.repositories.events import NewEvent
from seleto_agent.db.repositories.ingest_lane import IngestLane
from seleto_agent.db.tables import conversations, inbound_events, outbox_jobs, whatsapp_identities
from seleto_agent.domain.events import (
    ContentKind,
    EventStatus,
    InboundMessage,
    IngestOutcome,
    Referral,
)
from seleto_agent.domain.phone import parse_whatsapp_id
from seleto_agent.integrations.zapi.adapter import classify
from seleto_agent.runtime import build_ownership
from seleto_agent.services.identity import IdentityService
from seleto_agent.services.ingest import IngestService
from seleto_agent.settings import Settings
from tests.concurrency.helpers import ALWAYS_OPEN, engine_for
from tests.factories import ZAPI_LINE, received_text

# Rows are compared without what differs by construction between two runs.
VOLATILE = {"id", "conversation_id", "received_at", "updated_at", "created_at", "next_attempt_at"}
VOLATILE |= {"last_inbound_at", "ref", "dedupe_key", "payload_id"}


def _service(engine: AsyncEngine, *, lane: IngestLane | None) -> IngestService:
    settings = Settings(_env_file=None, business_hours_file=ALWAYS_OPEN)  # type: ignore[call-arg]
    return IngestService(
        engine,
        identity=IdentityService(build_ownership(settings, engine)),
        on_accepted=lambda: None,
        mirror=True,
        lane=lane,
    )


@pytest.fixture
async def engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    from tests.conftest import _truncate_postgres

    _truncate_postgres(postgres_url)
    async with engine_for(postgres_url) as created:
        yield created


@pytest.fixture
async def lane(engine: AsyncEngine) -> AsyncIterator[IngestLane]:
    created = IngestLane(engine.url)
    try:
        yield created
    finally:
        await created.close()


def zapi(phone: str, *, message_id: str | None = None, **fields: Any) -> InboundMessage:
    classified = classify(received_text(phone=phone, message_id=message_id, **fields), ZAPI_LINE)
    assert isinstance(classified, InboundMessage)
    return classified


def cloud(sender: str, message_id: str, *, sent_at: datetime) -> InboundMessage:
    return InboundMessage(
        provider="meta",
        event_type="messages",
        instance_id="1234567890",
        message_id=message_id,
        sender=parse_whatsapp_id(sender),
        kind=ContentKind.TEXT,
        text="quero a FB300",
        sent_at=sent_at,
        referral=Referral(source_id="120", headline="Formadora FB300"),
    )


async def rows(engine: AsyncEngine, table: Any, *where: Any) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(select(table).where(*where).order_by(table.c.id))
        return [row._asdict() for row in result]


def stable(found: list[dict[str, Any]], *, swap: dict[str, str]) -> list[dict[str, Any]]:
    """The rows without volatile columns, one run's phone digits written as the other's."""

    def same(value: Any) -> Any:
        if isinstance(value, str):
            for old, new in swap.items():
                value = value.replace(old, new)
        if isinstance(value, dict):
            return {k: same(v) for k, v in value.items() if k not in VOLATILE}
        return value

    return [{k: same(v) for k, v in row.items() if k not in VOLATILE} for row in found]


async def snapshot(engine: AsyncEngine, digits: str, *, swap: dict[str, str]) -> dict[str, Any]:
    key_like = f"%{digits}%"
    return {
        "events": stable(
            await rows(engine, inbound_events, inbound_events.c.conversation_key.like(key_like)),
            swap=swap,
        ),
        "conversations": stable(
            await rows(engine, conversations, conversations.c.conversation_key.like(key_like)),
            swap=swap,
        ),
        "identities": stable(
            await rows(engine, whatsapp_identities, whatsapp_identities.c.value.like(key_like)),
            swap=swap,
        ),
        "mirror": stable(
            await rows(engine, outbox_jobs, outbox_jobs.c.ordering_key.like(key_like)), swap=swap
        ),
    }


async def test_the_lane_writes_what_the_general_transaction_writes(
    engine: AsyncEngine, lane: IngestLane
) -> None:
    """First contact, a known sender, a copy, a number learning its @lid (general path), then
    Cloud API messages with send times and an ad: same outcomes, same rows."""
    fast, general = _service(engine, lane=lane), _service(engine, lane=None)
    sent = datetime.now(UTC) - timedelta(hours=2)

    async def script(service: IngestService, digits: str) -> list[IngestOutcome]:
        phone = f"55419880{digits}"
        lid = f"7001{digits}0000@lid"
        first = zapi(phone, message_id=f"A{digits}", senderLid=None, chatLid=None)
        outcomes = [
            await service.ingest(raw=b"{}", classified=first),
            await service.ingest(raw=b"{}", classified=first),
            await service.ingest(
                raw=b"{}",
                classified=zapi(phone, message_id=f"B{digits}", senderLid=None, chatLid=None),
            ),
            await service.ingest(
                raw=b"{}",
                classified=zapi(phone, message_id=f"C{digits}", senderLid=lid, chatLid=lid),
            ),
            await service.ingest(
                raw=b"{}",
                classified=zapi(phone, message_id=f"D{digits}", senderLid=lid, chatLid=lid),
            ),
        ]
        other = f"55419881{digits}"
        for index, when in enumerate(
            (sent, sent - timedelta(hours=1), sent + timedelta(minutes=5))
        ):
            message = cloud(other, f"wamid.{digits}.{index}", sent_at=when)
            outcomes.append(await service.ingest(raw=b"{}", classified=message))
        return outcomes

    fast_outcomes = await script(fast, "3579")
    general_outcomes = await script(general, "4680")
    assert fast_outcomes == general_outcomes
    assert fast_outcomes.count(IngestOutcome.DUPLICATE) == 1
    swap = {"3579": "4680"}
    assert await snapshot(engine, "3579", swap=swap) == await snapshot(engine, "4680", swap=swap)
    # The service window counts from the latest send time, not from the late delivery.
    [cloud_conversation] = await rows(
        engine, conversations, conversations.c.conversation_key == "wa:+5541998813579"
    )
    assert cloud_conversation["last_inbound_at"] == sent + timedelta(minutes=5)


async def test_a_copy_does_not_move_the_service_window(
    engine: AsyncEngine, lane: IngestLane
) -> None:
    service = _service(engine, lane=lane)
    message = zapi("5541988003333", message_id="COPY")
    assert await service.ingest(raw=b"{}", classified=message) is IngestOutcome.ACCEPTED
    [before] = await rows(engine, conversations)
    await asyncio.sleep(0.01)
    assert await service.ingest(raw=b"{}", classified=message) is IngestOutcome.DUPLICATE
    [after] = await rows(engine, conversations)
    assert after["last_inbound_at"] == before["last_inbound_at"]
    assert after["updated_at"] == before["updated_at"]
    assert len(await rows(engine, inbound_events)) == 1


async def test_ten_concurrent_copies_of_a_first_message_store_one_of_each(
    engine: AsyncEngine, lane: IngestLane
) -> None:
    services = [_service(engine, lane=lane) for _ in range(3)]
    message = zapi("5541988004444", message_id="STORM")
    outcomes = await asyncio.gather(
        *(services[i % 3].ingest(raw=b"{}", classified=message) for i in range(10))
    )
    assert outcomes.count(IngestOutcome.ACCEPTED) == 1
    assert len(await rows(engine, inbound_events)) == 1
    assert len(await rows(engine, conversations)) == 1
    assert len(await rows(engine, outbox_jobs)) == 1


async def test_one_person_writing_in_two_forms_at_once_is_one_conversation(
    engine: AsyncEngine, lane: IngestLane
) -> None:
    """Both first messages race to open a conversation; the loser's statement writes nothing
    (its identity insert fails or its conversation exists) and the general path merges."""
    lid = "70015556667770@lid"
    for round_ in range(5):
        by_number = zapi(f"554198800{round_}55", message_id=f"N{round_}")
        by_lid = zapi(lid.replace("777", f"7{round_}7"), message_id=f"L{round_}")
        both = zapi(
            f"554198800{round_}55",
            message_id=f"B{round_}",
            senderLid=by_lid.sender.reply_to,
            chatLid=by_lid.sender.reply_to,
        )
        first, second = _service(engine, lane=lane), _service(engine, lane=lane)
        outcomes = await asyncio.gather(
            first.ingest(raw=b"{}", classified=by_number),
            second.ingest(raw=b"{}", classified=both),
            first.ingest(raw=b"{}", classified=by_lid),
        )
        assert outcomes == [IngestOutcome.ACCEPTED] * 3
    found = await rows(engine, conversations)
    assert len(found) == 5
    for event in await rows(engine, inbound_events):
        assert event["conversation_key"] in {c["conversation_key"] for c in found}


async def test_a_conversation_gone_between_lookup_and_write_is_not_written(
    engine: AsyncEngine, lane: IngestLane
) -> None:
    event = NewEvent(
        provider="zapi",
        instance_id="SANDBOX-INSTANCE",
        message_id="GONE",
        event_type="ReceivedCallback",
        payload=b"{}",
        status=EventStatus.RECEIVED,
        received_at=datetime.now(UTC),
        conversation_key="wa:+5541988005555",
        reply_to="5541988005555",
        phone_e164="+5541988005555",
        content_kind="text",
        body_text="oi",
    )
    assert await lane.store_known(event, conversation_id=987_654, mirror=True) is None
    assert await rows(engine, inbound_events) == []
    assert await rows(engine, outbox_jobs) == []


async def test_an_identity_linked_meanwhile_aborts_the_whole_first_contact(
    engine: AsyncEngine, lane: IngestLane
) -> None:
    await _service(engine, lane=None).ingest(
        raw=b"{}", classified=zapi("70018889990001@lid", message_id="EARLIER")
    )
    lid = "70018889990001@lid"
    message = zapi("5541988006666", message_id="LATER", senderLid=lid, chatLid=lid)
    event = dataclasses.replace(
        NewEvent(
            provider=message.provider,
            instance_id=message.instance_id,
            message_id=message.message_id,
            event_type=message.event_type,
            payload=b"{}",
            status=EventStatus.RECEIVED,
            received_at=datetime.now(UTC),
        ),
        conversation_key=message.sender.conversation_key,
        reply_to=message.sender.reply_to,
        phone_e164=message.sender.e164,
    )
    stored = await lane.store_first_contact(
        event, identities=message.sender.identities, mirror=True
    )
    assert stored is None
    assert [c["conversation_key"] for c in await rows(engine, conversations)] == [
        "wa:lid:70018889990001"
    ]
    assert [e["message_id"] for e in await rows(engine, inbound_events)] == ["EARLIER"]
    # Through the service, the general path links both ids to the one conversation.
    service = _service(engine, lane=lane)
    assert await service.ingest(raw=b"{}", classified=message) is IngestOutcome.ACCEPTED
    assert len(await rows(engine, conversations)) == 1


async def test_an_unreachable_lane_falls_back_to_the_general_path(
    engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first webhook waits out the pool's timeout, then the general path stores it; the
    next ones skip the lane (its circuit is open) instead of waiting again."""
    closed_port = make_url(str(engine.url)).set(port=9, drivername="postgresql+psycopg")
    unreachable = IngestLane(closed_port, timeout_seconds=0.5)
    try:
        service = _service(engine, lane=unreachable)
        for message_id in ("FALLBACK-1", "FALLBACK-2"):
            message = zapi("5541988007777", message_id=message_id)
            assert await service.ingest(raw=b"{}", classified=message) is IngestOutcome.ACCEPTED
    finally:
        await unreachable.close()
    stored = [e["message_id"] for e in await rows(engine, inbound_events)]
    assert stored == ["FALLBACK-1", "FALLBACK-2"]
    output = capsys.readouterr().out
    assert "LaneUnavailable: PoolTimeout" in output
    assert "LaneUnavailable: skipped after a recent failure" in output
