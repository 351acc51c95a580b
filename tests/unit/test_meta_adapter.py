"""The Cloud API adapter, signature and sender ids as pure functions (no database)."""

from __future__ import annotations

import json

import pytest

from seleto_agent.domain.events import (
    ContentKind,
    DeliveryUpdate,
    IdentityChange,
    IdentityUpdate,
    IgnoredCallback,
    InboundMessage,
    Referral,
)
from seleto_agent.domain.phone import (
    InvalidWhatsAppId,
    mask_conversation_key,
    parse_cloud_sender,
    preferred_reply_to,
)
from seleto_agent.integrations.meta.adapter import (
    AudioRef,
    MetaLine,
    audio_ref,
    body_digest,
    classify,
)
from seleto_agent.integrations.meta.signature import SignatureCheck, sign, verify_signature
from seleto_agent.observability.redaction import scrub
from tests.meta_factories import (
    APP_SECRET,
    BSUID,
    LEAD,
    PHONE_NUMBER_ID,
    SIGNED_SIGNATURE,
    change,
    contact,
    envelope,
    item,
    signed_body,
    text_message,
)

LINE = MetaLine(PHONE_NUMBER_ID)


def only(body: dict[str, object]) -> object:
    (classified,) = classify(body, LINE)
    return classified


def test_the_published_vector_verifies_and_any_change_does_not() -> None:
    secret = APP_SECRET.encode()
    raw = signed_body()
    assert sign(secret, raw) == SIGNED_SIGNATURE
    assert verify_signature(secret=secret, body=raw, signature=SIGNED_SIGNATURE) is (
        SignatureCheck.OK
    )
    assert verify_signature(secret=secret, body=raw + b" ", signature=SIGNED_SIGNATURE) is (
        SignatureCheck.MISMATCH
    )
    assert verify_signature(secret=None, body=raw, signature=SIGNED_SIGNATURE) is (
        SignatureCheck.NOT_CONFIGURED
    )
    for malformed in ("sha256=", "sha256=zz", SIGNED_SIGNATURE + "00", "md5=" + "0" * 64):
        assert verify_signature(secret=secret, body=raw, signature=malformed) is (
            SignatureCheck.MALFORMED
        )


def test_every_entry_and_change_is_read_not_only_the_first() -> None:
    body = envelope(
        change(messages=[text_message("um"), text_message("dois")]),
        change(statuses=[item("status", "sent"), item("status", "failed")]),
        entries=3,
    )
    items = classify(body, LINE)
    assert [type(i).__name__ for i in items] == [
        "InboundMessage",
        "InboundMessage",
        "DeliveryUpdate",
        "DeliveryUpdate",
    ] * 3


def test_a_text_carries_its_sender_time_and_name() -> None:
    message = only(envelope(change(messages=[text_message("oi")])))
    assert isinstance(message, InboundMessage)
    assert (message.provider, message.instance_id, message.kind, message.text) == (
        "meta",
        PHONE_NUMBER_ID,
        ContentKind.TEXT,
        "oi",
    )
    assert message.sender.conversation_key == f"wa:+{LEAD}"
    assert message.sender_name == "Marcos"
    assert message.sent_at is not None
    assert message.sent_at.year == 2025


@pytest.mark.parametrize(
    ("part", "kind", "text"),
    [
        ({"type": "image", "image": {"id": "1", "caption": "foto"}}, "image", "foto"),
        ({"type": "video", "video": {"id": "1"}}, "video", ""),
        ({"type": "document", "document": {"id": "1", "caption": "ficha"}}, "document", "ficha"),
        ({"type": "sticker", "sticker": {"id": "1"}}, "sticker", ""),
        ({"type": "audio", "audio": {"id": "1", "voice": False}}, "audio", ""),
        ({"type": "location", "location": {"latitude": -26.3, "longitude": -48.8,
          "name": "Fábrica", "address": "Rua A"}}, "location", "-26.3, -48.8\nFábrica\nRua A"),
        ({"type": "contacts", "contacts": [{"name": {"formatted_name": "Ana"},
          "phones": [{"phone": "+55 47 98877-6655"}]}]}, "contact", "Ana +55 47 98877-6655"),
        ({"type": "order", "order": {"text": "2 formadoras"}}, "other", "2 formadoras"),
        ({"type": "a_type_from_2027"}, "unsupported", ""),
    ],
)  # fmt: skip
def test_content_per_type(part: dict[str, object], kind: str, text: str) -> None:
    message = text_message()
    del message["text"]
    message.update(part)
    found = only(envelope(change(messages=[message])))
    assert isinstance(found, InboundMessage)
    assert (found.kind.value, found.text) == (kind, text)


def test_a_referral_is_typed() -> None:
    found = only(envelope(change(messages=[item("message", "referral", **{"from": LEAD})])))
    assert isinstance(found, InboundMessage)
    assert found.referral == Referral(
        source_url="AD_OR_POST_FB_URL",
        source_id="ADID",
        source_type="ad or post",
        headline="AD_TITLE",
        ctwa_clid="CTWA_CLID",
    )


