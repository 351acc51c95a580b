"""Whole-sandbox state: one section per simulated service, all resettable together.

A new simulator (Chatwoot, PipeRun, Meta) adds its own section class implementing
`ServiceState` and registers it in `SandboxState.sections`.
"""

from __future__ import annotations

from typing import Any, Protocol

from seleto_agent.sandbox.chatwoot_state import ChatwootState
from seleto_agent.sandbox.meta_state import MetaState
from seleto_agent.sandbox.model_state import ModelState
from seleto_agent.sandbox.piperun_state import PipeRunState
from seleto_agent.sandbox.transcription_state import TranscriptionState
from seleto_agent.sandbox.zapi_media_state import ZapiMediaState
from seleto_agent.sandbox.zapi_state import ZapiState

JsonDict = dict[str, Any]


class ServiceState(Protocol):
    def reset(self, *, clear_webhooks: bool) -> None: ...

    def snapshot(self) -> JsonDict: ...


class SandboxState:
    def __init__(self) -> None:
        self.zapi = ZapiState()
        self.model = ModelState()
        self.transcription = TranscriptionState()
        self.zapi_media = ZapiMediaState()
        self.chatwoot = ChatwootState()
        self.piperun = PipeRunState()
        self.meta = MetaState()

    def sections(self) -> dict[str, ServiceState]:
        return {
            "zapi": self.zapi,
            "zapi_media": self.zapi_media,
            "model": self.model,
            "transcription": self.transcription,
            "chatwoot": self.chatwoot,
            "piperun": self.piperun,
            "meta": self.meta,
        }

    def reset(self, *, clear_webhooks: bool = False) -> None:
        for section in self.sections().values():
            section.reset(clear_webhooks=clear_webhooks)

    def snapshot(self) -> JsonDict:
        return {name: section.snapshot() for name, section in self.sections().items()}
