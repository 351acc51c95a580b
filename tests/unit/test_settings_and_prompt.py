from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from seleto_agent.agents.prompts import PromptError, load_fixed_replies, load_prompt
from seleto_agent.settings import PROJECT_ROOT, MissingSecretsError, Settings


def test_prod_refuses_to_start_and_names_every_missing_secret() -> None:
    settings = Settings(_env_file=None, app_env="prod", admin_token="a")  # type: ignore[call-arg]
    with pytest.raises(MissingSecretsError) as caught:
        settings.check_for_startup()
    missing = set(caught.value.missing)
    assert {"OS_SECURITY_KEY", "OPENAI_API_KEY", "ZAPI_WEBHOOK_TOKEN", "LOG_PII_KEY"} <= missing
    assert "ADMIN_TOKEN" not in missing
    assert "ZAPI_CLIENT_TOKEN" in str(caught.value)


def test_dev_starts_without_secrets() -> None:
    Settings(_env_file=None).check_for_startup()  # type: ignore[call-arg]


@pytest.mark.parametrize("typed", ["+55 44 99999-9999", "5544999999999", "554499999999"])
def test_the_connected_phone_is_kept_as_e164(typed: str) -> None:
    settings = Settings(_env_file=None, zapi_connected_phone=typed)  # type: ignore[call-arg]
    assert settings.zapi_connected_phone == "+5544999999999"


def test_a_connected_phone_that_is_no_number_is_refused() -> None:
    with pytest.raises(ValueError, match="ZAPI_CONNECTED_PHONE"):
        Settings(_env_file=None, zapi_connected_phone="the company line")  # type: ignore[call-arg]


def test_shipped_prompt_loads_with_its_version() -> None:
    prompt = load_prompt(PROJECT_ROOT / "prompts" / "sp_agente_v1.xml")
    assert prompt.label.startswith("sp_agente@")
    assert any("assistente virtual da Seleto" in s for s in prompt.sections)
    assert any("preços" in s for s in prompt.sections)


def test_prompt_without_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.xml"
    path.write_text('<prompt id="x"><a>texto</a></prompt>')
    with pytest.raises(PromptError):
        load_prompt(path)


