"""`seleto-agent piperun discover`: the PipeRun ids an operator needs to fill the env.

PIPERUN_PIPELINE_ID, PIPERUN_STAGE_ID, PIPERUN_ORIGIN_ID and PIPERUN_OWNER_ID are ids from the
client's account; this prints them as plain tables so nobody has to dig through PipeRun's UI.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

import httpx

from seleto_agent.integrations.piperun import (
    PipeRunAuthError,
    PipeRunClient,
    PipeRunError,
    PipeRunUnavailable,
    build_piperun_client,
)
from seleto_agent.integrations.piperun.schemas import Origin, Pipeline, Stage, User
from seleto_agent.settings import Settings


@dataclass(frozen=True, slots=True)
class Discovery:
    pipelines: list[Pipeline]
    stages: list[Stage]
    origins: list[Origin]
    users: list[User]


async def discover(client: PipeRunClient) -> Discovery:
    return Discovery(
        pipelines=await client.list_pipelines(),
        stages=await client.list_stages(),
        origins=await client.list_origins(),
        users=await client.list_users(),
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], indent: str = "") -> str:
    """Columns padded to their widest cell; no trailing spaces."""
    cells = [[str(value) for value in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        indent + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in cells
    ]
    return "\n".join(line.rstrip() for line in lines)


def render(found: Discovery) -> str:
    sections = [
        "PIPELINES (PIPERUN_PIPELINE_ID)",
        table(["id", "name"], [(p.id, p.name) for p in found.pipelines]),
        "",
        "STAGES (PIPERUN_STAGE_ID), by pipeline",
    ]
    names = {pipeline.id: pipeline.name for pipeline in found.pipelines}
    pipeline_ids = list(names) + sorted(
        {s.pipeline_id for s in found.stages if s.pipeline_id not in names}, key=lambda i: i or 0
    )
    for pipeline_id in pipeline_ids:
        stages = sorted(
            (s for s in found.stages if s.pipeline_id == pipeline_id),
            key=lambda s: (s.order if s.order is not None else 0, s.id),
        )
        if not stages:
            continue
        sections.append(f"pipeline {pipeline_id}  {names.get(pipeline_id or 0, '?')}")
        rows = [(s.id, s.order if s.order is not None else "", s.name) for s in stages]
        sections.append(table(["id", "order", "name"], rows, indent="  "))
    sections += [
        "",
        "ORIGINS (PIPERUN_ORIGIN_ID)",
        table(["id", "name"], [(o.id, o.name) for o in found.origins]),
        "",
        "USERS (PIPERUN_OWNER_ID)",
        table(
            ["id", "name", "email", "active"],
            [(u.id, u.name, u.email or "", "yes" if u.active else "no") for u in found.users],
        ),
    ]
    return "\n".join(sections) + "\n"


async def run_discover(settings: Settings, *, out: TextIO, err: TextIO) -> int:
    """Exit code: 0 printed, 1 PipeRun refused or unreachable, 2 not configured."""
    async with httpx.AsyncClient() as http:
        client = build_piperun_client(settings, http)
        if client is None:
            print("PIPERUN_TOKEN is not set; nothing to discover.", file=err)
            return 2
        try:
            found = await discover(client)
        except PipeRunAuthError as exc:
            print(
                f"PipeRun refused the token (HTTP {exc.status_code}); check PIPERUN_TOKEN.",
                file=err,
            )
            return 1
        except PipeRunUnavailable as exc:
            print(f"PipeRun is unavailable at {settings.piperun_base_url}: {exc}", file=err)
            return 1
        except PipeRunError as exc:
            print(f"PipeRun refused the request: {exc}", file=err)
            return 1
    out.write(render(found))
    return 0
