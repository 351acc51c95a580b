"""Builds the sandbox FastAPI app: every simulator on one port, at the real services' paths.

TEST/SANDBOX ONLY. Add a simulator by writing `build_<name>_router(ctx) -> APIRouter` and listing
it in `ROUTER_FACTORIES` (plus a state section in `state.py` if it records anything).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from seleto_agent.sandbox.chatwoot import build_chatwoot_router
from seleto_agent.sandbox.chatwoot_control import build_chatwoot_control_router
from seleto_agent.sandbox.config import SandboxConfig
from seleto_agent.sandbox.context import SandboxContext
from seleto_agent.sandbox.control import build_control_router
from seleto_agent.sandbox.meta_control import build_meta_control_router
from seleto_agent.sandbox.meta_graph import build_meta_graph_router
from seleto_agent.sandbox.model import build_model_router
from seleto_agent.sandbox.piperun import build_piperun_router
from seleto_agent.sandbox.piperun_control import build_piperun_control_router
from seleto_agent.sandbox.transcription import build_transcription_router
from seleto_agent.sandbox.zapi import build_zapi_router
from seleto_agent.sandbox.zapi_control import build_zapi_control_router
from seleto_agent.sandbox.zapi_media import build_zapi_media_router

RouterFactory = Callable[[SandboxContext], APIRouter]

ROUTER_FACTORIES: tuple[RouterFactory, ...] = (
    build_control_router,
    build_zapi_router,
    build_zapi_control_router,
    build_zapi_media_router,
    build_model_router,
    build_transcription_router,
    build_chatwoot_router,
    build_chatwoot_control_router,
    build_piperun_router,
    build_piperun_control_router,
    build_meta_control_router,
    # Last: its `/{version}/{media_id}` would otherwise shadow nothing, but keeping the Graph
    # catch-all after every fixed path makes that obvious.
    build_meta_graph_router,
)

__all__ = ["SandboxConfig", "create_sandbox_app"]


def create_sandbox_app(config: SandboxConfig | None = None) -> FastAPI:
    ctx = SandboxContext.create(config or SandboxConfig())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await ctx.zapi_emitter.cancel_pending()
        await ctx.chatwoot_emitter.cancel_pending()
        await ctx.meta_emitter.cancel_pending()

    app = FastAPI(
        title="seleto-agent sandbox (TEST ONLY)",
        description=(
            "Local simulators of Z-API, the WhatsApp Cloud API, Chatwoot, PipeRun and an "
            "OpenAI-compatible scripted model."
        ),
        lifespan=lifespan,
    )
    for factory in ROUTER_FACTORIES:
        app.include_router(factory(ctx))
    # Exposed for tests and tooling that run in the same process.
    app.state.sandbox = ctx
    return app
