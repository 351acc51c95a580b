"""Z-API media storage simulator (TEST/SANDBOX ONLY): serves the files `audioUrl` points at.

`GET /file/temp-file-download/instances/{instance}/{media_id}/{name}` serves real bytes held
in memory (an OGG/Opus voice note by default for emitted audio callbacks). Tests drive it under
`/_sandbox/zapi/media/`:

- `PUT .../{media_id}` with the file as the raw body (and its Content-Type) stores a file and
  answers its URL;
- `POST .../{media_id}/behaviour` sets knobs: `expired` (404, as after Z-API's 30 days),
  `redirect_to`, `delay_seconds`, `chunk_delay_seconds` (serve slowly), `declare_length`,
  `generate_bytes` (a huge body made on the fly), `fail_statuses` (e.g. `[503]`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from seleto_agent.sandbox.context import SandboxContext
from seleto_agent.sandbox.zapi_media_state import (
    MEDIA_PATH_PREFIX,
    MediaItem,
    MediaRequest,
    ZapiMediaState,
    media_path,
)

JsonDict = dict[str, Any]

# A ~3.6 s pt-BR voice note made with espeak-ng (tests/fixtures/audio/make_fixtures.sh).
SAMPLE_VOICE_NOTE = "voice_note_pt_br.ogg"
_EXTENSIONS = {"audio/ogg": "ogg", "audio/mpeg": "mp3", "audio/mp4": "m4a", "audio/wav": "wav"}


def sample_voice_note() -> bytes:
    return (resources.files("seleto_agent.sandbox") / "media" / SAMPLE_VOICE_NOTE).read_bytes()


class MediaBehaviour(BaseModel):
    """Only the fields sent change."""

    expired: bool | None = None
    redirect_to: str | None = None
    delay_seconds: float | None = Field(default=None, ge=0)
    chunk_delay_seconds: float | None = Field(default=None, ge=0)
    chunk_bytes: int | None = Field(default=None, ge=1)
    declare_length: bool | None = None
    generate_bytes: int | None = Field(default=None, ge=0)
    fail_statuses: list[int] | None = None
    content_type: str | None = None


def media_url(ctx: SandboxContext, media_id: str, content_type: str = "audio/ogg") -> str:
    extension = _EXTENSIONS.get(content_type.split(";")[0].strip(), "bin")
    path = media_path(ctx.config.zapi_instance_id, media_id, extension)
    return f"{ctx.config.public_base_url}{path}"


def register_sample_voice_note(ctx: SandboxContext, media_id: str) -> str:
    """Hold the sample voice note under `media_id` (unless a test stored a file there)."""
    media = ctx.state.zapi_media
    if media.get(media_id) is None:
        media.put(media_id, data=sample_voice_note(), content_type="audio/ogg; codecs=opus")
    return media_url(ctx, media_id)


async def _body(
    request: Request, media: ZapiMediaState, item: MediaItem, record: MediaRequest
) -> AsyncIterator[bytes]:
    # uvicorn keeps accepting writes after the client hung up, so the generator checks: once
    # the client is gone it stops, `bytes_sent` says how much was handed over before that, and
    # `completed` stays false.
    size, step = item.size, item.chunk_bytes
    zeros = b"\0" * step if item.generate_bytes is not None else b""
    for offset in range(0, size, step):
        if item.chunk_delay_seconds > 0 and offset:
            await asyncio.sleep(item.chunk_delay_seconds)
        if item.generate_bytes is not None:
            chunk = zeros[: min(step, size - offset)]
        else:
            chunk = item.data[offset : offset + step]
        if await request.is_disconnected():
            return
        yield chunk
        media.add_sent(record, len(chunk))
    media.finish(record)


def build_zapi_media_router(ctx: SandboxContext) -> APIRouter:
    router = APIRouter(tags=["sandbox: zapi media"])
    media = ctx.state.zapi_media

    @router.get(MEDIA_PATH_PREFIX + "/{instance_id}/{media_id}/{filename}", response_model=None)
    async def serve(request: Request, instance_id: str, media_id: str, filename: str) -> Response:
        del instance_id, filename  # only the id finds the file
        item = media.get(media_id)
        if item is not None and item.delay_seconds > 0:
            await asyncio.sleep(item.delay_seconds)
        fail_status = media.take_fail_status(media_id)
        if item is None or item.expired or fail_status is not None:
            status = fail_status or 404
            media.start_request(media_id, status)
            return JSONResponse({"code": "not_found", "status": status}, status_code=status)
        if item.redirect_to:
            media.start_request(media_id, 302)
            return RedirectResponse(item.redirect_to, status_code=302)
        record = media.start_request(media_id, 200)
        headers = {"Content-Length": str(item.size)} if item.declare_length else {}
        return StreamingResponse(
            _body(request, media, item, record), media_type=item.content_type, headers=headers
        )

    @router.put("/_sandbox/zapi/media/{media_id}", tags=["sandbox: control"])
    async def upload(media_id: str, request: Request) -> JsonDict:
        content_type = request.headers.get("content-type", "application/octet-stream")
        data = await request.body()
        media.put(media_id, data=data, content_type=content_type, generate_bytes=None)
        return {
            "media_id": media_id,
            "bytes": len(data),
            "url": media_url(ctx, media_id, content_type),
        }

    @router.post("/_sandbox/zapi/media/{media_id}/behaviour", tags=["sandbox: control"])
    async def behaviour(media_id: str, request: MediaBehaviour) -> JsonDict:
        changes = request.model_dump(exclude_none=True)
        if "fail_statuses" in changes:
            changes["fail_statuses"] = tuple(changes["fail_statuses"])
        item = media.put(media_id, **changes)
        return {"media_id": media_id, **item.describe(), "url": media_url(ctx, media_id)}

    return router
