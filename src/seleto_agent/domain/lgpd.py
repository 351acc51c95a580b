"""Data-subject requests (LGPD Arts. 18-19): who a request names, and how an erasure is named.

An operator names the person the way the admin lookup does: a phone in any common format,
`lid:<digits>` for a sender known only by a WhatsApp @lid, or `bsuid:<BSUID>` for a Cloud API
username user. The erasure is recorded under a random reference, never under anything derived
from the phone: a hash of a phone is brute-forced over ~10^11 numbers (DOMAIN §4), and the
reference must not lead back to the person once their rows are gone.
"""

from __future__ import annotations

import uuid

from seleto_agent.domain.phone import (
    InvalidWhatsAppId,
    WhatsAppAddress,
    normalise_phone_input,
    parse_cloud_sender,
    parse_whatsapp_id,
)

ERASED_PREFIX = "lgpd:"
# What the conversation's masked audit subjects become once the person is erased.
ERASED_SUBJECT_TYPE = "lgpd_erasure"


class UnknownSubject(ValueError):
    """The value names no possible WhatsApp sender (the message says which form failed)."""


def subject_address(value: str) -> WhatsAppAddress:
    """The sender a phone, `lid:<digits>` or `bsuid:<BSUID>` names."""
    if value.startswith("bsuid:"):
        try:
            return parse_cloud_sender(None, bsuid=value.removeprefix("bsuid:"))
        except InvalidWhatsAppId as exc:
            raise UnknownSubject("not a known BSUID") from exc
    if value.startswith("lid:"):
        try:
            return parse_whatsapp_id(f"{value[4:]}@lid")
        except InvalidWhatsAppId as exc:
            # Unicode digits, a suffix, anything but ASCII digits: no sender has that id.
            raise UnknownSubject("not a known @lid") from exc
    e164 = normalise_phone_input(value)
    if e164 is None:
        raise UnknownSubject("not a known phone number")
    return WhatsAppAddress(reply_to=e164.lstrip("+"), e164=e164, lid=None)


def erasure_reference() -> str:
    """A fresh, random name for one erasure: shown to the operator for the request's record,
    written on the audit row and on what is kept anonymised."""
    return f"{ERASED_PREFIX}{uuid.uuid4().hex}"