def test_empty_values_in_the_env_file_mean_unset(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("PIPERUN_PIPELINE_ID=\nLOG_PII_KEY=\nADMIN_TOKEN=\n")
    settings = Settings(_env_file=env)  # type: ignore[call-arg]
    assert settings.piperun_pipeline_id is None
    assert settings.admin_token is None


def test_shipped_prompt_has_every_template_the_code_fills() -> None:
    from seleto_agent.runtime import REQUIRED_TEMPLATES

    prompt = load_prompt(
        PROJECT_ROOT / "prompts" / "sp_agente_v1.xml", required_templates=REQUIRED_TEMPLATES
    )
    # Templates are filled by the code, never sent as instructions themselves.
    assert not any("{dados}" in section for section in prompt.sections)
    assert "{dados}" in prompt.template("contexto_lead")
    assert prompt.template("motivos.price") == "citava preço ou valor"


def test_prompt_missing_a_required_template_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.xml"
    path.write_text('<prompt id="x" version="1"><a>texto</a></prompt>')
    with pytest.raises(PromptError, match="nota_correcao"):
        load_prompt(path, required_templates=frozenset({"nota_correcao"}))


def test_fixed_replies_load_and_a_missing_one_is_refused(tmp_path: Path) -> None:
    replies = load_fixed_replies(PROJECT_ROOT / "prompts" / "respostas_fixas_v1.yaml")
    assert replies.label.startswith("respostas_fixas@")
    assert "por escrito" in replies.get("audio_unusable")
    path = tmp_path / "r.yaml"
    path.write_text("id: r\nversion: 1\nreplies:\n  guardrail_fallback: oi\n")
    with pytest.raises(PromptError, match="audio_unusable, lgpd_request_received"):
        load_fixed_replies(path)


# --- prod secrets: published placeholders and short values are refused --------------------

STRONG = "0f4d9c2b7a1e8f3d6c5b4a392817e6d5c4b3a29180f7e6d5c4b3a2918f7e6d5c"  # openssl rand -hex 32


def strong_prod(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "app_env": "prod",
        "admin_token": STRONG,
        "os_security_key": STRONG[::-1],
        "openai_api_key": "sk-proj-issued-by-the-provider",
        "zapi_instance_id": "3C8A1F",
        "zapi_instance_token": "vendor-issued-instance-token",
        "zapi_client_token": "vendor-issued-client-token",
        "zapi_webhook_token": STRONG[1:] + "a",
        "log_pii_key": STRONG[2:] + "ab",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_prod_starts_with_long_random_secrets() -> None:
    strong_prod().check_for_startup()


@pytest.mark.parametrize(
    ("field", "variable"),
    [
        ("admin_token", "ADMIN_TOKEN"),
        ("os_security_key", "OS_SECURITY_KEY"),
        ("zapi_webhook_token", "ZAPI_WEBHOOK_TOKEN"),
        ("log_pii_key", "LOG_PII_KEY"),
        ("chatwoot_webhook_token", "CHATWOOT_WEBHOOK_TOKEN"),
        ("meta_app_secret", "META_APP_SECRET"),
        ("meta_verify_token", "META_VERIFY_TOKEN"),
    ],
)
@pytest.mark.parametrize("value", ["Zq7", "a" * 31, "dev-admin-token", "a" * 40])
def test_prod_refuses_a_short_placeholder_or_uniform_secret(
    field: str, variable: str, value: str
) -> None:
    with pytest.raises(MissingSecretsError) as caught:
        strong_prod(**{field: value}).check_for_startup()
    assert variable in str(caught.value)
    assert variable in caught.value.weak
    # The message names the variable and the problem, never the value.
    assert value not in str(caught.value)


@pytest.mark.parametrize(
    "value", ["dev-admin-token", "dev-os-security-key", "dev-webhook-token", "dev-only-log-key"]
)
def test_every_published_dev_value_is_refused_whatever_its_length(value: str) -> None:
    from seleto_agent.settings import PUBLISHED_PLACEHOLDERS

    assert value in PUBLISHED_PLACEHOLDERS
    with pytest.raises(MissingSecretsError) as caught:
        strong_prod(admin_token=value, openai_api_key=value).check_for_startup()
    assert {"ADMIN_TOKEN", "OPENAI_API_KEY"} <= set(caught.value.weak)


def test_vendor_issued_secrets_are_not_held_to_our_length_but_never_a_published_one() -> None:
    # Chatwoot's tokens and webhook secrets are 24 characters: the vendor chooses, not us.
    issued = "a1B2c3D4e5F6g7H8i9J0k1L2"
    strong_prod(chatwoot_api_token=issued, chatwoot_webhook_secret=issued).check_for_startup()
    with pytest.raises(MissingSecretsError) as caught:
        strong_prod(chatwoot_webhook_secret="sandbox-chatwoot-webhook-secret").check_for_startup()
    assert set(caught.value.weak) == {"CHATWOOT_WEBHOOK_SECRET"}


def test_the_simulators_fake_credentials_count_as_published() -> None:
    from seleto_agent.sandbox.config import SandboxConfig
    from seleto_agent.settings import PUBLISHED_PLACEHOLDERS

    config = asdict(SandboxConfig())
    fake = {v for k, v in config.items() if k.endswith(("_token", "_secret"))}
    assert fake
    assert fake <= PUBLISHED_PLACEHOLDERS


def test_the_refusal_lists_every_problem_at_once() -> None:
    settings = strong_prod(admin_token="short", os_security_key="dev-os-security-key")
    settings = settings.model_copy(update={"zapi_webhook_token": None})
    with pytest.raises(MissingSecretsError) as caught:
        settings.check_for_startup()
    message = str(caught.value)
    assert "ZAPI_WEBHOOK_TOKEN" in caught.value.missing
    assert set(caught.value.weak) == {"ADMIN_TOKEN", "OS_SECURITY_KEY"}
    assert "openssl rand -hex 32" in message


def _env_example_values() -> dict[str, str]:
    """Every `NAME=value` of .env.example, commented out or not."""
    values: dict[str, str] = {}
    for line in (PROJECT_ROOT / ".env.example").read_text().splitlines():
        match = re.fullmatch(r"#?\s*([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if match:
            values[match.group(1)] = match.group(2).strip()
    return values


def test_env_example_ships_no_secret_value() -> None:
    from seleto_agent.settings import SECRET_VARIABLES

    values = _env_example_values()
    assert set(values) >= SECRET_VARIABLES, "every secret is listed in .env.example"
    assert {name: values[name] for name in SECRET_VARIABLES if values[name]} == {}
    assert "openssl rand -hex 32" in (PROJECT_ROOT / ".env.example").read_text()


def test_dev_runs_with_the_defaults_and_no_env_file() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    settings.check_for_startup()
    assert settings.metrics_public is True
    assert settings.log_pii_key.get_secret_value()


def test_metrics_are_private_by_default_in_prod_only() -> None:
    assert strong_prod().metrics_public is False
    assert strong_prod(metrics_public=True).metrics_public is True
    test_env = Settings(_env_file=None, app_env="test")  # type: ignore[call-arg]
    assert test_env.metrics_public is True
