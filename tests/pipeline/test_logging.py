"""A whole conversation's log output, error paths included, holds no phone number, e-mail,
CNPJ, name or message text; neither does any stored `last_error`."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from seleto_agent.db.tables import inbound_events, outbound_messages, outbox_jobs
from seleto_agent.observability.logging import configure_logging
from tests.conftest import WEBHOOK_TOKEN, Sandbox, Service, wait_for
from tests.factories import received_text

PHONE = "5511987654321"
SECRET_TEXT = "meu email é joao.silva@example.com e o CNPJ 11.222.333/0001-81"
# One phone per error path, so each conversation's outcome is read on its own.
DB_ERROR_PHONE = "5511976543210"
CRASH_PHONE = "5511965432109"
REJECTED_PHONE = "5511954321098"
UNKNOWN_PHONE = "5511943210987"
NAME = "Joana Prado"
LEAD_TEXT = f"sou a {NAME}, joao.silva@example.com, CNPJ 11.222.333/0001-81"
REPLY = f"Obrigada, {NAME}! Anotei joao.silva@example.com."


async def refuse_inserts(service: Service, table: str) -> None:
    """A real database error on INSERT (a trigger that raises), on either backend."""
    async with service.runtime.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            await conn.execute(
                text(
                    f"create trigger refuse_{table} before insert on {table} "
                    "begin select raise(abort, 'refused by the test'); end"
                )
            )
            return
        await conn.execute(
            text(
                "create or replace function refuse_insert() returns trigger language plpgsql "
                "as $$ begin raise exception 'refused by the test'; end $$"
            )
        )
        await conn.execute(
            text(
                f"create trigger refuse_{table} before insert on {table} "
                "for each row execute function refuse_insert()"
            )
        )


async def allow_inserts(service: Service, table: str) -> None:
    async with service.runtime.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            await conn.execute(text(f"drop trigger refuse_{table}"))
        else:
            await conn.execute(text(f"drop trigger refuse_{table} on {table}"))


async def last_errors(service: Service) -> list[str]:
    async with service.runtime.engine.connect() as conn:
        errors: list[str] = []
        for table in (inbound_events, outbound_messages, outbox_jobs):
            rows = await conn.execute(select(table.c.last_error))
            errors += [row.last_error for row in rows if row.last_error]
        return errors


async def outbound_error_for(service: Service, phone: str) -> str | None:
    async with service.runtime.engine.connect() as conn:
        query = select(outbound_messages.c.last_error).where(
            outbound_messages.c.recipient == phone, outbound_messages.c.last_error.is_not(None)
        )
        return (await conn.execute(query)).scalar()


async def event_error_for(service: Service, phone: str) -> str | None:
    async with service.runtime.engine.connect() as conn:
        query = select(inbound_events.c.last_error).where(
            inbound_events.c.reply_to == phone, inbound_events.c.last_error.is_not(None)
        )
        return (await conn.execute(query)).scalar()


async def test_conversation_logs_contain_no_phone_or_message_text(
    service_factory: Any, sandbox: Sandbox, capfd: pytest.CaptureFixture[str]
) -> None:
    configure_logging(level="DEBUG", fmt="json", pii_key=b"test-key")
    try:
        service: Service = await service_factory(outbound_unknown_grace_seconds=30)
        await service.post_zapi(received_text(phone=PHONE, text="oi, quero uma FB300"))
        await wait_for(lambda: len(sandbox.sent_texts()) == 1)
        # A blocked draft makes Agno itself log (a failed output check): those lines must go
        # through the same JSON renderer and redaction.
        sandbox.script({"content": "Custa R$ 31.500,00."}, {"content": "Um especialista envia."})
        await service.post_zapi(received_text(phone=PHONE, text=SECRET_TEXT))
        await wait_for(lambda: len(sandbox.sent_texts()) == 2)
        await service.post_zapi(b"{not json")
        await service.client.get("/admin/events", headers=service.admin_headers())

        # A database error on INSERT while a webhook is stored (a 500: the database refused).
        await refuse_inserts(service, "inbound_events")
        # As a server answers it: a 500 to the caller, not an exception in the test.
        transport = httpx.ASGITransport(app=service.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            refused = await client.post(
                f"/webhooks/zapi/{WEBHOOK_TOKEN}",
                json=received_text(phone=DB_ERROR_PHONE, text=LEAD_TEXT),
            )
        await allow_inserts(service, "inbound_events")
        assert refused.status_code == 500

        # A crashed turn: the reply's INSERT fails inside the worker.
        sandbox.script({"content": REPLY}, match="Joana", repeat=True)
        await refuse_inserts(service, "outbound_messages")
        await service.post_zapi(received_text(phone=CRASH_PHONE, text=LEAD_TEXT))
        crash_error = await wait_for(lambda: event_error_for(service, CRASH_PHONE))
        await allow_inserts(service, "outbound_messages")
        # Its retry then answers; the faults below are for the next sends only.
        await wait_for(lambda: any(t["phone"] == CRASH_PHONE for t in sandbox.sent_texts()))

        # Z-API refuses the send (4xx), then fails it (5xx), each time quoting the request.
        echo = f"cannot send '{REPLY}' to {{phone}}"
        for phone, status in ((REJECTED_PHONE, 400), (UNKNOWN_PHONE, 500)):
            sandbox.zapi_faults(send_text=[{"status": status, "error": echo.format(phone=phone)}])
            await service.post_zapi(received_text(phone=phone, text=LEAD_TEXT))
            await wait_for(lambda phone=phone: outbound_error_for(service, phone))
        # The crash's error is overwritten once the retry succeeds: keep it as it was.
        errors = [crash_error, *await last_errors(service)]
        replies = [s["message"] for s in sandbox.sent_texts()]
        output = capfd.readouterr().out
    finally:
        logging.getLogger().handlers = []
    raw_lines = [line for line in output.splitlines() if line.strip()]
    assert all(line.startswith("{") for line in raw_lines), "a log line bypassed the renderer"
    lines = [json.loads(line) for line in raw_lines]
    events = {line["event"] for line in lines}
    assert {"inbound.accepted", "outbound.sent", "api.unhandled_error", "turn.crashed"} <= events
    assert len(errors) >= 4, errors
    assert ": database error (" in crash_error, crash_error
    stored = "\n".join(errors)
    for needle in (
        PHONE,
        "987654321",
        "98765-4321",
        *(phone[4:] for phone in (DB_ERROR_PHONE, CRASH_PHONE, REJECTED_PHONE, UNKNOWN_PHONE)),
        "joao.silva",
        "11.222.333",
        "11222333",
        NAME,
        "Prado",
        "Obrigada",
        "FB300",
        "31.500",
        *replies,
    ):
        assert needle not in output, needle
        assert needle not in stored, needle


def test_agno_lines_go_through_our_renderer_and_redaction(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(level="INFO", fmt="json", pii_key=b"test-key")
    try:
        agno_logger = logging.getLogger("agno")
        # Agno resets its logger to INFO on every run; its INFO chatter must still stay out.
        agno_logger.setLevel(logging.INFO)
        agno_logger.info("Creating session for +55 11 98765-4321")
        agno_logger.error("Validation failed for 11987654321")
        output = capsys.readouterr().out
    finally:
        logging.getLogger().handlers = []
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["logger"] == "agno"
    assert record["level"] == "error"
    assert "98765" not in output
