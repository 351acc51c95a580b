"""The webhook ack path's SQL on Postgres: a lead message stored in two round trips.

Why not the SQLAlchemy path: one `engine.begin()` with a pre-pinged checkout, BEGIN, the
statements and COMMIT cost ~0.7 ms of CPU before any work, and a first contact took seven
statements; an ack that must cost ≤ 3× an empty endpoint cannot afford that (bench/README.md,
"Ack path"). Here the same decisions are taken by the same Python code (services/ingest.py,
services/identity.py); only the SQL is different:

1. `lookup`: the conversations the sender's ids point at (the query IdentityRepository runs).
2. One statement that writes everything, atomic without a transaction: `store_known` (touch
   the conversation, insert the event, queue its Chatwoot mirror) or `store_first_contact`
   (open the conversation, link its ids, insert the event, queue the mirror).

Each write statement answers "not here" (`None`) for anything that is not the plain case — the
conversation vanished (merged meanwhile), it was opened meanwhile, an id was linked elsewhere
meanwhile — having written nothing; the caller then runs the general transaction, which sorts
races out under row locks. The connections come from their own small psycopg pool in
autocommit mode (psycopg-pool: the driver's own pool, so no hand-written one), opened at the
first webhook, so worker processes never hold one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from circuitbreaker import CircuitBreaker
from psycopg import AsyncConnection, InterfaceError, OperationalError, errors
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy.engine import URL

from seleto_agent.db.repositories.chatwoot import mirror_dedupe_key, mirror_ordering_key
from seleto_agent.db.repositories.events import NewEvent
from seleto_agent.db.repositories.identities import OWN_KEY, IdentityMatch, KnownConversation
from seleto_agent.domain.conversation import ConversationOwner
from seleto_agent.domain.jobs import JobKind, JobStatus

# Webhooks in flight are capped at INGEST_MAX_INFLIGHT (64); each holds a connection for about
# two round trips, so a few connections serve them all. Kept small: Supabase counts every one.
POOL_MIN_SIZE = 2
POOL_MAX_SIZE = 16
# Longer than any healthy wait for a free connection; then the general path (and its errors).
POOL_TIMEOUT_SECONDS = 2.0
# After a failure the lane is skipped this long: in a database outage each webhook would
# otherwise wait out the pool timeout before the general path answers 503.
SKIP_AFTER_FAILURE_SECONDS = 10.0

_LOOKUP = """
select i.kind, i.value, c.id, c.conversation_key, c.phone_e164, c.reply_to, c.created_at
from public.whatsapp_identities as i
join public.conversations as c on c.id = i.conversation_id
where (i.kind, i.value) in (
    select * from unnest(%(kinds)s::text[], %(values)s::text[])
)
union all
select %(own_key)s::text, c.conversation_key, c.id, c.conversation_key, c.phone_e164, c.reply_to,
       c.created_at
from public.conversations as c
where c.conversation_key = %(key)s
"""

# The service window counts from the lead's own send times when the provider gives them
# (ConversationRepository.recount_last_inbound); otherwise from now.
_LAST_INBOUND_NOW = "%(now)s::timestamptz"
_LAST_INBOUND_SENT = """greatest(
    (select max(coalesce(e.sent_at, e.received_at)) from public.inbound_events as e
     where e.conversation_key = %(key)s and e.content_kind is not null),
    %(sent_at)s::timestamptz)"""

_EVENT_INSERT = """
insert into public.inbound_events (
    provider, instance_id, message_id, event_type, payload, status, received_at,
    conversation_key, reply_to, phone_e164, content_kind, body_text, last_error, sent_at,
    machine_value, referral, attempts, next_attempt_at, updated_at
)
select %(provider)s::text, %(instance_id)s::text, %(message_id)s::text, %(event_type)s::text,
       %(payload)s::bytea, %(status)s::text, %(now)s::timestamptz, %(key)s::text,
       %(reply_to)s::text, %(phone_e164)s::text, %(content_kind)s::text, %(body_text)s::text,
       %(last_error)s::text, %(sent_at)s::timestamptz, %(machine_value)s::text,
       %(referral)s::jsonb, 0, %(now)s::timestamptz, %(now)s::timestamptz
