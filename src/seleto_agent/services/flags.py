"""Runtime flags, shared by every process through the database and cached briefly in each.

A turn asks on every run, so the values are read at most once per `ttl_seconds` per process
(FLAGS_CACHE_SECONDS, 2 s at most): a change made through any process's admin API reaches every
worker within that time, and the process that made it at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from seleto_agent.db.repositories.audit import AuditRepository
from seleto_agent.db.repositories.events import EventRepository
from seleto_agent.db.repositories.flags import FlagRepository
from seleto_agent.domain.flags import BOT_ENABLED_ADS, FLAGS, FlagSnapshot, flag_name
from seleto_agent.observability.logging import get_logger

log = get_logger(__name__)

FLAG_CHANGED_ACTION = "flag.changed"
FLAG_UNCHANGED_ACTION = "flag.unchanged"


@dataclass(frozen=True, slots=True)
class FlagView:
    name: str
    enabled: bool
    # "database" once an operator set it, else "environment".
    source: str
    default: bool
    description: str
    updated_at: datetime | None
    updated_by: str | None


class FlagService:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        defaults: Mapping[str, bool],
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._defaults = {name: defaults.get(name, True) for name in FLAGS}
        self._ttl = ttl_seconds
        self._clock = clock
        self._cached: FlagSnapshot | None = None
        self._read_at = 0.0
        # Concurrent turns that find the cache stale share one read.
        self._lock = asyncio.Lock()

    async def current(self) -> FlagSnapshot:
        cached = self._cached
        if cached is not None and self._clock() - self._read_at < self._ttl:
            return cached
        async with self._lock:
            if self._cached is not None and self._clock() - self._read_at < self._ttl:
                return self._cached
            read_at = self._clock()
            async with self._engine.connect() as conn:
                rows = await FlagRepository(conn).all()
            values = dict(self._defaults)
            values.update({name: row.enabled for name, row in rows.items() if name in values})
            self._cached, self._read_at = FlagSnapshot(values), read_at
            return self._cached

    async def bot_stopped_by(self, conversation_key: str, *, provider: str) -> str | None:
        """The flag that keeps the bot from answering this lead now, or None."""
        snapshot = await self.current()
        blocking = snapshot.blocking(provider)
        if blocking is not None:
            return blocking
        if snapshot.enabled(BOT_ENABLED_ADS):
            return None
        # Only with the ads flag off does a turn pay for looking at the lead's history.
        async with self._engine.connect() as conn:
            from_ad = bool(await EventRepository(conn).referrals_for(conversation_key))
        return BOT_ENABLED_ADS if from_ad else None

    async def views(self) -> list[FlagView]:
        async with self._engine.connect() as conn:
            rows = await FlagRepository(conn).all()
        views = []
        for name, description in FLAGS.items():
            row = rows.get(name)
            views.append(
                FlagView(
                    name=name,
                    enabled=row.enabled if row else self._defaults[name],
                    source="database" if row else "environment",
                    default=self._defaults[name],
                    description=description,
                    updated_at=row.updated_at if row else None,
                    updated_by=row.updated_by if row else None,
                )
            )
        return views

    async def set(self, name: str, *, enabled: bool, actor: str) -> FlagView:
        """Store the flag's value and audit it; raises UnknownFlag for a name we lack."""
        name = flag_name(name)
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            flags = FlagRepository(conn)
            row = await flags.lock(name)
            before = row.enabled if row else self._defaults[name]
            await flags.set(name, enabled=enabled, actor=actor, now=now)
            await AuditRepository(conn).record(
                actor=actor,
                action=FLAG_CHANGED_ACTION if before != enabled else FLAG_UNCHANGED_ACTION,
                subject_type="flag",
                subject_id=name,
                details={"from": before, "to": enabled},
                now=now,
            )
        # This process sees its own change at once; the others within their cache's TTL.
        self._cached = None
        log.info("flag.changed", flag=name, enabled=enabled, was=before, actor=actor)
        return FlagView(
            name=name,
            enabled=enabled,
            source="database",
            default=self._defaults[name],
            description=FLAGS[name],
            updated_at=now,
            updated_by=actor,
        )
