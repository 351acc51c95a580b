"""Ops API for outbox jobs (`/admin/jobs*`): list, inspect (with vendor field errors), replay."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from seleto_agent.api.admin import (
    ADMIN_ACTOR,
    MAX_PAGE,
    AdminDep,
    RowIdPath,
    RowIds,
    replay_body,
)
from seleto_agent.api.cursors import decode_cursor, encode_cursor
from seleto_agent.api.errors import InvalidPayload, NotFound
from seleto_agent.api.strict_json import StrictJsonRoute
from seleto_agent.api.views import job_item
from seleto_agent.db.repositories.jobs import JobRepository
from seleto_agent.domain.jobs import JobKind, JobStatus

router = APIRouter(prefix="/admin", route_class=StrictJsonRoute)


@router.get("/jobs")
async def list_jobs(
    runtime: AdminDep,
    status: JobStatus | None = None,
    kind: JobKind | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    before_id = decode_cursor(cursor) if cursor else None
    async with runtime.engine.connect() as conn:
        jobs = await JobRepository(conn).list_page(
            status=status, kind=kind, limit=limit + 1, before_id=before_id
        )
    page = jobs[:limit]
    return {
        "items": [job_item(j) for j in page],
        "next_cursor": encode_cursor(page[-1].id) if len(jobs) > limit and page else None,
    }


@router.get("/jobs/{job_id}")
async def get_job(job_id: RowIdPath, runtime: AdminDep) -> dict[str, Any]:
    async with runtime.engine.connect() as conn:
        job = await JobRepository(conn).get(job_id)
    if job is None:
        raise NotFound(f"job {job_id} not found")
    return job_item(job)


class JobReplayRequest(BaseModel):
    ids: RowIds = None
    status: JobStatus | None = None
    kind: JobKind | None = None
    dry_run: bool = False


@router.post("/jobs/{job_id}/replay", status_code=202)
async def replay_job(job_id: RowIdPath, runtime: AdminDep) -> dict[str, Any]:
    result = await runtime.job_replay.replay(ids=[job_id], actor=ADMIN_ACTOR)
    if result.not_found:
        raise NotFound(f"job {job_id} not found")
    return replay_body(result, False)


@router.post("/jobs/replay", status_code=202)
async def replay_jobs(body: JobReplayRequest, runtime: AdminDep) -> dict[str, Any]:
    if not body.ids and body.status is None:
        raise InvalidPayload('give "ids" or "status"')
    result = await runtime.job_replay.replay(
        ids=body.ids, status=body.status, kind=body.kind, dry_run=body.dry_run, actor=ADMIN_ACTOR
    )
    return replay_body(result, body.dry_run)
