"""Chatwoot webhook parsing (contracts/chatwoot.md §2) and signature checks (§3)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from seleto_agent.integrations.chatwoot.signature import (
    SignatureCheck,
    sign,
    verify_any,
    verify_signature,
)
from seleto_agent.integrations.chatwoot.webhook import InvalidChatwootPayload, parse_event
from seleto_agent.settings import PROJECT_ROOT

FIXTURES = PROJECT_ROOT / "tests" / "fixtures" / "vendor" / "chatwoot"
DOCS_SAMPLE = FIXTURES / "webhook_message_created_docs_sample.json"


def _conversation(**overrides: Any) -> dict[str, Any]:
    """`conversation.webhook_data` as §2.3 describes it (id = display id)."""
    conversation: dict[str, Any] = {
        "additional_attributes": {},
        "can_reply": True,
        "channel": "Channel::Api",
        "contact_inbox": {"source_id": "9f1c"},
        "id": 42,
        "inbox_id": 7,
        "messages": [{"id": 901, "message_type": 1, "created_at": 1_760_000_000}],
        "labels": [],
        "meta": {
            "sender": {
                "id": 311,
                "name": "Ana",
                "phone_number": "+5511987654321",
                "identifier": "5511987654321",
                "type": "contact",
            },
            "assignee": None,
            "team": None,
            "hmac_verified": False,
        },
        "status": "open",
        "account": {"id": 3, "name": "Seleto"},
    }
    conversation.update(overrides)
    return conversation


def _message_created(**overrides: Any) -> dict[str, Any]:
    """`Message#webhook_data` + event (§2.1)."""
    body: dict[str, Any] = {
        "event": "message_created",
        "account": {"id": 3, "name": "Seleto"},
        "additional_attributes": {},
        "content_attributes": {"seleto_stamp": "out-1"},
        "content_type": "text",
        "content": "Olá!",
        "conversation": _conversation(),
        "created_at": "2026-03-01T12:30:00.123Z",
        "id": 901,
        "inbox": {"id": 7, "name": "WhatsApp"},
        "message_type": "outgoing",
        "private": False,
        "sender": {"id": 1, "name": "Admin", "email": "a@example.com", "type": "user"},
        "source_id": None,
    }
    body.update(overrides)
    return body


def test_docs_sample_parses_with_string_ids_and_display_id() -> None:
    event = parse_event(DOCS_SAMPLE.read_bytes())
    assert event.event == "message_created"
    assert event.message_id == 1
    assert event.message_type == "incoming"
    assert event.content == "Hi"
    assert event.private is False
    assert event.conversation_id == 1  # from conversation.display_id
    assert event.account_id == 1
    assert event.sender_id == 1
    assert event.sender_type is None  # the sample's sender has no type
    assert event.created_at == datetime(2020, 3, 3, 13, 5, 57, tzinfo=UTC)


def test_message_created_from_model_code_shape() -> None:
    event = parse_event(json.dumps(_message_created()).encode())
    assert event.message_id == 901
    assert event.message_type == "outgoing"
    assert event.sender_type == "user"
    assert event.sender_id == 1
    assert event.conversation_id == 42
    assert event.conversation_status == "open"
    assert event.inbox_id == 7
    assert event.account_id == 3
    assert event.contact_phone == "+5511987654321"
    assert event.contact_identifier == "5511987654321"
    assert event.content_attributes == {"seleto_stamp": "out-1"}
    assert event.created_at == datetime(2026, 3, 1, 12, 30, 0, 123000, tzinfo=UTC)
    assert event.changed_attributes == []


@pytest.mark.parametrize(
    ("number", "expected"),
    [(0, "incoming"), (1, "outgoing"), (2, "activity"), (3, "template"), ("1", "outgoing")],
)
def test_integer_message_types_are_normalised(number: int | str, expected: str) -> None:
    event = parse_event(_message_created(message_type=number, created_at=1_760_000_000))
    assert event.message_type == expected
    assert event.created_at == datetime.fromtimestamp(1_760_000_000, tz=UTC)


def test_unknown_message_type_becomes_none() -> None:
    assert parse_event(_message_created(message_type=9)).message_type is None
    assert parse_event(_message_created(message_type="broadcast")).message_type is None


def test_null_sender_and_missing_optional_objects() -> None:
    body = _message_created(
        sender=None, content_attributes=None, private=None, conversation=None, inbox=None
    )
    event = parse_event(body)
    assert event.sender_type is None
    assert event.sender_id is None
    assert event.content_attributes == {}
    assert event.private is False
    assert event.conversation_id is None
    assert event.inbox_id is None
    assert event.account_id == 3


def test_contact_sender_without_type_is_an_incoming_message() -> None:
    contact = {
        "account": {"id": 3, "name": "Seleto"},
        "additional_attributes": {},
        "avatar": "",
        "custom_attributes": {},
        "email": None,
        "id": 311,
        "identifier": "5511987654321",
        "name": "Ana",
        "phone_number": "+5511987654321",
        "thumbnail": "",
        "blocked": False,
    }
    event = parse_event(
        _message_created(message_type="incoming", sender=contact, content="Quero orçamento")
    )
    assert event.message_type == "incoming"
    assert event.sender_type is None
    assert event.sender_id == 311
    assert event.contact_phone == "+5511987654321"


def test_private_note_is_flagged() -> None:
    event = parse_event(_message_created(private=True, content="/bot on"))
    assert event.private is True
    assert event.content == "/bot on"


def test_conversation_status_changed_uses_top_level_display_id() -> None:
    body = {
        **_conversation(status="resolved"),
        "event": "conversation_status_changed",
        "changed_attributes": [{"status": {"current_value": "resolved", "previous_value": "open"}}],
    }
    event = parse_event(body)
    assert event.event == "conversation_status_changed"
    assert event.conversation_id == 42
    assert event.message_id is None  # a conversation event's `id` is the conversation's
    assert event.conversation_status == "resolved"
    assert event.changed_attributes == [
        {"status": {"current_value": "resolved", "previous_value": "open"}}
    ]
    assert event.inbox_id == 7
    assert event.account_id == 3
    assert event.contact_phone == "+5511987654321"


def test_contact_created_reads_the_contact_fields() -> None:
    body = {
        "event": "contact_created",
        "account": {"id": 3, "name": "Seleto"},
        "id": 311,
        "name": "Ana",
        "phone_number": "+5511987654321",
        "identifier": "5511987654321",
    }
    event = parse_event(body)
    assert event.message_id is None
    assert event.conversation_id is None
    assert event.contact_phone == "+5511987654321"
    assert event.contact_identifier == "5511987654321"


def test_display_id_wins_over_a_row_id_in_older_payloads() -> None:
    event = parse_event(_message_created(conversation={"id": 1001, "display_id": 5}))
    assert event.conversation_id == 5


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'"text"', b"{}", b'{"event": ""}', b'{"event": 5}', b"\xff\xfe"],
)
def test_invalid_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(InvalidChatwootPayload):
        parse_event(body)


@pytest.mark.parametrize("created_at", [1e20, -1e20, float("nan"), float("inf"), 10**30])
def test_timestamps_no_clock_can_hold_are_none(created_at: float) -> None:
    event = parse_event(_message_created(created_at=created_at))
    assert event.created_at is None
    assert event.message_id == 901


@pytest.mark.parametrize("value", [10**30, 2**63, -3, "99999999999999999999", 4.0])
def test_ids_outside_a_bigint_are_no_id(value: Any) -> None:
    event = parse_event(_message_created(id=value, conversation=_conversation(id=value)))
    assert (event.message_id, event.conversation_id) == (None, None)


def test_largest_bigint_is_still_an_id() -> None:
    event = parse_event(_message_created(id=2**63 - 1))
    assert event.message_id == 2**63 - 1


def test_nesting_deeper_than_the_parser_is_not_json() -> None:
    with pytest.raises(InvalidChatwootPayload, match="not JSON"):
        parse_event(b"[" * 200_000)


# --- signatures --------------------------------------------------------------------------------

SECRET = b"whsec-test"
BODY = b'{"event":"message_created","id":1}'
NOW = 1_760_000_000.0


def _check(**overrides: Any) -> SignatureCheck:
    values: dict[str, Any] = {
        "secret": SECRET,
        "timestamp": str(int(NOW)),
        "body": BODY,
        "signature": sign(SECRET, int(NOW), BODY),
        "now": NOW,
        "tolerance_seconds": 300,
    }
    values.update(overrides)
    return verify_signature(**values)


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET, b"1760000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, "1760000000", BODY) == f"sha256={expected}"
    assert _check() is SignatureCheck.OK


def test_signature_within_tolerance_both_ways_is_ok() -> None:
    assert _check(now=NOW + 299) is SignatureCheck.OK
    assert _check(now=NOW - 299) is SignatureCheck.OK


@pytest.mark.parametrize("field", ["timestamp", "signature"])
@pytest.mark.parametrize("value", [None, ""])
def test_missing_header_is_missing(field: str, value: str | None) -> None:
    assert _check(**{field: value}) is SignatureCheck.MISSING


@pytest.mark.parametrize(
    "overrides",
    [
        {"signature": "abc"},
        {"signature": "sha1=" + "0" * 40},
        {"signature": "sha256=" + "z" * 64},
        {"signature": "sha256=" + "0" * 63},
        {"timestamp": "2026-03-01T12:00:00Z"},
        {"timestamp": "-5"},
    ],
)
def test_malformed_headers_are_malformed(overrides: dict[str, Any]) -> None:
    assert _check(**overrides) is SignatureCheck.MALFORMED


def test_old_and_future_timestamps_are_stale() -> None:
    assert _check(now=NOW + 301) is SignatureCheck.STALE
    assert _check(now=NOW - 301) is SignatureCheck.STALE


def test_other_secret_or_changed_body_is_a_mismatch() -> None:
    assert _check(secret=b"another") is SignatureCheck.MISMATCH
    assert _check(body=BODY + b" ") is SignatureCheck.MISMATCH
    reserialised = json.dumps(json.loads(BODY)).encode()
    assert _check(body=reserialised) is SignatureCheck.MISMATCH


def test_upper_case_hex_digest_is_accepted() -> None:
    signature = sign(SECRET, int(NOW), BODY)
    assert _check(signature="sha256=" + signature.removeprefix("sha256=").upper()) is (
        SignatureCheck.OK
    )


def _any(secrets: list[bytes], **overrides: Any) -> SignatureCheck:
    values: dict[str, Any] = {
        "secrets": secrets,
        "timestamp": str(int(NOW)),
        "body": BODY,
        "signature": sign(SECRET, int(NOW), BODY),
        "now": NOW,
        "tolerance_seconds": 300,
    }
    values.update(overrides)
    return verify_any(**values)


def test_any_of_several_secrets_verifies() -> None:
    assert _any([b"account-webhook", SECRET, b"retired"]) is SignatureCheck.OK
    assert _any([b"account-webhook", b"retired"]) is SignatureCheck.MISMATCH
    assert _any([]) is SignatureCheck.MISMATCH


def test_what_no_secret_can_fix_is_reported_as_such() -> None:
    assert _any([b"a", SECRET], signature=None) is SignatureCheck.MISSING
    assert _any([b"a", SECRET], now=NOW + 301) is SignatureCheck.STALE
    assert _any([b"a", SECRET], signature="sha256=zz") is SignatureCheck.MALFORMED
