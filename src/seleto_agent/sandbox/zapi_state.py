"""In-memory state of the Z-API simulator: registered webhooks, calls, emissions and faults."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

JsonDict = dict[str, Any]

# Keys under which webhook URLs are stored; each matches one `update-webhook-*` endpoint.
WEBHOOK_KINDS: tuple[str, ...] = (
    "received",
    "received_delivery",
    "delivery",
    "message_status",
    "disconnected",
    "connected",
)


# How a contact's messages name them (contracts/zapi.md §2.1, Z-API tips/lid.md): the number in
# `phone` with the `@lid` in `senderLid`/`chatLid`; the `@lid` itself in `phone`; or the number
# alone, as callbacks did before Z-API added the `@lid` fields (late 2025). WhatsApp moves
# contacts between these forms, "de forma inconsistente".
CONTACT_FORMS: tuple[str, ...] = ("number", "lid", "number_without_lid")
DEFAULT_CONTACT_FORM = "number"


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat()


@dataclass(frozen=True, slots=True)
class ZapiFault:
    """One scripted failure, consumed by the next call to its endpoint.

    `timeout` and `delay` both sleep before answering. Without `status` the call then
    proceeds normally (the message *is* sent even though a client may have given up,
    which is what makes timeouts dangerous); with `status` it fails after the sleep.
    """

    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    timeout: float | None = None
    # Sleep after the message was accepted and recorded, before answering: the provider has
    # sent it, its callbacks may already be on their way, and the client is still waiting.
    respond_after: float = 0.0
    # Accepted and recorded (status_code 200 in `sent`), then answered with this status
    # instead: a 5xx error body, or a 2xx body without the message ids.
    respond_status: int | None = None
    # The accepted send's follow-up callbacks (delivery, echo, statuses) start this late...
    callbacks_after: float = 0.0
    # ...or are never posted (a lost webhook).
    drop_callbacks: bool = False
    # The text of the failure's `{"error": ...}` body. Z-API's error texts are free (vendors.md
    # §15); a proxy or a future version may quote the request, phone and message included.
    error: str | None = None

    @property
    def sleep_seconds(self) -> float:
        return self.timeout if self.timeout is not None else self.delay


@dataclass(frozen=True, slots=True)
class ZapiKnobs:
    """Behaviour switches that stay in place until changed or reset."""

    disconnected: bool = False
    client_token_required: bool = True
    # Z-API does not document the HTTP status of a missing/wrong Client-Token (GAP).
    client_token_error_status: int = 401
    emit_statuses: bool = True
    echo_from_me: bool = False
    # Latency added to every Z-API API call.
    delay_seconds: float = 0.0
    # Extra headers on every webhook POST (e.g. `z-api-token`) to exercise inbound auth.
    webhook_headers: dict[str, str] = field(default_factory=dict)


class ZapiState:
    """Thread-safe store; every method holds the lock only for plain data updates."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._webhooks: dict[str, str] = {}
        self._notify_sent_by_me = False
        self._sent: list[JsonDict] = []
        self._emitted: list[JsonDict] = []
        self._fault_queues: dict[str, deque[ZapiFault]] = {}
        self._knobs = ZapiKnobs()
        self._contact_forms: dict[str, str] = {}

    def reset(self, *, clear_webhooks: bool) -> None:
        with self._lock:
            if clear_webhooks:
                self._webhooks.clear()
                self._notify_sent_by_me = False
            self._sent.clear()
            self._emitted.clear()
            self._fault_queues.clear()
            self._knobs = ZapiKnobs()
            self._contact_forms.clear()

    def snapshot(self) -> JsonDict:
        with self._lock:
            return {
                "webhooks": dict(self._webhooks),
                "notify_sent_by_me": self._notify_sent_by_me,
                "sent": [dict(entry) for entry in self._sent],
                "emitted": [dict(entry) for entry in self._emitted],
                "faults": {
                    "queues": {
                        endpoint: [asdict(fault) for fault in queue]
                        for endpoint, queue in self._fault_queues.items()
                        if queue
                    },
                    **asdict(self._knobs),
                },
                "contact_forms": dict(self._contact_forms),
            }

    # --- webhooks -------------------------------------------------------------------------

    def set_webhook(self, kind: str, url: str | None) -> None:
        with self._lock:
            if url:
                self._webhooks[kind] = url
            else:
                self._webhooks.pop(kind, None)

    def set_notify_sent_by_me(self, enabled: bool) -> None:
        with self._lock:
            self._notify_sent_by_me = enabled

    def webhook_url(self, *kinds: str) -> str | None:
        """First registered URL among `kinds`, in the order given (later ones are fallbacks)."""
        with self._lock:
            for kind in kinds:
                url = self._webhooks.get(kind)
                if url:
                    return url
            return None

    # --- records ----------------------------------------------------------------------------

    def record_call(self, entry: JsonDict) -> None:
        with self._lock:
            self._sent.append({**entry, "at": utc_now_iso()})

    def record_emission(self, entry: JsonDict) -> None:
        with self._lock:
            self._emitted.append({**entry, "at": utc_now_iso()})

    def last_successful_send(self) -> JsonDict | None:
        with self._lock:
            for entry in reversed(self._sent):
                if entry.get("status_code") == 200 and entry.get("endpoint", "").startswith(
                    "send-"
                ):
                    return dict(entry)
            return None

    # --- contacts ---------------------------------------------------------------------------

    def set_contact_form(self, phone: str, form: str) -> None:
        """From now on this contact's messages name them this way (a number→LID switch)."""
        if form not in CONTACT_FORMS:
            raise ValueError(f"form must be one of {CONTACT_FORMS}")
        with self._lock:
            self._contact_forms[phone] = form

    def contact_form(self, phone: str) -> str:
        with self._lock:
            return self._contact_forms.get(phone, DEFAULT_CONTACT_FORM)

    # --- faults and knobs -------------------------------------------------------------------

    def set_fault_queue(self, endpoint: str, faults: list[ZapiFault]) -> None:
        with self._lock:
            self._fault_queues[endpoint] = deque(faults)

    def pop_fault(self, endpoint: str) -> ZapiFault | None:
        with self._lock:
            queue = self._fault_queues.get(endpoint)
            return queue.popleft() if queue else None

    @property
    def knobs(self) -> ZapiKnobs:
        with self._lock:
            return self._knobs

    def update_knobs(self, **changes: Any) -> ZapiKnobs:
        with self._lock:
            self._knobs = replace(self._knobs, **changes)
            return self._knobs
