"""In-memory state of the scripted speech-to-text endpoint (TEST/SANDBOX ONLY).

It keeps what each request looked like (model, language, file name and size, the file's first
bytes) but never the audio itself, a queue of transcripts scripted by tests, and faults.
"""

from __future__ import annotations

from typing import Any

from seleto_agent.sandbox.model_state import ScriptedEndpointState

JsonDict = dict[str, Any]

# Returned when no transcript was scripted. The sandbox recognises no speech: this text says so.
DEFAULT_TRANSCRIPT = "[sandbox] transcrição simulada: o sandbox não reconhece fala"


class TranscriptionState(ScriptedEndpointState[str]):
    def next_transcript(self) -> str:
        scripted = self.pop_scripted()
        return DEFAULT_TRANSCRIPT if scripted is None else scripted