from conv
on conflict (provider, instance_id, message_id) do nothing
returning id
"""

_MIRROR_INSERT = """
insert into public.outbox_jobs (
    kind, ordering_key, dedupe_key, payload, status, attempts, next_attempt_at, created_at,
    updated_at
)
select %(job_kind)s::text, %(mirror_ordering_key)s::text,
       %(mirror_dedupe_prefix)s::text || ev.id,
       jsonb_build_object('what', %(mirror_what)s::text, 'ref', ev.id::text),
       %(job_status)s::text, 0, %(now)s::timestamptz, %(now)s::timestamptz, %(now)s::timestamptz
from ev
where %(mirror)s::boolean
on conflict (dedupe_key) do nothing
"""

# The duplicate check sits in the UPDATE's condition: a copy of a stored message touches
# nothing (its late arrival must not move `last_inbound_at`).
_STORE_KNOWN = """
with conv as (
    update public.conversations
    set reply_to = %(reply_to)s, last_inbound_at = {last_inbound}, updated_at = %(now)s
    where id = %(conversation_id)s
      and not exists (
          select 1 from public.inbound_events
          where provider = %(provider)s and instance_id = %(instance_id)s
            and message_id = %(message_id)s
      )
    returning id
), ev as ({event_insert}), mirror as ({mirror_insert})
select (select id from ev), (select count(*) from conv),
       exists (
           select 1 from public.inbound_events
           where provider = %(provider)s and instance_id = %(instance_id)s
             and message_id = %(message_id)s
       )
