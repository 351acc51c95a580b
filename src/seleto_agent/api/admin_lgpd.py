"""Ops API for data-subject requests (`/admin/lgpd/{phone}/...`, Bearer ADMIN_TOKEN)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from seleto_agent.api.admin import ADMIN_ACTOR, AdminDep
from seleto_agent.api.errors import Conflict, InvalidPayload, NotFound
from seleto_agent.api.strict_json import StrictJsonRoute
from seleto_agent.domain.lgpd import UnknownSubject
from seleto_agent.services.lgpd import LgpdService, SubjectBusy

router = APIRouter(prefix="/admin/lgpd", route_class=StrictJsonRoute)


class DeleteRequest(BaseModel):
    confirm: bool = False


@router.get("/{phone}/export")
async def export(phone: str, runtime: AdminDep) -> dict[str, Any]:
    try:
        return await LgpdService(runtime.engine).export(phone, actor=ADMIN_ACTOR)
    except UnknownSubject as exc:
        raise NotFound(str(exc)) from exc


@router.post("/{phone}/delete")
async def delete(phone: str, body: DeleteRequest, runtime: AdminDep) -> dict[str, Any]:
    if not body.confirm:
        raise InvalidPayload('erasure cannot be undone: send {"confirm": true}')
    try:
        erasure = await LgpdService(runtime.engine).delete(phone, actor=ADMIN_ACTOR)
    except UnknownSubject as exc:
        raise NotFound(str(exc)) from exc
    except SubjectBusy as exc:
        raise Conflict(f"{exc}; try again in a minute") from exc
    return erasure.as_dict()
