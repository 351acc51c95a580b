"""Graph error codes → typed errors and actions (contracts whatsapp_cloud_2026.md §2.12)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from seleto_agent.integrations.meta.client import addressee, is_bsuid, sha256_digest
from seleto_agent.integrations.meta.errors import (
    ErrorAction,
    GraphErrorIds,
    MetaAccountBlocked,
    MetaAuthError,
    MetaError,
    MetaOutcomeUnknown,
    MetaOutsideWindow,
    MetaPairRateLimited,
    MetaRateLimited,
    MetaRejected,
    MetaUnavailable,
    MetaUndeliverable,
    classify_error_code,
    error_for_code,
)
from seleto_agent.integrations.meta.schemas import GraphErrorBody

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vendor" / "meta"


@pytest.mark.parametrize(
    ("code", "action"),
    [
        (0, ErrorAction.ALERT),
        (190, ErrorAction.ALERT),
        (200, ErrorAction.ALERT),
        (299, ErrorAction.ALERT),
        (4, ErrorAction.RETRY),
        (80007, ErrorAction.RETRY),
        (130429, ErrorAction.RETRY),
        (131056, ErrorAction.RETRY),
        (131000, ErrorAction.RETRY),
        (131016, ErrorAction.RETRY),
        (2, ErrorAction.RETRY),
        (131047, ErrorAction.OUTSIDE_WINDOW),
        (131026, ErrorAction.HANDOFF),
        (130472, ErrorAction.HANDOFF),
        (100, ErrorAction.DEAD),
        (131008, ErrorAction.DEAD),
        (131030, ErrorAction.DEAD),
        (132000, ErrorAction.DEAD),
        (132015, ErrorAction.DEAD),
        (131048, ErrorAction.ALERT),
        (131042, ErrorAction.ALERT),
        (999999, ErrorAction.ALERT),
    ],
)
def test_classify_error_code(code: int, action: ErrorAction) -> None:
    assert classify_error_code(code) is action


@pytest.mark.parametrize(
    ("status", "code", "error", "retryable"),
    [
        (401, 190, MetaAuthError, False),
        (403, 10, MetaAuthError, False),
        (429, 130429, MetaRateLimited, True),
        (400, 4, MetaRateLimited, True),
        (400, 131056, MetaPairRateLimited, True),
        (400, 131047, MetaOutsideWindow, False),
        (400, 131026, MetaUndeliverable, False),
        (400, 130472, MetaUndeliverable, False),
        (400, 131008, MetaRejected, False),
        (400, 132001, MetaRejected, False),
        (400, 131048, MetaAccountBlocked, False),
        (400, 131016, MetaUnavailable, True),
        (500, 131000, MetaOutcomeUnknown, True),
        (503, None, MetaOutcomeUnknown, True),
        (429, None, MetaRateLimited, True),
        (401, None, MetaAuthError, False),
    ],
)
def test_a_send_error_is_typed_by_code(
    status: int, code: int | None, error: type[MetaError], retryable: bool
) -> None:
    ids = GraphErrorIds(status_code=status, code=code, subcode=None, fbtrace_id="Abc")
    raised = error_for_code("send_text", ids, retry_after=None, may_have_acted=True)
    assert type(raised) is error
    assert raised.retryable is retryable


def test_a_5xx_on_a_call_that_did_not_send_is_unavailable_not_unknown() -> None:
    ids = GraphErrorIds(status_code=500, code=131000)
    raised = error_for_code("media_metadata", ids, retry_after=None, may_have_acted=False)
    assert type(raised) is MetaUnavailable


def test_pair_rate_waits_at_least_6_s_whatever_retry_after_says() -> None:
    ids = GraphErrorIds(status_code=400, code=131056)
    raised = error_for_code("send_text", ids, retry_after=1.0, may_have_acted=True)
    assert isinstance(raised, MetaPairRateLimited)
    assert raised.retry_after == 6.0


def test_the_documented_graph_error_body_reads_into_ids_only() -> None:
    body = json.loads((FIXTURES / "graph_api_error_response.json").read_text())
    detail = GraphErrorBody.model_validate(body).error
    assert detail is not None
    ids = GraphErrorIds(400, detail.code, detail.error_subcode, detail.fbtrace_id)
    raised = error_for_code("send_text", ids, retry_after=None, may_have_acted=True)
    assert (raised.code, raised.subcode, raised.fbtrace_id) == (190, 460, "EJplcsCHuLu")
    # The human texts can quote the message; they never reach an exception or a log.
    assert "Message describing the error" not in str(raised)
    assert "A message" not in str(raised)


def test_sha256_is_read_as_hex_or_base64() -> None:
    digest = hashlib.sha256(b"voice").digest()
    assert sha256_digest(digest.hex()) == digest
    assert sha256_digest(digest.hex().upper()) == digest
    assert sha256_digest(base64.b64encode(digest).decode()) == digest
    assert sha256_digest(base64.urlsafe_b64encode(digest).decode().rstrip("=")) == digest
    assert sha256_digest("not a digest") is None


def test_bsuids_are_addressed_by_recipient() -> None:
    assert is_bsuid("BR.1502576394655843")
    assert not is_bsuid("5511987654321")
    assert not is_bsuid("BR.ENT.123")
    assert addressee("CO.1047385771169864") == {"recipient": "CO.1047385771169864"}
    assert addressee("5511987654321") == {"to": "5511987654321"}
