"""Ops API for runtime flags (`/admin/flags*`): the kill switch and the per-channel switches."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, StrictBool

from seleto_agent.api.admin import ADMIN_ACTOR, AdminDep
from seleto_agent.api.errors import NotFound
from seleto_agent.api.strict_json import StrictJsonRoute
from seleto_agent.domain.flags import UnknownFlag
from seleto_agent.services.flags import FlagView

router = APIRouter(prefix="/admin", route_class=StrictJsonRoute)


class FlagUpdate(BaseModel):
    # `"false"` or 0 for a kill switch is a typo to refuse, not a value to guess at.
    model_config = ConfigDict(extra="forbid")
    enabled: StrictBool


def flag_item(view: FlagView) -> dict[str, Any]:
    return {
        "name": view.name,
        "enabled": view.enabled,
        "source": view.source,
        "default": view.default,
        "description": view.description,
        "updated_at": view.updated_at.isoformat() if view.updated_at else None,
        "updated_by": view.updated_by,
    }


@router.get("/flags")
async def list_flags(runtime: AdminDep) -> dict[str, Any]:
    return {"items": [flag_item(v) for v in await runtime.flags.views()]}


@router.put("/flags/{name}")
async def set_flag(name: str, body: FlagUpdate, runtime: AdminDep) -> dict[str, Any]:
    try:
        view = await runtime.flags.set(name, enabled=body.enabled, actor=ADMIN_ACTOR)
    except UnknownFlag as exc:
        raise NotFound(f"no flag named {name!r}; GET /admin/flags lists them") from exc
    return flag_item(view)
