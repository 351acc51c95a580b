"""Cloud API webhook signatures (contracts/whatsapp_cloud_2026.md §2.3).

`X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`. The HMAC covers the
exact bytes received: verify before parsing, never over a re-serialised body (several
integrations broke that way). Meta sends lower-case hex; upper-case is accepted by lowering it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from enum import StrEnum

HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}", re.ASCII)


class SignatureCheck(StrEnum):
    OK = "ok"
    NOT_CONFIGURED = "not_configured"
    MISSING = "missing"
    MALFORMED = "malformed"
    MISMATCH = "mismatch"


def sign(secret: bytes, body: bytes) -> str:
    """The header value Meta would send for `body` (the sandbox and the tests sign with it)."""
    return _PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(*, secret: bytes | None, body: bytes, signature: str | None) -> SignatureCheck:
    """Checks one delivery; anything but OK is refused (no secret configured included)."""
    if not secret:
        return SignatureCheck.NOT_CONFIGURED
    if not signature:
        return SignatureCheck.MISSING
    scheme, _, given = signature.strip().partition("=")
    digest = given.lower()
    if f"{scheme.lower()}=" != _PREFIX or _HEX_DIGEST.fullmatch(digest) is None:
        return SignatureCheck.MALFORMED
    if not hmac.compare_digest(sign(secret, body), _PREFIX + digest):
        return SignatureCheck.MISMATCH
    return SignatureCheck.OK
