"""Prod refuses to start with Chatwoot on but its webhook unauthenticated (redteam H3)."""

from __future__ import annotations

from typing import Any

import pytest

from seleto_agent.settings import MissingSecretsError, Settings

CHATWOOT_NAMES = {
    "CHATWOOT_ACCOUNT_ID",
    "CHATWOOT_INBOX_ID",
    "CHATWOOT_API_TOKEN",
    "CHATWOOT_WEBHOOK_TOKEN",
    "CHATWOOT_WEBHOOK_SECRET",
}


def _prod(**values: Any) -> Settings:
    return Settings(_env_file=None, app_env="prod", **values)  # type: ignore[call-arg]


def _missing(settings: Settings) -> set[str]:
    with pytest.raises(MissingSecretsError) as caught:
        settings.check_for_startup()
    return set(caught.value.missing)


def test_prod_with_chatwoot_on_names_every_chatwoot_setting_missing() -> None:
    missing = _missing(_prod(chatwoot_base_url="https://chatwoot.example.com"))
    assert missing >= CHATWOOT_NAMES


def test_prod_with_chatwoot_on_needs_the_webhook_token_and_secret() -> None:
    settings = _prod(
        chatwoot_base_url="https://chatwoot.example.com",
        chatwoot_account_id=3,
        chatwoot_inbox_id=7,
        chatwoot_api_token="token",
    )
    with pytest.raises(MissingSecretsError) as caught:
        settings.check_for_startup()
    assert CHATWOOT_NAMES & set(caught.value.missing) == {
        "CHATWOOT_WEBHOOK_TOKEN",
        "CHATWOOT_WEBHOOK_SECRET",
    }
    assert "CHATWOOT_WEBHOOK_SECRET" in str(caught.value)


def test_prod_with_chatwoot_complete_or_off_asks_nothing_of_it() -> None:
    complete = _prod(
        chatwoot_base_url="https://chatwoot.example.com",
        chatwoot_account_id=3,
        chatwoot_inbox_id=7,
        chatwoot_api_token="token",
        chatwoot_webhook_token="path-token",
        chatwoot_webhook_secret="inbox-secret,account-secret",
    )
    assert not CHATWOOT_NAMES & _missing(complete)
    assert not CHATWOOT_NAMES & _missing(_prod())
