"""Runtime flags: the operator switches that stop the bot's replies without a deploy.

The bot answers a lead only while every flag that covers the lead is on: `bot_enabled` covers
everyone, `bot_enabled_<provider>` the leads who wrote through that provider, `bot_enabled_ads`
the leads who came from a Click-to-WhatsApp ad (Cloud API `referral`). Off stops replies only:
ingestion, the Chatwoot mirror and SDR replies go on (the seed's rollback plan, "desligar agente,
manter Chatwoot").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

BOT_ENABLED = "bot_enabled"
BOT_ENABLED_ZAPI = "bot_enabled_zapi"
BOT_ENABLED_META = "bot_enabled_meta"
BOT_ENABLED_ADS = "bot_enabled_ads"

# Name -> what it switches (shown by GET /admin/flags). The environment variable of each is its
# name in capitals, and gives its value until an operator sets one.
FLAGS: Mapping[str, str] = {
    BOT_ENABLED: "Bot replies to every lead",
    BOT_ENABLED_ZAPI: "Bot replies to leads who write through Z-API",
    BOT_ENABLED_META: "Bot replies to leads who write through the WhatsApp Cloud API",
    BOT_ENABLED_ADS: "Bot replies to leads who came from a Click-to-WhatsApp ad",
}
# The provider a lead wrote through -> its flag.
PROVIDER_FLAGS: Mapping[str, str] = {"zapi": BOT_ENABLED_ZAPI, "meta": BOT_ENABLED_META}


class UnknownFlag(LookupError):
    """No flag has that name."""


def flag_name(given: str) -> str:
    """The flag a caller means (`BOT_ENABLED` as in the environment, or `bot_enabled`)."""
    name = given.strip().lower()
    if name not in FLAGS:
        raise UnknownFlag(given)
    return name


@dataclass(frozen=True, slots=True)
class FlagSnapshot:
    """Every flag's value at one read (database rows over environment defaults)."""

    values: Mapping[str, bool]

    def enabled(self, name: str) -> bool:
        return self.values.get(name, True)

    def blocking(self, provider: str) -> str | None:
        """The flag that stops replies to a lead who wrote through `provider`, if one does
        (the ads flag needs the lead's history: the caller checks it)."""
        if not self.enabled(BOT_ENABLED):
            return BOT_ENABLED
        provider_flag = PROVIDER_FLAGS.get(provider)
        if provider_flag is not None and not self.enabled(provider_flag):
            return provider_flag
        return None
