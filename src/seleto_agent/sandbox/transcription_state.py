"""In-memory state of the scripted speech-to-text endpoint (TEST/SANDBOX ONLY).

It keeps what each request looked like (model, language, file name and size, the file's first
bytes) but never the audio itself, a queue of transcripts scripted by tests, and faults.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, replace
from typing import Any

from seleto_agent.sandbox.model_state import FaultPlan, ModelFaults

JsonDict = dict[str, Any]

# Returned when no transcript was scripted. The sandbox recognises no speech: this text says so.
DEFAULT_TRANSCRIPT = "[sandbox] transcrição simulada: o sandbox não reconhece fala"


class TranscriptionState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[JsonDict] = []
        self._script: deque[str] = deque()
        self._faults = ModelFaults()

    def reset(self, *, clear_webhooks: bool) -> None:
        del clear_webhooks  # no webhooks here
        with self._lock:
            self._requests.clear()
            self._script.clear()
            self._faults = ModelFaults()

    def snapshot(self) -> JsonDict:
        with self._lock:
            return {
                "requests_count": len(self._requests),
                "requests": [dict(r) for r in self._requests],
                "script": list(self._script),
                "faults": asdict(self._faults),
            }

    def record_request(self, entry: JsonDict) -> None:
        with self._lock:
            self._requests.append(entry)

    def push_script(self, texts: list[str]) -> int:
        with self._lock:
            self._script.extend(texts)
            return len(self._script)

    def next_transcript(self) -> str:
        with self._lock:
            return self._script.popleft() if self._script else DEFAULT_TRANSCRIPT

    def update_faults(self, **changes: Any) -> ModelFaults:
        with self._lock:
            self._faults = replace(self._faults, **changes)
            return self._faults

    def take_fault_plan(self) -> FaultPlan:
        """Consume one unit of `delay_next` / `fail_next` (same rules as the chat model)."""
        with self._lock:
            self._faults, plan = self._faults.consume()
            return plan
