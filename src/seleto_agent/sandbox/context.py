"""What every sandbox router needs: fixed config, mutable state and the webhook emitters."""

from __future__ import annotations

from dataclasses import dataclass

from seleto_agent.sandbox.chatwoot_emitter import ChatwootEmitter
from seleto_agent.sandbox.config import SandboxConfig
from seleto_agent.sandbox.meta_emitter import MetaEmitter
from seleto_agent.sandbox.state import SandboxState
from seleto_agent.sandbox.zapi_emitter import ZapiEmitter


@dataclass(frozen=True, slots=True)
class SandboxContext:
    config: SandboxConfig
    state: SandboxState
    zapi_emitter: ZapiEmitter
    chatwoot_emitter: ChatwootEmitter
    meta_emitter: MetaEmitter

    @classmethod
    def create(cls, config: SandboxConfig) -> SandboxContext:
        state = SandboxState()
        return cls(
            config=config,
            state=state,
            zapi_emitter=ZapiEmitter(config, state.zapi),
            chatwoot_emitter=ChatwootEmitter(config, state.chatwoot),
            meta_emitter=MetaEmitter(config, state.meta),
        )
