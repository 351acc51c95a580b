"""Where each provider keeps a voice note's bytes, read from the stored webhook payload.

Z-API puts a download URL in the callback (kept 30 days); the Cloud API gives a media id that is
turned into a 5-minute URL just before the download, with the access token on both calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from seleto_agent.domain.voice import AudioProblem
from seleto_agent.integrations.media.download import MediaDownloader
from seleto_agent.integrations.media.errors import MediaError
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
        media_id = meta_audio_id(body, message_id)
        if media_id is None:
            raise NoAudioInPayload("payload has no audio media id")
        return (await self._client.fetch_media(media_id)).data


def meta_audio_id(body: dict[str, Any], message_id: str | None) -> str | None:
    """The media id of message `message_id`'s audio: one body may batch several messages."""
    for message in _meta_messages(body):
        audio = message.get("audio")
        if message.get("id") == message_id and isinstance(audio, dict):
            media_id = audio.get("id")
            return media_id if isinstance(media_id, str) and media_id else None
    return None


def _meta_messages(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for entry in _dicts(body.get("entry")):
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            if isinstance(value, dict):
                yield from _dicts(value.get("messages"))


def _dicts(value: object) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))
