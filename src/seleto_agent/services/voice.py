"""Voice notes of a turn: download, measure, transcribe, and store the transcript as the text.

Called by the turn (`services/turn.py`) for the burst's pending events, before the agent's
input is written. Each voice note ends in one of two stored states, written in its own
transaction as soon as it is known, so a later attempt of the turn (a model or send failure, a
crash) reuses it and never downloads or transcribes that audio again:

- transcribed: `body_text` = transcript, `body_is_transcript` = true;
- unusable: `media_error` = a reason code (`domain/voice.py`).

A failure that a later attempt may fix (download timeout or 5xx, transcription 5xx after the
client's own retries) stores nothing and raises `VoiceNoteNotReady`, so the turn goes back to
the worker's retry and backoff. On the event's last attempt the same failure is stored as
unusable instead, so the lead is asked to type rather than left unanswered.

The audio bytes live only in memory for the length of one call. Logs carry sizes, durations,
formats and reason codes; never the URL or what was said.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from seleto_agent.db.repositories.events import EventRecord, EventRepository
from seleto_agent.domain.events import ContentKind
from seleto_agent.domain.turns import TurnMessage
from seleto_agent.domain.voice import AudioProblem, is_silence_transcript
from seleto_agent.integrations.media.errors import MediaError
from seleto_agent.integrations.media.sniff import AudioInfo, inspect_audio
from seleto_agent.integrations.openai_audio.client import TranscriptionError
from seleto_agent.observability.errors import describe_error
from seleto_agent.observability.logging import get_logger
from seleto_agent.services.audio_sources import AudioSource

log = get_logger(__name__)

# Voice notes of one burst fetched at once; a burst rarely holds more than two or three.
_CONCURRENT_NOTES = 3


class Transcriber(Protocol):
    async def create_transcription(
        self, *, audio: bytes, filename: str, content_type: str, model: str, language: str
    ) -> str: ...


class VoiceNoteNotReady(Exception):
    """A voice note failed in a way a later attempt may fix; the turn is retried."""

    retryable = True

    def __init__(self, problem: AudioProblem) -> None:
        # The message is what lands in `last_error`: the reason code, nothing personal.
        super().__init__(problem.value)
        self.problem = problem


@dataclass(frozen=True, slots=True)
class VoiceConfig:
    transcribe_model: str
    fallback_model: str | None
    max_seconds: float
    # INBOUND_MAX_ATTEMPTS: on an event's last attempt a retryable failure becomes final.
    max_attempts: int
    language: str = "pt"

    @property
    def models(self) -> tuple[str, ...]:
        fallback = (self.fallback_model or "").strip()
        if fallback.lower() not in ("", "none", "off") and fallback != self.transcribe_model:
            return (self.transcribe_model, fallback)
        return (self.transcribe_model,)


@dataclass(frozen=True, slots=True)
class ResolvedBurst:
    """The burst's messages in arrival order, voice notes as text or marked unusable."""

    messages: list[TurnMessage]

    @property
    def only_unusable_audio(self) -> bool:
        """Nothing the agent could answer: every message is a voice note that failed."""
        return bool(self.messages) and all(m.unusable for m in self.messages)

    @property
    def only_unsupported(self) -> bool:
        """Nothing the agent could answer: every message is one WhatsApp could not hand over."""
        return bool(self.messages) and all(m.kind is ContentKind.UNSUPPORTED for m in self.messages)


class _Failure(Exception):
    def __init__(self, problem: AudioProblem, retryable: bool, detail: str) -> None:
        super().__init__(detail)
        self.problem = problem
        self.retryable = retryable
        self.detail = detail


