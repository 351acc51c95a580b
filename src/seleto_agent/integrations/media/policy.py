"""Where media may be downloaded from (INTERFACE.md §2, `MEDIA_ALLOWED_HOSTS`).

A media URL arrives inside a webhook body, so it is untrusted input: without these checks a
forged callback could make the service fetch internal addresses (SSRF). Rules:

1. The host must be on the allow-list (exact name, `*.suffix`, or an IP literal).
2. `https` always; plain `http` only outside `prod` and only for a host the operator listed by
   exact name in the setting (the built-in provider hosts are https only).
3. Every address the host resolves to must be public. A private, loopback, link-local,
   reserved, multicast or unspecified address is refused unless that very address is listed
   (how the local sandbox at 127.0.0.1 is allowed in tests and demos).
4. The download then connects to the address checked here, never to a second DNS answer, so a
   DNS rebinding trick cannot swap in an internal address between check and connect.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import httpx

from seleto_agent.integrations.media.errors import MediaBlocked, MediaUnavailable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> every address the name resolves to. Injectable so tests can fake DNS answers.
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Providers' media hosts, used when MEDIA_ALLOWED_HOSTS is empty.
# - Z-API: media URLs seen in public callback captures look like
#   https://f004.backblazeb2.com/file/temp-file-download/instances/<id>/<id>/<name>.ogg
#   (Z-API's docs show only "https://", a GAP; add hosts here or in the setting if it changes).
# - Meta Cloud API: media is downloaded from lookaside.fbsbx.com.
DEFAULT_MEDIA_HOSTS: tuple[str, ...] = ("f004.backblazeb2.com", "lookaside.fbsbx.com")


@dataclass(frozen=True, slots=True)
class MediaTarget:
    """A checked hop: where to connect (`address`) and what to call the server (`host`)."""

    url: httpx.URL
    host: str
    port: int
    address: str


def parse_allowed_hosts(value: str) -> tuple[str, ...]:
    """`MEDIA_ALLOWED_HOSTS` as a tuple of lower-case entries; empty = the providers' hosts."""
    hosts = tuple(h.strip().lower().rstrip(".") for h in value.split(",") if h.strip())
    return hosts or DEFAULT_MEDIA_HOSTS


def _ip(value: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(value.strip("[]").split("%")[0])
    except ValueError:
        return None


def is_public_address(address: IPAddress) -> bool:
    """False for every address an attacker could use to reach something internal."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_public_address(address.ipv4_mapped)
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    )


@dataclass(frozen=True, slots=True)
class MediaPolicy:
    allowed_hosts: tuple[str, ...]
    # Hosts that may be fetched over plain http: empty in prod.
    http_hosts: tuple[str, ...] = ()

    @classmethod
    def from_setting(cls, value: str, *, allow_http: bool) -> MediaPolicy:
        """`allow_http` is false in prod; elsewhere hosts listed by exact name may use http."""
        hosts = parse_allowed_hosts(value)
        configured = hosts if value.strip() else ()
        http_hosts = tuple(h for h in configured if not h.startswith("*.")) if allow_http else ()
        return cls(allowed_hosts=hosts, http_hosts=http_hosts)

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        for entry in self.allowed_hosts:
            if entry.startswith("*."):
                if host.endswith(entry[1:]) and host != entry[2:]:
                    return True
            elif host == entry:
                return True
        return False

    def address_allowed(self, address: str) -> bool:
        ip = _ip(address)
        if ip is None:
            return False
        if is_public_address(ip):
            return True
        # Listed by its own address (the sandbox at 127.0.0.1): the operator said so.
        return any(_ip(entry) == ip for entry in self.allowed_hosts)

    def check_url(self, url: httpx.URL) -> tuple[str, int]:
        """Host and port of a URL that may be fetched; MediaBlocked otherwise (no I/O)."""
        host = (url.host or "").lower()
        if not host:
            raise MediaBlocked("url without host")
        if url.scheme == "https":
            pass
        elif url.scheme == "http":
            if host not in self.http_hosts:
                raise MediaBlocked("plain http not allowed for this host")
        else:
            raise MediaBlocked(f"scheme {url.scheme or 'none'} not allowed")
        if url.userinfo:
            raise MediaBlocked("credentials in url not allowed")
        if not self.host_allowed(host):
            raise MediaBlocked("host not in MEDIA_ALLOWED_HOSTS")
        port = url.port or (443 if url.scheme == "https" else 80)
        return host, port

    async def check(self, url: httpx.URL, resolve: Resolver) -> MediaTarget:
        """Check the URL, resolve its host and check every address; pin the first one."""
        host, port = self.check_url(url)
        literal = _ip(host)
        addresses = [str(literal)] if literal is not None else await resolve(host, port)
        if not addresses:
            raise MediaUnavailable("host resolved to no address")
        refused = [a for a in addresses if not self.address_allowed(a)]
        if refused:
            # One bad answer taints them all: a resolver mixing public and internal addresses
            # is exactly the rebinding pattern.
            raise MediaBlocked("host resolves to a non-public address")
        return MediaTarget(url=url, host=host, port=port, address=addresses[0])


async def system_resolve(host: str, port: int) -> list[str]:
    """Every address of `host`, via the event loop's resolver (non-blocking getaddrinfo)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except OSError as exc:
        raise MediaUnavailable(f"dns lookup failed: {type(exc).__name__}") from exc
    return _unique(str(info[4][0]) for info in infos)


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
