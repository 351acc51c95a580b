"""The adapter against bodies shaped like the documented Z-API examples (tests/factories.py)."""

from __future__ import annotations

from seleto_agent.domain.events import ContentKind, DeliveryUpdate, IgnoredCallback, InboundMessage
from seleto_agent.integrations.zapi.adapter import classify
from tests.factories import received_audio, received_text

DOC_INSTANCE = "A20DA9C0183A2D35A260F53F5D2B9244"


def documented_text() -> dict[str, object]:
    return received_text(text="teste", instanceId=DOC_INSTANCE, messageId=DOC_INSTANCE)


def test_documented_text_example_is_a_lead_message() -> None:
    result = classify(documented_text())
    assert isinstance(result, InboundMessage)
    assert result.kind is ContentKind.TEXT
    assert result.text == "teste"
    assert result.sender.e164 == "+5544999999999"
    assert result.instance_id == "A20DA9C0183A2D35A260F53F5D2B9244"


def test_documented_audio_example_is_a_voice_note() -> None:
    result = classify(received_audio(instanceId=DOC_INSTANCE))
    assert isinstance(result, InboundMessage)
    assert result.kind is ContentKind.AUDIO


def test_type_is_matched_case_insensitively() -> None:
    body = documented_text() | {"type": "ReceivedCallBack"}
    assert isinstance(classify(body), InboundMessage)


def test_status_callback_with_ids_array_or_single_id() -> None:
    many = classify({"type": "MessageStatusCallback", "status": "read", "ids": ["A", "B"]})
    single = classify({"type": "MessageStatusCallback", "status": "RECEIVED", "id": "C"})
    assert isinstance(many, DeliveryUpdate)
    assert many.provider_message_ids == ("A", "B")
    assert many.status == "READ"
    assert isinstance(single, DeliveryUpdate)
    assert single.provider_message_ids == ("C",)


def test_reaction_and_notification_start_no_turn() -> None:
    base = documented_text()
    reaction = classify(base | {"reaction": {"value": "👍"}, "text": None})
    call = classify(base | {"notification": "CALL_MISSED_VOICE", "text": None})
    assert isinstance(reaction, IgnoredCallback)
    assert reaction.reason == "reaction"
    assert isinstance(call, IgnoredCallback)
    assert call.reason == "notification"


def test_image_caption_is_kept_as_text() -> None:
    body = documented_text()
    body.pop("text")
    body["image"] = {"caption": "essa é a minha linha", "imageUrl": "https://x"}
    result = classify(body)
    assert isinstance(result, InboundMessage)
    assert result.kind is ContentKind.IMAGE
    assert result.text == "essa é a minha linha"


def test_wrong_field_types_are_ignored_not_raised() -> None:
    result = classify({"type": "ReceivedCallback", "fromMe": {"x": 1}, "phone": "1"})
    assert isinstance(result, IgnoredCallback)
    assert result.reason.startswith("invalid_fields")
