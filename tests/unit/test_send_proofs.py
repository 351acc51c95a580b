"""Which callback proves an ambiguous send went out, and how Z-API's callbacks become proofs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from seleto_agent.domain.events import DeliveryUpdate, SentEcho
from seleto_agent.domain.send_proofs import (
    AmbiguousSend,
    SendProof,
    body_digest,
    proving_message_id,
)
from seleto_agent.integrations.zapi.adapter import classify
from tests.factories import INSTANCE_ID, ZAPI_LINE, received_text

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
HELLO = body_digest("Olá! Posso ajudar.")
OTHER = body_digest("Oi, aqui é a Ana.")


def send(send_id: int = 1, digest: str = HELLO) -> AmbiguousSend:
    return AmbiguousSend(id=send_id, body_digest=digest, send_started_at=T0)


def proof(message_id: str, digest: str | None = None, after: float = 1.0) -> SendProof:
    return SendProof(
        message_id=message_id, body_digest=digest, received_at=T0 + timedelta(seconds=after)
    )


def test_a_delivery_callback_proves_the_chats_only_ambiguous_send() -> None:
    assert proving_message_id(send(), [proof("M1")], rivals=[]) == "M1"


def test_a_delivery_callback_proves_nothing_while_another_send_is_in_doubt() -> None:
    assert proving_message_id(send(), [proof("M1")], rivals=[send(2, OTHER)]) is None


def test_an_echo_proves_the_send_with_its_text_even_beside_a_rival() -> None:
    proofs = [proof("M1", OTHER), proof("M2", HELLO, after=2)]
    assert proving_message_id(send(), proofs, rivals=[send(2, OTHER)]) == "M2"


def test_an_echo_whose_text_a_rival_shares_proves_nothing() -> None:
    assert proving_message_id(send(), [proof("M1", HELLO)], rivals=[send(2, HELLO)]) is None


def test_an_echo_of_another_text_proves_nothing() -> None:
    assert proving_message_id(send(), [proof("M1", OTHER)], rivals=[]) is None


def test_a_callback_from_before_the_send_began_proves_nothing() -> None:
    assert proving_message_id(send(), [proof("OLD", after=-1)], rivals=[]) is None


def test_the_earliest_fitting_proof_wins() -> None:
    proofs = [proof("LATE", after=5), proof("EARLY", after=1)]
    assert proving_message_id(send(), proofs, rivals=[]) == "EARLY"


def test_digest_ignores_surrounding_whitespace_only() -> None:
    assert body_digest(" Olá! Posso ajudar.\n") == HELLO
    assert body_digest("olá! posso ajudar.") != HELLO


def test_zapi_echo_of_an_api_send_is_a_sent_echo_with_its_text() -> None:
    echo = classify(
        received_text(
            phone="5511987654321", text="Olá!", message_id="M1", fromMe=True, fromApi=True
        ),
        ZAPI_LINE,
    )
    assert isinstance(echo, SentEcho)
    assert (echo.message_id, echo.text) == ("M1", "Olá!")
    assert echo.recipient.conversation_key == "wa:+5511987654321"


def test_zapi_delivery_callback_names_the_chat_a_status_callback_does_not() -> None:
    delivery = classify(
        {
            "type": "DeliveryCallback",
            "phone": "5511987654321",
            "zaapId": "Z1",
            "messageId": "M1",
            "instanceId": INSTANCE_ID,
        },
        ZAPI_LINE,
    )
    status = classify(
        {
            "type": "MessageStatusCallback",
            "status": "SENT",
            "ids": ["M1"],
            "phone": "5511987654321",
            "instanceId": INSTANCE_ID,
        },
        ZAPI_LINE,
    )
    assert isinstance(delivery, DeliveryUpdate)
    assert delivery.sent_to is not None
    assert delivery.sent_to.conversation_key == "wa:+5511987654321"
    assert isinstance(status, DeliveryUpdate)
    assert status.sent_to is None
