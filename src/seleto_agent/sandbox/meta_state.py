"""In-memory state of the WhatsApp Cloud API simulator (TEST/SANDBOX ONLY).

Holds the simulated clock, the app's webhook subscription, the 24 h windows, pacing, every
Graph call, every webhook delivery (with its attempts), the media store and the knobs tests
flip. The clock is real time plus an offset a test can advance, so "25 hours later" or "the
media URL's 5 minutes are up" take no real time.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

JsonDict = dict[str, Any]

FAULT_ENDPOINTS: tuple[str, ...] = ("messages", "media", "media_download")
StatusMode = Literal[
    "normal", "read_before_delivered", "read_without_delivered", "delivered_after_failed", "failed"
]
SignatureMode = Literal["valid", "wrong", "missing"]

# Customer service window ([M] "Service messages": 24 h from the user's last message).
WINDOW_SECONDS = 24 * 3600.0
# Media URLs expire after 5 minutes; media ids from webhooks after 7 days ([M] Media).
MEDIA_URL_TTL_SECONDS = 5 * 60.0
MEDIA_ID_TTL_SECONDS = 7 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class MetaFault:
    """One scripted failure, consumed by the next call to its endpoint.

    `status` + `code` answer a Graph error (e.g. 429/130429, 500/131000, 400/100) after
    `delay`. Without `status` the call then proceeds; `respond_after` sleeps *after* the message
    was accepted (the client may time out although Meta has it) and `respond_status` answers
    that status instead of the normal body (5xx error, or a 2xx without `messages`).
    """

    status: int | None = None
    code: int | None = None
    subcode: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    respond_after: float = 0.0
    respond_status: int | None = None
    drop_statuses: bool = False


@dataclass(frozen=True, slots=True)
class MetaKnobs:
    """Behaviour switches that stay in place until changed or reset."""

    enforce_window: bool = True
    # [M] "Known issue: In rare cases, you may receive a message … but be unable to respond
    # within the customer service window": free-form sends refused in-window this often.
    window_known_issue_probability: float = 0.0
    random_seed: int = 0
    # Pair rate: about one message per 6 s to the same user (contracts 2026 §2.13); 0 = off.
    pair_gap_seconds: float = 6.0
    # Throughput: Meta's default is 80 messages per second per number.
    throughput_per_second: int = 80
    # Answer `message_status: "held_for_quality_assessment"` instead of "accepted".
    held_for_quality: bool = False
    emit_statuses: bool = True
    status_mode: StatusMode = "normal"
    # Error code of the `failed` status in the failing modes.
    failure_code: int = 131026
    # Each status body is delivered this many times (a duplicate storm when > 1).
    status_copies: int = 1
    signature_mode: SignatureMode = "valid"
    # Meta re-delivers a webhook until it gets a 200 (for up to 7 days, exponential backoff).
    redeliver_attempts: int = 4
    redeliver_base_seconds: float = 0.2
    # Pause between the status steps of one send.
    status_step_seconds: float = 0.0
    # Latency added to every Graph call.
    delay_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class MetaTemplate:
    language: str = "pt_BR"
    category: str = "utility"  # marketing | utility | authentication
    body_params: int = 0


# Approved templates the simulated account has (a fresh account would have none).
DEFAULT_TEMPLATES: dict[str, MetaTemplate] = {
    "retomada_conversa": MetaTemplate(body_params=1),
    "hello_world": MetaTemplate(language="en_US"),
    "codigo_acesso": MetaTemplate(category="authentication", body_params=1),
}


@dataclass(frozen=True, slots=True)
class MetaMedia:
    data: bytes
    mime_type: str
    created_at: float
    deleted: bool = False
    # "base64" as in webhooks, or "hex": the media object's encoding is a GAP, both happen.
    sha256_encoding: Literal["base64", "hex"] = "base64"
    # Advertise a sha256 that does not match the bytes (a truncated upload, a swap).
    corrupt_sha256: bool = False

    def describe(self) -> JsonDict:
        described = asdict(self)
        described.pop("data")
        described["size"] = len(self.data)
        return described


@dataclass(frozen=True, slots=True)
class MediaUrl:
    media_id: str
    issued_at: float


@dataclass(slots=True)
class Delivery:
    """One webhook body and every attempt to deliver it."""

    delivery_id: str
    url: str
    kind: str
    body: str
    signature: str | None
    attempts: list[JsonDict] = field(default_factory=list)
    delivered: bool = False


class MetaState:
    """Thread-safe store; every method holds the lock only for plain data updates."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clear(clear_webhooks=True)

    def _clear(self, *, clear_webhooks: bool) -> None:
        if clear_webhooks:
            self._webhook_url: str | None = None
            self._verify_token: str | None = None
        self._offset = 0.0
        self._knobs = MetaKnobs()
        self._random = random.Random(0)
        self._faults: dict[str, deque[MetaFault]] = {}
        self._calls: list[JsonDict] = []
        self._deliveries: list[Delivery] = []
        self._last_inbound: dict[str, float] = {}
        self._last_sent_to: dict[str, float] = {}
        self._recent_sends: deque[float] = deque()
        self._media: dict[str, MetaMedia] = {}
        self._media_urls: dict[str, MediaUrl] = {}
        self._media_requests: list[JsonDict] = []
        self._templates = dict(DEFAULT_TEMPLATES)
        self._references: dict[str, str | None] = {}

    def reset(self, *, clear_webhooks: bool) -> None:
        with self._lock:
            self._clear(clear_webhooks=clear_webhooks)

    def snapshot(self) -> JsonDict:
        with self._lock:
            return {
                "webhook": {"url": self._webhook_url, "verify_token_set": bool(self._verify_token)},
                "now": time.time() + self._offset,
                "clock_offset_seconds": self._offset,
                "calls": [dict(c) for c in self._calls],
                "deliveries": [asdict(d) for d in self._deliveries],
                "last_inbound": dict(self._last_inbound),
                "media": {k: m.describe() for k, m in self._media.items()},
                "media_requests": [dict(r) for r in self._media_requests],
                "templates": {k: asdict(t) for k, t in self._templates.items()},
                "faults": {
                    "queues": {
                        name: [asdict(f) for f in queue]
                        for name, queue in self._faults.items()
                        if queue
                    },
                    **asdict(self._knobs),
                },
            }

    # --- clock ------------------------------------------------------------------------------

    def now(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._offset += seconds
            return time.time() + self._offset

    # --- webhook subscription ---------------------------------------------------------------

    def subscribe(self, url: str | None, verify_token: str | None) -> None:
        with self._lock:
            self._webhook_url = url
            self._verify_token = verify_token

    @property
    def webhook_url(self) -> str | None:
        with self._lock:
            return self._webhook_url

    @property
    def verify_token(self) -> str | None:
        with self._lock:
            return self._verify_token

    # --- window and pacing ------------------------------------------------------------------

    def record_inbound(self, *users: str, at: float | None = None) -> None:
        with self._lock:
            moment = time.time() + self._offset if at is None else at
            for user in users:
                self._last_inbound[user] = moment

    def window_open(self, user: str, now: float) -> bool:
        with self._lock:
            last = self._last_inbound.get(user)
        return last is not None and now - last < WINDOW_SECONDS

    def known_issue_strikes(self) -> bool:
        with self._lock:
            chance = self._knobs.window_known_issue_probability
            return chance > 0 and self._random.random() < chance

    def pace(self, recipient: str, now: float) -> str | None:
        """None when a message to `recipient` may go now (and counts it), else the limit hit:
        "throughput" or "pair"."""
        with self._lock:
            knobs = self._knobs
            while self._recent_sends and now - self._recent_sends[0] >= 1.0:
                self._recent_sends.popleft()
            if len(self._recent_sends) >= knobs.throughput_per_second:
                return "throughput"
            last = self._last_sent_to.get(recipient)
            gap = knobs.pair_gap_seconds
            if gap > 0 and last is not None and now - last < gap:
                return "pair"
            self._recent_sends.append(now)
            self._last_sent_to[recipient] = now
            return None

    # --- calls and deliveries ---------------------------------------------------------------

    def record_call(self, entry: JsonDict) -> None:
        with self._lock:
            self._calls.append({**entry, "at": time.time() + self._offset})

    def accepted_call(self, wamid: str | None) -> JsonDict | None:
        """The accepted send of `wamid`, or the latest accepted send when None."""
        with self._lock:
            for call in reversed(self._calls):
                if call.get("wamid") and wamid in (None, call["wamid"]):
                    return dict(call)
            return None

    def remember_reference(self, wamid: str, reference: str | None) -> None:
        with self._lock:
            self._references[wamid] = reference

    def reference_of(self, wamid: str) -> str | None:
        with self._lock:
            return self._references.get(wamid)

    def add_delivery(self, delivery: Delivery) -> None:
        with self._lock:
            self._deliveries.append(delivery)

    def add_attempt(self, delivery: Delivery, attempt: JsonDict) -> None:
        with self._lock:
            delivery.attempts.append(attempt)
            if attempt.get("status_code") == 200:
                delivery.delivered = True

    # --- media ------------------------------------------------------------------------------

    def put_media(self, media_id: str, **changes: Any) -> MetaMedia:
        with self._lock:
            current = self._media.get(media_id)
            if current is None:
                changes.setdefault("created_at", time.time() + self._offset)
                media = MetaMedia(**changes)
            else:
                media = replace(current, **changes)
            self._media[media_id] = media
            return media

    def media(self, media_id: str) -> MetaMedia | None:
        with self._lock:
            return self._media.get(media_id)

    def issue_media_url(self, token: str, media_id: str, now: float) -> None:
        with self._lock:
            self._media_urls[token] = MediaUrl(media_id=media_id, issued_at=now)

    def media_url(self, token: str) -> MediaUrl | None:
        with self._lock:
            return self._media_urls.get(token)

    def record_media_request(self, entry: JsonDict) -> None:
        with self._lock:
            self._media_requests.append({**entry, "at": time.time() + self._offset})

    # --- templates, faults and knobs --------------------------------------------------------

    def template(self, name: str) -> MetaTemplate | None:
        with self._lock:
            return self._templates.get(name)

    def put_template(self, name: str, template: MetaTemplate) -> None:
        with self._lock:
            self._templates[name] = template

    def set_fault_queue(self, endpoint: str, faults: list[MetaFault]) -> None:
        with self._lock:
            self._faults[endpoint] = deque(faults)

    def pop_fault(self, endpoint: str) -> MetaFault:
        with self._lock:
            queue = self._faults.get(endpoint)
            return queue.popleft() if queue else MetaFault()

    @property
    def knobs(self) -> MetaKnobs:
        with self._lock:
            return self._knobs

    def update_knobs(self, **changes: Any) -> MetaKnobs:
        with self._lock:
            self._knobs = replace(self._knobs, **changes)
            if "random_seed" in changes:
                self._random = random.Random(self._knobs.random_seed)
            return self._knobs