def test_a_status_keeps_recipient_tracker_and_error_code() -> None:
    failed = item("status", "failed", biz_opaque_callback_data="reply:abc")
    update = only(envelope(change(statuses=[failed])))
    assert isinstance(update, DeliveryUpdate)
    assert update.event_key == f"status:{failed['id']}:failed"
    assert (update.status, update.error_code, update.callback_data) == (
        "FAILED",
        130472,
        "reply:abc",
    )
    # A failure proves no send.
    assert update.sent_to is None
    sent = only(envelope(change(statuses=[item("status", "sent")])))
    assert isinstance(sent, DeliveryUpdate)
    assert sent.sent_to is not None
    assert sent.sent_to.reply_to == "972987654321"


def test_system_number_change_is_an_identity_update() -> None:
    notice = item("message", "user_changed_number")
    update = only(envelope(change(messages=[notice], contacts=[])))
    assert isinstance(update, IdentityUpdate)
    assert update.change is IdentityChange.NUMBER
    assert update.sender.reply_to == "972987654321"
    assert update.new_address.reply_to == "972912345678"


def test_an_odd_number_in_a_change_notice_is_ignored() -> None:
    notice = item("message", "user_changed_number")
    notice["system"]["wa_id"] = "972912345678\n"
    found = only(envelope(change(messages=[notice], contacts=[])))
    assert isinstance(found, IgnoredCallback)
    assert found.reason == "invalid_identity_change"


def test_keys_without_an_id_of_their_own_are_stable_and_distinct() -> None:
    body = envelope(change(errors=[{"code": 1}, {"code": 2}]))
    first = classify(body, LINE)
    again = classify(json.loads(json.dumps(body, indent=2)), LINE)
    assert [i.message_id for i in first] == [i.message_id for i in again]
    assert len({i.message_id for i in first}) == 2
    assert body_digest(body) in str(first[0].message_id)


def test_without_a_configured_number_nothing_is_acted_on() -> None:
    found = classify(envelope(change(messages=[text_message()])), MetaLine(None))
    assert [i.reason for i in found if isinstance(i, IgnoredCallback)] == [
        "instance_not_configured"
    ]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"object": "whatsapp_business_account"},
        {"object": "whatsapp_business_account", "entry": "x"},
        {"object": "whatsapp_business_account", "entry": [1, {"changes": [None, 3]}]},
        {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages",
         "value": {"metadata": {"phone_number_id": PHONE_NUMBER_ID}, "messages": [7, {}],
                   "statuses": [{"id": 1}], "contacts": "x"}}]}]},
    ],
)  # fmt: skip
def test_odd_envelopes_are_classified_never_raise(body: dict[str, object]) -> None:
    assert classify(body, LINE)


def test_bsuid_and_phone_parsing() -> None:
    both = parse_cloud_sender(LEAD, bsuid=BSUID, parent_bsuid="BR.ENT.99", username="marcos_sc")
    assert (both.conversation_key, both.reply_to) == (f"wa:+{LEAD}", LEAD)
    assert both.identities == (("e164", f"+{LEAD}"), ("bsuid", BSUID))
    assert (both.parent_bsuid, both.username) == ("BR.ENT.99", "marcos_sc")
    alone = parse_cloud_sender(None, bsuid=BSUID)
    assert (alone.conversation_key, alone.reply_to) == (f"wa:bsuid:{BSUID}", BSUID)
    for phone, bsuid in [
        (f"+{LEAD}", None),
        (f"{LEAD}@lid", None),
        (None, "BR." + "1" * 129),
        (None, "BR.12-34"),
        (LEAD, "nope"),
        (None, None),
    ]:
        with pytest.raises(InvalidWhatsAppId):
            parse_cloud_sender(phone, bsuid=bsuid)
    odd_labels = parse_cloud_sender(LEAD, parent_bsuid="x", username="two words")
    assert (odd_labels.parent_bsuid, odd_labels.username) == (None, None)


def test_a_number_is_not_given_up_for_a_bsuid() -> None:
    assert preferred_reply_to(LEAD, BSUID) == LEAD
    assert preferred_reply_to(BSUID, LEAD) == LEAD
    assert preferred_reply_to(BSUID, "BR.77") == "BR.77"


def test_bsuids_are_masked_in_keys_and_logs() -> None:
    assert mask_conversation_key(f"wa:bsuid:{BSUID}") == "wa:bsuid:BR.***5843"
    assert BSUID not in scrub(f"recipient {BSUID} failed")
    assert "CO.***9864" in scrub("user CO.1047385771169864")


def test_contacts_match_by_sender_not_by_position() -> None:
    body = envelope(change(
        messages=[text_message("oi", phone=LEAD)],
        contacts=[contact("5511999998888", bsuid="BR.111"), contact(LEAD, bsuid=BSUID)],
    ))  # fmt: skip
    found = only(body)
    assert isinstance(found, InboundMessage)
    assert found.sender.bsuid == BSUID


def test_the_audio_of_one_message_is_found_in_a_batched_body() -> None:
    voice = item("message", "voice")
    body = envelope(change(messages=[text_message("antes"), voice]), entries=2)
    assert audio_ref(body, voice["id"]) == AudioRef(
        media_id="1234567890987654321",
        url=None,
        mime_type="audio/ogg; codecs=opus",
        voice=True,
    )
    assert audio_ref(body, "wamid.other") is None
