"""In-memory state of the PipeRun simulator (TEST/SANDBOX ONLY).

`PipeRunStore` holds the CRM records and the seeded catalogue; `PipeRunState` wraps it with
one lock, the request log, the queued faults, the knobs and the rate-limit window. A request
runs its whole read-validate-write against the store inside `transaction()`, so concurrent
calls (two creates with the same CPF, say) behave as they would against one database.
"""

from __future__ import annotations

import copy
import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from seleto_agent.sandbox import piperun_seed

JsonDict = dict[str, Any]

RESOURCES: tuple[str, ...] = ("companies", "persons", "deals", "notes")
# The log is for assertions in tests; a long demo must not grow it without bound.
MAX_LOGGED_REQUESTS = 5000


@dataclass(frozen=True, slots=True)
class PipeRunFault:
    """One scripted failure, consumed by the next request it matches (in queue order).

    `status` answers that status instead of the real answer; with `after_commit` the request
    is carried out first (the record exists, the client hears a failure), which is how a
    crash after PipeRun accepted a create is staged. `delay_seconds` sleeps before the work,
    or after it with `after_commit`; past the client's timeout it is a timeout. `truncated`
    cuts the real answer's JSON in half.
    """

    method: str = "*"
    path: str = "/"
    status: int | None = None
    body: Any = None
    retry_after: float | None = None
    delay_seconds: float = 0.0
    truncated: bool = False
    after_commit: bool = False

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and path.startswith(self.path)


@dataclass(frozen=True, slots=True)
class PipeRunKnobs:
    """Switches that stay until changed or reset."""

    # Every /v1 call answers 503 (PipeRun down or in maintenance).
    down: bool = False
    # piperun.md §3: "up to 100 requests per minute" (UNVERIFIED); None turns the limit off.
    rate_limit_per_minute: int | None = 100
    # Tests shrink the window to see a short Retry-After.
    rate_limit_window_seconds: float = 60.0
    # Whether PipeRun refuses a deal whose stage is in another funnel is a GAP (piperun.md §6).
    stage_must_match_pipeline: bool = True
    # The status of a missing or wrong token is undocumented (piperun.md §3).
    auth_error_status: int = 401
    # vendors.md #11: PipeRun documents only `next: null` at the end, yet its own extractor
    # also stops on an empty page. On, the last page still carries a cursor, and the page it
    # points to is empty and names that same cursor again.
    trailing_cursor: bool = False
    # vendors.md #5 (GAP): what persons take in `contactEmails`/`contactPhones`. "strings", the
    # schema (`items: {type: string}`): an object item is refused with 422. "objects", the
    # persons request example's reading: objects are stored and strings silently dropped.
    person_contact_items: Literal["strings", "objects"] = "strings"
    # vendors.md #9 (GAP): PipeRun documents only numeric CNPJs. Off, an alphanumeric CNPJ
    # (issued from July 2026) is refused on write with 422 and, like any `cnpj` filter outside
    # the documented formats, ignored as a filter. On, PipeRun has learned them.
    alphanumeric_cnpj: bool = False
    # vendors.md #16 (GAP): what a PUT with `contactEmails`/`contactPhones` does to the lists.
    # "append" adds the values a record lacks; "replace" keeps exactly the values sent.
    contact_lists_on_put: Literal["append", "replace"] = "append"


class PipeRunStore:
    """Records and catalogue; not locked itself, reached only through `transaction()`."""

    def __init__(self) -> None:
        # Ids keep growing across resets, like a real account: a stale id never comes back.
        self._ids = {
            "companies": itertools.count(4557648),
            "persons": itertools.count(7234836),
            "deals": itertools.count(10031304),
            "notes": itertools.count(123456988),
            "contacts": itertools.count(900001),
        }
        self.records: dict[str, dict[int, JsonDict]] = {name: {} for name in RESOURCES}
        self.cities = piperun_seed.cities()
        self.pipelines = piperun_seed.pipelines()
        self.stages = piperun_seed.stages()
        self.origins = piperun_seed.origins()
        self.users = piperun_seed.users()
        self.custom_fields = piperun_seed.custom_fields()

    def clear(self) -> None:
        for table in self.records.values():
            table.clear()

    def next_id(self, kind: str) -> int:
        return next(self._ids[kind])

    def catalogue(self, name: str) -> list[JsonDict]:
        lists: dict[str, list[JsonDict]] = {
            "cities": self.cities,
            "pipelines": self.pipelines,
            "stages": self.stages,
            "origins": self.origins,
            "users": self.users,
            "customFields": self.custom_fields,
        }
        return lists[name]

    @staticmethod
    def find(items: list[JsonDict], record_id: int | None) -> JsonDict | None:
        return next((item for item in items if item["id"] == record_id), None)


class PipeRunState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._store = PipeRunStore()
        self._requests: deque[JsonDict] = deque(maxlen=MAX_LOGGED_REQUESTS)
        self._request_seq = itertools.count(1)
        self._faults: list[PipeRunFault] = []
        self._knobs = PipeRunKnobs()
        self._hits: deque[float] = deque()

    def reset(self, *, clear_webhooks: bool) -> None:
        del clear_webhooks  # PipeRun webhooks are not simulated
        with self._lock:
            self._store.clear()
            self._requests.clear()
            self._faults.clear()
            self._knobs = PipeRunKnobs()
            self._hits.clear()

    def snapshot(self) -> JsonDict:
        with self._lock:
            records = {
                name: [copy.deepcopy(table[key]) for key in sorted(table)]
                for name, table in self._store.records.items()
            }
            return {
                **records,
                "requests": [copy.deepcopy(entry) for entry in self._requests],
                "faults": {
                    "queue": [asdict(fault) for fault in self._faults],
                    **asdict(self._knobs),
                },
            }

    @contextmanager
    def transaction(self) -> Iterator[PipeRunStore]:
        with self._lock:
            yield self._store

    # --- request log ----------------------------------------------------------------------

    def record_request(self, entry: JsonDict) -> int:
        with self._lock:
            seq = next(self._request_seq)
            self._requests.append(
                {"seq": seq, **entry, "status_code": None, "at": datetime.now(UTC).isoformat()}
            )
            return seq

    def finish_request(self, seq: int, status_code: int) -> None:
        with self._lock:
            for entry in reversed(self._requests):
                if entry["seq"] == seq:
                    entry["status_code"] = status_code
                    return

    # --- faults, knobs and the rate limit ---------------------------------------------------

    def queue_faults(self, faults: list[PipeRunFault], *, clear: bool = False) -> None:
        with self._lock:
            if clear:
                self._faults.clear()
            self._faults.extend(faults)

    def pop_fault(self, method: str, path: str) -> PipeRunFault | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.matches(method, path):
                    return self._faults.pop(index)
            return None

    @property
    def knobs(self) -> PipeRunKnobs:
        with self._lock:
            return self._knobs

    def update_knobs(self, **changes: Any) -> PipeRunKnobs:
        with self._lock:
            self._knobs = replace(self._knobs, **changes)
            return self._knobs

    def take_rate_slot(self) -> int | None:
        """None when the request may proceed (and is counted), else the Retry-After seconds."""
        with self._lock:
            limit = self._knobs.rate_limit_per_minute
            if limit is None:
                return None
            window = self._knobs.rate_limit_window_seconds
            now = time.monotonic()
            while self._hits and self._hits[0] <= now - window:
                self._hits.popleft()
            if len(self._hits) >= limit:
                return max(math.ceil(self._hits[0] + window - now), 1)
            self._hits.append(now)
            return None
