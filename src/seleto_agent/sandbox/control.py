"""Shared control endpoints under `/_sandbox/` (state, reset, health); no vendor has these."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from seleto_agent.sandbox.context import SandboxContext

JsonDict = dict[str, Any]


class ResetRequest(BaseModel):
    # Registered webhook URLs survive a reset unless asked, so a running service stays wired.
    webhooks: bool = False


def build_control_router(ctx: SandboxContext) -> APIRouter:
    router = APIRouter(prefix="/_sandbox", tags=["sandbox: control"])

    @router.get("/healthz")
    async def healthz() -> JsonDict:
        return {"status": "ok"}

    @router.get("/state")
    async def state() -> JsonDict:
        return ctx.state.snapshot()

    @router.post("/reset")
    async def reset(request: ResetRequest | None = None) -> JsonDict:
        request = request or ResetRequest()
        # Callbacks still in flight from before the reset would pollute the fresh state.
        await ctx.zapi_emitter.cancel_pending()
        await ctx.meta_emitter.cancel_pending()
        ctx.state.reset(clear_webhooks=request.webhooks)
        return {"reset": True, "webhooks_cleared": request.webhooks}

    return router