class VoiceService:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        sources: Mapping[str, AudioSource],
        transcriber: Transcriber,
        config: VoiceConfig,
    ) -> None:
        self._engine = engine
        # By provider: where a stored payload's voice note is fetched from.
        self._sources = sources
        self._transcriber = transcriber
        self._config = config
        self._slots = asyncio.Semaphore(_CONCURRENT_NOTES)

    async def resolve(self, events: Sequence[EventRecord]) -> ResolvedBurst:
        """Messages for the turn; raises VoiceNoteNotReady when a note should be retried."""
        results = await asyncio.gather(*(self._message(e) for e in events), return_exceptions=True)
        not_ready: VoiceNoteNotReady | None = None
        for result in results:
            if isinstance(result, VoiceNoteNotReady):
                not_ready = not_ready or result
            elif isinstance(result, BaseException):
                raise result
        # Raised only after every note settled, so the ones that did finish are stored.
        if not_ready is not None:
            raise not_ready
        return ResolvedBurst(messages=[r for r in results if isinstance(r, TurnMessage)])

    async def _message(self, event: EventRecord) -> TurnMessage:
        kind = ContentKind(event.content_kind or "other")
        if kind is not ContentKind.AUDIO or event.body_is_transcript:
            return TurnMessage(event.id, kind, event.body_text or "")
        if event.media_error:
            # Settled by an earlier attempt: never fetched again.
            return TurnMessage(event.id, kind, "", unusable=True)
        async with self._slots:
            return await self._transcribe_event(event)

    async def _transcribe_event(self, event: EventRecord) -> TurnMessage:
        started = time.perf_counter()
        try:
            audio = await self._fetch(event)
            info = inspect_audio(audio, max_seconds=self._config.max_seconds)
            fetched = time.perf_counter()
            text, model = await self._transcribe(audio, info)
        except MediaError as exc:
            failure = _Failure(exc.problem, exc.retryable, exc.detail)
        except _Failure as exc:
            failure = exc
        else:
            await self._store_transcript(event.id, text)
            log.info(
                "voice.transcribed",
                event_id=event.id,
                format=info.format.value,
                seconds=round(info.seconds, 1),
                bytes=len(audio),
                model=model,
                download_ms=round((fetched - started) * 1000),
                transcribe_ms=round((time.perf_counter() - fetched) * 1000),
                chars=len(text),
            )
            return TurnMessage(event.id, ContentKind.AUDIO, text)
        # `attempts` was read when the turn was claimed, before the claim counted this attempt.
        last_attempt = event.attempts + 1 >= self._config.max_attempts
        if failure.retryable and not last_attempt:
            log.warning(
                "voice.retry",
                event_id=event.id,
                reason=failure.problem.value,
                detail=failure.detail,
                attempt=event.attempts + 1,
            )
            raise VoiceNoteNotReady(failure.problem)
        await self._store_problem(event.id, failure.problem)
        log.warning(
            "voice.unusable",
            event_id=event.id,
            reason=failure.problem.value,
            detail=failure.detail,
        )
        return TurnMessage(event.id, ContentKind.AUDIO, "", unusable=True)

    async def _fetch(self, event: EventRecord) -> bytes:
        async with self._engine.connect() as conn:
            payload = await EventRepository(conn).get_payload(event.id)
        source = self._sources.get(event.provider)
        try:
            body = json.loads(payload or b"")
        except ValueError:
            body = None
        if source is None or not isinstance(body, dict):
            raise _Failure(AudioProblem.DOWNLOAD_FAILED, False, "no readable audio payload")
        return await source.fetch(body, event.message_id)

    async def _transcribe(self, audio: bytes, info: AudioInfo) -> tuple[str, str]:
        """Text and model: the main model first, then the fallback on any failure or silence."""
        failures: list[_Failure] = []
        for model in self._config.models:
            try:
                text = await self._transcriber.create_transcription(
                    audio=audio,
                    filename=info.upload_name,
                    content_type=info.content_type,
                    model=model,
                    language=self._config.language,
                )
            except TranscriptionError as exc:
                failures.append(
                    _Failure(
                        AudioProblem.TRANSCRIPTION_FAILED,
                        exc.retryable,
                        f"{model}: {describe_error(exc)}",
                    )
                )
                continue
            if is_silence_transcript(text):
                failures.append(_Failure(AudioProblem.NO_SPEECH, False, f"{model}: no speech"))
                continue
            return text.strip(), model
        # Retry later if any model might answer then; else silence says more than a 400 does.
        return_later = [f for f in failures if f.retryable]
        silent = [f for f in failures if f.problem is AudioProblem.NO_SPEECH]
        raise (return_later or silent or failures)[0]

    async def _store_transcript(self, event_id: int, text: str) -> None:
        async with self._engine.begin() as conn:
            await EventRepository(conn).record_transcript(
                event_id, text=text, now=datetime.now(UTC)
            )

    async def _store_problem(self, event_id: int, problem: AudioProblem) -> None:
        async with self._engine.begin() as conn:
            await EventRepository(conn).record_media_error(
                event_id, reason=problem.value, now=datetime.now(UTC)
            )
