"""PipeRun `city_id` by city name and UF, cached in the database.

PipeRun's city list changes almost never, so one lookup per city serves every later lead; a
city PipeRun does not know is cached too (as null), and looked up again after a week in case
the name was added.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from seleto_agent.db.repositories.crm import CityCacheRepository
from seleto_agent.domain.brazil import normalize_uf
from seleto_agent.domain.catalog import fold_text
from seleto_agent.integrations.piperun.client import PipeRunClient

NEGATIVE_TTL = timedelta(days=7)


def city_key(name: str) -> str:
    """ "São  Paulo", "sao paulo" and "SÃO PAULO" share one key."""
    return " ".join(fold_text(name).replace("-", " ").split())


class CityResolver:
    def __init__(self, engine: AsyncEngine, client: PipeRunClient) -> None:
        self._engine = engine
        self._client = client

    async def resolve(self, city: str | None, uf: str | None) -> int | None:
        uf_code = normalize_uf(uf) if uf else None
        if not city or not city.strip() or uf_code is None:
            return None
        key = city_key(city)
        now = datetime.now(UTC)
        async with self._engine.connect() as conn:
            cached = await CityCacheRepository(conn).get(key, uf_code)
        if cached is not None and (
            cached.city_id is not None or now - cached.fetched_at < NEGATIVE_TTL
        ):
            return cached.city_id
        found = await self._client.find_cities(name=city.strip(), uf=uf_code)
        # PipeRun does not document whether `name` matches exactly; compare ourselves.
        city_id = next(
            (c.id for c in found if city_key(c.name) == key and (c.uf or "").upper() == uf_code),
            None,
        )
        async with self._engine.begin() as conn:
            await CityCacheRepository(conn).put(key, uf_code, city_id, now=now)
        return city_id
