"""Whether this process's database can serve the code, as `/readyz` reports it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from seleto_agent.db.migrate import Migration, MigrationError, load_migrations, not_ready_reason
from seleto_agent.observability.logging import get_logger

log = get_logger(__name__)

# `/readyz` is public and probed often; one check (a connection, the bookkeeping table and, on
# SQLite, PRAGMAs over ~15 tables: ~30 ms through aiosqlite) serves every probe for this long.
# `migrate` runs in another process, so a verdict kept for the process's life would never see it.
READINESS_TTL_SECONDS = 5.0


class Readiness:
    def __init__(
        self,
        engine: AsyncEngine,
        migrations_dir: Path,
        *,
        ttl_seconds: float = READINESS_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._migrations_dir = migrations_dir
        self._ttl_seconds = ttl_seconds
        self._clock = clock
        # The folder ships with the code, so a running process reads and hashes it once.
        self._migrations: list[Migration] | None = None
        self._verdict: str | None = None
        self._fresh_until = float("-inf")
        # Concurrent probes wait for one check instead of each running their own.
        self._lock = asyncio.Lock()

    async def not_ready_reason(self) -> str | None:
        """None when ready; otherwise why not, for the 503 body."""
        if self._clock() < self._fresh_until:
            return self._verdict
        async with self._lock:
            if self._clock() >= self._fresh_until:
                verdict = await self._check()
                if verdict != self._verdict:
                    # Once per change, not per probe: the only place prod tells the reason.
                    if verdict is None:
                        log.info("readyz.ready")
                    else:
                        log.warning("readyz.not_ready", reason=verdict)
                self._verdict = verdict
                self._fresh_until = self._clock() + self._ttl_seconds
        return self._verdict

    async def _check(self) -> str | None:
        try:
            if self._migrations is None:
                self._migrations = load_migrations(self._migrations_dir)
            async with self._engine.connect() as conn:
                await conn.execute(text("select 1"))
                return await not_ready_reason(conn, self._migrations)
        except MigrationError as exc:
            return str(exc)
        except Exception as exc:
            log.warning("readyz.database_unavailable", error=type(exc).__name__)
            return f"database unavailable ({type(exc).__name__})"
