"""The real service, in-process, as an eval drives it: post a lead's message, wait for the
turn to finish, read what it left behind.

The app is built exactly as `seleto-agent serve` builds it (`build_runtime`, `create_app`, its
lifespan with the embedded worker) and reached through `httpx.ASGITransport`. State is read the
way the tests read it: the admin API where it has the answer, read-only queries otherwise.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from agno.db.base import AsyncBaseDb, SessionType
from agno.session import AgentSession
from sqlalchemy import func, select

from seleto_agent.app import create_app
from seleto_agent.db.tables import (
    audit_log,
    empresa,
    handoffs,
    inbound_events,
    lead_companies,
    leads,
    outbound_messages,
)
from seleto_agent.domain.events import EventStatus
from seleto_agent.domain.phone import mask_conversation_key
from seleto_agent.evals.harness import SANDBOX
from seleto_agent.runtime import Runtime, build_runtime
from seleto_agent.sandbox.zapi_payloads import (
    ReceivedMessage,
    lid_for,
    new_inbound_message_id,
    received_callback,
)
from seleto_agent.settings import Settings, secret

# An event in one of these states will not change any more on its own.
SETTLED = frozenset({EventStatus.DONE, EventStatus.IGNORED, EventStatus.DEAD})


class EvalError(Exception):
    """The service did not do what a turn needs (refused the webhook, never settled)."""


@dataclass(frozen=True, slots=True)
class EventOutcome:
    status: str
    last_error: str | None


@dataclass(frozen=True, slots=True)
class Reply:
    kind: str
    body: str
    status: str


class EvalService:
    def __init__(self, runtime: Runtime, client: httpx.AsyncClient) -> None:
        self._runtime = runtime
        self._client = client
        self._settings = runtime.settings

    @classmethod
    @asynccontextmanager
    async def start(cls, settings: Settings) -> AsyncIterator[EvalService]:
        runtime = build_runtime(settings)
        app = create_app(runtime)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://service") as client,
        ):
            yield cls(runtime, client)

    async def post_text(self, phone: str, text: str) -> str:
        """Post a Z-API ReceivedCallback with the lead's text; returns its message id."""
        message_id = new_inbound_message_id()
        body = received_callback(
            ReceivedMessage(
                instance_id=self._settings.zapi_instance_id or "",
                connected_phone=SANDBOX.zapi_connected_phone,
                message_id=message_id,
                phone=phone,
                sender_lid=lid_for(phone),
                chat_lid=lid_for(phone),
                chat_name="Lead",
                sender_name="Lead",
                text=text,
            )
        )
        token = secret(self._settings.zapi_webhook_token)
        response = await self._client.post(f"/webhooks/zapi/{token}", json=body)
        if response.status_code != 200 or response.json().get("status") != "accepted":
            raise EvalError(f"webhook answered {response.status_code} {response.text[:200]}")
        return message_id

    async def settle(
        self, message_id: str, *, wait_seconds: float
    ) -> tuple[str, list[EventOutcome]]:
        """Wait until every event of the message's conversation is settled; returns the
        conversation key and those events' outcomes (oldest first)."""
        deadline = time.monotonic() + wait_seconds
        while True:
            async with self._runtime.engine.connect() as conn:
                key = (
                    await conn.execute(
                        select(inbound_events.c.conversation_key).where(
                            inbound_events.c.message_id == message_id
                        )
                    )
                ).scalar_one_or_none()
                rows = (
                    (
                        await conn.execute(
                            select(inbound_events.c.status, inbound_events.c.last_error)
                            .where(inbound_events.c.conversation_key == key)
                            .order_by(inbound_events.c.id)
                        )
                    ).all()
                    if key
                    else []
                )
            if key and rows and all(row.status in SETTLED for row in rows):
                return key, [EventOutcome(row.status, row.last_error) for row in rows]
            if time.monotonic() > deadline:
                raise EvalError(f"the turn did not finish within {wait_seconds:g} s")
            await asyncio.sleep(self._settings.worker_poll_seconds)

    async def last_outbound_id(self) -> int:
        async with self._runtime.engine.connect() as conn:
            found = await conn.execute(select(func.max(outbound_messages.c.id)))
            return int(found.scalar_one() or 0)

    async def replies_after(self, key: str, outbound_id: int) -> list[Reply]:
        """The conversation's replies written after outbound row `outbound_id`."""
        t = outbound_messages
        async with self._runtime.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(t.c.reply_kind, t.c.body, t.c.status)
                    .where(t.c.conversation_key == key, t.c.id > outbound_id)
                    .order_by(t.c.id)
                )
            ).all()
        return [Reply(kind=row.reply_kind or "", body=row.body, status=row.status) for row in rows]

    async def conversation(self, phone: str) -> dict[str, Any]:
        """`GET /admin/conversations/{phone}`: owner, lead slots, temperature, handoff..."""
        response = await self._client.get(
            f"/admin/conversations/{phone}",
            headers={"Authorization": f"Bearer {secret(self._settings.admin_token)}"},
        )
        if response.status_code != 200:
            raise EvalError(f"admin conversation view answered {response.status_code}")
        view: dict[str, Any] = response.json()
        return view

    async def companies(self, lead_phone: str) -> list[str]:
        """CNPJs (as stored) of the companies this lead registered."""
        query = (
            select(empresa.c.cnpj)
            .join(lead_companies, lead_companies.c.company_id == empresa.c.id)
            .join(leads, lead_companies.c.lead_id == leads.c.id)
            .where(leads.c.phone == lead_phone)
            .order_by(empresa.c.id)
        )
        async with self._runtime.engine.connect() as conn:
            return [str(cnpj) for cnpj in (await conn.execute(query)).scalars()]

    async def audit_actions(self, key: str, *, since: datetime) -> list[str]:
        """Audited actions on this conversation since `since`. The audit log keeps only the
        masked phone, which two runs on one database may share; the time tells them apart."""
        query = (
            select(audit_log.c.action)
            .where(
                audit_log.c.subject_type == "conversation",
                audit_log.c.subject_id == mask_conversation_key(key),
                audit_log.c.at >= since,
            )
            .order_by(audit_log.c.id)
        )
        async with self._runtime.engine.connect() as conn:
            return [str(action) for action in (await conn.execute(query)).scalars()]

    async def handoff_kinds(self, key: str) -> list[str]:
        """Kinds of every handoff recorded for the conversation, oldest first: one is the
        most any scenario may leave, whichever tool or rule asked for it."""
        query = (
            select(handoffs.c.kind)
            .where(handoffs.c.conversation_key == key)
            .order_by(handoffs.c.id)
        )
        async with self._runtime.engine.connect() as conn:
            return [str(kind) for kind in (await conn.execute(query)).scalars()]

    async def tools_called(self, key: str, *, since: datetime) -> list[str]:
        """Names of the tools the agent ran for this conversation since `since`, in run
        order, read from Agno's session store (the record of what the model asked for). A call
        Agno refused (unknown or malformed arguments) did not run and is left out."""
        db = self._runtime.agent.db
        if not isinstance(db, AsyncBaseDb):
            raise EvalError("the agent has no async session store")
        sessions = await db.get_sessions(session_type=SessionType.AGENT, user_id=key)
        start = int(since.timestamp())
        runs = sorted(
            (
                run
                for session in sessions
                if isinstance(session, AgentSession)
                for run in session.runs or ()
                if run.created_at >= start
            ),
            key=lambda run: run.created_at,
        )
        return [
            tool.tool_name
            for run in runs
            for tool in run.tools or ()
            if tool.tool_name and not tool.tool_call_error
        ]
