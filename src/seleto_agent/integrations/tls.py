"""One TLS context per process for every outbound HTTP client.

Loading the system's CA bundle costs about 20 ms of CPU per context; every runtime (and every
worker restart) builds several clients, and a context is safe to share between them.
"""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def tls_context(*, trust_env: bool = True) -> ssl.SSLContext:
    """`trust_env` as httpx means it: honour SSL_CERT_FILE / SSL_CERT_DIR when set."""
    return httpx.create_ssl_context(trust_env=trust_env)