"""

# No ON CONFLICT on the identities: an id another transaction linked meanwhile aborts the
# whole statement (conversation included), and the general path takes over.
_STORE_FIRST_CONTACT = """
with conv as (
    insert into public.conversations (
        conversation_key, phone_e164, reply_to, owner, session_id, last_inbound_at,
        created_at, updated_at
    )
    values (%(key)s::text, %(phone_e164)s::text, %(reply_to)s::text, %(owner)s::text,
            %(key)s::text, {last_inbound}, %(now)s::timestamptz, %(now)s::timestamptz)
    on conflict (conversation_key) do nothing
    returning id
), ids as (
    insert into public.whatsapp_identities (kind, value, conversation_id, created_at)
    select k.kind, k.value, conv.id, %(now)s::timestamptz
    from conv, unnest(%(kinds)s::text[], %(values)s::text[]) as k (kind, value)
), ev as ({event_insert}), mirror as ({mirror_insert})
select (select id from ev), (select id from conv)
"""


def _statement(template: str, last_inbound: str) -> str:
    return template.format(
        last_inbound=last_inbound, event_insert=_EVENT_INSERT, mirror_insert=_MIRROR_INSERT
    )


_KNOWN = {
    False: _statement(_STORE_KNOWN, _LAST_INBOUND_NOW),
    True: _statement(_STORE_KNOWN, _LAST_INBOUND_SENT),
}
_FIRST = {
    False: _statement(_STORE_FIRST_CONTACT, _LAST_INBOUND_NOW),
    True: _statement(_STORE_FIRST_CONTACT, _LAST_INBOUND_SENT),
}


class LaneUnavailable(Exception):
    """No connection, or it broke: the general path (and its own error handling) takes over."""


@dataclass(frozen=True, slots=True)
class Stored:
    """What one write statement did: `event_id` None for a message already stored."""

    event_id: int | None
    conversation_id: int


class IngestLane:
    """Postgres only. Callers fall back to the general path on `None` and `LaneUnavailable`."""

    def __init__(self, url: URL, *, timeout_seconds: float = POOL_TIMEOUT_SECONDS) -> None:
        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._pool: AsyncConnectionPool[AsyncConnection[TupleRow]] = AsyncConnectionPool(
            conninfo,
            min_size=POOL_MIN_SIZE,
            max_size=POOL_MAX_SIZE,
            timeout=timeout_seconds,
            kwargs={"autocommit": True},
            open=False,
            name="ingest",
        )
        self._opened = False
        self._opening = asyncio.Lock()
        # The `circuitbreaker` library: one failure opens it, one call probes after the pause.
        self._circuit = CircuitBreaker(
            failure_threshold=1,
            recovery_timeout=SKIP_AFTER_FAILURE_SECONDS,
            expected_exception=LaneUnavailable,
            name="ingest_lane",
        )

    async def close(self) -> None:
        if self._opened:
            await self._pool.close()
            self._opened = False

    async def lookup(self, pairs: Iterable[tuple[str, str]], key: str) -> list[IdentityMatch]:
        kinds, values = _columns(pairs)
        rows = await self._fetch(
            _LOOKUP, {"kinds": kinds, "values": values, "own_key": OWN_KEY, "key": key}
        )
        return [
            IdentityMatch(
                kind=kind,
                value=value,
                conversation=KnownConversation(
                    id=conversation_id,
                    conversation_key=conversation_key,
                    phone_e164=phone,
                    reply_to=reply_to,
                    created_at=created_at,
                ),
            )
            for kind, value, conversation_id, conversation_key, phone, reply_to, created_at in rows
        ]

    async def store_known(
        self, event: NewEvent, *, conversation_id: int, mirror: bool
    ) -> Stored | None:
        """Touch the conversation and store the event; None when the conversation is gone."""
        params = {**_event_params(event, mirror=mirror), "conversation_id": conversation_id}
        ((event_id, touched, duplicate),) = await self._fetch(
            _KNOWN[event.sent_at is not None], params
        )
        if event_id is None and not duplicate and not touched:
            return None
        return Stored(event_id, conversation_id)

    async def store_first_contact(
        self,
        event: NewEvent,
        *,
        identities: Iterable[tuple[str, str]],
        mirror: bool,
    ) -> Stored | None:
        """Open the conversation under the event's key with its ids, and store the event;
        None when the conversation or one of the ids appeared meanwhile."""
        kinds, values = _columns(identities)
        params = {
            **_event_params(event, mirror=mirror),
            "kinds": kinds,
            "values": values,
            "owner": ConversationOwner.BOT.value,
        }
        try:
            ((event_id, conversation_id),) = await self._fetch(
                _FIRST[event.sent_at is not None], params
            )
        except errors.UniqueViolation:
            return None
        if conversation_id is None:
            return None
        return Stored(event_id, conversation_id)

    async def _fetch(self, sql: str, params: Mapping[str, Any]) -> list[TupleRow]:
        if self._circuit.opened:
            raise LaneUnavailable("skipped after a recent failure")
        with self._circuit:
            return await self._fetch_now(sql, params)

    async def _fetch_now(self, sql: str, params: Mapping[str, Any]) -> list[TupleRow]:
        if not self._opened:
            async with self._opening:
                if not self._opened:
                    await self._pool.open(wait=False)
                    self._opened = True
        try:
            async with self._pool.connection() as conn:
                cursor = await conn.execute(sql, params)
                return await cursor.fetchall()
        except (OperationalError, InterfaceError, PoolTimeout) as error:
            # A statement that reached the server may have committed: the general path then
            # finds the event stored and answers `duplicate`, never a second row.
            raise LaneUnavailable(type(error).__name__) from error


def _columns(pairs: Iterable[tuple[str, str]]) -> tuple[list[str], list[str]]:
    listed = list(pairs)
    return [kind for kind, _ in listed], [value for _, value in listed]


def _event_params(event: NewEvent, *, mirror: bool) -> dict[str, Any]:
    return {
        "provider": event.provider,
        "instance_id": event.instance_id,
        "message_id": event.message_id,
        "event_type": event.event_type,
        "payload": event.payload,
        "status": event.status.value,
        "now": event.received_at,
        "key": event.conversation_key,
        "reply_to": event.reply_to,
        "phone_e164": event.phone_e164,
        "content_kind": event.content_kind,
        "body_text": event.body_text,
        "last_error": event.last_error,
        "sent_at": event.sent_at,
        "machine_value": event.machine_value,
        "referral": Jsonb(event.referral) if event.referral is not None else None,
        "mirror": mirror,
        "mirror_what": "incoming",
        "mirror_ordering_key": mirror_ordering_key(event.conversation_key or ""),
        "mirror_dedupe_prefix": mirror_dedupe_key("incoming", ""),
        "job_kind": JobKind.CHATWOOT_MIRROR.value,
        "job_status": JobStatus.PENDING.value,
    }
