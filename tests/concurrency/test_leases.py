"""Leases are on the database's clock, and fencing is a write (redteam L1): a lease that is
live for the database cannot be taken, one that lapsed or was taken over fences its old holder
out, and the old holder can neither renew it nor write its reply."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from seleto_agent.db.clock import db_now
from seleto_agent.db.repositories.conversations import ConversationRepository
from seleto_agent.db.tables import conversations
from tests.concurrency.helpers import add_conversations, engine_for


async def _expire(engine: object, seconds_ago: float) -> None:
    async with engine.begin() as conn:  # type: ignore[attr-defined]
        await conn.execute(
            update(conversations).values(
                lease_expires_at=db_now(conn, plus=timedelta(seconds=-seconds_ago))
            )
        )


async def test_a_live_lease_cannot_be_taken_and_a_lapsed_one_can(database_url: str) -> None:
    async with engine_for(database_url) as engine:
        (key,) = await add_conversations(engine, 1)
        async with engine.begin() as conn:
            repo = ConversationRepository(conn)
            assert await repo.try_acquire_lease(key, owner="a", seconds=20)
            assert not await repo.try_acquire_lease(key, owner="b", seconds=20)
        await _expire(engine, 1)
        async with engine.begin() as conn:
            repo = ConversationRepository(conn)
            assert await repo.try_acquire_lease(key, owner="b", seconds=20)
        async with engine.connect() as conn:
            owner = (await conn.execute(select(conversations.c.lease_owner))).scalar_one()
        assert owner == "b"


async def test_the_fence_shuts_out_a_lapsed_or_replaced_holder(database_url: str) -> None:
    async with engine_for(database_url) as engine:
        (key,) = await add_conversations(engine, 1)
        async with engine.begin() as conn:
            repo = ConversationRepository(conn)
            assert await repo.try_acquire_lease(key, owner="a", seconds=20)
            assert await repo.fence(key, owner="a", seconds=20)
        # Lapsed: nobody took it yet, but the reply must not be written any more.
        await _expire(engine, 1)
        async with engine.begin() as conn:
            assert not await ConversationRepository(conn).fence(key, owner="a", seconds=20)
        # Taken over: the old holder can neither fence nor renew.
        async with engine.begin() as conn:
            repo = ConversationRepository(conn)
            assert await repo.try_acquire_lease(key, owner="b", seconds=20)
        async with engine.begin() as conn:
            repo = ConversationRepository(conn)
            assert not await repo.fence(key, owner="a", seconds=20)
            assert not await repo.extend_lease(key, owner="a", seconds=20)
            assert await repo.fence(key, owner="b", seconds=20)
