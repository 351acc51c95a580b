"""In-memory state of the scripted model (TEST/SANDBOX ONLY): requests, script queues, faults."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, replace
from typing import Any, Generic, TypeVar

from seleto_agent.sandbox.model_replies import ScriptedReply

JsonDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ModelFaults:
    fail_next: int = 0
    fail_always: bool = False
    status: int = 500
    delay_seconds: float = 0.0
    delay_next: int = 0
    retry_after: float | None = None

    def consume(self) -> tuple[ModelFaults, FaultPlan]:
        """The plan for the request being served, and the faults left after it (one unit of
        `delay_next` / `fail_next` used). Callers hold their lock around it."""
        delay = self.delay_seconds if self.delay_next > 0 else 0.0
        failing = self.fail_always or self.fail_next > 0
        left = replace(
            self, delay_next=max(self.delay_next - 1, 0), fail_next=max(self.fail_next - 1, 0)
        )
        return left, FaultPlan(
            delay_seconds=delay,
            fail_status=self.status if failing else None,
            retry_after=self.retry_after,
        )


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """What to do to one request, decided atomically when it arrives."""

    delay_seconds: float = 0.0
    fail_status: int | None = None
    retry_after: float | None = None


T = TypeVar("T")


class ScriptedEndpointState(Generic[T]):
    """Requests received, a queue of scripted answers and faults, behind one lock: what every
    scripted OpenAI-compatible endpoint of the sandbox keeps."""

    def __init__(self) -> None:
        # Re-entrant so a subclass can extend `snapshot` / `reset` under the same lock.
        self._lock = threading.RLock()
        self._requests: list[JsonDict] = []
        # When each request arrived (wall clock), for tests of the caller's pacing.
        self._arrivals: list[float] = []
        self._script: deque[T] = deque()
        self._faults = ModelFaults()

    def reset(self, *, clear_webhooks: bool) -> None:
        del clear_webhooks  # these endpoints emit no webhooks
        with self._lock:
            self._requests.clear()
            self._arrivals.clear()
            self._script.clear()
            self._faults = ModelFaults()

    def snapshot(self) -> JsonDict:
        with self._lock:
            return {
                "requests_count": len(self._requests),
                "requests": [dict(request) for request in self._requests],
                "arrivals": list(self._arrivals),
                "script": [self._dump(item) for item in self._script],
                "faults": asdict(self._faults),
            }

    def _dump(self, item: T) -> Any:
        return item

    def record_request(self, body: JsonDict) -> None:
        with self._lock:
            self._requests.append(body)
            self._arrivals.append(time.time())

    def push_script(self, items: list[T]) -> int:
        with self._lock:
            self._script.extend(items)
            return len(self._script)

    def pop_scripted(self) -> T | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    @property
    def faults(self) -> ModelFaults:
        with self._lock:
            return self._faults

    def update_faults(self, **changes: Any) -> ModelFaults:
        with self._lock:
            self._faults = replace(self._faults, **changes)
            return self._faults

    def take_fault_plan(self) -> FaultPlan:
        """Consume one unit of `delay_next` / `fail_next` for the request being served."""
        with self._lock:
            self._faults, plan = self._faults.consume()
            return plan


class ModelState(ScriptedEndpointState[ScriptedReply]):
    """Adds keyed scripts: replies that answer only requests whose last user message contains
    a marker, so conversations running at the same time each get their own script."""

    def __init__(self) -> None:
        super().__init__()
        # Marker -> its replies, in order. A queue is dropped once empty, and when two markers
        # match one request the one scripted first answers.
        self._keyed: dict[str, deque[ScriptedReply]] = {}
        # Marker -> the replies of every run of its turn, by step: kept, so a run retried after
        # a crash (or a guardrail regeneration) is answered the same way again, as a real model
        # answering the same prompt would.
        self._repeating: dict[str, list[ScriptedReply]] = {}
        # Counters survive resets so ids stay unique for the life of the process.
        self._completion_counter = 0
        self._tool_call_counter = 0

    def _dump(self, item: ScriptedReply) -> Any:
        return item.model_dump()

    def reset(self, *, clear_webhooks: bool) -> None:
        with self._lock:
            super().reset(clear_webhooks=clear_webhooks)
            self._keyed.clear()
            self._repeating.clear()

    def snapshot(self) -> JsonDict:
        with self._lock:
            state = super().snapshot()
            state["keyed_scripts"] = {
                marker: [self._dump(item) for item in queue]
                for marker, queue in self._keyed.items()
            }
            state["repeating_scripts"] = {
                marker: [self._dump(item) for item in replies]
                for marker, replies in self._repeating.items()
            }
            return state

    def push_keyed(self, marker: str, items: list[ScriptedReply]) -> int:
        """Queue replies for requests whose last user message contains `marker`; returns how
        many that marker now has queued."""
        with self._lock:
            queue = self._keyed.setdefault(marker, deque())
            queue.extend(items)
            return len(queue)

    def set_repeating(self, marker: str, items: list[ScriptedReply]) -> int:
        """Answer every run whose last user message contains `marker` with `items`, the reply
        at the run's step (see `step_in_run`); returns how many replies that is."""
        with self._lock:
            self._repeating[marker] = list(items)
            return len(items)

    def pop_for(self, user_text: str | None, *, step: int = 0) -> ScriptedReply | None:
        """The next reply for a request whose last user message is `user_text`, at `step` of
        its run: a repeating script's reply for that step, else its marker's queue, then the
        unkeyed queue."""
        with self._lock:
            if user_text is not None:
                for marker, replies in self._repeating.items():
                    if marker in user_text:
                        return replies[step] if step < len(replies) else None
                for marker, queue in self._keyed.items():
                    if marker in user_text:
                        reply = queue.popleft()
                        if not queue:
                            del self._keyed[marker]
                        return reply
            return self.pop_scripted()

    def next_completion_id(self) -> str:
        with self._lock:
            self._completion_counter += 1
            return f"chatcmpl-{self._completion_counter}"

    def next_tool_call_id(self) -> str:
        with self._lock:
            self._tool_call_counter += 1
            return f"call_{self._tool_call_counter}"
