"""A whole conversation's log output holds no phone number and no message text."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from seleto_agent.observability.logging import configure_logging
from tests.conftest import Sandbox, Service, wait_for
from tests.factories import received_text

PHONE = "5511987654321"
SECRET_TEXT = "meu email é joao.silva@example.com e o CNPJ 11.222.333/0001-81"


async def test_conversation_logs_contain_no_phone_or_message_text(
    service_factory: Any, sandbox: Sandbox, capfd: pytest.CaptureFixture[str]
) -> None:
    configure_logging(level="DEBUG", fmt="json", pii_key=b"test-key")
    try:
        service: Service = await service_factory()
        await service.post_zapi(received_text(phone=PHONE, text="oi, quero uma FB300"))
        await wait_for(lambda: len(sandbox.sent_texts()) == 1)
        # A blocked draft makes Agno itself log (a failed output check): those lines must go
        # through the same JSON renderer and redaction.
        sandbox.script({"content": "Custa R$ 31.500,00."}, {"content": "Um especialista envia."})
        await service.post_zapi(received_text(phone=PHONE, text=SECRET_TEXT))
        await wait_for(lambda: len(sandbox.sent_texts()) == 2)
        await service.post_zapi(b"{not json")
        await service.client.get("/admin/events", headers=service.admin_headers())
        replies = [s["message"] for s in sandbox.sent_texts()]
        output = capfd.readouterr().out
    finally:
        logging.getLogger().handlers = []
    raw_lines = [line for line in output.splitlines() if line.strip()]
    assert all(line.startswith("{") for line in raw_lines), "a log line bypassed the renderer"
    lines = [json.loads(line) for line in raw_lines]
    assert any(line["event"] == "inbound.accepted" for line in lines)
    assert any(line["event"] == "outbound.sent" for line in lines)
    for needle in (
        PHONE,
        "987654321",
        "98765-4321",
        "joao.silva",
        "11.222.333",
        "FB300",
        "31.500",
        *replies,
    ):
        assert needle not in output, needle


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
