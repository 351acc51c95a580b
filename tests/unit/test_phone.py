from __future__ import annotations

import pytest

from seleto_agent.domain.phone import (
    InvalidWhatsAppId,
    mask_conversation_key,
    mask_phone,
    normalise_phone_input,
    parse_whatsapp_id,
)


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("5544999999999", "+5544999999999"),
        ("554499998888", "+5544999998888"),  # 12-digit JID: the 9th digit comes back
        ("5511987654321@s.whatsapp.net", "+5511987654321"),
        ("551133334444", "+551133334444"),  # landline keeps 8 digits
        ("14155552671", "+14155552671"),
    ],
)
def test_jids_become_canonical_e164_and_reply_to_their_digits(raw: str, e164: str) -> None:
    address = parse_whatsapp_id(raw)
    assert address.e164 == e164
    # Z-API's `phone` takes digits only: the JID suffix is not part of the reply address.
    assert address.reply_to == raw.removesuffix("@s.whatsapp.net")
    assert address.conversation_key == f"wa:{e164}"


def test_lid_sender_has_no_phone_but_a_stable_key() -> None:
    address = parse_whatsapp_id("65998849469@lid")
    assert address.e164 is None
    assert address.lid == "65998849469"
    assert address.conversation_key == "wa:lid:65998849469"


def test_unparseable_digits_keep_a_raw_key() -> None:
    address = parse_whatsapp_id("5500000000")
    assert address.e164 is None
    assert address.conversation_key == "wa:raw:5500000000"


@pytest.mark.parametrize("raw", ["", "   ", "abc", "120363019502650977-group@g.us"])
def test_garbage_sender_ids_are_rejected(raw: str) -> None:
    with pytest.raises(InvalidWhatsAppId):
        parse_whatsapp_id(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "5511987654321\n@c.us",  # `$` used to match before the newline
        "65998849469\n@lid",
        "".join(chr(0x0660 + int(d)) for d in "5511987654321"),  # Arabic-Indic digits
        "".join(chr(0xFF10 + int(d)) for d in "5511987654321"),  # full-width digits
        "5511 987654321",
        "5511987654321@lid@lid",
    ],
)
def test_odd_shaped_ids_are_rejected(raw: str) -> None:
    with pytest.raises(InvalidWhatsAppId):
        parse_whatsapp_id(raw)


@pytest.mark.parametrize(
    ("raw", "reply_to"),
    [
        (" 5511987654321\t", "5511987654321"),
        ("5511987654321\n", "5511987654321"),
        ("+5511987654321", "5511987654321"),
        ("5511987654321@c.us", "5511987654321"),
        (" 65998849469@lid ", "65998849469@lid"),
    ],
)
def test_padding_and_suffixes_normalise_to_the_ascii_id(raw: str, reply_to: str) -> None:
    address = parse_whatsapp_id(raw)
    assert address.reply_to == reply_to
    assert address.reply_to.isascii()


def test_a_number_may_carry_its_lid() -> None:
    address = parse_whatsapp_id("5544999999999", lid="81896604192873@lid")
    assert (address.e164, address.lid) == ("+5544999999999", "81896604192873")
    # The number names the conversation when both are known.
    assert address.conversation_key == "wa:+5544999999999"
    assert address.identities == (("e164", "+5544999999999"), ("lid", "81896604192873"))


@pytest.mark.parametrize("lid", ["", None, "81896604192873\n@lid", "5544999999999"])
def test_a_missing_or_odd_lid_is_left_out(lid: str | None) -> None:
    address = parse_whatsapp_id("5544999999999", lid=lid)
    assert address.lid is None
    assert address.identities == (("e164", "+5544999999999"),)


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("+55 (11) 98765-4321", "+5511987654321"),
        ("5511987654321", "+5511987654321"),
        ("wa:+5511987654321", "+5511987654321"),
        ("554499998888", "+5544999998888"),
        ("hello", None),
    ],
)
def test_operator_typed_phones_normalise(typed: str, e164: str | None) -> None:
    assert normalise_phone_input(typed) == e164


def test_masks_keep_only_area_code_and_last_digits() -> None:
    assert mask_phone("+5511987654321") == "+55 11 9****-4321"
    assert mask_conversation_key("wa:+5511987654321") == "wa:+55 11 9****-4321"
    assert mask_conversation_key("wa:lid:65998849469") == "wa:lid:***9469"
