"""Typed failures of the Cloud API, decided by the Graph error `code` (contracts 2026 §2.12).

Meta: "do not rely on titles … titles will eventually be deprecated", so nothing here reads
`message`, `error_user_msg` or `error_data.details`; they can also quote the message we sent,
so they are never put in an exception text or a log line. What is kept is what Meta support
asks for: `code`, `error_subcode` and `fbtrace_id`.

The same table classifies the asynchronous errors of a `failed` status
(`statuses[].errors[].code`) through `classify_error_code`, so a send that failed on the HTTP
call and one that failed hours later in a webhook end up handled alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from seleto_agent.integrations.media.errors import MediaExpired, MediaRejected, MediaUnavailable
from seleto_agent.integrations.whatsapp import (
    WhatsAppError,
    WhatsAppOutcomeUnknown,
    WhatsAppOutsideWindow,
)


class ErrorAction(StrEnum):
    """What the caller does about an error code."""

    RETRY = "retry"  # transient: same request later (rate limits honour their delay)
    DEAD = "dead"  # this request can never succeed: park it, a person looks
    HANDOFF = "handoff"  # the lead cannot be reached on WhatsApp: hand over to the SDR team
    OUTSIDE_WINDOW = "outside_window"  # free-form refused: only a template may go (never text)
    ALERT = "alert"  # our account/token is the problem: stop and page ops


# Graph OAuth/permission family: 0 AuthException, 3 capability, 10 permission denied,
# 190 access token expired or invalid, 200-299 permission errors.
AUTH_CODES = frozenset({0, 3, 10, 190, *range(200, 300)})
# 4 app call limit, 80007 WABA call limit, 130429 Cloud API throughput ("Rate limit hit").
RATE_LIMIT_CODES = frozenset({4, 80007, 130429})
PAIR_RATE_CODE = 131056
OUTSIDE_WINDOW_CODE = 131047
# 131049 per-user marketing limit: Meta says "wait at least 24 hours before resending".
MARKETING_LIMIT_CODE = 131049
# 131026 not on WhatsApp / old client / terms not accepted; 130472 user in an experiment.
UNDELIVERABLE_CODES = frozenset({131026, 130472})
# 131000 unknown, 131016 service unavailable, 135000 generic user error, 2 temporary downtime.
UNAVAILABLE_CODES = frozenset({131000, 131016, 135000, 2})
# Spam/messaging limits, restricted/locked/country-restricted account, payment issue.
ACCOUNT_BLOCKED_CODES = frozenset({131048, 131064, 368, 131031, 130497, 131042})
# Bad request, test number's allowed list, opt-out of marketing, BSUID not supported for the
# template, identity hash mismatch, unsupported type, media download/upload error.
REJECTED_CODES = frozenset(
    {100, 131008, 131009, 131030, 131050, 131051, 131052, 131053, 131062, 137000}
)

# Meta's pair rate is about one message per 6 s to the same user (contracts 2026 §2.13).
PAIR_RATE_MIN_WAIT_SECONDS = 6.0
MARKETING_LIMIT_WAIT_SECONDS = 24 * 3600.0


def is_template_error(code: int) -> bool:
    """132000-132999: parameter count/format, template missing, paused, disabled, policy."""
    return 132000 <= code <= 132999


def classify_error_code(code: int) -> ErrorAction:
    """The action for a Graph error code, from an HTTP answer or a `failed` status."""
    if code in AUTH_CODES or code in ACCOUNT_BLOCKED_CODES:
        return ErrorAction.ALERT
    if code in RATE_LIMIT_CODES or code in UNAVAILABLE_CODES:
        return ErrorAction.RETRY
    if code in (PAIR_RATE_CODE, MARKETING_LIMIT_CODE):
        return ErrorAction.RETRY
    if code == OUTSIDE_WINDOW_CODE:
        return ErrorAction.OUTSIDE_WINDOW
    if code in UNDELIVERABLE_CODES:
        return ErrorAction.HANDOFF
    if code in REJECTED_CODES or is_template_error(code):
        return ErrorAction.DEAD
    # A code this table does not know: nobody should guess, a person looks.
    return ErrorAction.ALERT


@dataclass(frozen=True, slots=True)
class GraphErrorIds:
    """The parts of a Graph error that are safe to log and that Meta support asks for."""

    status_code: int | None = None
    code: int | None = None
    subcode: int | None = None
    fbtrace_id: str | None = None

    def describe(self) -> str:
        parts = [
            f"HTTP {self.status_code}" if self.status_code is not None else "",
            f"code {self.code}" if self.code is not None else "",
            f"subcode {self.subcode}" if self.subcode is not None else "",
            f"fbtrace_id {self.fbtrace_id}" if self.fbtrace_id else "",
        ]
        return ", ".join(p for p in parts if p)


class MetaError(WhatsAppError):
    """A Cloud API call failed. The text names only the operation, HTTP status and ids."""

    def __init__(
        self, operation: str, ids: GraphErrorIds | None = None, *, reason: str | None = None
    ) -> None:
        ids = ids or GraphErrorIds()
        detail = ", ".join(p for p in (ids.describe(), reason or "") if p)
        super().__init__(f"{operation}: {detail}" if detail else operation)
        self.operation = operation
        self.status_code = ids.status_code
        self.code = ids.code
        self.subcode = ids.subcode
        self.fbtrace_id = ids.fbtrace_id

    @property
    def action(self) -> ErrorAction:
        if self.code is not None:
            return classify_error_code(self.code)
        return ErrorAction.RETRY if self.retryable else ErrorAction.DEAD


class MetaAuthError(MetaError):
    """Token expired or invalid (190), or missing permission: rotate META_ACCESS_TOKEN."""

    retryable = False


class MetaRateLimited(MetaError):
    """Throughput or API-call limit: try again after `retry_after` seconds (when known)."""

    def __init__(
        self,
        operation: str,
        ids: GraphErrorIds | None = None,
        *,
        retry_after: float | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(operation, ids, reason=reason)
        self.retry_after = retry_after


class MetaPairRateLimited(MetaRateLimited):
    """Too many messages to this recipient: wait at least 6 s before the next one to them."""


class MetaOutsideWindow(MetaError, WhatsAppOutsideWindow):
    """131047: the 24 h customer-service window is closed. Never resent as text; a template
    is the only way to reach this lead now."""

    retryable = False


class MetaUndeliverable(MetaError):
    """The recipient cannot get WhatsApp messages from us (131026, 130472)."""

    retryable = False


class MetaRejected(MetaError):
    """The request itself is wrong (bad parameter, template error): resending cannot help."""

    retryable = False


class MetaAccountBlocked(MetaError):
    """Our number or account is limited, restricted or has a payment issue: stop, alert."""

    retryable = False


class MetaUnavailable(MetaError):
    """Meta said it failed for now (131000, 131016, 135000, 2) or could not be reached."""


class MetaConnectError(MetaUnavailable):
    """No connection could be made: the request never left, so resending is safe."""


class MetaOutcomeUnknown(MetaError, WhatsAppOutcomeUnknown):
    """The request was written and no usable answer came back: Meta may have the message."""


# --- media download (also `MediaError`s, so the voice pipeline handles them unchanged) ------


class MetaMediaExpiredOrDeleted(MediaExpired):
    """404 on the media id: past its 7 days (webhook ids), or deleted."""

    reason = "expired_or_deleted"


class MetaMediaAuthError(MediaRejected):
    """401 or code 190 while fetching media: the token is the problem, retrying cannot help."""


class MetaMediaUnavailable(MediaUnavailable):
    """5xx, timeout or a URL that kept expiring: a later attempt may succeed."""


class MetaMediaCorrupt(MediaUnavailable):
    """The bytes do not match the sha256 Meta gave: a truncated or swapped download."""


def error_for_code(
    operation: str, ids: GraphErrorIds, *, retry_after: float | None, may_have_acted: bool
) -> MetaError:
    """The typed error for a non-2xx Graph answer."""
    status, code = ids.status_code or 0, ids.code
    if status >= 500 and may_have_acted:
        # A send Meta failed to answer may still have been accepted (a 500 after enqueueing).
        return MetaOutcomeUnknown(operation, ids)
    if code is None:
        return _error_for_status(operation, ids, retry_after)
    if code == PAIR_RATE_CODE:
        wait = max(retry_after or 0.0, PAIR_RATE_MIN_WAIT_SECONDS)
        return MetaPairRateLimited(operation, ids, retry_after=wait)
    if code == MARKETING_LIMIT_CODE:
        return MetaRateLimited(operation, ids, retry_after=MARKETING_LIMIT_WAIT_SECONDS)
    if code in RATE_LIMIT_CODES:
        return MetaRateLimited(operation, ids, retry_after=retry_after)
    by_code: tuple[tuple[frozenset[int], type[MetaError]], ...] = (
        (AUTH_CODES, MetaAuthError),
        (frozenset({OUTSIDE_WINDOW_CODE}), MetaOutsideWindow),
        (UNDELIVERABLE_CODES, MetaUndeliverable),
        (ACCOUNT_BLOCKED_CODES, MetaAccountBlocked),
        (UNAVAILABLE_CODES, MetaUnavailable),
    )
    for codes, error in by_code:
        if code in codes:
            return error(operation, ids)
    if status >= 500:
        return MetaUnavailable(operation, ids)
    return MetaRejected(operation, ids)


def _error_for_status(operation: str, ids: GraphErrorIds, retry_after: float | None) -> MetaError:
    """No Graph error body (a proxy, a load balancer): judge by the HTTP status alone."""
    status = ids.status_code or 0
    if status == 429:
        return MetaRateLimited(operation, ids, retry_after=retry_after)
    if status in (401, 403):
        return MetaAuthError(operation, ids)
    if status >= 500 or status in (408, 425):
        return MetaUnavailable(operation, ids)
    return MetaRejected(operation, ids)
