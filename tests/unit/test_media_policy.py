"""SSRF guard: which URLs, hosts and resolved addresses a media download may touch."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from seleto_agent.integrations.media.errors import MediaBlocked
from seleto_agent.integrations.media.policy import (
    DEFAULT_MEDIA_HOSTS,
    MediaPolicy,
    is_public_address,
    parse_allowed_hosts,
    system_resolve,
)

ZAPI_URL = "https://f004.backblazeb2.com/file/temp-file-download/instances/X/Y/a.ogg"


def policy(*hosts: str, allow_http: bool = True) -> MediaPolicy:
    return MediaPolicy.from_setting(",".join(hosts), allow_http=allow_http)


def fake_dns(answers: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return answers[host]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


def test_empty_setting_means_the_providers_media_hosts() -> None:
    assert parse_allowed_hosts("") == DEFAULT_MEDIA_HOSTS
    assert "f004.backblazeb2.com" in DEFAULT_MEDIA_HOSTS
    assert "lookaside.fbsbx.com" in DEFAULT_MEDIA_HOSTS
    assert parse_allowed_hosts(" Media.Example.com. , 127.0.0.1 ") == (
        "media.example.com",
        "127.0.0.1",
    )


def test_zapi_media_url_passes_the_url_checks() -> None:
    assert policy().check_url(httpx.URL(ZAPI_URL)) == ("f004.backblazeb2.com", 443)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/a.ogg",  # not listed
        "https://f004.backblazeb2.com.evil.com/a.ogg",  # suffix trick
        "https://backblazeb2.com/a.ogg",
        "ftp://f004.backblazeb2.com/a.ogg",
        "file:///etc/passwd",
        "https://user:pw@f004.backblazeb2.com/a.ogg",
        "http://f004.backblazeb2.com/a.ogg",  # the built-in provider hosts are https only
        "https://169.254.169.254/latest/meta-data",
    ],
)
def test_urls_outside_the_rules_are_blocked(url: str) -> None:
    with pytest.raises(MediaBlocked):
        policy().check_url(httpx.URL(url))


def test_plain_http_needs_an_exact_listing_and_never_in_prod() -> None:
    assert policy("127.0.0.1").check_url(httpx.URL("http://127.0.0.1:8900/a")) == (
        "127.0.0.1",
        8900,
    )
    with pytest.raises(MediaBlocked):
        policy("127.0.0.1", allow_http=False).check_url(httpx.URL("http://127.0.0.1:8900/a"))
    with pytest.raises(MediaBlocked):
        policy("*.example.com").check_url(httpx.URL("http://media.example.com/a"))


def test_wildcard_entries_match_subdomains_only() -> None:
    rules = policy("*.backblazeb2.com")
    assert rules.host_allowed("f005.backblazeb2.com")
    assert not rules.host_allowed("backblazeb2.com")
    assert not rules.host_allowed("evilbackblazeb2.com")


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "127.0.0.1",
        "127.0.0.2",
        "169.254.169.254",  # cloud metadata
        "0.0.0.0",
        "100.64.0.1",  # carrier-grade NAT
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::",
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "::ffff:10.0.0.1",
    ],
)
def test_internal_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))
    assert not policy().address_allowed(address)


def test_public_addresses_pass_and_a_listed_internal_address_is_allowed() -> None:
    assert policy().address_allowed("8.8.8.8")
    assert policy().address_allowed("2606:4700::1111")
    assert policy("127.0.0.1").address_allowed("127.0.0.1")
    assert not policy("127.0.0.1").address_allowed("127.0.0.2")
    assert not policy("localhost").address_allowed("127.0.0.1")


async def test_listed_host_resolving_to_a_private_address_is_blocked() -> None:
    resolve = fake_dns({"media.example.com": ["10.0.0.7"]})
    with pytest.raises(MediaBlocked, match="non-public"):
        await policy("media.example.com").check(
            httpx.URL("https://media.example.com/a.ogg"), resolve
        )


async def test_one_private_answer_among_public_ones_blocks_the_host() -> None:
    resolve = fake_dns({"media.example.com": ["8.8.8.8", "127.0.0.1"]})
    with pytest.raises(MediaBlocked):
        await policy("media.example.com").check(
            httpx.URL("https://media.example.com/a.ogg"), resolve
        )


async def test_checked_target_pins_the_resolved_address() -> None:
    resolve = fake_dns({"media.example.com": ["8.8.4.4", "8.8.8.8"]})
    target = await policy("media.example.com").check(
        httpx.URL("https://media.example.com/a.ogg"), resolve
    )
    assert (target.host, target.port, target.address) == ("media.example.com", 443, "8.8.4.4")
    assert resolve.calls == ["media.example.com"]  # type: ignore[attr-defined]


async def test_ip_literal_hosts_are_not_resolved() -> None:
    resolve = fake_dns({})
    target = await policy("10.0.0.9").check(httpx.URL("https://10.0.0.9/a.ogg"), resolve)
    assert target.address == "10.0.0.9"
    assert resolve.calls == []  # type: ignore[attr-defined]


async def test_system_resolver_uses_getaddrinfo() -> None:
    assert "127.0.0.1" in await system_resolve("localhost", 80)
