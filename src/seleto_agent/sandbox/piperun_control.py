"""Test-driving endpoints of the PipeRun simulator under `/_sandbox/piperun/` (not PipeRun's).

- `POST /faults`: queue scripted faults and set knobs (`down`, rate limit, stage rule,
  trailing cursor, the item shape persons take in their contact lists, alphanumeric CNPJs,
  whether a PUT of contact lists replaces or appends).
- `POST /seed/{companies|persons|deals|notes}`: create a record as if someone had typed it in
  PipeRun (same validation, no token, not logged as a request, no faults).
- `GET /state`, `POST /reset`: this simulator's section only.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from seleto_agent.sandbox.context import SandboxContext
from seleto_agent.sandbox.piperun import PREFIX
from seleto_agent.sandbox.piperun_protocol import Call, Refusal
from seleto_agent.sandbox.piperun_resources import SEEDABLE
from seleto_agent.sandbox.piperun_state import PipeRunFault

JsonDict = dict[str, Any]

_KNOBS = (
    "down",
    "rate_limit_per_minute",
    "rate_limit_window_seconds",
    "stage_must_match_pipeline",
    "auth_error_status",
    "trailing_cursor",
    "person_contact_items",
    "alphanumeric_cnpj",
    "contact_lists_on_put",
)


class FaultSpec(BaseModel):
    method: Literal["GET", "POST", "PUT", "*"] = "*"
    # Path prefix under /v1 ("/companies" also matches "/companies/12"); "/v1/..." is accepted.
    path: str = Field(default="/", pattern=r"^/")
    status: int | None = Field(default=None, ge=100, le=599)
    # JSON to answer with, or a string sent as text/html; None = the status' usual body.
    body: Any = None
    retry_after: float | None = Field(default=None, ge=0)
    delay_seconds: float = Field(default=0.0, ge=0)
    truncated: bool = False
    after_commit: bool = False
    # The same fault this many times in a row.
    times: int = Field(default=1, ge=1, le=1000)

    def faults(self) -> list[PipeRunFault]:
        path = self.path.removeprefix(PREFIX) or "/"
        fields = self.model_dump(exclude={"times", "path"})
        return [PipeRunFault(path=path, **fields) for _ in range(self.times)]


class FaultsRequest(BaseModel):
    """Faults are appended to the queue (`clear` empties it first); knobs change when sent.
    `rate_limit_per_minute: null` turns the rate limit off."""

    queue: list[FaultSpec] = Field(default_factory=list)
    clear: bool = False
    down: bool | None = None
    rate_limit_per_minute: int | None = Field(default=None, ge=1)
    rate_limit_window_seconds: float | None = Field(default=None, gt=0)
    stage_must_match_pipeline: bool | None = None
    auth_error_status: int | None = Field(default=None, ge=400, le=599)
    trailing_cursor: bool | None = None
    person_contact_items: Literal["strings", "objects"] | None = None
    alphanumeric_cnpj: bool | None = None
    contact_lists_on_put: Literal["append", "replace"] | None = None


def build_piperun_control_router(ctx: SandboxContext) -> APIRouter:
    router = APIRouter(prefix="/_sandbox/piperun", tags=["sandbox: control"])
    piperun = ctx.state.piperun

    @router.post("/faults")
    async def set_faults(request: FaultsRequest) -> JsonDict:
        faults = [fault for spec in request.queue for fault in spec.faults()]
        piperun.queue_faults(faults, clear=request.clear)
        changes = {
            name: getattr(request, name)
            for name in _KNOBS
            if name in request.model_fields_set
            and (getattr(request, name) is not None or name == "rate_limit_per_minute")
        }
        knobs = piperun.update_knobs(**changes)
        queued: list[JsonDict] = piperun.snapshot()["faults"]["queue"]
        return {"queue": queued, **asdict(knobs)}

    @router.post("/seed/{resource}", response_model=None)
    async def seed(resource: str, payload: Annotated[JsonDict, Body()]) -> JsonDict | JSONResponse:
        handler = SEEDABLE.get(resource)
        if handler is None:
            raise HTTPException(404, f"resource must be one of {sorted(SEEDABLE)}")
        call = Call(body=payload, knobs=piperun.knobs)
        with piperun.transaction() as store:
            try:
                reply = handler(store, call)
            except Refusal as refusal:
                return JSONResponse(refusal.reply.body, status_code=refusal.reply.status)
        data = reply.body["data"]
        record: JsonDict = data[0] if isinstance(data, list) else data
        return record

    @router.get("/state")
    async def state() -> JsonDict:
        return piperun.snapshot()

    @router.post("/reset")
    async def reset() -> JsonDict:
        piperun.reset(clear_webhooks=False)
        return {"reset": True}

    return router
