"""Where each provider keeps a voice note's bytes, read from the stored webhook payload.

Z-API puts a download URL in the callback (kept 30 days); the Cloud API gives a media id that is
turned into a 5-minute URL just before the download, with the access token on both calls.
"""

from __future__ import annotations

from typing import Any, Protocol

from seleto_agent.domain.voice import AudioProblem
from seleto_agent.integrations.media.download import MediaDownloader
from seleto_agent.integrations.media.errors import MediaError
from seleto_agent.integrations.meta import adapter as meta_adapter
from seleto_agent.integrations.meta.client import MetaClient
from seleto_agent.integrations.zapi import adapter as zapi_adapter


class NoAudioInPayload(MediaError):
    """The stored payload names no voice note to fetch: nothing a retry could change."""

    retryable = False
    problem = AudioProblem.DOWNLOAD_FAILED


class AudioSource(Protocol):
    async def fetch(self, body: dict[str, Any], message_id: str | None) -> bytes: ...


class ZApiAudio:
    def __init__(self, downloader: MediaDownloader) -> None:
        self._downloader = downloader

    async def fetch(self, body: dict[str, Any], message_id: str | None) -> bytes:
        url = zapi_adapter.audio_url(body)
        if url is None:
            raise NoAudioInPayload("payload has no audio url")
        return (await self._downloader.fetch(url)).data


class MetaAudio:
    def __init__(self, client: MetaClient) -> None:
        self._client = client

    async def fetch(self, body: dict[str, Any], message_id: str | None) -> bytes:
        ref = meta_adapter.audio_ref(body, message_id) if message_id else None
        if ref is None or ref.media_id is None:
            raise NoAudioInPayload("payload has no audio media id")
        return (await self._client.fetch_media(ref.media_id)).data
