"""Scripted OpenAI-compatible speech-to-text (TEST/SANDBOX ONLY).

`POST /v1/audio/transcriptions` takes OpenAI's multipart form (`file`, `model`, `language`,
`response_format`) and answers `{"text": ...}` with the next transcript a test scripted via
`POST /_sandbox/transcription/script`, or with a fixed text that says it is sandbox output.
It never listens to the audio: it checks what OpenAI checks (a Bearer key, a file whose
extension is on OpenAI's list, a model) and records the request without the audio's bytes.
Faults (`POST /_sandbox/transcription/faults`) work like the chat model's.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from seleto_agent.sandbox.context import SandboxContext
from seleto_agent.sandbox.model import ModelFaultsRequest
from seleto_agent.sandbox.model_replies import error_body

JsonDict = dict[str, Any]

# OpenAI: "Supported formats: flac, m4a, mp3, mp4, mpeg, mpga, oga, ogg, wav, webm"; it picks
# the decoder from the file name's extension.
ACCEPTED_EXTENSIONS = frozenset(
    {"flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm"}
)
RESPONSE_FORMATS = frozenset({"json", "text"})


class TranscriptScript(BaseModel):
    texts: list[str] = Field(min_length=1)


def _error(status: int, message: str, error_type: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse(error_body(message, error_type), status_code=status)


def build_transcription_router(ctx: SandboxContext) -> APIRouter:
    router = APIRouter(tags=["sandbox: model"])
    state = ctx.state.transcription

    @router.post("/v1/audio/transcriptions", response_model=None)
    async def transcriptions(request: Request) -> Response:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return _error(401, "You didn't provide an API key.")
        try:
            form = await request.form()
        except Exception:  # not multipart at all
            return _error(400, "request body must be multipart/form-data")
        upload = form.get("file")
        model = form.get("model")
        language = form.get("language")
        response_format = str(form.get("response_format") or "json")
        data = await upload.read() if isinstance(upload, UploadFile) else b""
        filename = upload.filename if isinstance(upload, UploadFile) else None
        state.record_request(
            {
                "model": model if isinstance(model, str) else None,
                "language": language if isinstance(language, str) else None,
                "response_format": response_format,
                "filename": filename,
                "content_type": upload.content_type if isinstance(upload, UploadFile) else None,
                "bytes": len(data),
                # Enough to tell which file was sent, without keeping the audio.
                "head_hex": data[:8].hex(),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
        if not isinstance(model, str) or not model:
            return _error(400, "you must provide a model parameter")
        if not data or not filename:
            return _error(400, "you must provide a file")
        extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        if extension not in ACCEPTED_EXTENSIONS:
            formats = ", ".join(sorted(ACCEPTED_EXTENSIONS))
            return _error(400, f"Invalid file format. Supported formats: [{formats}]")
        if response_format not in RESPONSE_FORMATS:
            return _error(400, f"response_format {response_format!r} not supported by sandbox")
        plan = state.take_fault_plan()
        if plan.delay_seconds > 0:
            await asyncio.sleep(plan.delay_seconds)
        if plan.fail_status is not None:
            return _error(plan.fail_status, "sandbox injected failure", "server_error")
        text = state.next_transcript()
        if response_format == "text":
            return PlainTextResponse(text)
        return JSONResponse({"text": text})

    @router.post("/_sandbox/transcription/script", tags=["sandbox: control"])
    async def push_script(request: TranscriptScript) -> JsonDict:
        return {"queued": state.push_script(request.texts)}

    @router.post("/_sandbox/transcription/faults", tags=["sandbox: control"])
    async def set_faults(request: ModelFaultsRequest) -> JsonDict:
        state.update_faults(**request.model_dump(exclude_none=True))
        faults: JsonDict = state.snapshot()["faults"]
        return faults

    return router
