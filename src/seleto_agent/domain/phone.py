"""WhatsApp sender identities: phone JIDs, the Brazilian 9th digit, opaque `@lid` ids and the
Cloud API's business-scoped user ids (BSUIDs).

DOMAIN.md §3.3: reply to the id received, but key conversations and the CRM on a canonical
E.164 number (with the 9th digit restored for old 12-digit mobile JIDs). The reply address is
only ever ASCII digits, `<digits>@lid` (the two forms Z-API's `phone` takes) or a BSUID (the
Cloud API's id of a user who hides their number behind a username): an id of any other shape (a
newline before the suffix, Unicode digits) is refused, never mapped to a lead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

_JID_SUFFIXES = ("@s.whatsapp.net", "@c.us")
# re.ASCII: `\d` would match any Unicode digit; `fullmatch`: `$` matches before a final "\n".
_LID_RE = re.compile(r"(\d{5,20})@lid", re.ASCII)
_DIGITS_RE = re.compile(r"\+?(\d{8,15})", re.ASCII)
# Cloud API `wa_id`/`from`: digits only (contracts/whatsapp_cloud.md §2.1).
_CLOUD_PHONE_RE = re.compile(r"\d{8,15}", re.ASCII)
# BSUID `CC.<up to 128 alphanumerics>`; a parent BSUID (linked portfolios) is `CC.ENT.<...>`,
# though Botpress's fixture shows one without `ENT` (contracts/whatsapp_cloud_2026.md §2.15).
_BSUID_RE = re.compile(r"[A-Z]{2}\.[A-Za-z0-9]{1,128}", re.ASCII)
_PARENT_BSUID_RE = re.compile(r"[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}", re.ASCII)
# WhatsApp usernames: letters, digits, `.` and `_` (360dialog "Usernames & BSUID").
_USERNAME_RE = re.compile(r"[A-Za-z0-9._]{1,64}", re.ASCII)

E164_KIND = "e164"
LID_KIND = "lid"
BSUID_KIND = "bsuid"


@dataclass(frozen=True, slots=True)
class WhatsAppAddress:
    """Who wrote: `reply_to` is what the provider must get back, untouched."""

    reply_to: str
    e164: str | None
    lid: str | None
    bsuid: str | None = None
    # Labels, never identity rows (DECISIONS C32): a username can change and a released one
    # can be taken by another person; a parent BSUID adds nothing for one business number and
    # is the id whose sharing rules the sources describe least.
    parent_bsuid: str | None = None
    username: str | None = None

    @property
    def conversation_key(self) -> str:
        """The key a first contact's conversation gets (also the Agno `user_id`). A known
        person keeps the key their conversation already has, whatever form they write in:
        the identity table resolves it (`services/identity.py`)."""
        if self.e164 is not None:
            return f"wa:{self.e164}"
        if self.lid is not None:
            return f"wa:lid:{self.lid}"
        if self.bsuid is not None:
            return f"wa:bsuid:{self.bsuid}"
        return f"wa:raw:{self.reply_to}"

    @property
    def identities(self) -> tuple[tuple[str, str], ...]:
        """(kind, value) pairs this address is known by, for the identity table."""
        pairs: list[tuple[str, str]] = []
        if self.e164 is not None:
            pairs.append((E164_KIND, self.e164))
        if self.lid is not None:
            pairs.append((LID_KIND, self.lid))
        if self.bsuid is not None:
            pairs.append((BSUID_KIND, self.bsuid))
        return tuple(pairs)


class InvalidWhatsAppId(ValueError):
    pass


def parse_whatsapp_id(raw: str, *, lid: str | None = None) -> WhatsAppAddress:
    """Parse the sender id of a webhook (`5544999999999`, `...@s.whatsapp.net`, `N@lid`).

    `lid` is the contact's `@lid` when the callback names it next to a number (Z-API's
    `chatLid`/`senderLid`); one that is missing or not of the `<digits>@lid` shape is left out.
    """
    value = raw.strip()
    if not value:
        raise InvalidWhatsAppId("empty sender id")
    own_lid = lid_digits(value)
    if own_lid is not None:
        return WhatsAppAddress(reply_to=f"{own_lid}@lid", e164=None, lid=own_lid)
    digits = value
    for suffix in _JID_SUFFIXES:
        digits = digits.removesuffix(suffix)
    number = _DIGITS_RE.fullmatch(digits)
    if number is None:
        raise InvalidWhatsAppId("sender id is neither a phone number nor a @lid")
    return WhatsAppAddress(
        reply_to=number.group(1),
        e164=to_e164(number.group(1)),
        lid=lid_digits(lid.strip()) if lid else None,
    )


def parse_cloud_sender(
    phone: str | None,
    *,
    bsuid: str | None = None,
    parent_bsuid: str | None = None,
    username: str | None = None,
) -> WhatsAppAddress:
    """A Cloud API sender: `from`/`wa_id` digits when WhatsApp shows the number, else the BSUID
    (`from_user_id`/`user_id`). Replies go to the number when there is one, else to the BSUID.

    A phone or BSUID of any other shape is refused (the message is kept, never mapped); an
    odd parent BSUID or username is left out, as it decides nothing on its own."""
    user_id = bsuid_or_none(bsuid) if bsuid else None
    if bsuid and user_id is None:
        raise InvalidWhatsAppId("user id is not a BSUID")
    parent = parent_bsuid if parent_bsuid and _PARENT_BSUID_RE.fullmatch(parent_bsuid) else None
    name = username if username and _USERNAME_RE.fullmatch(username) else None
    if phone:
        if _CLOUD_PHONE_RE.fullmatch(phone) is None:
            raise InvalidWhatsAppId("wa_id is not a phone number")
        return WhatsAppAddress(
            reply_to=phone,
            e164=to_e164(phone),
            lid=None,
            bsuid=user_id,
            parent_bsuid=parent,
            username=name,
        )
    if user_id is None:
        raise InvalidWhatsAppId("neither a phone number nor a BSUID")
    return WhatsAppAddress(
        reply_to=user_id, e164=None, lid=None, bsuid=user_id, parent_bsuid=parent, username=name
    )


def bsuid_or_none(value: str) -> str | None:
    return value if _BSUID_RE.fullmatch(value) else None


def _opaque(reply_to: str) -> bool:
    """An id that is not a number: an `@lid` or a BSUID."""
    return reply_to.endswith("@lid") or _BSUID_RE.fullmatch(reply_to) is not None


def preferred_reply_to(known: str | None, received: str) -> str:
    """Where replies go: the latest form received, except that a known number is not given up
    for an `@lid` or a BSUID (the number surely reaches the person; WhatsApp's `@lid` rollout is
    "inconsistente", Z-API's tips/lid.md; a BSUID cannot take every template, error 131062)."""
    if known and not _opaque(known) and _opaque(received):
        return known
    return received


def lid_digits(value: str) -> str | None:
    """The digits of a `<digits>@lid` id, or None for any other shape."""
    match = _LID_RE.fullmatch(value)
    return match.group(1) if match else None


def to_e164(digits: str) -> str | None:
    """Canonical E.164 for JID digits (country code included), or None when not a valid number."""
    candidates = [digits]
    # Pre-2016 Brazilian mobile accounts keep a 12-digit JID (55 + DDD + 8 digits); the real
    # number has a 9 in front of the 8 digits when they start with 6-9.
    if len(digits) == 12 and digits.startswith("55") and digits[4] in "6789":
        candidates.insert(0, f"{digits[:4]}9{digits[4:]}")
    for candidate in candidates:
        try:
            number = phonenumbers.parse(f"+{candidate}", None)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return None


def normalise_phone_input(value: str) -> str | None:
    """E.164 for a phone typed by a person or an operator (`+55 (11) 98765-4321`, `5511...`)."""
    text = value.strip()
    if text.startswith("wa:"):
        text = text[3:]
    try:
        number = phonenumbers.parse(text if text.startswith("+") else f"+{text}", None)
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and phonenumbers.is_valid_number(number):
        return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    digits = re.sub(r"\D", "", text)
    return to_e164(digits) if digits else None


def mask_phone(value: str) -> str:
    """`+5511987654321` → `+55 11 9****-4321`; anything shorter keeps only its last 2 digits."""
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 12 and digits.startswith("55"):
        return f"+55 {digits[2:4]} {digits[4]}****-{digits[-4:]}"
    if len(digits) >= 6:
        return f"***{digits[-4:]}"
    return "***"


def mask_bsuid(value: str) -> str:
    """`BR.1502576394655843` → `BR.***5843`: the country stays, the person does not."""
    return f"{value[:3]}***{value[-4:]}" if len(value) > 7 else "***"


def mask_conversation_key(key: str) -> str:
    if key.startswith("wa:lid:"):
        return f"wa:lid:***{key[-4:]}"
    if key.startswith("wa:bsuid:"):
        return f"wa:bsuid:{mask_bsuid(key.removeprefix('wa:bsuid:'))}"
    return f"wa:{mask_phone(key)}"
