"""Chatwoot webhook signatures (contracts/chatwoot.md §3, Chatwoot PR 13573 / 13892).

`X-Chatwoot-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>` with the
unix-seconds `X-Chatwoot-Timestamp`. The HMAC covers the exact bytes received, so verify before
parsing and never over a re-serialised body. Each webhook has its own secret (an account
webhook's, the API inbox's since Chatwoot 4.13.0), so a receiver may hold several.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from enum import StrEnum

_PREFIX = "sha256="
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")
_TIMESTAMP = re.compile(r"\d{1,12}")


class SignatureCheck(StrEnum):
    OK = "ok"
    MISSING = "missing"
    MALFORMED = "malformed"
    STALE = "stale"
    MISMATCH = "mismatch"


def _digest(secret: bytes, timestamp: str, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, timestamp: str | int, body: bytes) -> str:
    """The `X-Chatwoot-Signature` header value for `body` sent at `timestamp`."""
    return f"{_PREFIX}{_digest(secret, str(timestamp), body)}"


def verify_signature(
    *,
    secret: bytes,
    timestamp: str | None,
    body: bytes,
    signature: str | None,
    now: float,
    tolerance_seconds: int,
) -> SignatureCheck:
    """Checks one delivery. The window applies both ways: a timestamp far in the future is as
    suspect as an old one (a captured request replayed later, or a skewed clock)."""
    if not timestamp or not signature:
        return SignatureCheck.MISSING
    timestamp = timestamp.strip()
    signature = signature.strip()
    if not _TIMESTAMP.fullmatch(timestamp) or not signature.startswith(_PREFIX):
        return SignatureCheck.MALFORMED
    received = signature[len(_PREFIX) :]
    if not _HEX_DIGEST.fullmatch(received):
        return SignatureCheck.MALFORMED
    if abs(now - int(timestamp)) > tolerance_seconds:
        return SignatureCheck.STALE
    expected = _digest(secret, timestamp, body)
    if not hmac.compare_digest(expected, received.lower()):
        return SignatureCheck.MISMATCH
    return SignatureCheck.OK


def verify_any(
    *,
    secrets: Sequence[bytes],
    timestamp: str | None,
    body: bytes,
    signature: str | None,
    now: float,
    tolerance_seconds: int,
) -> SignatureCheck:
    """OK when one of `secrets` signed the delivery; otherwise what was wrong with it (a
    missing, malformed or stale signature is so whatever the secret)."""
    check = SignatureCheck.MISMATCH
    for secret in secrets:
        check = verify_signature(
            secret=secret,
            timestamp=timestamp,
            body=body,
            signature=signature,
            now=now,
            tolerance_seconds=tolerance_seconds,
        )
        if check is not SignatureCheck.MISMATCH:
            return check
    return check
