"""Media files held by the Z-API simulator (TEST/SANDBOX ONLY), and how each one misbehaves.

Every GET of a media path is recorded with the bytes actually sent, so a test can show that a
client stopped reading at its limit, or never connected at all.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from seleto_agent.sandbox.zapi_state import utc_now_iso

JsonDict = dict[str, Any]

# Z-API media links seen in public callback captures have this shape (on Backblaze B2):
# /file/temp-file-download/instances/<instance id>/<id>/<random>==.ogg
MEDIA_PATH_PREFIX = "/file/temp-file-download/instances"


@dataclass(frozen=True, slots=True)
class MediaItem:
    """One file and the knobs a test set on it."""

    data: bytes = b""
    content_type: str = "audio/ogg; codecs=opus"
    # Serve this many zero bytes (generated, never stored) instead of `data`: oversize tests.
    generate_bytes: int | None = None
    # Z-API deletes media after 30 days: the file then answers 404.
    expired: bool = False
    # Answer 302 to this URL instead of the file.
    redirect_to: str | None = None
    # Seconds before the response starts, and between chunks ("serve slowly").
    delay_seconds: float = 0.0
    chunk_delay_seconds: float = 0.0
    chunk_bytes: int = 64 * 1024
    # False: no Content-Length header (chunked), so a client must count while it reads.
    declare_length: bool = True
    # Statuses answered by the next requests, one each, before the file is served (e.g. 503).
    fail_statuses: tuple[int, ...] = ()

    @property
    def size(self) -> int:
        return self.generate_bytes if self.generate_bytes is not None else len(self.data)

    def describe(self) -> JsonDict:
        described = asdict(self)
        described.pop("data")
        described["size"] = self.size
        return described


@dataclass(slots=True)
class MediaRequest:
    media_id: str
    status: int
    bytes_sent: int = 0
    completed: bool = False
    at: str = field(default_factory=utc_now_iso)


class ZapiMediaState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, MediaItem] = {}
        self._requests: list[MediaRequest] = []

    def reset(self, *, clear_webhooks: bool) -> None:
        del clear_webhooks
        with self._lock:
            self._items.clear()
            self._requests.clear()

    def snapshot(self) -> JsonDict:
        with self._lock:
            return {
                "items": {media_id: item.describe() for media_id, item in self._items.items()},
                "requests": [asdict(r) for r in self._requests],
            }

    def put(self, media_id: str, **changes: Any) -> MediaItem:
        with self._lock:
            item = replace(self._items.get(media_id, MediaItem()), **changes)
            self._items[media_id] = item
            return item

    def get(self, media_id: str) -> MediaItem | None:
        with self._lock:
            return self._items.get(media_id)

    def take_fail_status(self, media_id: str) -> int | None:
        with self._lock:
            item = self._items.get(media_id)
            if item is None or not item.fail_statuses:
                return None
            self._items[media_id] = replace(item, fail_statuses=item.fail_statuses[1:])
            return item.fail_statuses[0]

    def start_request(self, media_id: str, status: int) -> MediaRequest:
        request = MediaRequest(media_id=media_id, status=status)
        with self._lock:
            self._requests.append(request)
        return request

    def add_sent(self, request: MediaRequest, count: int) -> None:
        with self._lock:
            request.bytes_sent += count

    def finish(self, request: MediaRequest) -> None:
        with self._lock:
            request.completed = True


def media_path(instance_id: str, media_id: str, extension: str = "ogg") -> str:
    """A Z-API-looking media path; only `media_id` is used to find the file."""
    return f"{MEDIA_PATH_PREFIX}/{instance_id}/{media_id}/{secrets.token_urlsafe(16)}.{extension}"
