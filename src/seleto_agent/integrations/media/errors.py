"""Typed failures of a media download or inspection, each mapped to a stored reason code.

Messages never include the URL (it may carry a token) or any of the content.
"""

from __future__ import annotations

from seleto_agent.domain.voice import AudioProblem


class MediaError(Exception):
    """A voice note could not be fetched or read. `retryable`: a later attempt may succeed."""

    problem: AudioProblem = AudioProblem.DOWNLOAD_FAILED
    retryable: bool = False

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class MediaBlocked(MediaError):
    """Scheme, host or resolved address not allowed (SSRF guard); nothing was fetched from it."""

    problem = AudioProblem.BLOCKED_HOST


class MediaTooLarge(MediaError):
    problem = AudioProblem.TOO_LARGE

    def __init__(self, detail: str, *, bytes_read: int) -> None:
        super().__init__(detail)
        self.bytes_read = bytes_read


class MediaExpired(MediaError):
    """404/410: Z-API deletes media 30 days after it arrived (contracts/zapi.md §2.2)."""

    problem = AudioProblem.EXPIRED


class MediaUnavailable(MediaError):
    """Timeout, network failure, 5xx, 408 or 429: worth another attempt later."""

    retryable = True


class MediaRejected(MediaError):
    """Any other error status (401, 403...): trying again will not help."""


class MediaUnsupported(MediaError):
    """The bytes are not audio we can measure and transcribe."""

    problem = AudioProblem.UNSUPPORTED


class MediaTooLong(MediaError):
    problem = AudioProblem.TOO_LONG

    def __init__(self, detail: str, *, seconds: float) -> None:
        super().__init__(detail)
        self.seconds = seconds
