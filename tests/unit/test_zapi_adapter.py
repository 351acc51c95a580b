"""The adapter against Z-API's own sample bodies (tests/fixtures/vendor/zapi, copied from the
vendor's docs) and bodies built like them (tests/factories.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from seleto_agent.domain.events import (
    ContentKind,
    DeliveryUpdate,
    IgnoredCallback,
    InboundMessage,
    SentEcho,
)
from seleto_agent.integrations.zapi.adapter import (
    MAX_STATUS_IDS,
    PLACEHOLDER_KEY_PREFIX,
    ZApiLine,
    audio_url,
    classify,
)
from tests.factories import ZAPI_LINE, received_audio, received_text

VENDOR = Path(__file__).resolve().parents[1] / "fixtures" / "vendor" / "zapi"
DOC_INSTANCE = "A20DA9C0183A2D35A260F53F5D2B9244"
DOC_LINE = ZApiLine(DOC_INSTANCE, connected_phone="+5544999999999")


def vendor(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((VENDOR / name).read_text(encoding="utf-8"))
    return body


# --- the vendor's own examples ------------------------------------------------------------------


def test_vendor_text_example_is_a_lead_message_with_its_lid() -> None:
    result = classify(vendor("on_message_received_text.json"), DOC_LINE)
    assert isinstance(result, InboundMessage)
    assert (result.kind, result.text) == (ContentKind.TEXT, "teste")
    assert result.instance_id == DOC_INSTANCE
    assert result.message_id == DOC_INSTANCE
    assert result.sender.reply_to == "5544999999999"
    assert result.sender.e164 == "+5544999999999"
    # `senderLid` of the example: the same person, linked to the number.
    assert result.sender.lid == "81896604192873"
    assert result.sender.conversation_key == "wa:+5544999999999"
    assert result.sender_name == "name"


def test_vendor_audio_example_is_a_voice_note() -> None:
    body = vendor("on_message_received_audio.json")
    result = classify(body, DOC_LINE)
    assert isinstance(result, InboundMessage)
    assert result.kind is ContentKind.AUDIO
    assert audio_url(body) == "https://"


def test_vendor_template_example_reads_the_chat_lid() -> None:
    body = vendor("on_message_received_template_text.json")
    result = classify(body, ZApiLine(body["instanceId"]))
    # A template carries no `text` we read; the sender is still known by number and chatLid.
    assert isinstance(result, IgnoredCallback)
    assert result.reason == "no_content"
    assert result.sender is not None
    assert (result.sender.e164, result.sender.lid) == ("+5544999999999", "81896604192873")


def test_vendor_lid_only_example_is_a_lid_conversation() -> None:
    body = vendor("on_message_received_text.json") | vendor("lid_only_fields.json")
    body.pop("senderLid")
    result = classify(body, DOC_LINE)
    assert isinstance(result, InboundMessage)
    assert (result.sender.e164, result.sender.lid) == (None, "65998849469")
    assert result.sender.reply_to == "65998849469@lid"
    assert result.sender.conversation_key == "wa:lid:65998849469"


def test_vendor_number_and_lid_example_links_both() -> None:
    body = vendor("on_message_received_text.json") | vendor("lid_and_number_fields.json")
    body.pop("senderLid")
    result = classify(body, DOC_LINE)
    assert isinstance(result, InboundMessage)
    # "554499999999": an old 12-digit mobile JID; the 9th digit comes back for the key.
    assert (result.sender.e164, result.sender.lid) == ("+5544999999999", "999999999999999")
    assert result.sender.reply_to == "554499999999"


def test_vendor_waiting_example_keeps_the_message_id_free() -> None:
    body = vendor("on_message_received_waiting.json")
    result = classify(body, ZApiLine(DOC_INSTANCE))
    # `fromMe: true` in the example, without connectedPhone: a placeholder all the same.
    assert isinstance(result, IgnoredCallback)
    assert result.reason == "waiting_message"
    assert result.message_id == PLACEHOLDER_KEY_PREFIX + DOC_INSTANCE


def test_vendor_example_without_instance_id_is_ignored() -> None:
    body = vendor("on_message_received_text.json")
    del body["instanceId"]
    result = classify(body, DOC_LINE)
    assert isinstance(result, IgnoredCallback)
    assert result.reason == "missing_instance"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (ZApiLine(None), "instance_not_configured"),
        (ZApiLine("ANOTHER-INSTANCE"), "unknown_instance"),
        (ZApiLine(DOC_INSTANCE, connected_phone="+5511988887777"), "unknown_connected_phone"),
    ],
)
def test_vendor_example_for_another_line_is_ignored(line: ZApiLine, reason: str) -> None:
    result = classify(vendor("on_message_received_text.json"), line)
    assert isinstance(result, IgnoredCallback)
    assert result.reason == reason
    assert result.message_id is None


def test_configured_line_matches_the_twelve_digit_connected_phone() -> None:
    # The example writes the line as `554499999999`; ops configure `+55 44 99999-9999`.
    body = vendor("on_message_received_text.json")
    assert body["connectedPhone"] == "554499999999"
    assert isinstance(classify(body, DOC_LINE), InboundMessage)


# --- built like the examples ----------------------------------------------------------------------


def documented_text() -> dict[str, object]:
    return received_text(text="teste", messageId=DOC_INSTANCE)


def test_type_is_matched_case_insensitively() -> None:
    body = documented_text() | {"type": "ReceivedCallBack"}
    assert isinstance(classify(body, ZAPI_LINE), InboundMessage)


def test_documented_audio_body_is_a_voice_note() -> None:
    result = classify(received_audio(), ZAPI_LINE)
    assert isinstance(result, InboundMessage)
    assert result.kind is ContentKind.AUDIO


def status(**fields: object) -> dict[str, object]:
    return {"type": "MessageStatusCallback", "instanceId": ZAPI_LINE.instance_id, **fields}


def test_status_callback_with_ids_array_or_single_id() -> None:
    many = classify(status(status="read", ids=["A", "B"]), ZAPI_LINE)
    single = classify(status(status="RECEIVED", id="C"), ZAPI_LINE)
    assert isinstance(many, DeliveryUpdate)
    assert many.provider_message_ids == ("A", "B")
    assert many.status == "READ"
    assert isinstance(single, DeliveryUpdate)
    assert single.provider_message_ids == ("C",)


def test_status_callback_ids_are_capped() -> None:
    ids = [f"ID-{i}" for i in range(MAX_STATUS_IDS * 3)]
    result = classify(status(status="READ", ids=ids), ZAPI_LINE)
    assert isinstance(result, DeliveryUpdate)
    assert result.provider_message_ids == tuple(ids[:MAX_STATUS_IDS])


def test_status_callback_without_instance_is_ignored() -> None:
    body = status(status="READ", ids=["A"])
    del body["instanceId"]
    result = classify(body, ZAPI_LINE)
    assert isinstance(result, IgnoredCallback)
    assert result.reason == "missing_instance"


def test_reaction_and_notification_start_no_turn() -> None:
    base = documented_text()
    reaction = classify(base | {"reaction": {"value": "👍"}, "text": None}, ZAPI_LINE)
    call = classify(base | {"notification": "CALL_MISSED_VOICE", "text": None}, ZAPI_LINE)
    assert isinstance(reaction, IgnoredCallback)
    assert reaction.reason == "reaction"
    assert isinstance(call, IgnoredCallback)
    assert call.reason == "notification"


def test_image_caption_is_kept_as_text() -> None:
    body = documented_text()
    body.pop("text")
    body["image"] = {"caption": "essa é a minha linha", "imageUrl": "https://x"}
    result = classify(body, ZAPI_LINE)
    assert isinstance(result, InboundMessage)
    assert result.kind is ContentKind.IMAGE
    assert result.text == "essa é a minha linha"


def test_wrong_field_types_are_ignored_not_raised() -> None:
    body = {"type": "ReceivedCallback", "fromMe": {"x": 1}, "phone": "1"}
    result = classify(body | {"instanceId": ZAPI_LINE.instance_id}, ZAPI_LINE)
    assert isinstance(result, IgnoredCallback)
    assert result.reason.startswith("invalid_fields")


def test_company_phone_message_reads_the_chat_lid_not_the_sender_lid() -> None:
    """On a message of our line `senderLid` is our own id; the lead is the chat."""
    body = received_text(
        phone="5511987654321",
        fromMe=True,
        chatLid="11122233344455@lid",
        senderLid="99988877766655@lid",
    )
    result = classify(body, ZAPI_LINE)
    assert isinstance(result, IgnoredCallback)
    assert result.reason == "from_me_phone"
    assert result.sender is not None
    assert result.sender.lid == "11122233344455"


@pytest.mark.parametrize("from_api", [False, True])
def test_company_phone_message_without_connected_phone_is_unverified(from_api: bool) -> None:
    body = received_text(fromMe=True, fromApi=from_api, connectedPhone=None)
    result = classify(body, ZAPI_LINE)
    assert isinstance(result, IgnoredCallback)
    assert not isinstance(result, SentEcho)
    assert result.reason == "from_me_unverified"


def test_an_odd_lid_next_to_a_number_is_left_out() -> None:
    body = received_text(phone="5511987654321", chatLid="1\n@lid", senderLid=None)
    result = classify(body, ZAPI_LINE)
    assert isinstance(result, InboundMessage)
    assert (result.sender.e164, result.sender.lid) == ("+5511987654321", None)
