"""Which provider callback proves that a send whose answer was lost went out.

A proof names a message id we do not know, for one chat: a delivery callback ("a message went
to this chat") or the echo of an API send (which also carries the text). It is taken as the
outcome of an ambiguous send only when nothing else could have produced it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


def body_digest(text: str) -> str:
    """What an echo is compared by: the text's SHA-256, so proofs keep no message text."""
    return hashlib.sha256(text.strip().encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SendProof:
    message_id: str
    # None for a delivery callback (it carries no text).
    body_digest: str | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class AmbiguousSend:
    """A send of the same chat whose outcome we do not know (in flight, or unknown)."""

    id: int
    body_digest: str
    send_started_at: datetime | None


def proving_message_id(
    send: AmbiguousSend, proofs: Sequence[SendProof], rivals: Sequence[AmbiguousSend]
) -> str | None:
    """The message id that proves `send` went out, or None.

    A proof counts only if it arrived after the send began. A delivery callback names no text,
    so it counts only while `send` is the chat's one ambiguous send; an echo counts when its
    text is `send`'s and no rival has the same text. The earliest fitting proof wins: any copy
    that went out settles the send.
    """
    if send.send_started_at is None:
        return None
    rival_digests = {r.body_digest for r in rivals}
    for proof in sorted(proofs, key=lambda p: p.received_at):
        if proof.received_at < send.send_started_at:
            continue
        if proof.body_digest is None:
            if not rivals:
                return proof.message_id
        elif proof.body_digest == send.body_digest and proof.body_digest not in rival_digests:
            return proof.message_id
    return None
