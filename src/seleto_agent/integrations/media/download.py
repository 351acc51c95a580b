"""SSRF-safe media download into memory (never to disk), with a byte limit and a deadline.

Each hop (the URL and up to `MAX_REDIRECTS` redirects) is checked by `MediaPolicy`, resolved
once, and fetched from the address that was checked: the request goes to `https://<ip>/...` with
the real name in the `Host` header and in TLS SNI, so the certificate is still verified for the
real host and a second DNS answer is never used. Redirects are followed by hand for the same
reason. Nothing here logs the URL: Z-API's media path is effectively a bearer token.

`headers` (Meta's media URL needs the same `Authorization: Bearer` as the Graph call) go only
to hops on the first URL's scheme, host and port: a redirect elsewhere never gets the token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from seleto_agent.integrations.media.errors import (
    MediaBlocked,
    MediaExpired,
    MediaRejected,
    MediaTooLarge,
    MediaUnavailable,
)
from seleto_agent.integrations.media.policy import (
    MediaPolicy,
    MediaTarget,
    Resolver,
    system_resolve,
)
from seleto_agent.integrations.tls import tls_context

# Storage links may bounce through a CDN once or twice; more than this looks like a loop or a
# trick, and each hop costs a DNS lookup and a connection.
MAX_REDIRECTS = 3
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_EXPIRED_STATUSES = frozenset({404, 410})
_TRANSIENT_STATUSES = frozenset({408, 425, 429})
_CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Downloaded:
    data: bytes
    redirects: int


def build_media_http_client() -> httpx.AsyncClient:
    """A client only for media: no proxies from the environment (they would bypass the address
    pinning), no automatic redirects, and no cookie jar shared with our vendor calls."""
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        verify=tls_context(trust_env=False),
        timeout=httpx.Timeout(10.0, connect=5.0),
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=5),
        headers={"User-Agent": "seleto-agent-media/1"},
    )


class MediaDownloader:
    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        policy: MediaPolicy,
        max_bytes: int,
        timeout_seconds: float,
        resolve: Resolver = system_resolve,
    ) -> None:
        self._http = http
        self._policy = policy
        self._max_bytes = max_bytes
        self._timeout = timeout_seconds
        self._resolve = resolve

    async def fetch(self, url: str, *, headers: Mapping[str, str] | None = None) -> Downloaded:
        """The body at `url`, or a MediaError saying why not (see `errors.py`)."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise MediaBlocked("malformed url") from exc
        try:
            async with asyncio.timeout(self._timeout):
                return await self._follow(parsed, dict(headers or {}))
        except TimeoutError as exc:
            raise MediaUnavailable(f"download took over {self._timeout:g} s") from exc

    async def _follow(self, url: httpx.URL, headers: dict[str, str]) -> Downloaded:
        origin: tuple[str, str, int] | None = None
        for hop in range(MAX_REDIRECTS + 1):
            target = await self._policy.check(url, self._resolve)
            here = (target.url.scheme, target.host, target.port)
            origin = origin or here
            location = await self._get(target, headers if here == origin else {})
            if isinstance(location, bytes):
                return Downloaded(data=location, redirects=hop)
            url = location
        raise MediaBlocked(f"more than {MAX_REDIRECTS} redirects")

    async def _get(self, target: MediaTarget, extra: dict[str, str]) -> bytes | httpx.URL:
        """One hop: the body, or the next URL to check when the server redirects."""
        request = self._http.build_request(
            "GET",
            target.url.copy_with(host=target.address),
            # identity: the limit then counts the bytes on the wire, and no gzip bomb expands.
            headers={
                **extra,
                "Host": _host_header(target),
                "Accept": "audio/*, */*;q=0.1",
                "Accept-Encoding": "identity",
            },
            extensions={"sni_hostname": target.host},
        )
        try:
            response = await self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise MediaUnavailable(f"request failed: {type(exc).__name__}") from exc
        try:
            status = response.status_code
            if status in _REDIRECT_STATUSES:
                location = response.headers.get("location")
                if not location:
                    raise MediaRejected(f"HTTP {status} without a location")
                try:
                    return target.url.join(location)
                except (httpx.InvalidURL, ValueError) as exc:
                    raise MediaBlocked("malformed redirect location") from exc
            if status in _EXPIRED_STATUSES:
                raise MediaExpired(f"HTTP {status}")
            if status >= 500 or status in _TRANSIENT_STATUSES:
                raise MediaUnavailable(f"HTTP {status}")
            if not 200 <= status < 300:
                raise MediaRejected(f"HTTP {status}")
            return await self._read_limited(response)
        finally:
            await response.aclose()

    async def _read_limited(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            # Refused on the header alone: not one byte of the body is read.
            raise MediaTooLarge(f"declared {declared} bytes", bytes_read=0)
        buffer = bytearray()
        try:
            async for chunk in response.aiter_raw(_CHUNK_BYTES):
                buffer.extend(chunk)
                if len(buffer) > self._max_bytes:
                    # Stop reading here; closing the response drops the connection.
                    raise MediaTooLarge(f"over {self._max_bytes} bytes", bytes_read=len(buffer))
        except httpx.HTTPError as exc:
            raise MediaUnavailable(f"body read failed: {type(exc).__name__}") from exc
        return bytes(buffer)


def _host_header(target: MediaTarget) -> str:
    default_port = 443 if target.url.scheme == "https" else 80
    host = f"[{target.host}]" if ":" in target.host else target.host
    return host if target.port == default_port else f"{host}:{target.port}"
